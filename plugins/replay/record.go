package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/feedd/feedd/feeds"
)

// Record is one line of a replay file:
//
//	{"ts": 1732240000123, "source": "coinbase", "symbol": "ETH-USD", "price": 3012.55, "size": 0.5, "side": "buy"}
//
// ts (Unix milliseconds), symbol and price are required; source, size and
// side are optional.
type Record struct {
	TS     int64      `json:"ts"`
	Source string     `json:"source"`
	Symbol string     `json:"symbol"`
	Price  float64    `json:"price"`
	Size   float64    `json:"size"`
	Side   feeds.Side `json:"side"`
}

// ParseRecord decodes and checks one line.
func ParseRecord(line []byte) (Record, error) {
	var r struct {
		TS     *int64   `json:"ts"`
		Source string   `json:"source"`
		Symbol string   `json:"symbol"`
		Price  *float64 `json:"price"`
		Size   float64  `json:"size"`
		Side   string   `json:"side"`
	}
	if err := json.Unmarshal(line, &r); err != nil {
		return Record{}, fmt.Errorf("decode: %w", err)
	}
	switch {
	case r.TS == nil:
		return Record{}, errors.New(`missing "ts" (Unix milliseconds)`)
	case *r.TS <= 0 || *r.TS > time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli():
		return Record{}, fmt.Errorf(`"ts" %d is not Unix milliseconds`, *r.TS)
	case r.Price == nil:
		return Record{}, errors.New(`missing "price"`)
	case !(*r.Price > 0) || math.IsInf(*r.Price, 0):
		return Record{}, fmt.Errorf(`"price" %v: want a positive number`, *r.Price)
	case !(r.Size >= 0) || math.IsInf(r.Size, 0):
		return Record{}, fmt.Errorf(`"size" %v: want zero or more`, r.Size)
	}
	if _, _, err := feeds.ParseSymbol(r.Symbol); err != nil {
		return Record{}, err
	}
	side := feeds.Side(r.Side)
	if side != feeds.SideUnknown && side != feeds.SideBuy && side != feeds.SideSell {
		return Record{}, fmt.Errorf(`"side" %q: want "buy", "sell" or nothing`, r.Side)
	}
	return Record{TS: *r.TS, Source: r.Source, Symbol: r.Symbol, Price: *r.Price, Size: r.Size, Side: side}, nil
}
