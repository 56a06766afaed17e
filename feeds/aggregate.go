package feeds

import (
	"math"
	"slices"
	"time"
)

// PriceUpdate is the data of a prices:<symbol> publication (PROTOCOL.md).
type PriceUpdate struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
	// TS is when the price was computed, Unix milliseconds.
	TS int64 `json:"ts"`
	// TWAP is the time-weighted average price per configured window, keyed
	// by the window as configs write it ("1m", "5m").
	TWAP map[string]float64 `json:"twap,omitempty"`
	// Change24h is the relative change against the price 24h before (or the
	// oldest price known, when the history is shorter).
	Change24h float64 `json:"change24h"`
	// Volume24h is the traded volume of the last 24h in the quote currency
	// (Σ size × price of the ticks that carry a size).
	Volume24h float64 `json:"volume24h"`
	// Sources are every source heard from within max_age, and those that
	// went stale, with their last price. For a derived symbol they are its
	// input symbols.
	Sources []SourcePrice `json:"sources"`
	// Stale is true when fewer than min_sources are fresh; Price is then
	// the last good one.
	Stale bool `json:"stale"`
}

// SourcePrice is one source's contribution to a PriceUpdate.
type SourcePrice struct {
	ID    string  `json:"id"`
	Price float64 `json:"price"`
	TS    int64   `json:"ts"`
	Stale bool    `json:"stale"`
	// Outlier is true when the source was left out for deviating from the
	// median by more than max_deviation.
	Outlier bool `json:"outlier,omitempty"`
}

// StaleChange reports a symbol turning stale or fresh again.
type StaleChange struct {
	Symbol string
	Stale  bool
	// Sources are the sources (for a derived symbol, the input symbols)
	// that are stale at the transition.
	Sources []string
	At      time.Time
}

// Aggregator turns ticks into aggregated prices per configured symbol and
// decides when each is published. It holds no goroutine and no clock: the
// caller passes the time, so results are exact. It is not safe for
// concurrent use.
type Aggregator struct {
	symbols map[string]*symbolState
	states  []*symbolState // in config order, derived symbols last
	scratch []weighted
	market  MarketConfig
	trades  tradeRing
	onStale func(StaleChange)
}

type weighted struct{ price, size float64 }

type sourceState struct {
	id     string
	maxAge time.Duration // the symbol's max_age, or the source's own
	price  float64
	size   float64   // size of the last tick, 0 when unknown
	seen   time.Time // receive time of the last tick
}

type symbolState struct {
	cfg     SymbolConfig
	sources []*sourceState // sorted by id
	inputs  []*symbolState // derived symbols: the symbols in derive.from
	twap    *twapRing
	twapKey []string
	day     dayWindow

	good       float64 // last good price (0: none yet)
	goodAt     time.Time
	stale      bool
	wasGood    bool // has been fresh at least once (for transition reports)
	pubPrice   float64
	pubStale   bool
	pubAt      time.Time
	published  bool
	pending    bool // a change waits for min_interval
	lastUpdate PriceUpdate
}

// NewAggregator returns an aggregator for the configured symbols.
func NewAggregator(cfg PricesConfig) *Aggregator {
	a := &Aggregator{symbols: map[string]*symbolState{}, market: cfg.Market}
	a.trades.init(cfg.Market.RecentTrades)
	for _, s := range cfg.Symbols {
		st := &symbolState{cfg: s, stale: true, twap: newTWAPRing(s.TWAP)}
		for _, w := range s.TWAP {
			st.twapKey = append(st.twapKey, windowName(w))
		}
		a.symbols[s.Symbol] = st
		a.states = append(a.states, st)
	}
	// Derived symbols go last, so Evaluate sees their inputs' state at now.
	slices.SortStableFunc(a.states, func(x, y *symbolState) int {
		switch dx, dy := x.cfg.Derived(), y.cfg.Derived(); {
		case !dx && dy:
			return -1
		case dx && !dy:
			return 1
		}
		return 0
	})
	for _, st := range a.states {
		for _, f := range st.cfg.Derive.From {
			if in := a.symbols[f]; in != nil && in != st {
				st.inputs = append(st.inputs, in)
			}
		}
	}
	return a
}

// OnStale sets a function called when a symbol turns stale after having
// had a good price, and when it turns fresh again.
func (a *Aggregator) OnStale(f func(StaleChange)) { a.onStale = f }

// Observe takes a tick reported by the feed instance instance and returns
// the update to publish for its symbol, if one is due now.
func (a *Aggregator) Observe(instance string, t Tick, now time.Time) (PriceUpdate, bool) {
	st := a.symbols[t.Symbol]
	if st == nil || st.cfg.Derived() || !(t.Price > 0) || math.IsInf(t.Price, 0) {
		return PriceUpdate{}, false
	}
	if len(st.cfg.Sources) > 0 && !slices.Contains(st.cfg.Sources, instance) {
		return PriceUpdate{}, false
	}
	id := t.Source
	if id == "" {
		id = instance
	}
	i, found := slices.BinarySearchFunc(st.sources, id, func(s *sourceState, id string) int {
		switch {
		case s.id < id:
			return -1
		case s.id > id:
			return 1
		}
		return 0
	})
	if !found {
		st.sources = slices.Insert(st.sources, i, &sourceState{id: id, maxAge: st.cfg.MaxAgeOf(id)})
	}
	src := st.sources[i]
	src.price = t.Price
	size := t.Size
	if !(size > 0) || math.IsInf(size, 0) {
		size = 0
	}
	src.size = size
	src.seen = t.ReceiveTime
	if src.seen.IsZero() {
		src.seen = now
	}
	if size > 0 {
		ts := t.VenueTime
		if ts.IsZero() {
			ts = src.seen
		}
		a.trades.add(Trade{Symbol: st.cfg.Symbol, Price: t.Price, Size: size, Side: t.Side, Source: id, TS: ts.UnixMilli()})
	}
	a.compute(st, now)
	st.day.record(now.UnixNano(), st.good, size*t.Price)
	return a.publish(st, now)
}

// Evaluate returns the updates due at now without a new tick: heartbeats,
// sources going stale, changes held back by min_interval and derived
// symbols.
func (a *Aggregator) Evaluate(now time.Time) []PriceUpdate {
	var out []PriceUpdate
	for _, st := range a.states {
		a.compute(st, now)
		if st.cfg.Derived() && !st.stale {
			st.day.record(now.UnixNano(), st.good, 0)
		}
		if u, ok := a.publish(st, now); ok {
			out = append(out, u)
		}
	}
	return out
}

// Latest returns the last update computed for symbol.
func (a *Aggregator) Latest(symbol string) (PriceUpdate, bool) {
	st := a.symbols[symbol]
	if st == nil || !st.published {
		return PriceUpdate{}, false
	}
	return st.lastUpdate, true
}

// SourceAge is how old one source's last tick for a symbol is.
type SourceAge struct {
	Symbol, Source string
	Age            time.Duration
	Stale          bool
}

// Ages returns the age at now of every source of every symbol, for the
// staleness metrics.
func (a *Aggregator) Ages(now time.Time) []SourceAge {
	var out []SourceAge
	for _, st := range a.states {
		for _, s := range st.sources {
			age := now.Sub(s.seen)
			out = append(out, SourceAge{Symbol: st.cfg.Symbol, Source: s.id, Age: age, Stale: age > s.maxAge})
		}
	}
	return out
}

// compute recomputes the price and staleness of st at now.
func (a *Aggregator) compute(st *symbolState, now time.Time) {
	var price float64
	var stale bool
	if st.cfg.Derived() {
		price, stale = derive(st)
	} else {
		price, stale = a.aggregate(st, now)
	}
	if !stale {
		st.good, st.goodAt = price, now
		if st.twap != nil {
			st.twap.record(now.UnixNano(), price)
		}
	}
	if stale != st.stale {
		if st.wasGood && a.onStale != nil {
			a.onStale(StaleChange{Symbol: st.cfg.Symbol, Stale: stale, Sources: staleNames(st, now), At: now})
		}
		st.stale = stale
	}
	if !stale {
		st.wasGood = true
	}
}

// aggregate combines the fresh sources of st: the median (or vwap) of those
// within max_deviation of the median of all fresh ones.
func (a *Aggregator) aggregate(st *symbolState, now time.Time) (float64, bool) {
	cfg := &st.cfg
	fresh := a.scratch[:0]
	for _, s := range st.sources {
		if now.Sub(s.seen) <= s.maxAge {
			fresh = append(fresh, weighted{s.price, s.size})
		}
	}
	median := medianOf(fresh)
	inliers := fresh[:0]
	for _, w := range fresh {
		if !isOutlier(w.price, median, cfg.MaxDeviation) {
			inliers = append(inliers, w)
		}
	}
	a.scratch = fresh
	if len(inliers) == 0 || len(inliers) < cfg.MinSources {
		return 0, true
	}
	if cfg.Method == "vwap" {
		if p, ok := vwapOf(inliers); ok {
			return p, false
		}
	}
	return medianOf(inliers), false
}

// derive computes a derived symbol from its inputs' last good prices; it
// is stale when an input is stale or has no price.
func derive(st *symbolState) (float64, bool) {
	want := 2
	if st.cfg.Derive.Op == "invert" {
		want = 1
	}
	if len(st.inputs) != want {
		return 0, true
	}
	for _, in := range st.inputs {
		if in.stale || in.good == 0 {
			return 0, true
		}
	}
	var p float64
	switch st.cfg.Derive.Op {
	case "invert":
		p = 1 / st.inputs[0].good
	case "multiply":
		p = st.inputs[0].good * st.inputs[1].good
	default:
		p = st.inputs[0].good / st.inputs[1].good
	}
	if !(p > 0) || math.IsInf(p, 0) {
		return 0, true
	}
	return p, false
}

func staleNames(st *symbolState, now time.Time) []string {
	var out []string
	if st.cfg.Derived() {
		for _, in := range st.inputs {
			if in.stale || in.good == 0 {
				out = append(out, in.cfg.Symbol)
			}
		}
		return out
	}
	for _, s := range st.sources {
		if now.Sub(s.seen) > s.maxAge {
			out = append(out, s.id)
		}
	}
	return out
}

// publish applies the publish policy to st at now.
func (a *Aggregator) publish(st *symbolState, now time.Time) (PriceUpdate, bool) {
	cfg := &st.cfg
	stale := st.stale
	if st.good == 0 {
		return PriceUpdate{}, false // nothing good yet to publish
	}
	changed := !st.published || st.good != st.pubPrice || stale != st.pubStale
	if changed && cfg.Publish.Deviation > 0 && st.published && stale == st.pubStale {
		changed = math.Abs(st.good-st.pubPrice)/st.pubPrice >= cfg.Publish.Deviation
	}
	since := now.Sub(st.pubAt)
	heartbeat := st.published && cfg.Publish.Heartbeat > 0 && since >= cfg.Publish.Heartbeat
	switch {
	case !changed && !heartbeat && !st.pending:
		return PriceUpdate{}, false
	case st.published && since < cfg.Publish.MinInterval:
		st.pending = st.pending || changed
		return PriceUpdate{}, false
	}
	u := a.update(st, now)
	st.pubPrice, st.pubStale, st.pubAt, st.published, st.pending = st.good, stale, now, true, false
	st.lastUpdate = u
	return u, true
}

// update builds the publication of st at now.
func (a *Aggregator) update(st *symbolState, now time.Time) PriceUpdate {
	cfg := &st.cfg
	u := PriceUpdate{Symbol: cfg.Symbol, Price: st.good, TS: now.UnixMilli(), Stale: st.stale}
	ns := now.UnixNano()
	if len(st.twapKey) > 0 {
		u.TWAP = make(map[string]float64, len(st.twapKey))
		for i, w := range cfg.TWAP {
			if v, ok := st.twap.average(w, ns); ok {
				u.TWAP[st.twapKey[i]] = v
			}
		}
	}
	u.Change24h, u.Volume24h = st.day.stats(ns, st.good)
	if cfg.Derived() {
		u.Sources = make([]SourcePrice, 0, len(st.inputs))
		for _, in := range st.inputs {
			u.Sources = append(u.Sources, SourcePrice{ID: in.cfg.Symbol, Price: in.good, TS: in.goodAt.UnixMilli(), Stale: in.stale || in.good == 0})
		}
		return u
	}
	var median float64
	{
		fresh := a.scratch[:0]
		for _, s := range st.sources {
			if now.Sub(s.seen) <= s.maxAge {
				fresh = append(fresh, weighted{price: s.price})
			}
		}
		median = medianOf(fresh)
		a.scratch = fresh
	}
	u.Sources = make([]SourcePrice, 0, len(st.sources))
	for _, s := range st.sources {
		isStale := now.Sub(s.seen) > s.maxAge
		u.Sources = append(u.Sources, SourcePrice{
			ID: s.id, Price: s.price, TS: s.seen.UnixMilli(), Stale: isStale,
			Outlier: !isStale && isOutlier(s.price, median, cfg.MaxDeviation),
		})
	}
	return u
}

func isOutlier(p, median, maxDev float64) bool {
	return maxDev > 0 && median > 0 && math.Abs(p-median)/median > maxDev
}

// medianOf returns the median price of xs (sorting xs by price), 0 for none.
func medianOf(xs []weighted) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	// Insertion sort: a symbol has a handful of sources, and this neither
	// allocates nor calls through a comparison function.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && xs[j].price < xs[j-1].price; j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
	if n%2 == 1 {
		return xs[n/2].price
	}
	lo, hi := xs[n/2-1].price, xs[n/2].price
	return lo + (hi-lo)/2 // stays within [lo, hi] and cannot overflow
}

// vwapOf returns the size-weighted mean price of the entries that have a
// size, clamped to their price range; false when none has one.
func vwapOf(xs []weighted) (float64, bool) {
	var num, den float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, w := range xs {
		if w.size > 0 {
			num += w.price * w.size
			den += w.size
			lo, hi = min(lo, w.price), max(hi, w.price)
		}
	}
	if !(den > 0) || math.IsInf(num, 0) || math.IsNaN(num) {
		return 0, false
	}
	return min(max(num/den, lo), hi), true
}
