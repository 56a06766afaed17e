// Package chaintest runs the real daemon against an in-process go-ethereum
// dev chain for the tests of the evm plugins: the dev chain serves JSON-RPC
// over WebSocket on loopback, the daemon follows it with the configured
// feeds, and tests subscribe to channels with the Go client over a real
// WebSocket. It is test support: only tests import it.
package chaintest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/feedd/feedd/channels/client"
	"github.com/feedd/feedd/internal/daemon"
	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/internal/telemetry"
	_ "github.com/feedd/feedd/plugins/all" // the plugin types
)

// Options configure Start.
type Options struct {
	// Dev configures the dev chain.
	Dev devchain.Options
	// Endpoint, when set, replaces the dev chain's WebSocket URL in the
	// chain's endpoints (a proxy in front of it, say).
	Endpoint func(dev *devchain.Chain) string
	// Confirmations of the chain; default 3.
	Confirmations int
	// MaxBackfill of the chain; default 256.
	MaxBackfill int
	// Extra is YAML appended to the configuration: feeds:, channels: …
	Extra string
	// Telemetry is handed to the daemon (tests pass in-memory exporters).
	Telemetry telemetry.Options
}

// Env is a running daemon, and the dev chain it follows when Start made it.
type Env struct {
	// Dev is the EVM dev chain (nil for StartDaemon and StartSolana).
	Dev    *devchain.Chain
	Daemon *daemon.Daemon
	// Logs holds the daemon's log lines.
	Logs   *Buffer
	cancel context.CancelFunc
	done   chan error
}

// Buffer is a concurrency-safe log buffer.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Start starts a dev chain and a daemon following it as chain "devnet";
// both stop when the test ends.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dev, err := devchain.Start(ctx, opts.Dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	if opts.Confirmations == 0 {
		opts.Confirmations = 3
	}
	if opts.MaxBackfill == 0 {
		opts.MaxBackfill = 256
	}
	endpoint := dev.WSURL()
	if opts.Endpoint != nil {
		endpoint = opts.Endpoint(dev)
	}
	cfg := fmt.Sprintf(`server:
  listen: 127.0.0.1:0
  shutdown_timeout: 10s
log:
  level: info
chains:
  - name: devnet
    type: evm
    chain_id: %d
    endpoints: [%q]
    confirmations: %d
    max_backfill: %d
    poll_interval: 100ms
    request_timeout: 5s
    backoff_initial: 10ms
    backoff_max: 200ms
%s`, dev.ChainID().Uint64(), endpoint, opts.Confirmations, opts.MaxBackfill, opts.Extra)
	e := StartDaemon(t, cfg, opts.Telemetry)
	e.Dev = dev
	return e
}

// StartDaemon runs the daemon on the configuration cfg (YAML; its listen
// address should be 127.0.0.1:0) until the test ends, and waits until it is
// ready.
func StartDaemon(t testing.TB, cfg string, tel telemetry.Options) *Env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "feedd.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &Buffer{}
	d, err := daemon.New(daemon.Options{ConfigPath: path, LogOutput: logs, Telemetry: tel})
	if err != nil {
		t.Fatalf("daemon: %v\nconfig:\n%s", err, cfg)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	e := &Env{Daemon: d, Logs: logs, cancel: rcancel, done: make(chan error, 1)}
	go func() { e.done <- d.Run(rctx, nil) }()
	t.Cleanup(func() {
		e.cancel()
		select {
		case err := <-e.done:
			if err != nil {
				t.Errorf("daemon: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("daemon did not stop")
		}
		if t.Failed() {
			t.Logf("daemon logs:\n%s", logs)
		}
	})
	e.waitReady(t)
	return e
}

// waitReady waits until /readyz answers 200: every feed follows the chain.
func (e *Env) waitReady(t testing.TB) {
	t.Helper()
	url := "http://" + e.Daemon.Addr().String() + "/readyz"
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready after 20 s (last: %v)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// URL returns the daemon's WebSocket URL.
func (e *Env) URL() string { return "ws://" + e.Daemon.Addr().String() + "/ws" }

// Watch is a subscription that records every update it gets.
type Watch struct {
	mu      sync.Mutex
	updates []json.RawMessage
	snap    json.RawMessage
	wake    chan struct{}
}

// Subscribe subscribes to channel over a new client connection and waits
// until the daemon confirmed it.
func (e *Env) Subscribe(t testing.TB, channel string) *Watch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{URL: e.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	w := &Watch{wake: make(chan struct{}, 1)}
	_, err = c.Subscribe(ctx, channel, client.HandlerFuncs{
		Update: func(u client.Update) {
			w.mu.Lock()
			w.updates = append(w.updates, u.Data)
			w.mu.Unlock()
			w.poke()
		},
		Snapshot: func(s client.Snapshot) {
			w.mu.Lock()
			w.snap = s.Data
			w.mu.Unlock()
			w.poke()
		},
	})
	if err != nil {
		t.Fatalf("subscribe %s: %v", channel, err)
	}
	return w
}

func (w *Watch) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Updates returns the updates so far.
func (w *Watch) Updates() []json.RawMessage {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]json.RawMessage(nil), w.updates...)
}

// States returns the snapshot received on subscribing (when there was one)
// followed by the updates: for a channel that is new when subscribed to,
// the whole history, wherever the subscription started relative to the
// first publication.
func (w *Watch) States() []json.RawMessage {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []json.RawMessage
	if w.snap != nil {
		out = append(out, w.snap)
	}
	return append(out, w.updates...)
}

// WaitForStates is WaitFor over States.
func (w *Watch) WaitForStates(t testing.TB, what string, cond func([]json.RawMessage) bool) []json.RawMessage {
	t.Helper()
	var got []json.RawMessage
	w.WaitFor(t, what, func([]json.RawMessage) bool {
		got = w.States()
		return cond(got)
	})
	return got
}

// Snapshot waits (up to 10 s) for the subscription's snapshot and returns it.
func (w *Watch) Snapshot(t testing.TB) json.RawMessage {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		snap := w.snap
		w.mu.Unlock()
		if snap != nil {
			return snap
		}
		select {
		case <-w.wake:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatal("no snapshot within 10 s")
		}
	}
}

// WaitFor waits until cond holds for the updates so far (up to 20 s) and
// returns them.
func (w *Watch) WaitFor(t testing.TB, what string, cond func([]json.RawMessage) bool) []json.RawMessage {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		ups := w.Updates()
		if cond(ups) {
			return ups
		}
		select {
		case <-w.wake:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			var b bytes.Buffer
			for _, u := range ups {
				b.Write(u)
				b.WriteByte('\n')
			}
			t.Fatalf("timed out waiting for %s; %d updates:\n%s", what, len(ups), b.String())
		}
	}
}

// Decode unmarshals each update into a value of T.
func Decode[T any](t testing.TB, ups []json.RawMessage) []T {
	t.Helper()
	out := make([]T, len(ups))
	for i, u := range ups {
		if err := json.Unmarshal(u, &out[i]); err != nil {
			t.Fatalf("update %d %s: %v", i, u, err)
		}
	}
	return out
}
