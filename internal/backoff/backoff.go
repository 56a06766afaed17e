// Package backoff computes exponential retry delays with jitter.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff: the n-th retry (n from 0) waits
// Initial*Factor^n, capped at Max, then scaled by a random factor in
// [1-Jitter, 1]. The zero Policy means 1s initial, 1m max, factor 2, jitter 0.5.
type Policy struct {
	Initial time.Duration
	Max     time.Duration
	Factor  float64
	// Jitter is the fraction of the delay that is randomised, 0 to 1.
	// Zero means the default 0.5; use a negative value for no jitter.
	Jitter float64
}

func (p Policy) withDefaults() Policy {
	if p.Initial <= 0 {
		p.Initial = time.Second
	}
	if p.Max <= 0 {
		p.Max = time.Minute
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	if p.Factor < 1 {
		p.Factor = 2
	}
	if p.Jitter == 0 {
		p.Jitter = 0.5
	}
	if p.Jitter < 0 {
		p.Jitter = 0
	}
	if p.Jitter > 1 {
		p.Jitter = 1
	}
	return p
}

// Delay returns the wait before retry n (0 for the first retry). rnd returns a
// value in [0, 1); nil means math/rand/v2's Float64.
func (p Policy) Delay(n int, rnd func() float64) time.Duration {
	p = p.withDefaults()
	if rnd == nil {
		rnd = rand.Float64
	}
	d := float64(p.Initial)
	for i := 0; i < n && d < float64(p.Max); i++ {
		d *= p.Factor
	}
	ceil := p.Max
	if d < float64(p.Max) {
		ceil = time.Duration(d)
	}
	return ceil - time.Duration(float64(ceil)*p.Jitter*rnd())
}

// Ceiling returns the largest delay retry n can get (the delay without jitter).
func (p Policy) Ceiling(n int) time.Duration {
	return p.Delay(n, func() float64 { return 0 })
}
