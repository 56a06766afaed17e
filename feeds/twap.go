package feeds

import (
	"fmt"
	"time"
)

// twapMaxSegments bounds the segments a symbol keeps for its TWAP windows.
// While the aggregated price changes at most this many times within the
// longest window, every TWAP is exact; beyond that the ring is thinned by
// merging adjacent pairs (their time-weighted mean is kept, so the integral
// over whole merged segments stays exact and only the one segment that
// straddles a window's start is approximated).
const twapMaxSegments = 4096

// segment is a price that held from start until the next segment's start.
type segment struct {
	start int64 // Unix nanoseconds
	price float64
}

// twapRing holds the piecewise-constant history of a symbol's aggregated
// price over its longest TWAP window. It is shared by every window.
type twapRing struct {
	longest int64 // nanoseconds
	segs    []segment
	head, n int
}

func newTWAPRing(windows []time.Duration) *twapRing {
	var longest time.Duration
	for _, w := range windows {
		longest = max(longest, w)
	}
	if longest <= 0 {
		return nil
	}
	return &twapRing{longest: int64(longest)}
}

func (r *twapRing) at(i int) *segment { return &r.segs[(r.head+i)%len(r.segs)] }

// record notes that the price is p from at on.
func (r *twapRing) record(at int64, p float64) {
	if r.n > 0 {
		last := r.at(r.n - 1)
		if last.price == p {
			return
		}
		if at <= last.start {
			last.price = p // same instant (or a clock step back): the newest wins
			return
		}
	}
	r.evict(at)
	if r.n == len(r.segs) {
		if len(r.segs) < twapMaxSegments {
			r.grow()
		} else {
			r.thin(at)
		}
	}
	*r.at(r.n) = segment{start: at, price: p}
	r.n++
}

func (r *twapRing) grow() {
	size := max(16, 2*len(r.segs))
	segs := make([]segment, min(size, twapMaxSegments))
	for i := 0; i < r.n; i++ {
		segs[i] = *r.at(i)
	}
	r.segs, r.head = segs, 0
}

// thin merges adjacent pairs of segments, keeping each pair's time-weighted
// mean price, to halve the ring.
func (r *twapRing) thin(now int64) {
	out := 0
	for i := 0; i < r.n; i += 2 {
		a := *r.at(i)
		if i+1 < r.n {
			b := *r.at(i + 1)
			end := now
			if i+2 < r.n {
				end = r.at(i + 2).start
			}
			da, db := float64(b.start-a.start), float64(end-b.start)
			if da+db > 0 {
				a.price = (a.price*da + b.price*db) / (da + db)
			}
		}
		*r.at(out) = a
		out++
	}
	r.n = out
}

// evict drops segments that ended before the longest window at now.
func (r *twapRing) evict(now int64) {
	from := now - r.longest
	for r.n > 1 && r.at(1).start <= from {
		r.head = (r.head + 1) % len(r.segs)
		r.n--
	}
}

// average returns the time-weighted average over (now-w, now]. Before the
// history covers the whole window it averages over the time it covers.
func (r *twapRing) average(w time.Duration, now int64) (float64, bool) {
	if r == nil || r.n == 0 {
		return 0, false
	}
	from := now - int64(w)
	if first := r.at(0).start; from < first {
		from = first
	}
	if now <= from {
		return r.at(r.n - 1).price, true
	}
	var sum float64
	end := now
	for i := r.n - 1; i >= 0; i-- {
		s := r.at(i)
		start := max(s.start, from)
		if end > start {
			sum += s.price * float64(end-start)
		}
		if s.start <= from {
			break
		}
		end = s.start
	}
	return sum / float64(now-from), true
}

// windowName formats a TWAP window the way configs write it: "30s", "1m", "4h".
func windowName(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}
