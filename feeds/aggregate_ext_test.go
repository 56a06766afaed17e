package feeds

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/feedd/feedd/internal/config"
)

// hb evaluates at at and returns the one update a 1ms heartbeat makes due.
func hb(t *testing.T, a *Aggregator, symbol string, at time.Time) PriceUpdate {
	t.Helper()
	for _, u := range a.Evaluate(at) {
		if u.Symbol == symbol {
			return u
		}
	}
	t.Fatalf("no update for %s at %v", symbol, at.Sub(t0))
	return PriceUpdate{}
}

func sized(src string, price, size float64, at time.Time) Tick {
	tk := tick(src, price, at)
	tk.Size = size
	return tk
}

func TestTWAPIrregularTicks(t *testing.T) {
	a := NewAggregator(symCfg(func(s *SymbolConfig) {
		s.TWAP = []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Second}
		s.MaxAge = time.Hour
		s.Publish.Heartbeat = time.Millisecond
	}))
	// 100 for 15s, 200 for 15s, 300 from 30s on; 250 for 2.5s in between.
	a.Observe("f", tick("a", 100, t0), t0)
	a.Observe("f", tick("a", 200, t0.Add(15*time.Second)), t0.Add(15*time.Second))
	a.Observe("f", tick("a", 250, t0.Add(30*time.Second)), t0.Add(30*time.Second))
	a.Observe("f", tick("a", 300, t0.Add(32500*time.Millisecond)), t0.Add(32500*time.Millisecond))

	u := hb(t, a, "ETH-USD", t0.Add(time.Minute))
	// 1m: (100×15 + 200×15 + 250×2.5 + 300×27.5) / 60 = 13375 / 60
	want1m := (100*15.0 + 200*15 + 250*2.5 + 300*27.5) / 60
	if got := u.TWAP["1m"]; math.Abs(got-want1m) > 1e-9 {
		t.Fatalf("1m twap %v, want %v", got, want1m)
	}
	// 5m covers only the minute of history there is: the same value.
	if got := u.TWAP["5m"]; math.Abs(got-want1m) > 1e-9 {
		t.Fatalf("5m twap %v, want %v", got, want1m)
	}
	if got := u.TWAP["10s"]; got != 300 {
		t.Fatalf("10s twap %v, want 300", got)
	}
	// 75s: the window (15s, 75s] clips the oldest segment away and starts
	// inside the 200 one: (200×15 + 250×2.5 + 300×42.5) / 60.
	u = hb(t, a, "ETH-USD", t0.Add(75*time.Second))
	want := (200*15.0 + 250*2.5 + 300*42.5) / 60
	if got := u.TWAP["1m"]; math.Abs(got-want) > 1e-9 {
		t.Fatalf("1m twap at 75s %v, want %v", got, want)
	}
	// Exact binary values: 100 for 15s, 200 for 15s, 300 for 30s = 225.
	b := NewAggregator(symCfg(func(s *SymbolConfig) {
		s.TWAP = []time.Duration{time.Minute}
		s.MaxAge = time.Hour
		s.Publish.Heartbeat = time.Millisecond
	}))
	b.Observe("f", tick("a", 100, t0), t0)
	b.Observe("f", tick("a", 200, t0.Add(15*time.Second)), t0.Add(15*time.Second))
	b.Observe("f", tick("a", 300, t0.Add(30*time.Second)), t0.Add(30*time.Second))
	if got := hb(t, b, "ETH-USD", t0.Add(time.Minute)).TWAP["1m"]; got != 225 {
		t.Fatalf("twap %v, want exactly 225", got)
	}
}

func TestTWAPRingBounded(t *testing.T) {
	r := newTWAPRing([]time.Duration{time.Minute})
	// Changes every 10ms for 2 minutes: 12000 changes, more than a window
	// holds, so eviction and thinning keep the ring bounded.
	for i := 0; i < 12000; i++ {
		r.record(int64(i)*int64(10*time.Millisecond), float64(100+i%2))
	}
	if r.n > twapMaxSegments || len(r.segs) > twapMaxSegments {
		t.Fatalf("ring holds %d segments (cap %d)", r.n, len(r.segs))
	}
	now := int64(12000) * int64(10*time.Millisecond)
	got, _ := r.average(time.Minute, now)
	if math.Abs(got-100.5) > 0.01 {
		t.Fatalf("twap %v, want about 100.5", got)
	}
	// Under the cap every window is exact and old segments are evicted.
	r = newTWAPRing([]time.Duration{time.Minute})
	for i := 0; i < 1000; i++ {
		r.record(int64(i)*int64(time.Second), float64(i))
	}
	if r.n != 61 {
		t.Fatalf("kept %d segments, want 61 (the one straddling the window start and 60)", r.n)
	}
	got, _ = r.average(time.Minute, int64(1000)*int64(time.Second))
	if want := float64(940+999) / 2; got != want {
		t.Fatalf("twap %v, want %v", got, want)
	}
}

func Test24hRollingWindow(t *testing.T) {
	a := NewAggregator(symCfg(func(s *SymbolConfig) {
		s.MaxAge = 48 * time.Hour
		s.Publish.Heartbeat = time.Millisecond
	}))
	a.Observe("f", sized("a", 100, 2, t0), t0)                                       // volume 200
	a.Observe("f", tick("a", 120, t0.Add(30*time.Second)), t0.Add(30*time.Second))   // same minute, no size
	a.Observe("f", sized("a", 110, 1, t0.Add(time.Hour)), t0.Add(time.Hour))         // volume 110
	a.Observe("f", sized("a", 110, 0.5, t0.Add(23*time.Hour)), t0.Add(23*time.Hour)) // volume 55
	u := hb(t, a, "ETH-USD", t0.Add(24*time.Hour-time.Minute))
	// Less than 24h of history: against the oldest price, 100.
	if u.Change24h != (110.0-100)/100 || u.Volume24h != 365 {
		t.Fatalf("before the boundary: change %v volume %v", u.Change24h, u.Volume24h)
	}
	// The first minute leaves the window: the price 24h ago is its close, 120.
	u = hb(t, a, "ETH-USD", t0.Add(24*time.Hour))
	if u.Change24h != (110.0-120)/120 || u.Volume24h != 165 {
		t.Fatalf("at the boundary: change %v volume %v", u.Change24h, u.Volume24h)
	}
	u = hb(t, a, "ETH-USD", t0.Add(25*time.Hour))
	if u.Change24h != 0 || u.Volume24h != 55 {
		t.Fatalf("after 25h: change %v volume %v", u.Change24h, u.Volume24h)
	}
	u = hb(t, a, "ETH-USD", t0.Add(48*time.Hour))
	if u.Change24h != 0 || u.Volume24h != 0 {
		t.Fatalf("after 48h: change %v volume %v", u.Change24h, u.Volume24h)
	}
	if a.symbols["ETH-USD"].day.n != 0 {
		t.Fatal("buckets kept after they left the window")
	}
}

func TestVWAP(t *testing.T) {
	a := NewAggregator(symCfg(func(s *SymbolConfig) { s.Method = "vwap"; s.MaxDeviation = 0.2; s.Publish.Heartbeat = time.Millisecond }))
	a.Observe("f", sized("a", 100, 1, t0), t0)
	a.Observe("f", tick("c", 105, t0), t0) // no size: left out of the vwap
	u, ok := a.Observe("f", sized("b", 110, 3, t0), t0)
	if !ok || u.Price != (100+330)/4.0 {
		t.Fatalf("vwap %v, want 107.5", u.Price)
	}
	// An outlier is left out even with a large size.
	a.Observe("f", sized("d", 1000, 100, t0), t0)
	u = hb(t, a, "ETH-USD", t0.Add(time.Millisecond))
	if u.Price != 107.5 || !u.Sources[3].Outlier {
		t.Fatalf("vwap with an outlier: %+v", u)
	}
	// No sizes at all: the median.
	b := NewAggregator(symCfg(func(s *SymbolConfig) { s.Method = "vwap" }))
	b.Observe("f", tick("a", 100, t0), t0)
	b.Observe("f", tick("b", 102, t0), t0)
	if u, _ := b.Observe("f", tick("c", 104, t0), t0); u.Price != 102 {
		t.Fatalf("vwap without sizes %v, want the median 102", u.Price)
	}
}

func crossCfg() PricesConfig {
	base := func(sym string) SymbolConfig {
		return SymbolConfig{Symbol: sym, MinSources: 1, MaxAge: 10 * time.Second, Method: "median"}
	}
	eth, btc := base("ETH-USD"), base("BTC-USD")
	ethbtc := base("ETH-BTC")
	ethbtc.Derive = DeriveConfig{From: []string{"ETH-USD", "BTC-USD"}, Op: "divide"}
	inv := base("USD-ETH")
	inv.Derive = DeriveConfig{From: []string{"ETH-USD"}, Op: "invert"}
	return PricesConfig{Symbols: []SymbolConfig{ethbtc, inv, eth, btc}}
}

func TestCrossAndInverse(t *testing.T) {
	a := NewAggregator(crossCfg())
	a.Observe("f", Tick{Source: "a", Symbol: "ETH-USD", Price: 3000, ReceiveTime: t0}, t0)
	if ups := a.Evaluate(t0); len(ups) != 1 || ups[0].Symbol != "USD-ETH" {
		t.Fatalf("ETH-BTC published without BTC-USD: %+v", ups)
	}
	a.Observe("f", Tick{Source: "a", Symbol: "BTC-USD", Price: 60000, ReceiveTime: t0.Add(5 * time.Second)}, t0.Add(5*time.Second))
	ups := a.Evaluate(t0.Add(5 * time.Second))
	got := map[string]PriceUpdate{}
	for _, u := range ups {
		got[u.Symbol] = u
	}
	if u := got["ETH-BTC"]; u.Price != 3000.0/60000 || u.Stale || len(u.Sources) != 2 || u.Sources[0].ID != "ETH-USD" {
		t.Fatalf("ETH-BTC: %+v", u)
	}
	if u, _ := a.Latest("USD-ETH"); u.Price != 1/3000.0 || u.Stale {
		t.Fatalf("USD-ETH: %+v", u)
	}
	// Ticks for a derived symbol are ignored.
	if _, ok := a.Observe("f", Tick{Source: "x", Symbol: "ETH-BTC", Price: 1, ReceiveTime: t0}, t0); ok {
		t.Fatal("a tick fed a derived symbol")
	}
	// ETH-USD goes stale after 10s: both derived pairs are stale with their last price.
	var changes []StaleChange
	a.OnStale(func(c StaleChange) { changes = append(changes, c) })
	ups = a.Evaluate(t0.Add(11 * time.Second))
	got = map[string]PriceUpdate{}
	for _, u := range ups {
		got[u.Symbol] = u
	}
	if u := got["ETH-BTC"]; !u.Stale || u.Price != 0.05 || !u.Sources[0].Stale || u.Sources[1].Stale {
		t.Fatalf("ETH-BTC after ETH-USD went stale: %+v", u)
	}
	if u := got["USD-ETH"]; !u.Stale || u.Price != 1/3000.0 {
		t.Fatalf("USD-ETH after ETH-USD went stale: %+v", u)
	}
	names := map[string][]string{}
	for _, c := range changes {
		names[c.Symbol] = c.Sources
	}
	if !slices.Equal(names["ETH-USD"], []string{"a"}) || !slices.Equal(names["ETH-BTC"], []string{"ETH-USD"}) {
		t.Fatalf("stale changes: %+v", changes)
	}
}

func TestDeriveValidation(t *testing.T) {
	decode := func(symbols ...map[string]any) string {
		list := make([]any, len(symbols))
		for i, m := range symbols {
			list[i] = m
		}
		var c PricesConfig
		var ps config.Problems
		config.Decoder{}.Decode("prices", map[string]any{"symbols": list}, &c, &ps)
		return fmt.Sprint(ps)
	}
	eth := map[string]any{"symbol": "ETH-USD"}
	btc := map[string]any{"symbol": "BTC-USD"}
	msgs := decode(eth, btc,
		map[string]any{"symbol": "ETH-BTC", "derive": map[string]any{"from": []any{"ETH-USD", "SOL-USD"}}},
		map[string]any{"symbol": "USD-ETH", "derive": map[string]any{"from": []any{"ETH-USD", "BTC-USD"}, "op": "invert"}},
		map[string]any{"symbol": "BTC-ETH", "derive": map[string]any{"from": []any{"ETH-BTC"}, "op": "invert"}},
		map[string]any{"symbol": "ETH-EUR", "sources": []any{"cb"}, "derive": map[string]any{"from": []any{"ETH-USD", "EUR-USD"}, "op": "cube"}},
		map[string]any{"symbol": "SOL-EUR", "supply": 5},
	)
	for _, want := range []string{
		`prices.symbols[2].derive.from[1]: "SOL-USD" is not a configured symbol`,
		`prices.symbols[3].derive.from: op invert takes 1 symbols, got 2`,
		`prices.symbols[4].derive.from[0]: "ETH-BTC" is itself derived`,
		`prices.symbols[5].derive.op`,
		`prices.symbols[5].sources: a derived symbol takes no sources`,
		`prices.symbols[6].supply: market cap is summed over USD-quoted symbols; SOL-EUR is quoted in EUR`,
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("missing %q in\n%s", want, msgs)
		}
	}
	if msgs := decode(eth, btc,
		map[string]any{"symbol": "ETH-BTC", "derive": map[string]any{"from": []any{"ETH-USD", "BTC-USD"}}},
		map[string]any{"symbol": "USD-ETH", "derive": map[string]any{"from": []any{"ETH-USD"}, "op": "invert"}},
	); msgs != "[]" && msgs != "" {
		t.Fatalf("valid derive refused: %s", msgs)
	}
}

func TestStaleHookNamesSources(t *testing.T) {
	a := NewAggregator(symCfg(func(s *SymbolConfig) { s.MinSources = 2 }))
	var changes []StaleChange
	a.OnStale(func(c StaleChange) { changes = append(changes, c) })
	a.Observe("f", tick("a", 3000, t0), t0)
	a.Observe("f", tick("b", 3010, t0.Add(5*time.Second)), t0.Add(5*time.Second))
	if len(changes) != 0 {
		t.Fatalf("the first fresh price is no transition: %+v", changes)
	}
	a.Evaluate(t0.Add(11 * time.Second)) // a is 11s old
	a.Evaluate(t0.Add(12 * time.Second)) // still stale: no second report
	a.Observe("f", tick("a", 3020, t0.Add(13*time.Second)), t0.Add(13*time.Second))
	if len(changes) != 2 || !changes[0].Stale || !slices.Equal(changes[0].Sources, []string{"a"}) ||
		changes[1].Stale || len(changes[1].Sources) != 0 || !changes[0].At.Equal(t0.Add(11*time.Second)) {
		t.Fatalf("transitions: %+v", changes)
	}
}

func TestMarketOverview(t *testing.T) {
	cfg := crossCfg()
	cfg.Symbols[2].Supply = 100 // ETH-USD
	cfg.Symbols[3].Supply = 10  // BTC-USD
	cfg.Symbols[2].MaxAge, cfg.Symbols[3].MaxAge = 48*time.Hour, 48*time.Hour
	cfg.Market = MarketConfig{Interval: time.Second, TopMovers: 2, RecentTrades: 3}
	a := NewAggregator(cfg)
	o := a.Overview(t0)
	if o.TotalMarketCap != 0 || o.BTCDominance != nil || len(o.TopMovers) != 0 || len(o.RecentTrades) != 0 || o.TS != t0.UnixMilli() {
		t.Fatalf("empty overview: %+v", o)
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	a.Observe("f", Tick{Source: "cb", Symbol: "ETH-USD", Price: 2000, Size: 1, Side: SideBuy, ReceiveTime: at(0)}, at(0))
	a.Observe("f", Tick{Source: "cb", Symbol: "BTC-USD", Price: 50000, Size: 0.5, Side: SideSell, ReceiveTime: at(0)}, at(0))
	a.Observe("f", Tick{Source: "kr", Symbol: "ETH-USD", Price: 2000, ReceiveTime: at(0)}, at(0)) // no size: no trade
	a.Evaluate(at(0))                                                                             // derived pairs: 0.04, 1/2000
	a.Observe("f", Tick{Source: "cb", Symbol: "ETH-USD", Price: 3000, Size: 2, ReceiveTime: at(time.Hour)}, at(time.Hour))
	a.Observe("f", Tick{Source: "kr", Symbol: "ETH-USD", Price: 3000, Size: 1, ReceiveTime: at(time.Hour)}, at(time.Hour))
	a.Observe("f", Tick{Source: "cb", Symbol: "BTC-USD", Price: 60000, Size: 1, ReceiveTime: at(time.Hour)}, at(time.Hour))
	a.Evaluate(at(time.Hour))
	o = a.Overview(at(time.Hour))
	if o.TotalMarketCap != 300000+600000 || *o.BTCDominance != 600000.0/900000 {
		t.Fatalf("market cap %v dominance %v", o.TotalMarketCap, *o.BTCDominance)
	}
	// Quote volumes: ETH 2000 + 6000 + 3000, BTC 25000 + 60000 (ETH-BTC is not USD-quoted).
	if o.TotalVolume != 11000+85000 {
		t.Fatalf("total volume %v", o.TotalVolume)
	}
	// ETH +50%, USD-ETH -33%, BTC +20%, ETH-BTC 0.04 → 0.05 +25%.
	if len(o.TopMovers) != 2 || o.TopMovers[0].Symbol != "ETH-USD" || o.TopMovers[0].Change24h != 0.5 || o.TopMovers[1].Symbol != "USD-ETH" {
		t.Fatalf("top movers: %+v", o.TopMovers)
	}
	if len(o.RecentTrades) != 3 || o.RecentTrades[0].Symbol != "BTC-USD" || o.RecentTrades[0].Size != 1 ||
		o.RecentTrades[1].Source != "kr" || o.RecentTrades[2].Price != 3000 || o.RecentTrades[2].TS != at(time.Hour).UnixMilli() {
		t.Fatalf("recent trades: %+v", o.RecentTrades)
	}
}

// FuzzAggregatorVWAPRange checks, for median and vwap with sizes, that a
// non-stale price always lies within [min, max] of the fresh, accepted
// inputs, and that a derived cross pair equals its formula.
func FuzzAggregatorVWAPRange(f *testing.F) {
	f.Add(100.0, 1.0, 101.0, 2.0, 250.0, 0.0, 3000.0, true, 0.05)
	f.Add(1e-300, 1e300, 1e300, 1e-300, 5.0, 1.0, 1.0, false, 0.0)
	f.Fuzz(func(t *testing.T, p1, s1, p2, s2, p3, s3, btc float64, vwap bool, dev float64) {
		if dev < 0 || dev > 1 || math.IsNaN(dev) {
			return
		}
		cfg := crossCfg()
		cfg.Symbols[2].MaxDeviation = dev
		if vwap {
			cfg.Symbols[2].Method = "vwap"
		}
		a := NewAggregator(cfg)
		a.Observe("f", Tick{Source: "b", Symbol: "BTC-USD", Price: btc, ReceiveTime: t0}, t0)
		lo, hi := math.Inf(1), math.Inf(-1)
		for i, p := range []float64{p1, p2, p3} {
			at := t0.Add(time.Duration(i) * time.Second)
			u, ok := a.Observe("f", Tick{Source: string(rune('a' + i)), Symbol: "ETH-USD", Price: p, Size: []float64{s1, s2, s3}[i], ReceiveTime: at}, at)
			if p > 0 && !math.IsInf(p, 0) {
				lo, hi = math.Min(lo, p), math.Max(hi, p)
			}
			if ok && !u.Stale && (u.Price < lo || u.Price > hi) {
				t.Fatalf("price %v outside fresh inputs [%v, %v]", u.Price, lo, hi)
			}
		}
		a.Evaluate(t0.Add(2 * time.Second))
		eth, _ := a.Latest("ETH-USD")
		b, _ := a.Latest("BTC-USD")
		if u, ok := a.Latest("ETH-BTC"); ok && !u.Stale && u.Price != eth.Price/b.Price {
			t.Fatalf("ETH-BTC %v, want %v / %v", u.Price, eth.Price, b.Price)
		}
	})
}

// A source with its own max_age stays fresh past the symbol's.
func TestSourceMaxAge(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	a := NewAggregator(PricesConfig{Symbols: []SymbolConfig{{Symbol: "ETH-USD", MinSources: 2, MaxAge: 10 * time.Second,
		SourceMaxAge: map[string]time.Duration{"oracle": time.Hour}, Method: "median"}}})
	a.Observe("oracle", Tick{Source: "oracle", Symbol: "ETH-USD", Price: 100}, t0)
	a.Observe("cex", Tick{Source: "cex", Symbol: "ETH-USD", Price: 102}, t0)
	ages := func(now time.Time) map[string]bool {
		out := map[string]bool{}
		for _, g := range a.Ages(now) {
			out[g.Source] = g.Stale
		}
		return out
	}
	got := ages(t0.Add(time.Minute))
	if got["oracle"] || !got["cex"] {
		t.Errorf("after a minute: stale %v, want only cex stale", got)
	}
	if got := ages(t0.Add(2 * time.Hour)); !got["oracle"] {
		t.Errorf("after two hours the oracle should be stale: %v", got)
	}
}
