package feeds

import (
	"math"
	"slices"
	"sort"
	"time"
)

// PriceUpdate is the data of a prices:<symbol> publication (PROTOCOL.md).
type PriceUpdate struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
	// TS is when the price was computed, Unix milliseconds.
	TS int64 `json:"ts"`
	// Sources are every source heard from within max_age, and those that
	// went stale, with their last price.
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

// Aggregator turns ticks into aggregated prices per configured symbol and
// decides when each is published. It holds no goroutine and no clock: the
// caller passes the time, so results are exact. It is not safe for
// concurrent use.
type Aggregator struct {
	symbols map[string]*symbolState
	order   []string
	scratch []float64
}

type sourceState struct {
	id    string
	price float64
	seen  time.Time // receive time of the last tick
}

type symbolState struct {
	cfg     SymbolConfig
	sources []*sourceState // sorted by id

	good       float64 // last good price (0: none yet)
	stale      bool
	pubPrice   float64
	pubStale   bool
	pubAt      time.Time
	published  bool
	pending    bool // a change waits for min_interval
	lastUpdate PriceUpdate
}

// NewAggregator returns an aggregator for the configured symbols.
func NewAggregator(cfg PricesConfig) *Aggregator {
	a := &Aggregator{symbols: map[string]*symbolState{}}
	for _, s := range cfg.Symbols {
		a.symbols[s.Symbol] = &symbolState{cfg: s, stale: true}
		a.order = append(a.order, s.Symbol)
	}
	return a
}

// Observe takes a tick reported by the feed instance instance and returns
// the update to publish for its symbol, if one is due now.
func (a *Aggregator) Observe(instance string, t Tick, now time.Time) (PriceUpdate, bool) {
	st := a.symbols[t.Symbol]
	if st == nil || !(t.Price > 0) || math.IsInf(t.Price, 0) {
		return PriceUpdate{}, false
	}
	if len(st.cfg.Sources) > 0 && !slices.Contains(st.cfg.Sources, instance) {
		return PriceUpdate{}, false
	}
	id := t.Source
	if id == "" {
		id = instance
	}
	i := sort.Search(len(st.sources), func(i int) bool { return st.sources[i].id >= id })
	if i == len(st.sources) || st.sources[i].id != id {
		st.sources = slices.Insert(st.sources, i, &sourceState{id: id})
	}
	src := st.sources[i]
	src.price = t.Price
	src.seen = t.ReceiveTime
	if src.seen.IsZero() {
		src.seen = now
	}
	return a.evaluate(st, now)
}

// Evaluate returns the updates due at now without a new tick: heartbeats,
// sources going stale, and changes held back by min_interval.
func (a *Aggregator) Evaluate(now time.Time) []PriceUpdate {
	var out []PriceUpdate
	for _, sym := range a.order {
		if u, ok := a.evaluate(a.symbols[sym], now); ok {
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
	for _, sym := range a.order {
		st := a.symbols[sym]
		for _, s := range st.sources {
			age := now.Sub(s.seen)
			out = append(out, SourceAge{Symbol: sym, Source: s.id, Age: age, Stale: age > st.cfg.MaxAge})
		}
	}
	return out
}

// evaluate recomputes st at now and applies the publish policy.
func (a *Aggregator) evaluate(st *symbolState, now time.Time) (PriceUpdate, bool) {
	cfg := st.cfg
	fresh := a.scratch[:0]
	for _, s := range st.sources {
		if now.Sub(s.seen) <= cfg.MaxAge {
			fresh = append(fresh, s.price)
		}
	}
	median := medianOf(fresh)
	// Leave out outliers and take the median of the rest.
	inliers := fresh[:0]
	for _, p := range fresh {
		if !isOutlier(p, median, cfg.MaxDeviation) {
			inliers = append(inliers, p)
		}
	}
	price := medianOf(inliers)
	a.scratch = fresh
	stale := len(inliers) < cfg.MinSources || len(inliers) == 0
	if !stale {
		st.good = price
	}
	st.stale = stale
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
	u := PriceUpdate{Symbol: cfg.Symbol, Price: st.good, TS: now.UnixMilli(), Stale: stale, Sources: make([]SourcePrice, 0, len(st.sources))}
	for _, s := range st.sources {
		isStale := now.Sub(s.seen) > cfg.MaxAge
		u.Sources = append(u.Sources, SourcePrice{
			ID: s.id, Price: s.price, TS: s.seen.UnixMilli(), Stale: isStale,
			Outlier: !isStale && isOutlier(s.price, median, cfg.MaxDeviation),
		})
	}
	st.pubPrice, st.pubStale, st.pubAt, st.published, st.pending = st.good, stale, now, true, false
	st.lastUpdate = u
	return u, true
}

func isOutlier(p, median, maxDev float64) bool {
	return maxDev > 0 && median > 0 && math.Abs(p-median)/median > maxDev
}

// medianOf returns the median of xs (sorting xs), 0 for none.
func medianOf(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	slices.Sort(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
