package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/feedd/feedd/plugins"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var update = flag.Bool("update", false, "rewrite the README's generated configuration reference")

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("server:\n  listen: :9000\n"), 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("server:\n  listen: :9000\nfeeds:\n  - id: demo\n    type: price.replay\n    fiel: ticks.jsonl\n"), 0o644)
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"embedded default", []string{"validate"}, 0, "ok\n", ""},
		{"good file", []string{"validate", "-c", good}, 0, "ok\n", ""},
		{"good file as argument", []string{"validate", good}, 0, "ok\n", ""},
		{"typo", []string{"validate", "--config", bad}, 1, "", "feedd: configuration has 2 problem(s):\n" +
			"  " + bad + ":4: feeds[0].file: required (JSON-lines file of ticks (ts ms, source, symbol, price, size, side); relative to the configuration file's folder)\n" +
			"  " + bad + ":6: feeds[0].fiel: unknown key; did you mean \"file\"? (known: id, type, optional, stall_after, start_timeout, file, speed, loop, source, symbols)\n"},
		{"missing file", []string{"validate", "-c", filepath.Join(dir, "nope.yaml")}, 1, "", "feedd: read configuration: open " + filepath.Join(dir, "nope.yaml") + ": no such file or directory\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCmd(tc.args...)
			if code != tc.code || out != tc.out || errs != tc.err {
				t.Fatalf("exit %d\nstdout: %q\nstderr: %q\nwant exit %d\nstdout: %q\nstderr: %q", code, out, errs, tc.code, tc.out, tc.err)
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, errs := runCmd("frobnicate")
	if code != 2 || !strings.HasPrefix(errs, "feedd: unknown command \"frobnicate\"\nusage:") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if code, out, _ := runCmd("version"); code != 0 || !strings.HasPrefix(out, "feedd ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestPluginsListing(t *testing.T) {
	code, out, errs := runCmd("plugins", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var docs []pluginDoc
	if err := json.Unmarshal([]byte(out), &docs); err != nil {
		t.Fatal(err)
	}
	if len(docs) != len(plugins.Default.Types("")) {
		t.Fatalf("%d types listed, %d registered", len(docs), len(plugins.Default.Types("")))
	}
	var replay *pluginDoc
	for i := range docs {
		if docs[i].Name == "price.replay" {
			replay = &docs[i]
		}
	}
	if replay == nil || replay.Kind != plugins.KindSource || replay.Example == "" {
		t.Fatalf("price.replay missing or incomplete: %+v", replay)
	}
	found := false
	for _, f := range replay.Fields {
		if f.Key == "speed" && f.Type == "float" && f.Default == "1" && f.Doc != "" {
			found = true
		}
	}
	if !found {
		t.Fatalf("price.replay's speed field not described: %+v", replay.Fields)
	}
	code, out, _ = runCmd("plugins")
	if code != 0 || !strings.Contains(out, "price.replay (source)") || !strings.Contains(out, "  speed  ") {
		t.Fatalf("text listing: %d\n%s", code, out)
	}
}

const (
	refBegin = "<!-- BEGIN GENERATED REFERENCE (make docs) -->\n"
	refEnd   = "<!-- END GENERATED REFERENCE -->\n"
)

// TestReadmeReference keeps the README's configuration reference equal to
// what the specs generate; `make docs` (go test -run TestReadmeReference
// -update) rewrites it.
func TestReadmeReference(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var gen bytes.Buffer
	if err := writeReference(&gen, plugins.Default.Types("")); err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, refBegin), strings.Index(s, refEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the markers %q and %q", refBegin, refEnd)
	}
	current := s[i+len(refBegin) : j]
	if current == gen.String() {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(s[:i+len(refBegin)]+gen.String()+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("README.md's configuration reference is stale: run `make docs`")
}

func TestHandleSignals(t *testing.T) {
	sigs := make(chan os.Signal, 4)
	reload := make(chan struct{}, 1)
	var (
		mu        sync.Mutex
		cancelled int
		exitCode  = -1
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		handleSignals(sigs, slog.New(slog.DiscardHandler), func() { mu.Lock(); cancelled++; mu.Unlock() }, reload,
			func(c int) { mu.Lock(); exitCode = c; mu.Unlock() })
	}()
	sigs <- syscall.SIGHUP
	sigs <- syscall.SIGHUP // coalesced with the pending one
	sigs <- syscall.SIGTERM
	sigs <- syscall.SIGINT
	<-done
	if len(reload) != 1 || cancelled != 1 || exitCode != 1 {
		t.Fatalf("reloads pending %d, cancels %d, exit %d; want 1, 1, 1", len(reload), cancelled, exitCode)
	}
}

// TestBinary runs the real binary: it starts on a file, answers /readyz,
// reloads on SIGHUP and exits 0 on SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "feedd")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "ticks.jsonl"), []byte(
		`{"ts":1000,"source":"a","symbol":"ETH-USD","price":3000}`+"\n"+
			`{"ts":1100,"source":"a","symbol":"ETH-USD","price":3001}`+"\n"), 0o644)
	cfg := filepath.Join(dir, "feedd.yaml")
	conf := func(speed string) []byte {
		return []byte("server:\n  listen: 127.0.0.1:0\n  watch_config: false\nlog:\n  format: json\nfeeds:\n  - {id: r, type: price.replay, file: ticks.jsonl, speed: " + speed + "}\n")
	}
	os.WriteFile(cfg, conf("1"), 0o644)
	cmd := exec.Command(bin, "run", "-c", cfg)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	waitLog := func(re string) string {
		t.Helper()
		rx := regexp.MustCompile(re)
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("feedd exited before logging %s", re)
				}
				if m := rx.FindStringSubmatch(l); m != nil {
					return m[len(m)-1]
				}
			case <-timeout:
				t.Fatalf("no log line matching %s", re)
			}
		}
	}
	addr := waitLog(`"msg":"feedd starting".*"listen":"([^"]+)"`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz never 200: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	os.WriteFile(cfg, conf("2"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog(`"msg":"reload applied"`)
	cmd.Process.Signal(syscall.SIGTERM)
	waitLog(`"msg":"stopped"`)
	for range lines {
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("feedd did not exit after SIGTERM")
	}
}
