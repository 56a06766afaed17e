package uniswap_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.yaml.in/yaml/v3"

	"github.com/feedd/feedd/chains/evm"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/plugins"
)

const wait = 10 * time.Second

// syncBuf is a log sink safe for concurrent writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sink records the ticks.
type sink struct {
	mu    sync.Mutex
	ticks []feeds.Tick
	wake  chan struct{}
}

func (s *sink) Handle(_ context.Context, _ plugins.Source, ev feeds.Event) {
	if t, ok := ev.(feeds.Tick); ok {
		s.mu.Lock()
		s.ticks = append(s.ticks, t)
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *sink) got() []feeds.Tick {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ticks)
}

// rig is a manual-sealing dev chain with DeployAll's contracts, an evm
// chain following it and a Supervisor running the configured feeds.
type rig struct {
	dev   *devchain.Chain
	d     *devchain.Deployment
	sink  *sink
	logs  *syncBuf
	spans *tracetest.SpanRecorder
}

func startDev(t *testing.T) (*devchain.Chain, *devchain.Deployment) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dev, err := devchain.Start(ctx, devchain.Options{Manual: true, Accounts: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	d, err := devchain.DeployAll(ctx, dev)
	if err != nil {
		t.Fatal(err)
	}
	return dev, d
}

// run starts the chain and the feeds: entries (YAML of a list) on dev.
func run(t *testing.T, dev *devchain.Chain, d *devchain.Deployment, entriesYAML string) *rig {
	t.Helper()
	r := &rig{dev: dev, d: d, sink: &sink{wake: make(chan struct{}, 1)}, logs: &syncBuf{}, spans: tracetest.NewSpanRecorder()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	logger := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ch, err := evm.New("devnet", evm.Config{ChainID: dev.ChainID().Uint64(), Endpoints: []string{dev.WSURL()}, PollInterval: 50 * time.Millisecond,
		Confirmations: 3, ReorgDepth: 64, MaxBackfill: 256, RequestTimeout: 2 * time.Second, BatchSize: 100,
		BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond}, plugins.Env{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ch.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("chain Run: %v", err)
			}
		case <-time.After(wait):
			t.Errorf("chain Run did not return")
		}
		if t.Failed() {
			t.Logf("logs:\n%s", r.logs)
		}
	})
	var entries []config.Raw
	if err := yaml.Unmarshal([]byte(entriesYAML), &entries); err != nil {
		t.Fatal(err)
	}
	var ps config.Problems
	specs := plugins.Default.Sources("feeds", entries, nil, &ps)
	if len(ps) > 0 {
		t.Fatalf("configuration problems:\n%v", ps)
	}
	sup := plugins.New(plugins.Options{
		Logger: logger,
		Sink:   r.sink,
		// Source spans and the instances' own, recorded.
		Tracer:         tp.Tracer("test"),
		TracerProvider: tp,
		Backoff:        backoff.Policy{Initial: 50 * time.Millisecond, Max: time.Second, Factor: 2, Jitter: -1},
		Chain: func(name string) (plugins.Chain, error) {
			return ch, nil
		},
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := sup.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	actx, acancel := context.WithTimeout(context.Background(), wait)
	defer acancel()
	if err := sup.Apply(actx, specs); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return r
}

// waitTick waits for a tick (after the first skip ticks) that cond accepts.
func (r *rig) waitTick(t *testing.T, what string, skip int, cond func(feeds.Tick) bool) (feeds.Tick, int) {
	t.Helper()
	deadline := time.After(wait)
	for {
		ticks := r.sink.got()
		for i := skip; i < len(ticks); i++ {
			if cond(ticks[i]) {
				return ticks[i], i + 1
			}
		}
		select {
		case <-r.sink.wake:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no tick: %s; ticks %+v", what, ticks)
		}
	}
}

// waitLog waits until the logs hold s.
func (r *rig) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !strings.Contains(r.logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no log %q", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func commit(t *testing.T, dev *devchain.Chain) {
	t.Helper()
	if _, err := dev.Commit(); err != nil {
		t.Fatal(err)
	}
}
