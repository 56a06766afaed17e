// Package venuetest runs exchange adapters against a local WebSocket server
// that plays a venue's recorded messages, inside a real plugins.Supervisor.
package venuetest

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/internal/clock"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
)

// Wait bounds every wait in these helpers.
const Wait = 5 * time.Second

// Server is a local venue: each client connection is handed to the test.
type Server struct {
	URL   string // ws:// address
	srv   *httptest.Server
	conns chan *Conn
	mu    sync.Mutex
	all   []*Conn
}

// Conn is one client connection to the Server.
type Conn struct {
	// URL is the request's URL (path and query).
	URL  *url.URL
	ws   *websocket.Conn
	recv chan []byte
	done chan struct{}
	once sync.Once
}

// NewServer starts a Server, closed when the test ends.
func NewServer(t *testing.T) *Server {
	t.Helper()
	s := &Server{conns: make(chan *Conn, 16)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		c := &Conn{URL: r.URL, ws: ws, recv: make(chan []byte, 64), done: make(chan struct{})}
		s.mu.Lock()
		s.all = append(s.all, c)
		s.mu.Unlock()
		s.conns <- c
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				c.Close()
				return
			}
			select {
			case c.recv <- data:
			case <-c.done:
				return
			}
		}
	}))
	s.URL = "ws" + strings.TrimPrefix(s.srv.URL, "http")
	t.Cleanup(func() {
		s.mu.Lock()
		for _, c := range s.all {
			c.Close()
		}
		s.mu.Unlock()
		s.srv.Close()
	})
	return s
}

// Next waits for the next client connection.
func (s *Server) Next(t *testing.T) *Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(Wait):
		t.Fatalf("no client connection within %v", Wait)
		return nil
	}
}

// NoConn checks that no further connection arrives within d.
func (s *Server) NoConn(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case c := <-s.conns:
		t.Fatalf("unexpected connection %v", c.URL)
	case <-time.After(d):
	}
}

// Expect waits for the client's next message.
func (c *Conn) Expect(t *testing.T) []byte {
	t.Helper()
	select {
	case m := <-c.recv:
		return m
	case <-time.After(Wait):
		t.Fatalf("no message from the client within %v", Wait)
		return nil
	}
}

// Send writes msg to the client.
func (c *Conn) Send(t *testing.T, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("send to client: %v", err)
	}
}

// Close drops the connection abruptly, as a venue going away does.
func (c *Conn) Close() {
	c.once.Do(func() {
		c.ws.CloseNow()
		close(c.done)
	})
}

// Fixture returns testdata/name, trimmed.
func Fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Rig runs instances in a Supervisor on the real clock with short backoff.
type Rig struct {
	t     *testing.T
	Sup   *plugins.Supervisor
	ticks chan feeds.Tick
	logs  *syncBuffer
	// Metrics reads what the instances recorded.
	Metrics *sdkmetric.ManualReader
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

// Specs decodes feeds: entries through plugins.Default.
func Specs(entries ...config.Raw) ([]plugins.Spec, config.Problems) {
	var ps config.Problems
	out := plugins.Default.Sources("feeds", entries, nil, &ps)
	return out, ps
}

// Start runs the entry; the supervisor stops when the test ends.
func Start(t *testing.T, entry config.Raw) *Rig {
	t.Helper()
	r := &Rig{t: t, ticks: make(chan feeds.Tick, 256), logs: &syncBuffer{}, Metrics: sdkmetric.NewManualReader()}
	r.Sup = plugins.New(plugins.Options{
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.Metrics)),
		Logger:        slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:         clock.Real{},
		Backoff:       backoff.Policy{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, Jitter: -1},
		Sink: plugins.SinkFunc(func(ctx context.Context, _ plugins.Source, ev feeds.Event) {
			if tick, ok := ev.(feeds.Tick); ok {
				select {
				case r.ticks <- tick:
				case <-ctx.Done():
				}
			}
		}),
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		defer cancel()
		if err := r.Sup.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	specs, ps := Specs(entry)
	if len(ps) > 0 {
		t.Fatalf("configuration problems:\n%v", ps)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := r.Sup.Apply(ctx, specs); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return r
}

// Ticks waits for n ticks.
func (r *Rig) Ticks(n int) []feeds.Tick {
	r.t.Helper()
	var out []feeds.Tick
	for len(out) < n {
		select {
		case tk := <-r.ticks:
			out = append(out, tk)
		case <-time.After(Wait):
			r.t.Fatalf("got %d tick(s) %+v, want %d; logs:\n%s", len(out), out, n, r.Logs())
		}
	}
	return out
}

// NoTicks checks that no tick arrives within d.
func (r *Rig) NoTicks(d time.Duration) {
	r.t.Helper()
	select {
	case tk := <-r.ticks:
		r.t.Fatalf("unexpected tick %+v", tk)
	case <-time.After(d):
	}
}

// Logs returns the log output so far.
func (r *Rig) Logs() string { return r.logs.String() }

// WaitLog waits until the log output contains s.
func (r *Rig) WaitLog(s string) {
	r.t.Helper()
	deadline := time.Now().Add(Wait)
	for !strings.Contains(r.Logs(), s) {
		if time.Now().After(deadline) {
			r.t.Fatalf("log never said %q; logs:\n%s", s, r.Logs())
		}
		time.Sleep(time.Millisecond)
	}
}

// WaitState waits until the only instance reaches state.
func (r *Rig) WaitState(state plugins.State) plugins.Status {
	r.t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		st := r.Sup.Status()
		if len(st) == 1 && st[0].State == state {
			return st[0]
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("instance did not reach %q: %+v; logs:\n%s", state, st, r.Logs())
		}
		time.Sleep(time.Millisecond)
	}
}

// Ping pings the client and waits for its pong (coder/websocket answers
// while the client reads).
func (c *Conn) Ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	return c.ws.Ping(ctx)
}

// Sum returns the value of the integer sum metric called name (all its
// series added up; 0 when absent).
func (r *Rig) Sum(name string) int64 {
	r.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Metrics.Collect(context.Background(), &rm); err != nil {
		r.t.Fatalf("collect metrics: %v", err)
	}
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range s.DataPoints {
					total += dp.Value
				}
			}
		}
	}
	return total
}
