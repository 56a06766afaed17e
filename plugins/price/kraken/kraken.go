// Package kraken is the price.kraken plugin: Kraken's WebSocket v2 public
// ticker or trade channel. Kraken sends a heartbeat every second on a
// subscribed connection and a status message on connect.
package kraken

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
	"github.com/feedd/feedd/plugins/price/venue"
)

// DefaultURL is Kraken's public WebSocket v2 endpoint.
const DefaultURL = "wss://ws.kraken.com/v2"

// Config is price.kraken's configuration.
type Config struct {
	URL          string            `yaml:"url" default:"wss://ws.kraken.com/v2" doc:"WebSocket v2 endpoint"`
	Symbols      []string          `yaml:"symbols" required:"true" doc:"symbols as BASE-QUOTE; the venue name is BASE/QUOTE (BTC-USD -> BTC/USD) unless symbol_map names it"`
	SymbolMap    map[string]string `yaml:"symbol_map" doc:"venue pair (e.g. XBT/USD) -> BASE-QUOTE, for pairs not named BASE/QUOTE"`
	Channel      string            `yaml:"channel" default:"ticker" enum:"ticker,trade" doc:"ticker (last trade price, on every trade) or trade (every trade, with size and side)"`
	Source       string            `yaml:"source" doc:"source id on the ticks; default the instance id"`
	ReadTimeout  time.Duration     `yaml:"read_timeout" default:"30s" min:"1ms" doc:"reconnect when the venue sends nothing (not even a heartbeat) for this long"`
	ReconnectMin time.Duration     `yaml:"reconnect_min" default:"1s" min:"1ms" doc:"first reconnect delay (doubling, with jitter)"`
	ReconnectMax time.Duration     `yaml:"reconnect_max" default:"1m" min:"1ms" doc:"longest reconnect delay"`
}

// Validate checks the symbols.
func (c *Config) Validate(v *config.Validation) {
	venue.ValidateSymbols(v, c.Symbols, c.SymbolMap)
	if c.ReconnectMax < c.ReconnectMin {
		v.Errorf("reconnect_max", "%v is below reconnect_min %v", c.ReconnectMax, c.ReconnectMin)
	}
}

//go:embed example.yaml
var example string

func init() {
	plugins.Register(plugins.Type{
		Name:       "price.kraken",
		Kind:       plugins.KindSource,
		Doc:        "Kraken WebSocket v2 ticker or trades",
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

// Source is one price.kraken instance.
type Source struct {
	cfg Config
	env plugins.Env
}

// Run streams until ctx ends.
func (s *Source) Run(ctx context.Context, h *plugins.Host) error {
	return venue.Run(ctx, h, NewDecoder(s.cfg), venue.Options{
		Source:      s.cfg.Source,
		Meter:       s.env.Meter,
		Plugin:      s.env.ID,
		Type:        "price.kraken",
		ReadTimeout: s.cfg.ReadTimeout,
		Backoff:     backoff.Policy{Initial: s.cfg.ReconnectMin, Max: s.cfg.ReconnectMax},
	})
}

// Decoder speaks Kraken WebSocket v2; it implements venue.Adapter.
type Decoder struct {
	url     string
	channel string
	symbols *venue.Symbols
}

// NewDecoder returns the adapter for cfg (already validated).
func NewDecoder(cfg Config) *Decoder {
	if cfg.Channel == "" {
		cfg.Channel = "ticker"
	}
	return &Decoder{
		url:     cfg.URL,
		channel: cfg.Channel,
		symbols: venue.NewSymbols(cfg.Symbols, cfg.SymbolMap, func(b, q string) string { return b + "/" + q }),
	}
}

// URL returns the endpoint.
func (d *Decoder) URL() string { return d.url }

// Reset does nothing: v2 public channels carry no sequence.
func (d *Decoder) Reset() {}

// Subscribe returns the channel's subscription for every symbol.
func (d *Decoder) Subscribe() ([][]byte, error) {
	type params struct {
		Channel string   `json:"channel"`
		Symbol  []string `json:"symbol"`
	}
	msg, err := json.Marshal(struct {
		Method string `json:"method"`
		Params params `json:"params"`
	}{"subscribe", params{d.channel, d.symbols.VenueNames()}})
	if err != nil {
		return nil, err
	}
	return [][]byte{msg}, nil
}

type message struct {
	Method  string          `json:"method"`
	Success *bool           `json:"success"`
	Error   string          `json:"error"`
	Symbol  string          `json:"symbol"`
	Channel string          `json:"channel"`
	Type    string          `json:"type"`
	Data    json.RawMessage `json:"data"`
}

type tickerData struct {
	Symbol    string   `json:"symbol"`
	Last      *float64 `json:"last"`
	Timestamp string   `json:"timestamp"`
}

type tradeData struct {
	Symbol    string   `json:"symbol"`
	Side      string   `json:"side"`
	Price     *float64 `json:"price"`
	Qty       float64  `json:"qty"`
	TradeID   int64    `json:"trade_id"`
	Timestamp string   `json:"timestamp"`
}

// Decode interprets one message.
func (d *Decoder) Decode(msg []byte) (venue.Result, error) {
	var m message
	if err := json.Unmarshal(msg, &m); err != nil {
		return venue.Result{}, fmt.Errorf("kraken: decode: %w", err)
	}
	if m.Method != "" {
		switch {
		case m.Success == nil: // pong
			return venue.Result{Alive: true}, nil
		case *m.Success:
			return venue.Result{Alive: true, Subscribed: m.Method == "subscribe"}, nil
		case m.Method == "subscribe":
			err := fmt.Errorf("kraken: subscribe %s: %s", m.Symbol, m.Error)
			if strings.Contains(m.Error, "not supported") || strings.Contains(m.Error, "not found") {
				return venue.Result{}, venue.Fatal(err) // the pair does not exist
			}
			return venue.Result{}, venue.Reconnect(err)
		default:
			return venue.Result{Alive: true}, fmt.Errorf("kraken: %s: %s", m.Method, m.Error)
		}
	}
	switch m.Channel {
	case "heartbeat":
		return venue.Result{Alive: true}, nil
	case "status":
		var st []struct {
			System string `json:"system"`
		}
		if err := json.Unmarshal(m.Data, &st); err != nil {
			return venue.Result{Alive: true}, fmt.Errorf("kraken: status: %w", err)
		}
		for _, s := range st {
			if s.System != "online" {
				return venue.Result{Alive: true}, fmt.Errorf("kraken: system status %q", s.System)
			}
		}
		return venue.Result{Alive: true}, nil
	case "ticker":
		return d.ticker(m)
	case "trade":
		return d.trades(m)
	case "":
		return venue.Result{}, errors.New("kraken: message without channel or method")
	}
	return venue.Result{Alive: true}, nil
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func (d *Decoder) ticker(m message) (venue.Result, error) {
	var data []tickerData
	if err := json.Unmarshal(m.Data, &data); err != nil {
		return venue.Result{}, fmt.Errorf("kraken: ticker: %w", err)
	}
	var res venue.Result
	var errs []error
	for _, tk := range data {
		sym, ok := d.symbols.Symbol(tk.Symbol)
		if !ok {
			continue
		}
		if tk.Last == nil {
			errs = append(errs, fmt.Errorf("kraken: %s ticker without last", tk.Symbol))
			continue
		}
		p, err := venue.Check(*tk.Last, false)
		if err != nil {
			errs = append(errs, fmt.Errorf("kraken: %s last: %w", tk.Symbol, err))
			continue
		}
		at, err := parseTime(tk.Timestamp)
		if err != nil {
			errs = append(errs, fmt.Errorf("kraken: %s timestamp: %w", tk.Symbol, err))
			continue
		}
		res.Items = append(res.Items, venue.Item{Tick: feeds.Tick{Symbol: sym, Price: p, VenueTime: at}, Snapshot: m.Type == "snapshot"})
	}
	return res, errors.Join(errs...)
}

func (d *Decoder) trades(m message) (venue.Result, error) {
	var data []tradeData
	if err := json.Unmarshal(m.Data, &data); err != nil {
		return venue.Result{}, fmt.Errorf("kraken: trade: %w", err)
	}
	var res venue.Result
	var errs []error
	for _, tr := range data {
		sym, ok := d.symbols.Symbol(tr.Symbol)
		if !ok {
			continue
		}
		if tr.Price == nil {
			errs = append(errs, fmt.Errorf("kraken: %s trade without price", tr.Symbol))
			continue
		}
		p, err := venue.Check(*tr.Price, false)
		if err != nil {
			errs = append(errs, fmt.Errorf("kraken: %s trade price: %w", tr.Symbol, err))
			continue
		}
		q, err := venue.Check(tr.Qty, true)
		if err != nil {
			errs = append(errs, fmt.Errorf("kraken: %s trade qty: %w", tr.Symbol, err))
			continue
		}
		at, err := parseTime(tr.Timestamp)
		if err != nil {
			errs = append(errs, fmt.Errorf("kraken: %s trade timestamp: %w", tr.Symbol, err))
			continue
		}
		var side feeds.Side
		switch tr.Side {
		case "buy":
			side = feeds.SideBuy
		case "sell":
			side = feeds.SideSell
		}
		res.Items = append(res.Items, venue.Item{
			Tick:     feeds.Tick{Symbol: sym, Price: p, Size: q, Side: side, VenueTime: at},
			ID:       max(tr.TradeID, 0),
			Snapshot: m.Type == "snapshot",
		})
	}
	sort.SliceStable(res.Items, func(i, j int) bool { return res.Items[i].ID < res.Items[j].ID })
	return res, errors.Join(errs...)
}
