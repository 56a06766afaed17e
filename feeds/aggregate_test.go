package feeds

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

func symCfg(mut func(*SymbolConfig)) PricesConfig {
	s := SymbolConfig{Symbol: "ETH-USD", MinSources: 1, MaxAge: 10 * time.Second, MaxDeviation: 0.05, Method: "median",
		Publish: PublishConfig{MinInterval: 0, Heartbeat: 0}}
	if mut != nil {
		mut(&s)
	}
	return PricesConfig{Symbols: []SymbolConfig{s}}
}

func tick(src string, price float64, at time.Time) Tick {
	return Tick{Source: src, Symbol: "ETH-USD", Price: price, ReceiveTime: at}
}

func TestMedianAndOutliers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		prices   []float64
		want     float64
		outliers []bool
	}{
		{"one", []float64{3000}, 3000, []bool{false}},
		{"odd", []float64{3000, 3010, 3005}, 3005, []bool{false, false, false}},
		{"even", []float64{3000, 3010, 3004, 3006}, 3005, []bool{false, false, false, false}},
		{"outlier left out", []float64{3000, 3002, 3004, 4000}, 3002, []bool{false, false, false, true}},
		{"low outlier", []float64{1, 3000, 3001}, 3000.5, []bool{true, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAggregator(symCfg(nil))
			var u PriceUpdate
			var ok bool
			for i, p := range tc.prices {
				u, ok = a.Observe("feed", tick(string(rune('a'+i)), p, t0), t0)
			}
			if !ok && len(tc.prices) > 0 {
				u, _ = a.Latest("ETH-USD")
			}
			if u.Price != tc.want || u.Stale {
				t.Fatalf("price %v stale %v, want %v", u.Price, u.Stale, tc.want)
			}
			for i, s := range u.Sources {
				if s.Outlier != tc.outliers[i] {
					t.Fatalf("source %s outlier=%v, want %v", s.ID, s.Outlier, tc.outliers[i])
				}
			}
		})
	}
}

func TestStalenessTransitions(t *testing.T) {
	a := NewAggregator(symCfg(func(s *SymbolConfig) { s.MinSources = 2 }))
	if _, ok := a.Observe("f", tick("a", 3000, t0), t0); ok {
		t.Fatal("published with one source and no good price yet")
	}
	u, ok := a.Observe("f", tick("b", 3010, t0.Add(time.Second)), t0.Add(time.Second))
	if !ok || u.Stale || u.Price != 3005 {
		t.Fatalf("fresh: %+v %v", u, ok)
	}
	// a's tick is 10s old at t0+10s (fresh, <= max_age) and stale after.
	if ups := a.Evaluate(t0.Add(10 * time.Second)); len(ups) != 0 {
		t.Fatalf("nothing changed at 10s, got %+v", ups)
	}
	ups := a.Evaluate(t0.Add(10*time.Second + time.Millisecond))
	if len(ups) != 1 || !ups[0].Stale || ups[0].Price != 3005 || !ups[0].Sources[0].Stale || ups[0].Sources[1].Stale {
		t.Fatalf("stale transition: %+v", ups)
	}
	// a comes back: fresh again with the new median.
	u, ok = a.Observe("f", tick("a", 3020, t0.Add(11*time.Second)), t0.Add(11*time.Second))
	if !ok || u.Stale || u.Price != 3015 {
		t.Fatalf("fresh again: %+v %v", u, ok)
	}
}

func TestPublishPolicy(t *testing.T) {
	t.Run("throttle holds a change until min_interval", func(t *testing.T) {
		a := NewAggregator(symCfg(func(s *SymbolConfig) { s.Publish.MinInterval = time.Second }))
		if _, ok := a.Observe("f", tick("a", 100, t0), t0); !ok {
			t.Fatal("first price not published")
		}
		if _, ok := a.Observe("f", tick("a", 101, t0.Add(300*time.Millisecond)), t0.Add(300*time.Millisecond)); ok {
			t.Fatal("published within min_interval")
		}
		if ups := a.Evaluate(t0.Add(999 * time.Millisecond)); len(ups) != 0 {
			t.Fatal("published before min_interval")
		}
		ups := a.Evaluate(t0.Add(time.Second))
		if len(ups) != 1 || ups[0].Price != 101 {
			t.Fatalf("held change not published at min_interval: %+v", ups)
		}
	})
	t.Run("deviation", func(t *testing.T) {
		a := NewAggregator(symCfg(func(s *SymbolConfig) { s.Publish.Deviation = 0.01 }))
		a.Observe("f", tick("a", 100, t0), t0)
		if _, ok := a.Observe("f", tick("a", 100.9, t0.Add(time.Second)), t0.Add(time.Second)); ok {
			t.Fatal("published a 0.9% move with deviation 1%")
		}
		if u, ok := a.Observe("f", tick("a", 101, t0.Add(2*time.Second)), t0.Add(2*time.Second)); !ok || u.Price != 101 {
			t.Fatal("1% move not published")
		}
	})
	t.Run("heartbeat", func(t *testing.T) {
		a := NewAggregator(symCfg(func(s *SymbolConfig) { s.Publish.Heartbeat = 5 * time.Second; s.MaxAge = time.Hour }))
		a.Observe("f", tick("a", 100, t0), t0)
		if ups := a.Evaluate(t0.Add(4 * time.Second)); len(ups) != 0 {
			t.Fatal("heartbeat too early")
		}
		ups := a.Evaluate(t0.Add(5 * time.Second))
		if len(ups) != 1 || ups[0].Price != 100 || ups[0].TS != t0.Add(5*time.Second).UnixMilli() {
			t.Fatalf("heartbeat: %+v", ups)
		}
	})
	t.Run("sources filter", func(t *testing.T) {
		a := NewAggregator(symCfg(func(s *SymbolConfig) { s.Sources = []string{"cb"} }))
		if _, ok := a.Observe("other", tick("x", 100, t0), t0); ok {
			t.Fatal("tick from an unlisted feed used")
		}
		if _, ok := a.Observe("cb", tick("", 100, t0), t0); !ok {
			t.Fatal("tick from a listed feed ignored")
		}
		if u, _ := a.Latest("ETH-USD"); u.Sources[0].ID != "cb" {
			t.Fatalf("source id: %+v", u.Sources)
		}
	})
}

// FuzzAggregatorRange checks that a published, non-stale price lies within
// the range of the fresh inputs.
func FuzzAggregatorRange(f *testing.F) {
	f.Add(100.0, 101.0, 250.0, uint8(3), 0.05)
	f.Add(1.0, 1e9, 5.0, uint8(1), 0.0)
	f.Fuzz(func(t *testing.T, p1, p2, p3 float64, minSources uint8, dev float64) {
		if dev < 0 || dev > 1 || math.IsNaN(dev) {
			return
		}
		a := NewAggregator(symCfg(func(s *SymbolConfig) { s.MinSources = int(minSources%3) + 1; s.MaxDeviation = dev }))
		lo, hi := math.Inf(1), math.Inf(-1)
		for i, p := range []float64{p1, p2, p3} {
			at := t0.Add(time.Duration(i) * time.Second)
			u, ok := a.Observe("f", tick(string(rune('a'+i)), p, at), at)
			if p > 0 && !math.IsInf(p, 0) {
				lo, hi = math.Min(lo, p), math.Max(hi, p)
			}
			if ok && !u.Stale && (u.Price < lo || u.Price > hi) {
				t.Fatalf("price %v outside fresh inputs [%v, %v]", u.Price, lo, hi)
			}
		}
	})
}
