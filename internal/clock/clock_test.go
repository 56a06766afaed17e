package clock_test

import (
	"testing"
	"time"

	"github.com/feedd/feedd/internal/clock"
)

// Both clocks satisfy Clock.
var (
	_ clock.Clock = clock.Real{}
	_ clock.Clock = (*clock.Fake)(nil)
)

func TestRealNow(t *testing.T) {
	before := time.Now()
	got := clock.Real{}.Now()
	after := time.Now()
	if got.Before(before) || got.After(after) {
		t.Fatalf("Real.Now() = %v, want between %v and %v", got, before, after)
	}
}

func TestRealTimerFires(t *testing.T) {
	start := time.Now()
	tm := clock.Real{}.NewTimer(time.Millisecond)
	select {
	case v := <-tm.C():
		if v.Before(start) {
			t.Errorf("timer delivered %v, before it was made (%v)", v, start)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a 1ms Real timer did not fire within 5s")
	}
	if tm.Stop() {
		t.Error("Stop after the value was received = true, want false")
	}
}

func TestRealTimerStopAndReset(t *testing.T) {
	tm := clock.Real{}.NewTimer(time.Hour)
	if !tm.Stop() {
		t.Error("Stop of an active timer = false, want true")
	}
	if tm.Stop() {
		t.Error("second Stop = true, want false")
	}
	if tm.Reset(time.Hour) {
		t.Error("Reset of a stopped timer = true, want false")
	}
	if !tm.Reset(time.Millisecond) {
		t.Error("Reset of an active timer = false, want true")
	}
	select {
	case <-tm.C():
	case <-time.After(5 * time.Second):
		t.Fatal("a Real timer reset to 1ms did not fire within 5s")
	}
}

func TestSince(t *testing.T) {
	start := time.Date(2024, 11, 22, 10, 0, 0, 0, time.UTC)
	f := clock.NewFake(start)
	if got := clock.Since(f, start); got != 0 {
		t.Errorf("Since at start = %v, want 0", got)
	}
	f.Advance(1500 * time.Millisecond)
	if got := clock.Since(f, start); got != 1500*time.Millisecond {
		t.Errorf("Since after Advance(1.5s) = %v, want 1.5s", got)
	}
	if got := clock.Since(f, start.Add(2*time.Second)); got != -500*time.Millisecond {
		t.Errorf("Since of a later time = %v, want -500ms", got)
	}

	before := time.Now()
	if got := clock.Since(clock.Real{}, before); got < 0 {
		t.Errorf("Since(Real, just now) = %v, want >= 0", got)
	}
}
