package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Fake is a Clock that moves only when told to. Timers fire, in deadline order,
// during Advance. It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced whenever the set of timers changes
}

// NewFake returns a Fake clock that reads start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires when the fake time reaches now+d. A
// timer with d <= 0 fires at once.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	f.mu.Lock()
	t.when = f.now.Add(d)
	f.add(t)
	f.fireDue()
	f.mu.Unlock()
	return t
}

// AfterFunc returns a timer that calls f in a new goroutine when the fake
// time reaches now+d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1), fn: fn}
	f.mu.Lock()
	t.when = f.now.Add(d)
	f.add(t)
	f.fireDue()
	f.mu.Unlock()
	return t
}

// Advance moves the fake time forward by d, firing every timer that falls
// due. A negative d does nothing: time does not go back.
func (f *Fake) Advance(d time.Duration) {
	if d < 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	target := f.now.Add(d)
	for {
		sort.Slice(f.timers, func(i, j int) bool { return f.timers[i].when.Before(f.timers[j].when) })
		if len(f.timers) == 0 || f.timers[0].when.After(target) {
			break
		}
		t := f.timers[0]
		if t.when.After(f.now) {
			f.now = t.when
		}
		f.fire(t)
	}
	f.now = target
}

// Set moves the fake time to t (forward only) firing timers on the way.
func (f *Fake) Set(t time.Time) {
	if d := t.Sub(f.Now()); d > 0 {
		f.Advance(d)
	}
}

// Timers returns how many timers are waiting to fire.
func (f *Fake) Timers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// WaitTimers blocks until at least n timers are waiting or ctx ends; it
// returns ctx's error in that case. Tests use it to know that the code under
// test has reached its next wait before they advance the clock.
func (f *Fake) WaitTimers(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		have, ch := len(f.timers), f.changed
		f.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Waiting reports the deadlines of the waiting timers, earliest first.
func (f *Fake) Waiting() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]time.Time, 0, len(f.timers))
	for _, t := range f.timers {
		out = append(out, t.when)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

func (f *Fake) add(t *fakeTimer) {
	f.timers = append(f.timers, t)
	f.notify()
}

func (f *Fake) remove(t *fakeTimer) bool {
	for i, x := range f.timers {
		if x == t {
			f.timers = append(f.timers[:i], f.timers[i+1:]...)
			f.notify()
			return true
		}
	}
	return false
}

func (f *Fake) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *Fake) fireDue() {
	for _, t := range append([]*fakeTimer(nil), f.timers...) {
		if !t.when.After(f.now) {
			f.fire(t)
		}
	}
}

func (f *Fake) fire(t *fakeTimer) {
	f.remove(t)
	if t.fn != nil {
		go t.fn()
		return
	}
	select {
	case t.c <- f.now:
	default:
	}
}

type fakeTimer struct {
	f    *Fake
	c    chan time.Time
	fn   func() // AfterFunc's function, nil for channel timers
	when time.Time
}

func (t *fakeTimer) C() <-chan time.Time {
	if t.fn != nil {
		return nil
	}
	return t.c
}

// Stop reports true when it stopped a waiting timer or discarded a fired
// value not yet received, as time.Timer does since Go 1.23.
func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	pending := drain(t.c)
	return t.f.remove(t) || pending
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	pending := drain(t.c)
	active := t.f.remove(t) || pending
	t.when = t.f.now.Add(d)
	t.f.add(t)
	t.f.fireDue()
	return active
}

func drain(c chan time.Time) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
