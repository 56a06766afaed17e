package plugins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

// runFunc adapts a function to Instance.
type runFunc func(ctx context.Context, h *Host) error

func (f runFunc) Run(ctx context.Context, h *Host) error { return f(ctx, h) }

// spec returns a spec whose instances run fn; fp stands for its configuration.
func spec(id, fp string, fn runFunc) Spec {
	return Spec{ID: id, Type: "test", StartTimeout: 30 * time.Second, fingerprint: fp,
		newSource: func(any, Env) (Instance, error) { return fn, nil }}
}

// syncBuffer is a log sink safe for concurrent writes.
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

type harness struct {
	t      *testing.T
	clk    *clock.Fake
	sup    *Supervisor
	logs   *syncBuffer
	events chan feeds.Event
}

func newHarness(t *testing.T, policy backoff.Policy) *harness {
	t.Helper()
	h := &harness{t: t, clk: clock.NewFake(t0), logs: &syncBuffer{}, events: make(chan feeds.Event, 100)}
	h.sup = New(Options{
		Logger:  slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:   h.clk,
		Backoff: policy,
		Rand:    func() float64 { return 0 }, // no jitter: exact delays
		Sink: SinkFunc(func(ctx context.Context, src Source, ev feeds.Event) {
			select {
			case h.events <- ev:
			case <-ctx.Done():
			}
		}),
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.sup.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return h
}

// eventually waits up to 5 s for cond, failing with what describes the wait.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *harness) status(id string) Status {
	for _, s := range h.sup.Status() {
		if s.ID == id {
			return s
		}
	}
	h.t.Fatalf("no instance %q", id)
	return Status{}
}

func (h *harness) waitState(id string, state State) Status {
	h.t.Helper()
	var s Status
	eventually(h.t, fmt.Sprintf("%s in state %s", id, state), func() bool {
		s = h.status(id)
		return s.State == state
	})
	return s
}

func TestRestartBackoffDoublesToMax(t *testing.T) {
	h := newHarness(t, backoff.Policy{Initial: time.Second, Max: 8 * time.Second})
	var runs atomic.Int32
	boom := errors.New("connection refused")
	if err := h.sup.Apply(context.Background(), []Spec{spec("a", "1", func(ctx context.Context, _ *Host) error {
		runs.Add(1)
		return boom
	})}); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{1, 2, 4, 8, 8, 8}
	for i, d := range want {
		d *= time.Second
		s := h.waitState("a", StateBackoff)
		if got := s.NextAttempt.Sub(h.clk.Now()); got != d {
			t.Fatalf("failure %d: next attempt in %s, want %s", i+1, got, d)
		}
		if s.Error != "connection refused" || s.Restarts != i {
			t.Fatalf("failure %d: status %+v", i+1, s)
		}
		if err := h.clk.WaitTimers(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		h.clk.Advance(d - time.Millisecond)
		if n := runs.Load(); n != int32(i+1) {
			t.Fatalf("ran %d times before the backoff of %s was over, want %d", n, d, i+1)
		}
		h.clk.Advance(time.Millisecond)
		eventually(t, "next run", func() bool { return runs.Load() == int32(i+2) })
	}
}

func TestBackoffJitterStaysWithinBounds(t *testing.T) {
	p := backoff.Policy{Initial: time.Second, Max: time.Minute}
	for n := 0; n < 10; n++ {
		for _, r := range []float64{0, 0.25, 0.5, 0.999} {
			d := p.Delay(n, func() float64 { return r })
			ceil := p.Ceiling(n)
			if d > ceil || d < ceil/2 {
				t.Fatalf("Delay(%d, %v) = %s, want within [%s, %s]", n, r, d, ceil/2, ceil)
			}
		}
	}
}

func TestBackoffResetsAfterLongHealthyRun(t *testing.T) {
	h := newHarness(t, backoff.Policy{Initial: time.Second, Max: 4 * time.Second})
	fail := make(chan error)
	var runs atomic.Int32
	h.sup.Apply(context.Background(), []Spec{spec("a", "1", func(ctx context.Context, host *Host) error {
		runs.Add(1)
		host.Ready()
		select {
		case err := <-fail:
			return err
		case <-ctx.Done():
			return nil
		}
	})})
	// Two quick failures: 1s, then 2s.
	for i, d := range []time.Duration{time.Second, 2 * time.Second} {
		h.waitState("a", StateRunning)
		fail <- errors.New("flap")
		s := h.waitState("a", StateBackoff)
		if got := s.NextAttempt.Sub(h.clk.Now()); got != d {
			t.Fatalf("quick failure %d: backoff %s, want %s", i, got, d)
		}
		h.clk.WaitTimers(context.Background(), 1)
		h.clk.Advance(d)
	}
	// A run that stays up longer than the maximum backoff starts afresh.
	h.waitState("a", StateRunning)
	h.clk.Advance(5 * time.Second)
	fail <- errors.New("after a long run")
	s := h.waitState("a", StateBackoff)
	if got := s.NextAttempt.Sub(h.clk.Now()); got != time.Second {
		t.Fatalf("backoff after a long healthy run = %s, want 1s", got)
	}
}

func TestPanicIsRecoveredLoggedAndCounted(t *testing.T) {
	h := newHarness(t, backoff.Policy{Initial: time.Second})
	var runs atomic.Int32
	h.sup.Apply(context.Background(), []Spec{spec("p", "1", func(ctx context.Context, host *Host) error {
		if runs.Add(1) == 1 {
			var m map[string]int
			m["x"] = 1 // nil map write: a real runtime panic
		}
		host.Ready()
		<-ctx.Done()
		return nil
	})})
	s := h.waitState("p", StateBackoff)
	if s.Panics != 1 || !strings.HasPrefix(s.Error, "panic: assignment to entry in nil map") {
		t.Fatalf("status after panic: %+v", s)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "instance panicked") || !strings.Contains(logs, "supervisor_test.go") {
		t.Fatalf("panic log lacks message or stack:\n%s", logs)
	}
	h.clk.WaitTimers(context.Background(), 1)
	h.clk.Advance(time.Second)
	s = h.waitState("p", StateRunning)
	if s.Restarts != 1 || s.Panics != 1 {
		t.Fatalf("after restart: %+v", s)
	}
}

func TestStallWatchRestartsSilentInstance(t *testing.T) {
	h := newHarness(t, backoff.Policy{Initial: time.Second})
	emit := make(chan struct{})
	var runs atomic.Int32
	sp := spec("s", "1", func(ctx context.Context, host *Host) error {
		runs.Add(1)
		for {
			select {
			case <-emit:
				host.Emit(feeds.Tick{Symbol: "ETH-USD", Price: 1})
			case <-ctx.Done():
				return nil
			}
		}
	})
	sp.StallAfter = 10 * time.Second
	h.sup.Apply(context.Background(), []Spec{sp})
	h.clk.WaitTimers(context.Background(), 1) // the stall watch
	// Events keep it alive: one at 6s moves the deadline to 16s.
	h.clk.Advance(6 * time.Second)
	emit <- struct{}{}
	<-h.events
	h.clk.Advance(4 * time.Second) // 10s: the watch fires, sees 4s of quiet and waits 6s more
	h.clk.WaitTimers(context.Background(), 1)
	if s := h.status("s"); s.State != StateRunning || s.Stalls != 0 {
		t.Fatalf("stalled although an event came 4s ago: %+v", s)
	}
	h.clk.Advance(6 * time.Second) // 16s: 10s without an event
	s := h.waitState("s", StateBackoff)
	if s.Stalls != 1 || !s.Stalled || s.Error != "stalled: no event for 10s" {
		t.Fatalf("status after stall: %+v", s)
	}
	if !strings.Contains(h.logs.String(), "instance stalled") {
		t.Fatal("stall not logged")
	}
	h.clk.WaitTimers(context.Background(), 1)
	h.clk.Advance(time.Second)
	eventually(t, "restart after stall", func() bool { return runs.Load() == 2 })
	emit <- struct{}{}
	<-h.events
	s = h.waitState("s", StateRunning)
	if s.Stalled || s.Events != 2 {
		t.Fatalf("after restart and an event: %+v", s)
	}
}

func TestInstanceThatFinishesIsStoppedNotRestarted(t *testing.T) {
	h := newHarness(t, backoff.Policy{})
	var runs atomic.Int32
	h.sup.Apply(context.Background(), []Spec{spec("f", "1", func(ctx context.Context, host *Host) error {
		runs.Add(1)
		host.Emit(feeds.Tick{Symbol: "ETH-USD", Price: 1})
		return nil
	})})
	<-h.events
	s := h.waitState("f", StateStopped)
	if s.Events != 1 || s.Error != "" || runs.Load() != 1 || h.clk.Timers() != 0 {
		t.Fatalf("finished instance: %+v, runs %d, timers %d", s, runs.Load(), h.clk.Timers())
	}
}

func TestCreateErrorBacksOff(t *testing.T) {
	h := newHarness(t, backoff.Policy{Initial: time.Second})
	sp := Spec{ID: "c", Type: "test", fingerprint: "1", newSource: func(any, Env) (Instance, error) {
		return nil, errors.New("no such file")
	}}
	h.sup.Apply(context.Background(), []Spec{sp})
	if s := h.waitState("c", StateBackoff); s.Error != "create: no such file" {
		t.Fatalf("status: %+v", s)
	}
}

// lifecycle records the runs of instances built by reloadSpec.
type lifecycle struct {
	mu      sync.Mutex
	started map[string]int // "id/fp" -> runs started
	ended   map[string]int // "id/fp" -> runs ended
}

func (l *lifecycle) count(m map[string]int, key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return m[key]
}

// reloadSpec returns a spec whose instances become ready after ready (a
// negative ready fails at once) and run until stopped, recording their life.
func (l *lifecycle) spec(id, fp string, ready time.Duration) Spec {
	key := id + "/" + fp
	return spec(id, fp, func(ctx context.Context, h *Host) error {
		l.mu.Lock()
		l.started[key]++
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			l.ended[key]++
			l.mu.Unlock()
		}()
		if ready < 0 {
			return errors.New("bad credentials")
		}
		if ready > 0 {
			t := h.Clock().NewTimer(ready)
			defer t.Stop()
			select {
			case <-t.C():
			case <-ctx.Done():
				return nil
			}
		}
		h.Ready()
		<-ctx.Done()
		return nil
	})
}

func TestApplyReconciles(t *testing.T) {
	h := newHarness(t, backoff.Policy{Initial: time.Second})
	l := &lifecycle{started: map[string]int{}, ended: map[string]int{}}
	ctx := context.Background()
	if err := h.sup.Apply(ctx, []Spec{l.spec("keep", "1", 0), l.spec("change", "1", 0), l.spec("drop", "1", 0)}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"keep", "change", "drop"} {
		h.waitState(id, StateRunning)
	}

	// Changed (its replacement becomes ready after 2s of fake time), added,
	// removed and unchanged, all in one reload.
	done := make(chan error, 1)
	go func() {
		done <- h.sup.Apply(ctx, []Spec{l.spec("add", "1", 0), l.spec("keep", "1", 0), l.spec("change", "2", 2*time.Second)})
	}()
	eventually(t, "replacement started", func() bool { return l.count(l.started, "change/2") == 1 })
	// Until the replacement is ready, the old instance still runs: no gap.
	if l.count(l.ended, "change/1") != 0 {
		t.Fatal("old instance stopped before its replacement was ready")
	}
	h.clk.WaitTimers(ctx, 2) // the replacement's start timeout and its ready delay
	h.clk.Advance(2 * time.Second)
	if err := <-done; err != nil {
		t.Fatalf("reload: %v", err)
	}
	eventually(t, "old instance stopped", func() bool { return l.count(l.ended, "change/1") == 1 })
	eventually(t, "removed instance stopped", func() bool { return l.count(l.ended, "drop/1") == 1 })
	if l.count(l.started, "keep/1") != 1 || l.count(l.ended, "keep/1") != 0 {
		t.Fatal("unchanged instance was touched")
	}
	var ids []string
	for _, s := range h.sup.Status() {
		ids = append(ids, s.ID+"="+string(s.State))
	}
	if got := strings.Join(ids, " "); got != "add=running keep=running change=running" && got != "add=starting keep=running change=running" {
		t.Fatalf("status after reload: %s", got)
	}
}

func TestApplyKeepsOldWhenReplacementFails(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ready   time.Duration
		advance time.Duration
		wantErr string
	}{
		{"fails at once", -1, 0, "feed x: new configuration failed to start, old one kept: bad credentials"},
		{"not ready in time", time.Hour, 30 * time.Second, "feed x: new configuration failed to start, old one kept: not ready within start_timeout 30s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, backoff.Policy{Initial: time.Second})
			l := &lifecycle{started: map[string]int{}, ended: map[string]int{}}
			ctx := context.Background()
			h.sup.Apply(ctx, []Spec{l.spec("x", "1", 0)})
			h.waitState("x", StateRunning)
			done := make(chan error, 1)
			go func() { done <- h.sup.Apply(ctx, []Spec{l.spec("x", "2", tc.ready)}) }()
			if tc.advance > 0 {
				eventually(t, "replacement started", func() bool { return l.count(l.started, "x/2") == 1 })
				h.clk.WaitTimers(ctx, 2)
				h.clk.Advance(tc.advance)
			}
			err := <-done
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("reload error = %v, want %q", err, tc.wantErr)
			}
			eventually(t, "failed replacement stopped", func() bool { return l.count(l.ended, "x/2") == 1 })
			s := h.status("x")
			if s.State != StateRunning || l.count(l.ended, "x/1") != 0 {
				t.Fatalf("old instance not kept: %+v", s)
			}
			if want := strings.TrimPrefix(tc.wantErr, "feed x: "); s.ReloadError != want {
				t.Fatalf("reload error in status = %q, want %q", s.ReloadError, want)
			}
			// Applying the old configuration again clears the note.
			h.sup.Apply(ctx, []Spec{l.spec("x", "1", 0)})
			if s := h.status("x"); s.ReloadError != "" {
				t.Fatalf("reload note not cleared: %q", s.ReloadError)
			}
		})
	}
}

func TestStopGivesUpOnStuckInstanceAtDeadline(t *testing.T) {
	sup := New(Options{Logger: slog.New(slog.DiscardHandler)})
	release := make(chan struct{})
	exited := make(chan struct{})
	sup.Apply(context.Background(), []Spec{spec("stubborn", "1", func(ctx context.Context, h *Host) error {
		defer close(exited)
		h.Ready()
		<-ctx.Done()
		<-release // ignores cancellation until released
		return nil
	}), spec("polite", "1", func(ctx context.Context, h *Host) error {
		h.Ready()
		<-ctx.Done()
		return nil
	})})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := sup.Stop(ctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Stop took %s past its deadline", took)
	}
	if err == nil || err.Error() != "instances still stopping after context deadline exceeded: stubborn" {
		t.Fatalf("Stop error = %v", err)
	}
	if err := sup.Apply(context.Background(), nil); !errors.Is(err, ErrStopped) {
		t.Fatalf("Apply after Stop = %v, want ErrStopped", err)
	}
	close(release)
	<-exited
	if err := sup.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestEmitAfterRunEndsIsDropped(t *testing.T) {
	h := newHarness(t, backoff.Policy{})
	hosts := make(chan *Host, 1)
	h.sup.Apply(context.Background(), []Spec{spec("e", "1", func(ctx context.Context, host *Host) error {
		hosts <- host
		return nil
	})})
	host := <-hosts
	h.waitState("e", StateStopped)
	host.Emit(feeds.Tick{Symbol: "ETH-USD", Price: 1})
	if s := h.status("e"); s.Events != 0 {
		t.Fatalf("event after the run counted: %+v", s)
	}
	select {
	case ev := <-h.events:
		t.Fatalf("event after the run delivered: %v", ev)
	default:
	}
}

func TestApplyRestartsChangedInstanceThatIsNotRunning(t *testing.T) {
	h := newHarness(t, backoff.Policy{Initial: time.Minute})
	l := &lifecycle{started: map[string]int{}, ended: map[string]int{}}
	ctx := context.Background()
	h.sup.Apply(ctx, []Spec{l.spec("x", "bad-key", -1)})
	h.waitState("x", StateBackoff)
	// The operator fixes the key: no handover from a failing instance, the
	// new entry runs at once instead of after the minute of backoff.
	if err := h.sup.Apply(ctx, []Spec{l.spec("x", "good-key", 0)}); err != nil {
		t.Fatal(err)
	}
	s := h.waitState("x", StateRunning)
	if s.Restarts != 0 || s.Error != "" || l.count(l.started, "x/good-key") != 1 {
		t.Fatalf("status after fixing the entry: %+v", s)
	}
}

// BenchmarkEmit measures the cost an instance pays per event on its way to
// the sink (stall-watch bookkeeping, counters).
func BenchmarkEmit(b *testing.B) {
	var n atomic.Int64
	sup := New(Options{Logger: slog.New(slog.DiscardHandler), Sink: SinkFunc(func(context.Context, Source, feeds.Event) { n.Add(1) })})
	done := make(chan struct{})
	sp := spec("bench", "1", func(ctx context.Context, h *Host) error {
		defer close(done)
		tick := feeds.Tick{Source: "bench", Symbol: "ETH-USD", Price: 3000}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			h.Emit(tick)
		}
		b.StopTimer()
		return nil
	})
	sp.StallAfter = time.Minute
	sup.Apply(context.Background(), []Spec{sp})
	<-done
	sup.Stop(context.Background())
	if n.Load() != int64(b.N) {
		b.Fatalf("sink got %d of %d events", n.Load(), b.N)
	}
}
