package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/plugins"
	_ "github.com/feedd/feedd/plugins/all"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig configures the test.source plugin.
type testConfig struct {
	Tag          string        `yaml:"tag" doc:"any text; changing it changes the instance"`
	Fail         string        `yaml:"fail" doc:"Run returns this error at once"`
	IgnoreCancel time.Duration `yaml:"ignore_cancel" doc:"keep running this long after being told to stop"`
	Interval     time.Duration `yaml:"interval" default:"5ms" doc:"time between ticks"`
}

// recorder counts runs of test.source instances by "id/tag".
type recorder struct {
	mu      sync.Mutex
	started map[string]int
	ended   map[string]int
	wg      sync.WaitGroup // runs that ignore cancellation
}

func (r *recorder) get(m map[string]int, k string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return m[k]
}

func newRegistry(rec *recorder) *plugins.Registry {
	reg := plugins.NewRegistry()
	reg.Register(plugins.Type{
		Name:   "test.source",
		Kind:   plugins.KindSource,
		Doc:    "emits ticks for tests",
		Config: func() any { return &testConfig{} },
		NewSource: func(cfg any, env plugins.Env) (plugins.Instance, error) {
			return &testSource{cfg: *cfg.(*testConfig), id: env.ID, rec: rec}, nil
		},
	})
	if replay, ok := plugins.Default.Lookup("price.replay"); ok {
		reg.Register(replay)
	}
	return reg
}

type testSource struct {
	cfg testConfig
	id  string
	rec *recorder
}

func (s *testSource) Run(ctx context.Context, h *plugins.Host) error {
	key := s.id + "/" + s.cfg.Tag
	s.rec.mu.Lock()
	s.rec.started[key]++
	s.rec.mu.Unlock()
	defer func() {
		s.rec.mu.Lock()
		s.rec.ended[key]++
		s.rec.mu.Unlock()
	}()
	if s.cfg.Fail != "" {
		return errors.New(s.cfg.Fail)
	}
	h.Ready()
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.Emit(feeds.Tick{Source: s.id, Symbol: "ETH-USD", Price: 3000})
		case <-ctx.Done():
			if s.cfg.IgnoreCancel > 0 {
				time.Sleep(s.cfg.IgnoreCancel)
			}
			return nil
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is a daemon under test.
type running struct {
	t      *testing.T
	d      *Daemon
	path   string
	rec    *recorder
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
	reload chan struct{}
	base   string
}

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	// Write then rename, as editors and config management do.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

const header = `server:
  listen: 127.0.0.1:0
  shutdown_timeout: 2s
log:
  format: json
  level: debug
supervisor:
  backoff_initial: 20ms
  backoff_max: 100ms
`

func start(t *testing.T, yaml string) *running {
	t.Helper()
	return startIn(t, t.TempDir(), yaml)
}

// startIn runs a daemon on yaml written to dir/feedd.yaml.
func startIn(t *testing.T, dir, yaml string) *running {
	t.Helper()
	path := filepath.Join(dir, "feedd.yaml")
	writeFile(t, path, yaml)
	rec := &recorder{started: map[string]int{}, ended: map[string]int{}}
	logs := &syncBuffer{}
	d, err := New(Options{ConfigPath: path, Registry: newRegistry(rec), LogOutput: logs, WatchSettle: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("new daemon: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: t, d: d, path: path, rec: rec, logs: logs, cancel: cancel, done: make(chan error, 1),
		reload: make(chan struct{}, 1), base: "http://" + d.Addr().String()}
	go func() { r.done <- d.Run(ctx, r.reload) }()
	t.Cleanup(func() {
		r.stop()
		rec.wg.Wait()
	})
	return r
}

// stop shuts the daemon down once and returns what Run returned.
func (r *running) stop() error {
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(10 * time.Second):
		r.t.Fatal("daemon did not stop")
		return nil
	}
}

func (r *running) get(path string) (int, map[string]any) {
	r.t.Helper()
	resp, err := http.Get(r.base + path)
	if err != nil {
		r.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		r.t.Fatalf("GET %s: decode: %v", path, err)
	}
	return resp.StatusCode, body
}

func (r *running) sources() map[string]map[string]any {
	_, body := r.get("/api/v1/sources")
	out := map[string]map[string]any{}
	for _, s := range body["sources"].([]any) {
		m := s.(map[string]any)
		out[m["id"].(string)] = m
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestHTTPEndpoints(t *testing.T) {
	r := start(t, header+`feeds:
  - {id: good, type: test.source}
  - {id: flaky, type: test.source, fail: "dial tcp: connection refused", optional: true}
`)
	eventually(t, "good running", func() bool { return r.sources()["good"]["state"] == "running" })
	code, body := r.get("/healthz")
	if code != 200 || body["status"] != "ok" {
		t.Fatalf("healthz: %d %v", code, body)
	}
	eventually(t, "flaky backing off", func() bool { return r.sources()["flaky"]["state"] == "backoff" })
	code, body = r.get("/readyz")
	if code != 200 || body["status"] != "ready" {
		t.Fatalf("readyz with only an optional instance failing: %d %v", code, body)
	}
	eventually(t, "an event from good", func() bool { return r.sources()["good"]["events"].(float64) > 0 })
	src := r.sources()
	if g := src["good"]; g["type"] != "test.source" || g["events"].(float64) < 1 || g["last_event"] == nil || g["error"] != nil {
		t.Fatalf("good source: %v", g)
	}
	if f := src["flaky"]; f["error"] != "dial tcp: connection refused" || f["next_attempt"] == nil || f["optional"] != true {
		t.Fatalf("flaky source: %v", f)
	}

	// The same failure on a required instance makes the daemon unready.
	writeFile(t, r.path, header+`feeds:
  - {id: good, type: test.source}
  - {id: flaky, type: test.source, fail: "dial tcp: connection refused"}
`)
	r.reload <- struct{}{}
	eventually(t, "readyz 503", func() bool { code, _ := r.get("/readyz"); return code == 503 })
	_, body = r.get("/readyz")
	if nr := fmt.Sprint(body["not_ready"]); nr != "[flaky]" || body["status"] != "not ready" {
		t.Fatalf("readyz body: %v", body)
	}
	resp, err := http.Post(r.base+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /healthz: %d", resp.StatusCode)
	}
}

func TestReloadOnFileChange(t *testing.T) {
	r := start(t, header+`feeds:
  - {id: keep, type: test.source, tag: v1}
  - {id: change, type: test.source, tag: v1}
  - {id: drop, type: test.source, tag: v1}
`)
	for _, id := range []string{"keep", "change", "drop"} {
		eventually(t, id+" running", func() bool { return r.sources()[id]["state"] == "running" })
	}

	t.Run("valid: changed, added, removed, unchanged", func(t *testing.T) {
		writeFile(t, r.path, header+`feeds:
  - {id: keep, type: test.source, tag: v1}
  - {id: change, type: test.source, tag: v2}
  - {id: add, type: test.source, tag: v1}
`)
		eventually(t, "reload applied", func() bool {
			s := r.sources()
			_, dropped := s["drop"]
			return !dropped && s["add"]["state"] == "running" && r.rec.get(r.rec.ended, "change/v1") == 1
		})
		if r.rec.get(r.rec.started, "change/v2") != 1 {
			t.Fatal("changed instance not restarted with its new configuration")
		}
		if r.rec.get(r.rec.ended, "drop/v1") != 1 {
			t.Fatal("removed instance not stopped")
		}
		if r.rec.get(r.rec.started, "keep/v1") != 1 || r.rec.get(r.rec.ended, "keep/v1") != 0 {
			t.Fatal("unchanged instance was restarted")
		}
	})

	t.Run("invalid: refused whole, old one keeps running", func(t *testing.T) {
		before := r.sources()["keep"]["events"].(float64)
		writeFile(t, r.path, header+`feeds:
  - {id: keep, type: test.source, tag: v9}
  - {id: change, type: test.sourc}
  - {id: add, type: test.source, intervl: 1s}
`)
		eventually(t, "refusal logged", func() bool {
			return strings.Contains(r.logs.String(), `feeds[2].intervl: unknown key; did you mean \"interval\"?`)
		})
		logs := r.logs.String()
		if !strings.Contains(logs, `feeds[1].type: unknown source type \"test.sourc\"; did you mean \"test.source\"?`) {
			t.Fatalf("not every problem logged:\n%s", logs)
		}
		eventually(t, "keep still emitting", func() bool { return r.sources()["keep"]["events"].(float64) > before })
		if r.rec.get(r.rec.started, "keep/v9") != 0 || r.rec.get(r.rec.ended, "keep/v1") != 0 {
			t.Fatal("part of an invalid configuration was applied")
		}
	})

	t.Run("replacement that fails keeps the old instance", func(t *testing.T) {
		writeFile(t, r.path, header+`feeds:
  - {id: keep, type: test.source, tag: v3, fail: "401 unauthorized"}
  - {id: change, type: test.source, tag: v2}
  - {id: add, type: test.source, tag: v1}
`)
		eventually(t, "reload error reported", func() bool {
			return r.sources()["keep"]["reload_error"] == "new configuration failed to start, old one kept: 401 unauthorized"
		})
		if r.sources()["keep"]["state"] != "running" || r.rec.get(r.rec.ended, "keep/v1") != 0 {
			t.Fatal("old instance not kept")
		}
		if code, _ := r.get("/readyz"); code != 200 {
			t.Fatalf("readyz %d after a refused replacement", code)
		}
	})
}

func TestReloadOnSignalWithoutWatch(t *testing.T) {
	r := start(t, strings.Replace(header, "shutdown_timeout: 2s", "shutdown_timeout: 2s\n  watch_config: false", 1)+`feeds:
  - {id: a, type: test.source, tag: v1}
`)
	eventually(t, "a running", func() bool { return r.sources()["a"]["state"] == "running" })
	writeFile(t, r.path, strings.Replace(header, "level: debug", "level: warn", 1)+`feeds:
  - {id: a, type: test.source, tag: v2}
`)
	time.Sleep(100 * time.Millisecond)
	if r.rec.get(r.rec.started, "a/v2") != 0 {
		t.Fatal("reloaded without a signal although watch_config is false")
	}
	r.reload <- struct{}{}
	eventually(t, "a/v2 running", func() bool { return r.rec.get(r.rec.started, "a/v2") == 1 })
	if !strings.Contains(r.logs.String(), `"section":"server"`) {
		t.Fatalf("restart-only change not logged:\n%s", r.logs.String())
	}
	if r.d.level.Level().String() != "WARN" {
		t.Fatalf("log level not applied on reload: %s", r.d.level.Level())
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Run("waits for a slow instance within the timeout", func(t *testing.T) {
		r := start(t, header+`feeds:
  - {id: slow, type: test.source, ignore_cancel: 300ms}
`)
		eventually(t, "slow running", func() bool { return r.sources()["slow"]["state"] == "running" })
		start := time.Now()
		if err := r.stop(); err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
		if took := time.Since(start); took < 300*time.Millisecond {
			t.Fatalf("returned after %s, before the instance stopped", took)
		}
		if _, err := http.Get(r.base + "/healthz"); err == nil {
			t.Fatal("listener still accepting after shutdown")
		}
	})
	t.Run("gives up at the timeout and names the instance", func(t *testing.T) {
		r := start(t, strings.Replace(header, "shutdown_timeout: 2s", "shutdown_timeout: 100ms", 1)+`feeds:
  - {id: stuck, type: test.source, ignore_cancel: 1500ms}
  - {id: fine, type: test.source}
`)
		eventually(t, "stuck running", func() bool { return r.sources()["stuck"]["state"] == "running" })
		start := time.Now()
		err := r.stop()
		took := time.Since(start)
		if err == nil || !strings.Contains(err.Error(), "stop plugins: instances still stopping after context deadline exceeded: stuck") {
			t.Fatalf("Run returned %v", err)
		}
		if took > time.Second {
			t.Fatalf("shutdown took %s with a 100ms timeout", took)
		}
		// Let the stuck run end before the leak check.
		eventually(t, "stuck run ended", func() bool { return r.rec.get(r.rec.ended, "stuck/") == 1 })
	})
}

func TestNewRefusesBadConfigAndBusyPort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte("server:\n  listen: nowhere\n"), 0o644)
	_, err := New(Options{ConfigPath: path, LogOutput: io.Discard})
	ps, ok := Problems(err)
	if !ok || len(ps) != 1 || ps[0].Error() != path+`:2: server.listen: "nowhere" is not host:port (e.g. 127.0.0.1:8080, :8080, [::1]:8080)` {
		t.Fatalf("New = %v", err)
	}
	r := start(t, header)
	os.WriteFile(path, []byte("server:\n  listen: "+r.d.Addr().String()+"\n"), 0o644)
	_, err = New(Options{ConfigPath: path, LogOutput: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "listen on server.listen "+r.d.Addr().String()) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("New on a busy port = %v", err)
	}
}
