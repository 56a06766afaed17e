package feeds

import "time"

// dayMinutes is the length of the rolling 24h window in minute buckets.
const dayMinutes = 24 * 60

// minuteBucket is one minute of a symbol's history.
type minuteBucket struct {
	minute      int64   // Unix minutes
	open, close float64 // aggregated price at the first and last tick of the minute
	volume      float64 // quote volume: Σ size × price of the ticks with a size
}

// dayWindow is a symbol's rolling 24h history at minute resolution: at most
// 1440 buckets (minutes without ticks take none), so memory is bounded.
// The window at now covers the minutes (m-1440, m] with m the minute of now;
// the price "24h ago" is the close of the last minute before it.
type dayWindow struct {
	buckets [dayMinutes]minuteBucket
	head, n int
	// before is the close of the newest bucket that left the window, the
	// price in effect when the window starts; 0 when none left yet.
	before float64
	volume float64
}

func unixMinute(ns int64) int64 {
	m := ns / int64(time.Minute)
	if ns < 0 && ns%int64(time.Minute) != 0 {
		m--
	}
	return m
}

func (d *dayWindow) at(i int) *minuteBucket { return &d.buckets[(d.head+i)%dayMinutes] }

// advance drops the buckets that left the window at the minute m.
func (d *dayWindow) advance(m int64) {
	dropped := false
	for d.n > 0 && d.at(0).minute <= m-dayMinutes {
		d.before = d.at(0).close
		d.head = (d.head + 1) % dayMinutes
		d.n--
		dropped = true
	}
	if dropped {
		// Recompute rather than subtract, so rounding does not accumulate.
		d.volume = 0
		for i := 0; i < d.n; i++ {
			d.volume += d.at(i).volume
		}
	}
}

// record adds the aggregated price p and a trade's quote volume at ns.
func (d *dayWindow) record(ns int64, p, volume float64) {
	m := unixMinute(ns)
	if d.n > 0 && d.at(d.n-1).minute >= m {
		b := d.at(d.n - 1) // same minute (or a clock step back)
		if p > 0 {
			if b.open == 0 {
				b.open = p
			}
			b.close = p
		}
		b.volume += volume
		d.volume += volume
		return
	}
	d.advance(m)
	if d.n == dayMinutes { // cannot happen after advance; kept as a bound
		d.head = (d.head + 1) % dayMinutes
		d.n--
	}
	*d.at(d.n) = minuteBucket{minute: m, open: p, close: p, volume: volume}
	d.n++
	d.volume += volume
}

// stats returns the relative change of price against the price 24h before
// now (or the oldest price known when the history is shorter) and the quote
// volume of the last 24h.
func (d *dayWindow) stats(ns int64, price float64) (change, volume float64) {
	d.advance(unixMinute(ns))
	ref := d.before
	for i := 0; ref == 0 && i < d.n; i++ {
		ref = d.at(i).open
	}
	if ref > 0 && price > 0 {
		change = (price - ref) / ref
	}
	return change, d.volume
}
