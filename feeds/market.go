package feeds

import (
	"math"
	"slices"
	"time"
)

// MarketOverview is the data of a market:overview publication (PROTOCOL.md).
type MarketOverview struct {
	// TotalMarketCap is Σ supply × price over the USD-quoted symbols that
	// configure a supply.
	TotalMarketCap float64 `json:"totalMarketCap"`
	// TotalVolume is Σ volume24h over the USD-quoted symbols, in USD.
	TotalVolume float64 `json:"totalVolume"`
	// BTCDominance is BTC's share of TotalMarketCap (0..1), when BTC-USD is
	// configured with a supply; omitted otherwise.
	BTCDominance *float64 `json:"btcDominance,omitempty"`
	// TopMovers are the symbols with the largest |change24h|, at most
	// market.top_movers.
	TopMovers []Mover `json:"topMovers"`
	// RecentTrades are the last ticks that carried a size, newest first, at
	// most market.recent_trades.
	RecentTrades []Trade `json:"recentTrades"`
	TS           int64   `json:"ts"`
}

// Mover is one entry of MarketOverview.TopMovers.
type Mover struct {
	Symbol    string  `json:"symbol"`
	Price     float64 `json:"price"`
	Change24h float64 `json:"change24h"`
}

// Trade is one entry of MarketOverview.RecentTrades.
type Trade struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
	Size   float64 `json:"size"`
	Side   Side    `json:"side,omitempty"`
	Source string  `json:"source"`
	TS     int64   `json:"ts"`
}

// tradeRing keeps the last trades in a fixed array.
type tradeRing struct {
	buf  []Trade
	next int
	n    int
}

func (r *tradeRing) init(size int) { r.buf = make([]Trade, max(size, 0)) }

func (r *tradeRing) add(t Trade) {
	if len(r.buf) == 0 {
		return
	}
	r.buf[r.next] = t
	r.next = (r.next + 1) % len(r.buf)
	r.n = min(r.n+1, len(r.buf))
}

// newest returns the trades, newest first.
func (r *tradeRing) newest() []Trade {
	out := make([]Trade, 0, r.n)
	for i := 1; i <= r.n; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}

// isUSD reports whether symbol is quoted in USD.
func isUSD(symbol string) bool {
	_, q, err := ParseSymbol(symbol)
	return err == nil && q == "USD"
}

// Overview computes the market overview at now from the symbols' last good
// prices. Symbols without a good price yet are left out.
func (a *Aggregator) Overview(now time.Time) MarketOverview {
	o := MarketOverview{TS: now.UnixMilli(), TopMovers: []Mover{}, RecentTrades: a.trades.newest()}
	ns := now.UnixNano()
	var btcCap float64
	btc := false
	var movers []Mover
	for _, st := range a.states {
		if st.good == 0 {
			continue
		}
		change, volume := st.day.stats(ns, st.good)
		movers = append(movers, Mover{Symbol: st.cfg.Symbol, Price: st.good, Change24h: change})
		if !isUSD(st.cfg.Symbol) {
			continue
		}
		o.TotalVolume += volume
		if st.cfg.Supply > 0 {
			mc := st.cfg.Supply * st.good
			o.TotalMarketCap += mc
			if st.cfg.Symbol == "BTC-USD" {
				btcCap, btc = mc, true
			}
		}
	}
	if btc && o.TotalMarketCap > 0 {
		d := btcCap / o.TotalMarketCap
		o.BTCDominance = &d
	}
	slices.SortStableFunc(movers, func(x, y Mover) int {
		ax, ay := math.Abs(x.Change24h), math.Abs(y.Change24h)
		switch {
		case ax > ay:
			return -1
		case ax < ay:
			return 1
		}
		return 0
	})
	if n := min(len(movers), a.market.TopMovers); n > 0 {
		o.TopMovers = movers[:n]
	}
	return o
}
