package backoff_test

import (
	"math"
	"testing"
	"time"

	"github.com/feedd/feedd/internal/backoff"
)

func fixed(v float64) func() float64 { return func() float64 { return v } }

// near reports whether got is want give or take a nanosecond of float rounding.
func near(got, want time.Duration) bool {
	d := got - want
	return d >= -1 && d <= 1
}

func TestDelay(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name   string
		p      backoff.Policy
		rnd    float64
		delays []time.Duration // for n = 0, 1, 2, ...
	}{
		{
			name:   "zero policy, rnd 0 (1s doubling to 1m)",
			p:      backoff.Policy{},
			rnd:    0,
			delays: []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute},
		},
		{
			name: "zero policy, rnd 0.999 (jitter 0.5 takes off up to half)",
			p:    backoff.Policy{},
			rnd:  0.999,
			// ceiling * (1 - 0.5*0.999) = ceiling * 0.5005
			delays: []time.Duration{500500 * time.Microsecond, 1001 * ms, 2002 * ms, 4004 * ms, 8008 * ms, 16016 * ms, 30030 * ms, 30030 * ms},
		},
		{
			name:   "custom, rnd 0",
			p:      backoff.Policy{Initial: 100 * ms, Max: time.Second, Factor: 3, Jitter: 0.2},
			rnd:    0,
			delays: []time.Duration{100 * ms, 300 * ms, 900 * ms, time.Second, time.Second},
		},
		{
			name: "custom, rnd 0.999",
			p:    backoff.Policy{Initial: 100 * ms, Max: time.Second, Factor: 3, Jitter: 0.2},
			rnd:  0.999,
			// ceiling * (1 - 0.2*0.999) = ceiling * 0.8002
			delays: []time.Duration{80020 * time.Microsecond, 240060 * time.Microsecond, 720180 * time.Microsecond, 800200 * time.Microsecond, 800200 * time.Microsecond},
		},
		{
			name:   "negative jitter means none, rnd 0.999",
			p:      backoff.Policy{Initial: 100 * ms, Max: time.Second, Factor: 2, Jitter: -1},
			rnd:    0.999,
			delays: []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second},
		},
		{
			name:   "tiny negative jitter means none too",
			p:      backoff.Policy{Initial: 100 * ms, Max: time.Second, Jitter: -1e-9},
			rnd:    0.999,
			delays: []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second},
		},
		{
			name:   "jitter above 1 is 1, rnd 0.999",
			p:      backoff.Policy{Initial: time.Second, Max: 4 * time.Second, Jitter: 7},
			rnd:    0.999,
			delays: []time.Duration{time.Millisecond, 2 * ms, 4 * ms, 4 * ms},
		},
		{
			name:   "full jitter, rnd 0",
			p:      backoff.Policy{Initial: time.Second, Max: 4 * time.Second, Jitter: 1},
			rnd:    0,
			delays: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second},
		},
		{
			name:   "factor below 1 means 2",
			p:      backoff.Policy{Initial: 10 * ms, Max: 100 * ms, Factor: 0.5, Jitter: -1},
			rnd:    0,
			delays: []time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 100 * ms, 100 * ms},
		},
		{
			name:   "factor 1 is constant",
			p:      backoff.Policy{Initial: 10 * ms, Max: 100 * ms, Factor: 1, Jitter: -1},
			rnd:    0,
			delays: []time.Duration{10 * ms, 10 * ms, 10 * ms, 10 * ms},
		},
		{
			name:   "fractional factor",
			p:      backoff.Policy{Initial: 100 * ms, Max: time.Second, Factor: 1.5, Jitter: -1},
			rnd:    0,
			delays: []time.Duration{100 * ms, 150 * ms, 225 * ms, 337500 * time.Microsecond, 506250 * time.Microsecond, 759375 * time.Microsecond, time.Second},
		},
		{
			name:   "max below initial is raised to initial",
			p:      backoff.Policy{Initial: 5 * time.Second, Max: time.Second, Jitter: -1},
			rnd:    0,
			delays: []time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second},
		},
		{
			name:   "non-positive initial and max take defaults",
			p:      backoff.Policy{Initial: -time.Second, Max: -time.Second, Jitter: -1},
			rnd:    0,
			delays: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute},
		},
		{
			name:   "only initial set: default max 1m",
			p:      backoff.Policy{Initial: 20 * time.Second, Jitter: -1},
			rnd:    0,
			delays: []time.Duration{20 * time.Second, 40 * time.Second, time.Minute, time.Minute},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for n, want := range tt.delays {
				if got := tt.p.Delay(n, fixed(tt.rnd)); !near(got, want) {
					t.Errorf("Delay(%d) = %v, want %v", n, got, want)
				}
			}
		})
	}
}

func TestDelayLargeN(t *testing.T) {
	p := backoff.Policy{Initial: time.Second, Max: time.Minute, Jitter: -1}
	for _, n := range []int{10, 64, 100, 1000, math.MaxInt32, math.MaxInt} {
		if got := p.Delay(n, fixed(0)); got != time.Minute {
			t.Errorf("Delay(%d) = %v, want the cap 1m", n, got)
		}
	}
}

func TestDelayNegativeN(t *testing.T) {
	p := backoff.Policy{Initial: time.Second, Jitter: -1}
	if got := p.Delay(-3, nil); got != time.Second {
		t.Errorf("Delay(-3) = %v, want the initial 1s", got)
	}
}

func TestDelayNilRandStaysInRange(t *testing.T) {
	p := backoff.Policy{} // jitter 0.5
	for n := 0; n < 10; n++ {
		ceiling := p.Ceiling(n)
		for i := 0; i < 200; i++ {
			got := p.Delay(n, nil)
			if got > ceiling || got < ceiling/2 {
				t.Fatalf("Delay(%d, nil) = %v, want within [%v, %v]", n, got, ceiling/2, ceiling)
			}
		}
	}
}

func TestDelayProperties(t *testing.T) {
	policies := []backoff.Policy{
		{},
		{Initial: 100 * time.Millisecond, Max: 30 * time.Second, Factor: 1.7, Jitter: 0.3},
		{Initial: time.Millisecond, Max: time.Hour, Factor: 10, Jitter: -1},
		{Initial: 3 * time.Second, Max: 2 * time.Second},
	}
	rnds := []float64{0, 0.25, 0.5, 0.999}
	for _, p := range policies {
		for _, r := range rnds {
			prev := time.Duration(0)
			for n := 0; n < 80; n++ {
				got := p.Delay(n, fixed(r))
				if got <= 0 {
					t.Fatalf("%+v: Delay(%d, %v) = %v, want positive", p, n, r, got)
				}
				if c := p.Ceiling(n); got > c {
					t.Fatalf("%+v: Delay(%d, %v) = %v, above Ceiling %v", p, n, r, got, c)
				}
				if got < prev {
					t.Fatalf("%+v: Delay(%d, %v) = %v, less than Delay(%d) = %v", p, n, r, got, n-1, prev)
				}
				prev = got
			}
		}
	}
}

func TestCeiling(t *testing.T) {
	tests := []struct {
		p    backoff.Policy
		n    int
		want time.Duration
	}{
		{backoff.Policy{}, 0, time.Second},
		{backoff.Policy{}, 3, 8 * time.Second},
		{backoff.Policy{}, 64, time.Minute},
		{backoff.Policy{Jitter: 1}, 2, 4 * time.Second}, // jitter does not lower the ceiling
		{backoff.Policy{Jitter: -1}, 2, 4 * time.Second},
		{backoff.Policy{Initial: 250 * time.Millisecond, Max: 2 * time.Second, Factor: 4}, 1, time.Second},
		{backoff.Policy{Initial: 250 * time.Millisecond, Max: 2 * time.Second, Factor: 4}, 2, 2 * time.Second},
		{backoff.Policy{Initial: time.Hour, Max: 24 * time.Hour}, 64, 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := tt.p.Ceiling(tt.n); got != tt.want {
			t.Errorf("%+v.Ceiling(%d) = %v, want %v", tt.p, tt.n, got, tt.want)
		}
		if got, want := tt.p.Ceiling(tt.n), tt.p.Delay(tt.n, fixed(0)); got != want {
			t.Errorf("%+v.Ceiling(%d) = %v, want Delay with rnd 0 = %v", tt.p, tt.n, got, want)
		}
	}
}

// A Max at the top of time.Duration's range ("no cap") must not wrap around:
// the supervisor compares run times with Ceiling(64), and sleeps Delay(n).
func TestDelayHugeMaxDoesNotOverflow(t *testing.T) {
	p := backoff.Policy{Initial: time.Second, Max: math.MaxInt64, Jitter: -1}
	for _, n := range []int{62, 63, 64, 100} {
		if got := p.Delay(n, nil); got <= 0 {
			t.Errorf("Delay(%d) with Max = MaxInt64 = %v, want positive", n, got)
		}
		if got := p.Ceiling(n); got <= 0 {
			t.Errorf("Ceiling(%d) with Max = MaxInt64 = %v, want positive", n, got)
		}
	}
}
