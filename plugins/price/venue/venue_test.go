package venue

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDedup(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	tick := func(price, size float64, at time.Duration) feeds.Tick {
		tk := feeds.Tick{Symbol: "BTC-USD", Price: price, Size: size}
		if at >= 0 {
			tk.VenueTime = t0.Add(at)
		}
		return tk
	}
	tests := []struct {
		name  string
		items []Item
		keep  []bool
	}{
		{"ids increase", []Item{{Tick: tick(1, 1, 0), ID: 5}, {Tick: tick(1, 1, 0), ID: 6}}, []bool{true, true}},
		{"replayed ids", []Item{{Tick: tick(1, 1, 0), ID: 5}, {Tick: tick(2, 1, 0), ID: 6}, {Tick: tick(1, 1, 0), ID: 5}, {Tick: tick(2, 1, 0), ID: 6}, {Tick: tick(3, 1, 0), ID: 7}}, []bool{true, true, false, false, true}},
		{"older venue time", []Item{{Tick: tick(1, 0, time.Second)}, {Tick: tick(2, 0, 0)}}, []bool{true, false}},
		{"same time same price", []Item{{Tick: tick(1, 0, 0)}, {Tick: tick(1, 0, 0)}}, []bool{true, false}},
		{"same time new price", []Item{{Tick: tick(1, 0, 0)}, {Tick: tick(2, 0, 0)}}, []bool{true, true}},
		{"snapshot repeating", []Item{{Tick: tick(1, 0, 0)}, {Tick: tick(1, 0, time.Second), Snapshot: true}}, []bool{true, false}},
		{"snapshot moved", []Item{{Tick: tick(1, 0, 0)}, {Tick: tick(2, 0, time.Second), Snapshot: true}}, []bool{true, true}},
		{"update repeating price kept", []Item{{Tick: tick(1, 0, -1)}, {Tick: tick(1, 0, -1)}}, []bool{true, true}},
		{"snapshot without time", []Item{{Tick: tick(1, 0, -1)}, {Tick: tick(1, 0, -1), Snapshot: true}}, []bool{true, false}},
		{"new trade same price in snapshot", []Item{{Tick: tick(1, 1, 0), ID: 1}, {Tick: tick(1, 1, 0), ID: 2, Snapshot: true}}, []bool{true, true}},
		{"symbols apart", []Item{{Tick: tick(1, 0, 0), ID: 5}, {Tick: feeds.Tick{Symbol: "ETH-USD", Price: 1}, ID: 1}}, []bool{true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &dedup{last: map[string]lastTick{}}
			for i, it := range tt.items {
				if got := d.keep(it); got != tt.keep[i] {
					t.Fatalf("item %d (%+v): keep %v, want %v", i, it, got, tt.keep[i])
				}
			}
		})
	}
}

func TestSymbols(t *testing.T) {
	s := NewSymbols([]string{"BTC-USD", "DOGE-USD", "ETH-USD"}, map[string]string{"XDG/USD": "DOGE-USD"}, func(b, q string) string { return b + "/" + q })
	if got, want := strings.Join(s.VenueNames(), " "), "BTC/USD XDG/USD ETH/USD"; got != want {
		t.Fatalf("VenueNames = %s, want %s", got, want)
	}
	for venueName, want := range map[string]string{"BTC/USD": "BTC-USD", "XDG/USD": "DOGE-USD", "ETH/USD": "ETH-USD", "DOGE/USD": ""} {
		got, ok := s.Symbol(venueName)
		if got != want || ok != (want != "") {
			t.Errorf("Symbol(%s) = %q, %v; want %q", venueName, got, ok, want)
		}
	}
	if vn, ok := s.Venue("DOGE-USD"); !ok || vn != "XDG/USD" {
		t.Errorf("Venue(DOGE-USD) = %q, %v", vn, ok)
	}
}

func TestValidateSymbols(t *testing.T) {
	tests := []struct {
		name    string
		symbols []string
		m       map[string]string
		want    []string
	}{
		{"ok", []string{"BTC-USD", "DOGE-USD"}, map[string]string{"XDG/USD": "DOGE-USD"}, nil},
		{"bad symbol", []string{"BTC/USD"}, nil, []string{`x.symbols[0]: symbol "BTC/USD": want BASE-QUOTE`}},
		{"twice", []string{"BTC-USD", "BTC-USD"}, nil, []string{"x.symbols[1]: BTC-USD is listed twice"}},
		{"map to unlisted", []string{"BTC-USD"}, map[string]string{"XBT/USD": "XBT-USD"}, []string{"x.symbol_map.XBT/USD: XBT-USD is not one of symbols"}},
		{"map bad value", []string{"BTC-USD"}, map[string]string{"XBT/USD": "xbt"}, []string{`x.symbol_map.XBT/USD: symbol "xbt"`}},
		{"mapped twice", []string{"BTC-USD"}, map[string]string{"XBT/USD": "BTC-USD", "XXBT/USD": "BTC-USD"}, []string{"x.symbol_map.XXBT/USD: BTC-USD is already the venue's XBT/USD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ps config.Problems
			cfg := &testConfig{Symbols: tt.symbols, SymbolMap: tt.m}
			config.Decoder{}.Decode("x", map[string]any{}, cfg, &ps)
			if len(ps) != len(tt.want) {
				t.Fatalf("problems %v, want %q", ps, tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(ps[i].Error(), w) {
					t.Errorf("problem %d = %v, want %q", i, ps[i], w)
				}
			}
		})
	}
}

type testConfig struct {
	Symbols   []string
	SymbolMap map[string]string
}

func (c *testConfig) Validate(v *config.Validation) { ValidateSymbols(v, c.Symbols, c.SymbolMap) }

func TestPrice(t *testing.T) {
	tests := []struct {
		in     string
		zeroOK bool
		want   float64
		err    bool
	}{
		{"97123.45000000", false, 97123.45, false},
		{"0", true, 0, false},
		{"0", false, 0, true},
		{"-1", true, 0, true},
		{"NaN", true, 0, true},
		{"Inf", true, 0, true},
		{"1e400", true, 0, true},
		{"", true, 0, true},
		{"abc", true, 0, true},
	}
	for _, tt := range tests {
		got, err := Price(tt.in, tt.zeroOK)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("Price(%q, %v) = %v, %v", tt.in, tt.zeroOK, got, err)
		}
	}
}
