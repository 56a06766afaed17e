package feeds

import (
	"fmt"
	"slices"
	"time"

	"github.com/feedd/feedd/internal/config"
)

// PricesConfig is the prices: section: which symbols are aggregated and how
// they are published.
type PricesConfig struct {
	Symbols []SymbolConfig `yaml:"symbols" doc:"aggregated symbols, each published on prices:<symbol>"`
	Market  MarketConfig   `yaml:"market" doc:"the market:overview channel"`
}

// MaxAgeOf returns the max_age of source id: its own, else the symbol's.
func (c *SymbolConfig) MaxAgeOf(id string) time.Duration {
	if d, ok := c.SourceMaxAge[id]; ok && d > 0 {
		return d
	}
	return c.MaxAge
}

// SymbolConfig is one aggregated symbol.
type SymbolConfig struct {
	Symbol       string                   `yaml:"symbol" required:"true" doc:"the pair, BASE-QUOTE (e.g. ETH-USD)"`
	Sources      []string                 `yaml:"sources" ref:"feed" doc:"feed ids whose ticks for this symbol are aggregated; default every source that reports it"`
	Derive       DeriveConfig             `yaml:"derive" doc:"derive this symbol from other configured symbols instead of from sources (inverse or cross pair)"`
	Supply       float64                  `yaml:"supply" default:"0" min:"0" doc:"circulating supply of the base asset, for market:overview's market cap (0: unknown)"`
	MinSources   int                      `yaml:"min_sources" default:"1" min:"1" doc:"fresh sources needed for a non-stale price (quorum)"`
	MaxAge       time.Duration            `yaml:"max_age" default:"30s" min:"1ms" doc:"a source's last tick older than this is stale"`
	SourceMaxAge map[string]time.Duration `yaml:"source_max_age" doc:"max_age per source id, for sources that report less often (an oracle with a 1h heartbeat)"`
	MaxDeviation float64                  `yaml:"max_deviation" default:"0.05" min:"0" max:"1" doc:"a source further than this fraction from the median is an outlier and left out; 0 keeps all"`
	Method       string                   `yaml:"method" default:"median" enum:"median,vwap" doc:"how fresh sources within max_deviation combine: median, or vwap weighted by each source's last tick size (median when no source reports sizes)"`
	TWAP         []time.Duration          `yaml:"twap" doc:"time-weighted average windows of the aggregated price published with it, keyed as written (e.g. [1m, 5m] gives twap.1m and twap.5m)"`
	Publish      PublishConfig            `yaml:"publish" doc:"when an update is published"`
}

// DeriveConfig makes a symbol from other symbols' aggregated prices.
type DeriveConfig struct {
	From []string `yaml:"from" doc:"the input symbols: one for invert, two for divide and multiply"`
	Op   string   `yaml:"op" default:"divide" enum:"divide,multiply,invert" doc:"price = from[0] / from[1], from[0] × from[1], or 1 / from[0]"`
}

// Derived reports whether the symbol is derived from other symbols.
func (s *SymbolConfig) Derived() bool { return len(s.Derive.From) > 0 }

// PublishConfig is the publish policy of a symbol.
type PublishConfig struct {
	MinInterval time.Duration `yaml:"min_interval" default:"100ms" doc:"publish at most this often (throttle)"`
	Deviation   float64       `yaml:"deviation" default:"0" min:"0" max:"1" doc:"publish only when the price moved at least this fraction since the last publication (0: every change)"`
	Heartbeat   time.Duration `yaml:"heartbeat" default:"5s" doc:"publish at least this often even without a move (0: never)"`
}

// MarketConfig is the market:overview settings.
type MarketConfig struct {
	Interval     time.Duration `yaml:"interval" default:"1s" min:"10ms" doc:"how often market:overview is published"`
	TopMovers    int           `yaml:"top_movers" default:"5" min:"0" max:"100" doc:"how many symbols by 24h change are listed"`
	RecentTrades int           `yaml:"recent_trades" default:"20" min:"0" max:"1000" doc:"how many recent trades are listed"`
}

// Validate checks symbols, duplicates and quorums.
func (c *PricesConfig) Validate(v *config.Validation) {
	seen := map[string]int{}
	for i, s := range c.Symbols {
		p := fmt.Sprintf("symbols[%d]", i)
		if s.Symbol == "" {
			continue
		}
		if _, _, err := ParseSymbol(s.Symbol); err != nil {
			v.Errorf(p+".symbol", "%v", err)
		} else if j, dup := seen[s.Symbol]; dup {
			v.Errorf(p+".symbol", "duplicate symbol %q: symbols[%d] already configures it", s.Symbol, j)
		} else {
			seen[s.Symbol] = i
		}
		if len(s.Sources) > 0 && s.MinSources > len(s.Sources) {
			v.Errorf(p+".min_sources", "%d is more than the %d sources listed", s.MinSources, len(s.Sources))
		}
		if _, q, err := ParseSymbol(s.Symbol); err == nil && s.Supply > 0 && q != "USD" {
			v.Errorf(p+".supply", "market cap is summed over USD-quoted symbols; %s is quoted in %s", s.Symbol, q)
		}
		if s.Derived() {
			want := 2
			if s.Derive.Op == "invert" {
				want = 1
			}
			if len(s.Derive.From) != want {
				v.Errorf(p+".derive.from", "op %s takes %d symbols, got %d", s.Derive.Op, want, len(s.Derive.From))
			}
			if len(s.Sources) > 0 {
				v.Errorf(p+".sources", "a derived symbol takes no sources: its inputs are derive.from")
			}
			for j, f := range s.Derive.From {
				fp := fmt.Sprintf("%s.derive.from[%d]", p, j)
				k := slices.IndexFunc(c.Symbols, func(o SymbolConfig) bool { return o.Symbol == f })
				switch {
				case f == s.Symbol:
					v.Errorf(fp, "%q derives from itself", f)
				case k < 0:
					v.Errorf(fp, "%q is not a configured symbol", f)
				case c.Symbols[k].Derived():
					v.Errorf(fp, "%q is itself derived; derive from source-fed symbols", f)
				}
			}
		}
		for j, w := range s.TWAP {
			if w <= 0 {
				v.Errorf(fmt.Sprintf("%s.twap[%d]", p, j), "want a window longer than 0")
			}
		}
	}
}
