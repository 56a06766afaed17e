package feeds

import (
	"fmt"
	"time"

	"github.com/feedd/feedd/internal/config"
)

// PricesConfig is the prices: section: which symbols are aggregated and how
// they are published.
type PricesConfig struct {
	Symbols []SymbolConfig `yaml:"symbols" doc:"aggregated symbols, each published on prices:<symbol>"`
	Market  MarketConfig   `yaml:"market" doc:"the market:overview channel"`
}

// SymbolConfig is one aggregated symbol.
type SymbolConfig struct {
	Symbol       string          `yaml:"symbol" required:"true" doc:"the pair, BASE-QUOTE (e.g. ETH-USD)"`
	Sources      []string        `yaml:"sources" ref:"feed" doc:"feed ids whose ticks for this symbol are aggregated; default every source that reports it"`
	MinSources   int             `yaml:"min_sources" default:"1" min:"1" doc:"fresh sources needed for a non-stale price (quorum)"`
	MaxAge       time.Duration   `yaml:"max_age" default:"30s" min:"1ms" doc:"a source's last tick older than this is stale"`
	MaxDeviation float64         `yaml:"max_deviation" default:"0.05" min:"0" max:"1" doc:"a source further than this fraction from the median is an outlier and left out; 0 keeps all"`
	Method       string          `yaml:"method" default:"median" enum:"median,vwap" doc:"how fresh sources combine"`
	TWAP         []time.Duration `yaml:"twap" doc:"time-weighted average windows published with the price (e.g. [1m, 5m])"`
	Publish      PublishConfig   `yaml:"publish" doc:"when an update is published"`
}

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
		for j, w := range s.TWAP {
			if w <= 0 {
				v.Errorf(fmt.Sprintf("%s.twap[%d]", p, j), "want a window longer than 0")
			}
		}
	}
}
