package feeds

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkAggregator measures ticks per second through Observe with 100
// symbols × 5 sources and three TWAP windows, with the default publish
// policy (min_interval 100ms, heartbeat 5s) and time moving 500ns per tick
// (2,000,000 ticks/s). Every tick moves its source's price, so the
// aggregated price and the TWAP history change on nearly every tick.
func BenchmarkAggregator(b *testing.B) {
	const symbols, sources = 100, 5
	cfg := PricesConfig{Market: MarketConfig{Interval: time.Second, TopMovers: 5, RecentTrades: 20}}
	for i := range symbols {
		cfg.Symbols = append(cfg.Symbols, SymbolConfig{
			Symbol: fmt.Sprintf("S%d-USD", i), MinSources: 3, MaxAge: 30 * time.Second, MaxDeviation: 0.05, Method: "median",
			TWAP:    []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute},
			Publish: PublishConfig{MinInterval: 100 * time.Millisecond, Heartbeat: 5 * time.Second},
		})
	}
	var srcIDs [sources]string
	for j := range sources {
		srcIDs[j] = fmt.Sprintf("venue%d", j)
	}
	ticks := make([]Tick, 1<<16)
	for i := range ticks {
		s, j := i%symbols, (i/symbols)%sources
		ticks[i] = Tick{Source: srcIDs[j], Symbol: cfg.Symbols[s].Symbol,
			Price: 1000 + float64(s) + float64(i%97)/100, Size: float64(i%3) / 2, Side: SideBuy}
	}
	a := NewAggregator(cfg)
	now := t0
	const step = 500 * time.Nanosecond
	// Warm up: every source seen, rings grown to their steady size.
	for i := 0; i < 4<<20; i++ {
		now = now.Add(step)
		tk := ticks[i&(len(ticks)-1)]
		tk.ReceiveTime = now
		a.Observe("feed", tk, now)
	}
	published := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(step)
		tk := ticks[i&(len(ticks)-1)]
		tk.ReceiveTime = now
		if _, ok := a.Observe("feed", tk, now); ok {
			published++
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ticks/s")
	b.ReportMetric(float64(published)/float64(b.N), "pubs/tick")
}

// TestObserveDoesNotAllocate checks that a tick that publishes nothing
// allocates nothing once the symbol has seen its sources.
func TestObserveDoesNotAllocate(t *testing.T) {
	a := NewAggregator(symCfg(func(s *SymbolConfig) {
		s.TWAP = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}
		s.Publish.MinInterval = time.Hour
		s.MaxAge = time.Hour
	}))
	now := t0
	for i := 0; i < 5000; i++ { // grow the TWAP ring and the minute buckets
		now = now.Add(time.Millisecond)
		a.Observe("f", sized(string(rune('a'+i%5)), 100+float64(i%7), 1, now), now)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		i++
		now = now.Add(time.Millisecond)
		a.Observe("f", sized("c", 100+float64(i%7), 1, now), now)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per tick", allocs)
	}
}
