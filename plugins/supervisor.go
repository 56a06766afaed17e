package plugins

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/internal/clock"
)

// Options configure a Supervisor. Zero fields take the defaults noted.
type Options struct {
	// Logger logs instance life events; default slog.Default().
	Logger *slog.Logger
	// Clock times backoff and the stall watch; default the wall clock.
	Clock clock.Clock
	// Sink receives events; default discards them.
	Sink Sink
	// Backoff spaces restarts; zero is 1s doubling to 1m with jitter.
	Backoff backoff.Policy
	// Rand returns numbers in [0,1) for jitter; default math/rand/v2.
	Rand func() float64
	// Files is handed to instances to resolve relative file names.
	Files fs.FS
	// Tracer makes a source.receive span per event; default no spans.
	Tracer trace.Tracer
	// TracerProvider and MeterProvider give each instance its own tracer
	// and meter (Env); default no-ops.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// Chain and Interest are handed to instances (Env); default none.
	Chain    ChainLookup
	Interest InterestFunc
}

// Supervisor runs source instances, each in its own goroutine: it restarts an
// instance that fails, panics or stalls, with exponential backoff and jitter,
// and reports each one's state. Apply changes the set of instances in place.
type Supervisor struct {
	opts   Options
	ctx    context.Context
	cancel context.CancelFunc

	applyMu sync.Mutex // one Apply at a time

	mu    sync.Mutex
	units map[string]*unit // by id: the instance that serves the id now
	order []string         // ids in configuration order
	live  map[*unit]bool   // every unit whose goroutine has not returned
	idle  chan struct{}    // closed when live becomes empty
}

// New returns a supervisor with no instances.
func New(opts Options) *Supervisor {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.TracerProvider == nil {
		opts.TracerProvider = noop.NewTracerProvider()
	}
	if opts.MeterProvider == nil {
		opts.MeterProvider = metricnoop.NewMeterProvider()
	}
	if opts.Tracer == nil {
		opts.Tracer = opts.TracerProvider.Tracer("github.com/feedd/feedd/plugins")
	}
	if opts.Sink == nil {
		opts.Sink = SinkFunc(func(context.Context, Source, feeds.Event) {})
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Supervisor{opts: opts, ctx: ctx, cancel: cancel, units: map[string]*unit{}, live: map[*unit]bool{}}
}

// ErrStopped is returned by Apply after Stop.
var ErrStopped = errors.New("supervisor stopped")

// Apply makes the running instances match specs: it starts instances that
// are new, stops those no longer listed and leaves unchanged ones alone. A
// changed instance that is running is replaced without a gap: its
// replacement starts, and only once it is ready does the old one stop; if the
// replacement fails or is not ready within its StartTimeout, the old one
// keeps running, its status says why, and Apply returns an error naming it.
// A changed instance that is not running (starting or backing off) has no
// work to hand over and is restarted with its new configuration at once. Apply returns once every
// replacement has been decided; it does not wait for new instances to be ready.
func (s *Supervisor) Apply(ctx context.Context, specs []Spec) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if s.ctx.Err() != nil {
		return ErrStopped
	}
	want := make(map[string]Spec, len(specs))
	order := make([]string, 0, len(specs))
	for _, sp := range specs {
		want[sp.ID] = sp
		order = append(order, sp.ID)
	}
	s.mu.Lock()
	current := make(map[string]*unit, len(s.units))
	for id, u := range s.units {
		current[id] = u
	}
	s.mu.Unlock()

	var (
		wg   sync.WaitGroup
		emu  sync.Mutex
		errs []error
	)
	for id, u := range current {
		if _, keep := want[id]; !keep {
			s.mu.Lock()
			delete(s.units, id)
			s.mu.Unlock()
			s.opts.Logger.Info("stopping removed instance", "id", id, "type", u.spec.Type)
			u.stop()
		}
	}
	for _, sp := range specs {
		old, exists := current[sp.ID]
		switch {
		case !exists:
			s.opts.Logger.Info("starting instance", "id", sp.ID, "type", sp.Type)
			u := s.launch(sp)
			s.mu.Lock()
			s.units[sp.ID] = u
			s.mu.Unlock()
		case !old.spec.Same(sp) && old.status().State != StateRunning:
			// Nothing to hand over from an instance that is not working:
			// the new configuration takes its place at once.
			s.opts.Logger.Info("restarting changed instance", "id", sp.ID, "type", sp.Type, "was", old.status().State)
			old.stop()
			u := s.launch(sp)
			s.mu.Lock()
			s.units[sp.ID] = u
			s.mu.Unlock()
		case !old.spec.Same(sp):
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.replace(ctx, old, sp); err != nil {
					emu.Lock()
					errs = append(errs, err)
					emu.Unlock()
				}
			}()
		default:
			old.setReloadError("")
		}
	}
	wg.Wait()
	s.mu.Lock()
	s.order = order
	s.mu.Unlock()
	return errors.Join(errs...)
}

func (s *Supervisor) replace(ctx context.Context, old *unit, sp Spec) error {
	s.opts.Logger.Info("replacing changed instance", "id", sp.ID, "type", sp.Type)
	nu := s.launch(sp)
	timer := s.opts.Clock.NewTimer(sp.StartTimeout)
	defer timer.Stop()
	var fail error
	select {
	case err := <-nu.started:
		fail = err
	case <-timer.C():
		fail = fmt.Errorf("not ready within start_timeout %s", sp.StartTimeout)
	case <-ctx.Done():
		fail = ctx.Err()
	case <-s.ctx.Done():
		fail = ErrStopped
	}
	if fail == nil {
		s.mu.Lock()
		s.units[sp.ID] = nu
		s.mu.Unlock()
		old.stop()
		s.opts.Logger.Info("replaced instance", "id", sp.ID, "type", sp.Type)
		return nil
	}
	nu.stop()
	msg := fmt.Sprintf("new configuration failed to start, old one kept: %v", fail)
	old.setReloadError(msg)
	s.opts.Logger.Error("reload of instance failed", "id", sp.ID, "type", sp.Type, "error", fail)
	return fmt.Errorf("feed %s: %s", sp.ID, msg)
}

// Status returns a snapshot of every instance, in configuration order.
func (s *Supervisor) Status() []Status {
	s.mu.Lock()
	units := make([]*unit, 0, len(s.order))
	for _, id := range s.order {
		if u, ok := s.units[id]; ok {
			units = append(units, u)
		}
	}
	// Instances started by an Apply still in progress are not in order yet.
	for id, u := range s.units {
		if !contains(s.order, id) {
			units = append(units, u)
		}
	}
	s.mu.Unlock()
	out := make([]Status, len(units))
	for i, u := range units {
		out[i] = u.status()
	}
	return out
}

// Stop stops every instance and waits until all have returned or ctx ends;
// then it returns an error naming the instances still running. After Stop,
// Apply fails with ErrStopped.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.cancel()
	s.mu.Lock()
	idle := s.idle
	if len(s.live) == 0 {
		s.mu.Unlock()
		return nil
	}
	if idle == nil {
		idle = make(chan struct{})
		s.idle = idle
	}
	s.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	var stuck []string
	for u := range s.live {
		stuck = append(stuck, u.spec.ID)
	}
	s.mu.Unlock()
	sort.Strings(stuck)
	return fmt.Errorf("instances still stopping after %w: %s", ctx.Err(), strings.Join(stuck, ", "))
}

// launch starts a unit for sp.
func (s *Supervisor) launch(sp Spec) *unit {
	ctx, cancel := context.WithCancel(s.ctx)
	u := &unit{
		sup:     s,
		spec:    sp,
		ctx:     ctx,
		cancel:  cancel,
		started: make(chan error, 1),
		logger:  s.opts.Logger.With("id", sp.ID, "type", sp.Type),
	}
	u.st = Status{ID: sp.ID, Type: sp.Type, Optional: sp.Optional, State: StateStarting, Since: s.opts.Clock.Now()}
	s.mu.Lock()
	s.live[u] = true
	s.mu.Unlock()
	go u.loop()
	return u
}

func (s *Supervisor) retire(u *unit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, u)
	if len(s.live) == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// unit runs one instance, one attempt after another.
type unit struct {
	sup     *Supervisor
	spec    Spec
	ctx     context.Context
	cancel  context.CancelFunc
	logger  *slog.Logger
	started chan error // first readiness (nil) or the first failure before it
	once    sync.Once

	lastSign atomic.Int64 // UnixNano of the last event, Alive, or run start
	lastEvt  atomic.Int64 // UnixNano of the last event
	events   atomic.Uint64

	mu      sync.Mutex
	st      Status
	readyAt time.Time // when the current run became ready; zero if it has not
}

func (u *unit) stop() { u.cancel() }

func (u *unit) signalStarted(err error) {
	u.once.Do(func() { u.started <- err })
}

func (u *unit) status() Status {
	u.mu.Lock()
	st := u.st
	u.mu.Unlock()
	st.Events = u.events.Load()
	if n := u.lastEvt.Load(); n != 0 {
		st.LastEvent = time.Unix(0, n)
	}
	return st
}

func (u *unit) setState(state State, err error, next time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.st.State = state
	u.st.Since = u.sup.opts.Clock.Now()
	u.st.NextAttempt = next
	if err != nil {
		u.st.Error = err.Error()
	}
}

func (u *unit) setReloadError(msg string) {
	u.mu.Lock()
	u.st.ReloadError = msg
	u.mu.Unlock()
}

func (u *unit) markReady() {
	u.mu.Lock()
	if u.st.State == StateStarting {
		u.st.State = StateRunning
		u.st.Since = u.sup.opts.Clock.Now()
		u.st.Stalled = false
		u.readyAt = u.st.Since
	}
	u.mu.Unlock()
	u.logger.Info("instance running")
	u.signalStarted(nil)
}

func (u *unit) markEvent() {
	now := u.sup.opts.Clock.Now().UnixNano()
	u.events.Add(1)
	u.lastEvt.Store(now)
	u.lastSign.Store(now)
}

var errStalled = errors.New("stalled")

func (u *unit) loop() {
	defer u.sup.retire(u)
	opts := u.sup.opts
	failures := 0
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			u.mu.Lock()
			u.st.Restarts++
			u.mu.Unlock()
		}
		u.setState(StateStarting, nil, time.Time{})
		err := u.runOnce()
		if u.ctx.Err() != nil {
			u.setState(StateStopped, nil, time.Time{})
			u.signalStarted(fmt.Errorf("stopped before it was ready"))
			u.logger.Info("instance stopped")
			return
		}
		if err == nil {
			u.setState(StateStopped, nil, time.Time{})
			u.signalStarted(fmt.Errorf("finished before it was ready"))
			u.logger.Info("instance finished")
			return
		}
		u.signalStarted(err)
		u.mu.Lock()
		ranFor := time.Duration(0)
		if !u.readyAt.IsZero() {
			ranFor = opts.Clock.Now().Sub(u.readyAt)
		}
		u.readyAt = time.Time{}
		u.mu.Unlock()
		if ranFor >= opts.Backoff.Ceiling(64) {
			failures = 0 // it ran well for a long time: this is a fresh failure
		}
		delay := opts.Backoff.Delay(failures, opts.Rand)
		failures++
		next := opts.Clock.Now().Add(delay)
		u.setState(StateBackoff, err, next)
		u.logger.Warn("instance failed; restarting after backoff", "error", err, "backoff", delay, "failures", failures)
		t := opts.Clock.NewTimer(delay)
		select {
		case <-t.C():
		case <-u.ctx.Done():
			t.Stop()
			u.setState(StateStopped, nil, time.Time{})
			u.signalStarted(fmt.Errorf("stopped before it was ready"))
			u.logger.Info("instance stopped")
			return
		}
	}
}

// runOnce makes and runs one instance until it returns, stalls or the unit
// stops.
func (u *unit) runOnce() error {
	opts := u.sup.opts
	scope := "github.com/feedd/feedd/plugins/" + u.spec.Type
	inst, err := u.spec.newSource(u.spec.Config, Env{ID: u.spec.ID, Logger: u.logger, Clock: opts.Clock, Files: opts.Files,
		Tracer: opts.TracerProvider.Tracer(scope), Meter: opts.MeterProvider.Meter(scope),
		Chain: opts.Chain, Interest: opts.Interest})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	ctx, cancel := context.WithCancel(u.ctx)
	defer cancel()
	h := &Host{ctx: ctx, u: u, logger: u.logger}
	u.lastSign.Store(opts.Clock.Now().UnixNano())
	done := make(chan error, 1)
	go func() { done <- u.safeRun(ctx, inst, h) }()

	var watch <-chan time.Time
	if u.spec.StallAfter > 0 {
		t := opts.Clock.NewTimer(u.spec.StallAfter)
		defer t.Stop()
		watch = t.C()
		for {
			select {
			case err := <-done:
				return err
			case <-watch:
				idle := opts.Clock.Now().Sub(time.Unix(0, u.lastSign.Load()))
				if idle < u.spec.StallAfter {
					t.Reset(u.spec.StallAfter - idle)
					continue
				}
				u.mu.Lock()
				u.st.Stalls++
				u.st.Stalled = true
				u.mu.Unlock()
				u.logger.Warn("instance stalled: no event; restarting", "stall_after", u.spec.StallAfter)
				cancel()
				<-done
				return fmt.Errorf("%w: no event for %s", errStalled, u.spec.StallAfter)
			}
		}
	}
	return <-done
}

func (u *unit) safeRun(ctx context.Context, inst Instance, h *Host) (err error) {
	defer func() {
		if r := recover(); r != nil {
			u.mu.Lock()
			u.st.Panics++
			u.mu.Unlock()
			u.logger.Error("instance panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return inst.Run(ctx, h)
}
