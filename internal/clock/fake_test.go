package clock_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/feedd/feedd/internal/clock"
)

var epoch = time.Date(2024, 11, 22, 10, 0, 0, 0, time.UTC)

// fired returns the value waiting on tm's channel, if any, without blocking.
func fired(tm clock.Timer) (time.Time, bool) {
	select {
	case v := <-tm.C():
		return v, true
	default:
		return time.Time{}, false
	}
}

func mustFire(t *testing.T, name string, tm clock.Timer, want time.Time) {
	t.Helper()
	v, ok := fired(tm)
	if !ok {
		t.Fatalf("%s: did not fire, want it to fire at %v", name, want)
	}
	if !v.Equal(want) {
		t.Fatalf("%s: delivered %v, want %v", name, v, want)
	}
}

func mustNotFire(t *testing.T, name string, tm clock.Timer) {
	t.Helper()
	if v, ok := fired(tm); ok {
		t.Fatalf("%s: fired with %v, want it not to fire", name, v)
	}
}

func TestFakeNowAndAdvance(t *testing.T) {
	f := clock.NewFake(epoch)
	if got := f.Now(); !got.Equal(epoch) {
		t.Fatalf("Now() = %v, want %v", got, epoch)
	}
	f.Advance(time.Second)
	if got, want := f.Now(), epoch.Add(time.Second); !got.Equal(want) {
		t.Fatalf("after Advance(1s) Now() = %v, want %v", got, want)
	}
	f.Advance(0)
	if got, want := f.Now(), epoch.Add(time.Second); !got.Equal(want) {
		t.Fatalf("after Advance(0) Now() = %v, want %v", got, want)
	}
	f.Set(epoch.Add(time.Minute))
	if got, want := f.Now(), epoch.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("after Set(+1m) Now() = %v, want %v", got, want)
	}
	f.Set(epoch) // backwards: ignored
	if got, want := f.Now(), epoch.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("after Set backwards Now() = %v, want it unchanged at %v", got, want)
	}
}

func TestFakeTimersFireInDeadlineOrder(t *testing.T) {
	f := clock.NewFake(epoch)
	// Made out of order on purpose.
	t3 := f.NewTimer(3 * time.Second)
	t1 := f.NewTimer(1 * time.Second)
	t2 := f.NewTimer(2 * time.Second)
	t5 := f.NewTimer(5 * time.Second)

	if got := f.Timers(); got != 4 {
		t.Fatalf("Timers() = %d, want 4", got)
	}
	wantWaiting := []time.Time{epoch.Add(time.Second), epoch.Add(2 * time.Second), epoch.Add(3 * time.Second), epoch.Add(5 * time.Second)}
	if got := f.Waiting(); !slices.EqualFunc(got, wantWaiting, time.Time.Equal) {
		t.Fatalf("Waiting() = %v, want %v", got, wantWaiting)
	}

	f.Advance(999 * time.Millisecond)
	for name, tm := range map[string]clock.Timer{"t1": t1, "t2": t2, "t3": t3, "t5": t5} {
		mustNotFire(t, name+" after 999ms", tm)
	}

	// Each timer fires while the fake time reads its own deadline: they fire
	// one after another in deadline order, not all at the target time. t3's
	// deadline equals the target and fires too.
	f.Advance(2001 * time.Millisecond)
	mustFire(t, "t1", t1, epoch.Add(1*time.Second))
	mustFire(t, "t2", t2, epoch.Add(2*time.Second))
	mustFire(t, "t3", t3, epoch.Add(3*time.Second))
	mustNotFire(t, "t5 at 3s", t5)
	if got, want := f.Now(), epoch.Add(3*time.Second); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
	if got := f.Timers(); got != 1 {
		t.Fatalf("Timers() after firing three = %d, want 1", got)
	}
	if got := f.Waiting(); !slices.EqualFunc(got, wantWaiting[3:], time.Time.Equal) {
		t.Fatalf("Waiting() = %v, want %v", got, wantWaiting[3:])
	}

	// A fired timer fires only once.
	f.Advance(10 * time.Second)
	mustFire(t, "t5", t5, epoch.Add(5*time.Second))
	for name, tm := range map[string]clock.Timer{"t1": t1, "t2": t2, "t3": t3, "t5": t5} {
		mustNotFire(t, name+" again", tm)
	}
	if got, want := f.Now(), epoch.Add(13*time.Second); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
	if got := f.Timers(); got != 0 {
		t.Fatalf("Timers() = %d, want 0", got)
	}
}

func TestFakeSetFiresTimers(t *testing.T) {
	f := clock.NewFake(epoch)
	tm := f.NewTimer(time.Second)
	f.Set(epoch.Add(500 * time.Millisecond))
	mustNotFire(t, "timer at 500ms", tm)
	f.Set(epoch.Add(2 * time.Second))
	mustFire(t, "timer", tm, epoch.Add(time.Second))
	if got, want := f.Now(), epoch.Add(2*time.Second); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
}

func TestFakeNewTimerNonPositiveFiresAtOnce(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		f := clock.NewFake(epoch)
		tm := f.NewTimer(d)
		mustFire(t, "NewTimer("+d.String()+")", tm, epoch)
		if got := f.Timers(); got != 0 {
			t.Errorf("NewTimer(%v): Timers() = %d, want 0", d, got)
		}
		if tm.Stop() {
			t.Errorf("NewTimer(%v): Stop after receiving = true, want false", d)
		}
	}
}

func TestFakeStop(t *testing.T) {
	t.Run("active", func(t *testing.T) {
		f := clock.NewFake(epoch)
		tm := f.NewTimer(time.Second)
		if !tm.Stop() {
			t.Fatal("Stop of an active timer = false, want true")
		}
		if got := f.Timers(); got != 0 {
			t.Fatalf("Timers() after Stop = %d, want 0", got)
		}
		f.Advance(time.Hour)
		mustNotFire(t, "stopped timer", tm)
		if tm.Stop() {
			t.Fatal("second Stop = true, want false")
		}
	})
	t.Run("fired and received", func(t *testing.T) {
		f := clock.NewFake(epoch)
		tm := f.NewTimer(time.Second)
		f.Advance(time.Second)
		mustFire(t, "timer", tm, epoch.Add(time.Second))
		if tm.Stop() {
			t.Fatal("Stop after the value was received = true, want false")
		}
	})
	t.Run("fired, not received: value discarded", func(t *testing.T) {
		f := clock.NewFake(epoch)
		tm := f.NewTimer(time.Second)
		f.Advance(time.Second)
		tm.Stop()
		mustNotFire(t, "timer stopped after firing", tm)
		f.Advance(time.Hour)
		mustNotFire(t, "timer stopped after firing, later", tm)
	})
	t.Run("leaves other timers alone", func(t *testing.T) {
		f := clock.NewFake(epoch)
		a := f.NewTimer(time.Second)
		b := f.NewTimer(2 * time.Second)
		a.Stop()
		f.Advance(2 * time.Second)
		mustNotFire(t, "a", a)
		mustFire(t, "b", b, epoch.Add(2*time.Second))
	})
}

// TestFakeStopResetReturnMatchTimeTimer pins the return value of Stop and
// Reset on a timer that fired but whose value was not received. With Go 1.23+
// time.Timer (which clock.Timer promises to mirror, and which Real returns),
// both report true: the value had not been delivered, so the timer counts as
// active. The fake reports false.
func TestFakeStopResetReturnMatchTimeTimer(t *testing.T) {
	f := clock.NewFake(epoch)
	a := f.NewTimer(time.Second)
	b := f.NewTimer(time.Second)
	f.Advance(time.Second)
	if !a.Stop() {
		t.Error("Stop of a fired, unreceived timer = false, want true (as time.Timer)")
	}
	if !b.Reset(time.Second) {
		t.Error("Reset of a fired, unreceived timer = false, want true (as time.Timer)")
	}
}

func TestFakeReset(t *testing.T) {
	t.Run("active", func(t *testing.T) {
		f := clock.NewFake(epoch)
		tm := f.NewTimer(time.Second)
		f.Advance(500 * time.Millisecond)
		if !tm.Reset(time.Second) {
			t.Fatal("Reset of an active timer = false, want true")
		}
		if got := f.Timers(); got != 1 {
			t.Fatalf("Timers() after Reset = %d, want 1", got)
		}
		if got, want := f.Waiting(), []time.Time{epoch.Add(1500 * time.Millisecond)}; !slices.EqualFunc(got, want, time.Time.Equal) {
			t.Fatalf("Waiting() = %v, want %v (Reset counts from now)", got, want)
		}
		f.Advance(999 * time.Millisecond)
		mustNotFire(t, "timer before its new deadline", tm)
		f.Advance(time.Millisecond)
		mustFire(t, "timer", tm, epoch.Add(1500*time.Millisecond))
	})
	t.Run("stopped", func(t *testing.T) {
		f := clock.NewFake(epoch)
		tm := f.NewTimer(time.Second)
		tm.Stop()
		if tm.Reset(time.Second) {
			t.Fatal("Reset of a stopped timer = true, want false")
		}
		f.Advance(time.Second)
		mustFire(t, "re-armed timer", tm, epoch.Add(time.Second))
	})
	t.Run("fired and received", func(t *testing.T) {
		f := clock.NewFake(epoch)
		tm := f.NewTimer(time.Second)
		f.Advance(time.Second)
		mustFire(t, "timer", tm, epoch.Add(time.Second))
		if tm.Reset(2 * time.Second) {
			t.Fatal("Reset of a fired timer = true, want false")
		}
		f.Advance(2 * time.Second)
		mustFire(t, "re-armed timer", tm, epoch.Add(3*time.Second))
	})
	t.Run("fired, not received: value discarded", func(t *testing.T) {
		f := clock.NewFake(epoch)
		tm := f.NewTimer(time.Second)
		f.Advance(time.Second)
		tm.Reset(time.Second)
		mustNotFire(t, "timer reset after firing", tm)
		f.Advance(time.Second)
		mustFire(t, "re-armed timer", tm, epoch.Add(2*time.Second))
		mustNotFire(t, "re-armed timer, second value", tm)
	})
	t.Run("to zero fires at once", func(t *testing.T) {
		f := clock.NewFake(epoch)
		tm := f.NewTimer(time.Hour)
		if !tm.Reset(0) {
			t.Fatal("Reset(0) of an active timer = false, want true")
		}
		mustFire(t, "timer reset to 0", tm, epoch)
		if got := f.Timers(); got != 0 {
			t.Fatalf("Timers() = %d, want 0", got)
		}
	})
	t.Run("reorders deadlines", func(t *testing.T) {
		f := clock.NewFake(epoch)
		a := f.NewTimer(time.Second)
		b := f.NewTimer(2 * time.Second)
		a.Reset(3 * time.Second)
		f.Advance(2 * time.Second)
		mustNotFire(t, "a", a)
		mustFire(t, "b", b, epoch.Add(2*time.Second))
		f.Advance(time.Second)
		mustFire(t, "a", a, epoch.Add(3*time.Second))
	})
}

func TestFakeWaitTimers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	t.Run("already enough", func(t *testing.T) {
		f := clock.NewFake(epoch)
		if err := f.WaitTimers(ctx, 0); err != nil {
			t.Fatalf("WaitTimers(0) = %v, want nil", err)
		}
		f.NewTimer(time.Second)
		if err := f.WaitTimers(ctx, 1); err != nil {
			t.Fatalf("WaitTimers(1) with one timer = %v, want nil", err)
		}
		// The count is checked before the context.
		done, stop := context.WithCancel(context.Background())
		stop()
		if err := f.WaitTimers(done, 1); err != nil {
			t.Fatalf("WaitTimers(1) with a timer and an ended context = %v, want nil", err)
		}
	})

	t.Run("blocks until n wait", func(t *testing.T) {
		f := clock.NewFake(epoch)
		f.NewTimer(time.Second)
		result := make(chan error, 1)
		go func() { result <- f.WaitTimers(ctx, 3) }()

		// The second timer is not enough.
		f.NewTimer(2 * time.Second)
		short, stop := context.WithTimeout(ctx, 20*time.Millisecond)
		err := f.WaitTimers(short, 3)
		stop()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitTimers(3) with two timers = %v, want context.DeadlineExceeded", err)
		}
		select {
		case err := <-result:
			t.Fatalf("WaitTimers(3) returned %v with two timers waiting", err)
		default:
		}

		// Timers that fire at once do not count.
		f.NewTimer(0)
		f.NewTimer(3 * time.Second)
		select {
		case err := <-result:
			if err != nil {
				t.Fatalf("WaitTimers(3) = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("WaitTimers(3) did not return within 5s of the third timer")
		}
	})

	t.Run("wakes on Reset of a stopped timer", func(t *testing.T) {
		f := clock.NewFake(epoch)
		tm := f.NewTimer(time.Second)
		tm.Stop()
		result := make(chan error, 1)
		go func() { result <- f.WaitTimers(ctx, 1) }()
		tm.Reset(time.Second)
		select {
		case err := <-result:
			if err != nil {
				t.Fatalf("WaitTimers(1) = %v, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("WaitTimers(1) did not return within 5s of Reset")
		}
	})

	t.Run("honours ctx", func(t *testing.T) {
		f := clock.NewFake(epoch)
		c, stop := context.WithCancel(ctx)
		result := make(chan error, 1)
		go func() { result <- f.WaitTimers(c, 1) }()
		stop()
		select {
		case err := <-result:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("WaitTimers after cancel = %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("WaitTimers did not return within 5s of its context ending")
		}
	})
}

// A goroutine that waits on the fake clock in a loop, as code under test does:
// WaitTimers lets the test step it exactly.
func TestFakeDrivesAWaitingGoroutine(t *testing.T) {
	f := clock.NewFake(epoch)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	ticks := make(chan time.Time, 10)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tm := f.NewTimer(100 * time.Millisecond)
		defer tm.Stop()
		for {
			select {
			case v := <-tm.C():
				ticks <- v
				tm.Reset(100 * time.Millisecond)
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	for i := 1; i <= 3; i++ {
		if err := f.WaitTimers(ctx, 1); err != nil {
			t.Fatalf("step %d: WaitTimers: %v", i, err)
		}
		f.Advance(100 * time.Millisecond)
		select {
		case v := <-ticks:
			if want := epoch.Add(time.Duration(i) * 100 * time.Millisecond); !v.Equal(want) {
				t.Fatalf("step %d: tick at %v, want %v", i, v, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("step %d: no tick within 5s", i)
		}
	}
}

// Run under -race: the fake is safe for concurrent use.
func TestFakeConcurrentUse(t *testing.T) {
	f := clock.NewFake(epoch)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				tm := f.NewTimer(time.Duration(i%5) * time.Millisecond)
				_ = f.Now()
				_ = f.Waiting()
				if i%2 == 0 {
					tm.Stop()
				} else {
					tm.Reset(time.Millisecond)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 100; i++ {
			f.Advance(time.Millisecond)
			_ = f.Timers()
		}
	}()
	wg.Wait()
	f.Advance(time.Hour)
	if got := f.Timers(); got != 0 {
		t.Fatalf("Timers() after advancing past every deadline = %d, want 0", got)
	}
}
