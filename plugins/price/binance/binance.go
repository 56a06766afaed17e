// Package binance is the price.binance plugin: Binance spot market streams
// (trade or bookTicker) over one combined-stream connection. Binance pings
// the client every few minutes and coder/websocket answers while reading;
// connections are cut after 24 hours, so the source reconnects before.
package binance

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
	"github.com/feedd/feedd/plugins/price/venue"
)

// DefaultURL is Binance's combined-stream endpoint (the streams query is
// added).
const DefaultURL = "wss://stream.binance.com:9443/stream"

// Config is price.binance's configuration.
type Config struct {
	URL              string            `yaml:"url" default:"wss://stream.binance.com:9443/stream" doc:"combined-stream endpoint; ?streams=... is added"`
	Symbols          []string          `yaml:"symbols" required:"true" doc:"symbols as BASE-QUOTE; the venue name is BASE+QUOTE (BTC-USDT -> BTCUSDT) unless symbol_map names it"`
	SymbolMap        map[string]string `yaml:"symbol_map" doc:"venue symbol (e.g. BTCUSDT) -> BASE-QUOTE, for names that are not BASE+QUOTE"`
	Stream           string            `yaml:"stream" default:"trade" enum:"trade,bookTicker" doc:"trade (every trade, with size and aggressor side) or bookTicker (mid of best bid and ask)"`
	Source           string            `yaml:"source" doc:"source id on the ticks; default the instance id"`
	ReadTimeout      time.Duration     `yaml:"read_timeout" default:"1m" min:"1ms" doc:"reconnect when neither a message nor a pong arrives for this long"`
	PingInterval     time.Duration     `yaml:"ping_interval" default:"30s" doc:"ping a quiet connection this often (0: never; Binance pings the client itself)"`
	MaxConnectionAge time.Duration     `yaml:"max_connection_age" default:"23h" doc:"reconnect before Binance's 24h connection limit"`
	ReconnectMin     time.Duration     `yaml:"reconnect_min" default:"1s" min:"1ms" doc:"first reconnect delay (doubling, with jitter)"`
	ReconnectMax     time.Duration     `yaml:"reconnect_max" default:"1m" min:"1ms" doc:"longest reconnect delay"`
}

// Validate checks the symbols and the URL.
func (c *Config) Validate(v *config.Validation) {
	venue.ValidateSymbols(v, c.Symbols, upperKeys(c.SymbolMap))
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		v.Errorf("url", "%q: want a ws:// or wss:// URL", c.URL)
	}
	if c.ReconnectMax < c.ReconnectMin {
		v.Errorf("reconnect_max", "%v is below reconnect_min %v", c.ReconnectMax, c.ReconnectMin)
	}
}

func upperKeys(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToUpper(k)] = v
	}
	return out
}

//go:embed example.yaml
var example string

func init() {
	plugins.Register(plugins.Type{
		Name:       "price.binance",
		Kind:       plugins.KindSource,
		Doc:        "Binance spot trade or bookTicker streams over one combined-stream WebSocket",
		Config:     func() any { return &Config{} },
		Example:    example,
		StallAfter: 2 * time.Minute,
		NewSource: func(cfg any, env plugins.Env) (plugins.Instance, error) {
			c := *cfg.(*Config)
			if c.Source == "" {
				c.Source = env.ID
			}
			return &Source{cfg: c, env: env}, nil
		},
	})
}

// Source is one price.binance instance.
type Source struct {
	cfg Config
	env plugins.Env
}

// Run streams until ctx ends.
func (s *Source) Run(ctx context.Context, h *plugins.Host) error {
	return venue.Run(ctx, h, NewDecoder(s.cfg), venue.Options{
		Source:         s.cfg.Source,
		Meter:          s.env.Meter,
		Plugin:         s.env.ID,
		Type:           "price.binance",
		ReadTimeout:    s.cfg.ReadTimeout,
		PingInterval:   s.cfg.PingInterval,
		MaxConnAge:     s.cfg.MaxConnectionAge,
		ReadyOnConnect: true, // subscribed by the URL; Binance sends no ack
		Backoff:        backoff.Policy{Initial: s.cfg.ReconnectMin, Max: s.cfg.ReconnectMax},
	})
}

// Decoder speaks Binance's combined streams; it implements venue.Adapter.
type Decoder struct {
	url     string
	stream  string
	symbols *venue.Symbols
}

// NewDecoder returns the adapter for cfg (already validated).
func NewDecoder(cfg Config) *Decoder {
	if cfg.Stream == "" {
		cfg.Stream = "trade"
	}
	syms := venue.NewSymbols(cfg.Symbols, upperKeys(cfg.SymbolMap), func(b, q string) string { return b + q })
	names := syms.VenueNames()
	streams := make([]string, len(names))
	for i, n := range names {
		streams[i] = strings.ToLower(n) + "@" + cfg.Stream
	}
	u := cfg.URL
	if strings.Contains(u, "?") {
		u += "&"
	} else {
		u += "?"
	}
	return &Decoder{url: u + "streams=" + strings.Join(streams, "/"), stream: cfg.Stream, symbols: syms}
}

// URL returns the combined-stream URL, e.g.
// wss://stream.binance.com:9443/stream?streams=btcusdt@trade/ethusdt@trade.
func (d *Decoder) URL() string { return d.url }

// Subscribe returns nothing: the URL names the streams.
func (d *Decoder) Subscribe() ([][]byte, error) { return nil, nil }

// Reset does nothing: Binance has no per-connection sequence.
func (d *Decoder) Reset() {}

type envelope struct {
	Stream string          `json:"stream"`
	Data   json.RawMessage `json:"data"`
	// Errors: {"code":2,"msg":"..."} or {"error":{"code":..,"msg":..},"id":..}.
	Code  *int   `json:"code"`
	Msg   string `json:"msg"`
	Error *struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"error"`
	Result json.RawMessage `json:"result"`
	ID     json.RawMessage `json:"id"`
}

type payload struct {
	Event     string `json:"e"`
	EventTime int64  `json:"E"`
	Symbol    string `json:"s"`
	TradeID   int64  `json:"t"`
	Price     string `json:"p"`
	Qty       string `json:"q"`
	TradeTime int64  `json:"T"`
	Maker     bool   `json:"m"`
	UpdateID  int64  `json:"u"`
	Bid       string `json:"b"`
	Ask       string `json:"a"`
	// encoding/json matches keys case-insensitively unless a field has the
	// exact name: these keep "M", "B" and "A" out of "m", "b" and "a".
	Ignore  json.RawMessage `json:"M"`
	BidQty  json.RawMessage `json:"B"`
	AskQty  json.RawMessage `json:"A"`
	UpdateU json.RawMessage `json:"U"`
}

// Decode interprets one message.
func (d *Decoder) Decode(msg []byte) (venue.Result, error) {
	var env envelope
	if err := json.Unmarshal(msg, &env); err != nil {
		return venue.Result{}, fmt.Errorf("binance: decode: %w", err)
	}
	switch {
	case env.Error != nil:
		return venue.Result{Alive: true}, fmt.Errorf("binance: error %d: %s", env.Error.Code, env.Error.Msg)
	case env.Code != nil:
		return venue.Result{Alive: true}, fmt.Errorf("binance: error %d: %s", *env.Code, env.Msg)
	case len(env.Data) == 0:
		if len(env.ID) > 0 {
			return venue.Result{Alive: true}, nil // a reply to a request
		}
		return venue.Result{}, errors.New("binance: message without data")
	}
	var p payload
	if err := json.Unmarshal(env.Data, &p); err != nil {
		return venue.Result{}, fmt.Errorf("binance: %s: %w", env.Stream, err)
	}
	sym, ok := d.symbols.Symbol(p.Symbol)
	if !ok {
		return venue.Result{Alive: true}, nil
	}
	switch {
	case p.Event == "trade":
		price, err := venue.Price(p.Price, false)
		if err != nil {
			return venue.Result{}, fmt.Errorf("binance: %s trade price: %w", p.Symbol, err)
		}
		qty, err := venue.Price(p.Qty, true)
		if err != nil {
			return venue.Result{}, fmt.Errorf("binance: %s trade quantity: %w", p.Symbol, err)
		}
		side := feeds.SideBuy
		if p.Maker { // the buyer was the maker: a seller took the bid
			side = feeds.SideSell
		}
		return venue.Result{Items: []venue.Item{{
			Tick: feeds.Tick{Symbol: sym, Price: price, Size: qty, Side: side, VenueTime: millis(p.TradeTime)},
			ID:   max(p.TradeID, 0),
		}}}, nil
	case p.Event == "" && p.UpdateID != 0 || p.Event == "bookTicker":
		bid, err := venue.Price(p.Bid, false)
		if err != nil {
			return venue.Result{}, fmt.Errorf("binance: %s bid: %w", p.Symbol, err)
		}
		ask, err := venue.Price(p.Ask, false)
		if err != nil {
			return venue.Result{}, fmt.Errorf("binance: %s ask: %w", p.Symbol, err)
		}
		mid, err := venue.Check(bid/2+ask/2, false)
		if err != nil {
			return venue.Result{}, fmt.Errorf("binance: %s mid: %w", p.Symbol, err)
		}
		return venue.Result{Items: []venue.Item{{
			Tick: feeds.Tick{Symbol: sym, Price: mid, VenueTime: millis(p.EventTime)},
			ID:   max(p.UpdateID, 0),
		}}}, nil
	}
	return venue.Result{Alive: true}, nil // another event type
}

func millis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
