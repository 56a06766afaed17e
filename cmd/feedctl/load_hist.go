package main

import "math/bits"

// Latency histograms: log-linear buckets over microseconds, like HDR
// histograms with 7 significant bits. Values under 128 µs have a bucket each;
// above, every power of two is split into 64 buckets (under 0.8 % error).
// Values are capped at histMaxValue (60 s). Recording is a few instructions
// and never allocates; each connection has its own histogram and they are
// merged at the end.

const (
	histSubBits  = 7
	histSub      = 1 << histSubBits // 128
	histHalf     = histSub / 2      // 64
	histMaxValue = 60_000_000       // µs
)

// histBuckets is the number of buckets up to histMaxValue.
var histBuckets = histIndex(histMaxValue) + 1

// histIndex returns the bucket of v (µs, at most histMaxValue).
func histIndex(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits
	return histSub + (shift-1)*histHalf + int(v>>uint(shift)) - histHalf
}

// histRange returns the lowest and highest value of bucket i.
func histRange(i int) (lo, hi uint64) {
	if i < histSub {
		return uint64(i), uint64(i)
	}
	k := i - histSub
	shift := uint(k/histHalf + 1)
	sub := uint64(k%histHalf + histHalf)
	return sub << shift, (sub+1)<<shift - 1
}

// hist is one connection's latency histogram.
type hist struct {
	counts []uint32 // histBuckets, allocated once
	max    uint64
	n      uint64
}

func newHist() hist { return hist{counts: make([]uint32, histBuckets)} }

// record adds one value in microseconds.
func (h *hist) record(us uint64) {
	if us > histMaxValue {
		us = histMaxValue
	}
	if us > h.max {
		h.max = us
	}
	h.n++
	h.counts[histIndex(us)]++
}

// histSum is the merge of many histograms.
type histSum struct {
	counts []uint64
	max    uint64
	n      uint64
}

func newHistSum() histSum { return histSum{counts: make([]uint64, histBuckets)} }

func (s *histSum) add(h *hist) {
	for i, c := range h.counts {
		s.counts[i] += uint64(c)
	}
	s.n += h.n
	s.max = max(s.max, h.max)
}

func (s *histSum) merge(o *histSum) {
	for i, c := range o.counts {
		s.counts[i] += c
	}
	s.n += o.n
	s.max = max(s.max, o.max)
}

// quantile returns the value (µs) at or below which a fraction q of the
// values lie: the highest value of the bucket holding that rank, never more
// than the largest value recorded. 0 when empty.
func (s *histSum) quantile(q float64) uint64 {
	if s.n == 0 {
		return 0
	}
	rank := uint64(q*float64(s.n) + 0.999999999)
	rank = max(1, min(rank, s.n))
	var cum uint64
	for i, c := range s.counts {
		cum += c
		if cum >= rank {
			_, hi := histRange(i)
			return min(hi, s.max)
		}
	}
	return s.max
}

// sparse returns the non-empty buckets as [index, count] pairs, for passing a
// histogram between processes.
func (s *histSum) sparse() [][2]uint64 {
	var out [][2]uint64
	for i, c := range s.counts {
		if c != 0 {
			out = append(out, [2]uint64{uint64(i), c})
		}
	}
	return out
}

// addSparse adds pairs made by sparse; indexes out of range are ignored.
func (s *histSum) addSparse(pairs [][2]uint64, maxV uint64) {
	for _, p := range pairs {
		if p[0] < uint64(len(s.counts)) {
			s.counts[p[0]] += p[1]
			s.n += p[1]
		}
	}
	s.max = max(s.max, maxV)
}
