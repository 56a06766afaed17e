// Package coinbase is the price.coinbase plugin: Coinbase Advanced Trade's
// public WebSocket market data (ticker or market_trades channel, with the
// heartbeats channel keeping the connection alive and sequence_num gap
// detection).
package coinbase

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
	"github.com/feedd/feedd/plugins/price/venue"
)

// DefaultURL is Coinbase Advanced Trade's public market data endpoint.
const DefaultURL = "wss://advanced-trade-ws.coinbase.com"

// Config is price.coinbase's configuration.
type Config struct {
	URL          string            `yaml:"url" default:"wss://advanced-trade-ws.coinbase.com" doc:"WebSocket endpoint"`
	Symbols      []string          `yaml:"symbols" required:"true" doc:"symbols to subscribe, as BASE-QUOTE (the product id, unless symbol_map names it)"`
	SymbolMap    map[string]string `yaml:"symbol_map" doc:"venue product id -> BASE-QUOTE, for products whose id is not the symbol"`
	Channel      string            `yaml:"channel" default:"ticker" enum:"ticker,market_trades" doc:"ticker (last trade price) or market_trades (every trade, with size and side)"`
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
		Name:       "price.coinbase",
		Kind:       plugins.KindSource,
		Doc:        "Coinbase Advanced Trade WebSocket ticker or trades",
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

// Source is one price.coinbase instance.
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
		Type:        "price.coinbase",
		ReadTimeout: s.cfg.ReadTimeout,
		Backoff:     backoff.Policy{Initial: s.cfg.ReconnectMin, Max: s.cfg.ReconnectMax},
	})
}

// Decoder speaks the Advanced Trade protocol; it implements venue.Adapter.
type Decoder struct {
	url     string
	channel string
	symbols *venue.Symbols
	lastSeq int64 // -1 before the connection's first message
}

// NewDecoder returns the adapter for cfg (already validated).
func NewDecoder(cfg Config) *Decoder {
	if cfg.Channel == "" {
		cfg.Channel = "ticker"
	}
	return &Decoder{
		url:     cfg.URL,
		channel: cfg.Channel,
		symbols: venue.NewSymbols(cfg.Symbols, cfg.SymbolMap, func(b, q string) string { return b + "-" + q }),
		lastSeq: -1,
	}
}

// URL returns the endpoint.
func (d *Decoder) URL() string { return d.url }

// Reset forgets the sequence: it starts again with each connection.
func (d *Decoder) Reset() { d.lastSeq = -1 }

type subscribe struct {
	Type       string   `json:"type"`
	ProductIDs []string `json:"product_ids,omitempty"`
	Channel    string   `json:"channel"`
}

// Subscribe returns the data channel's and the heartbeats channel's
// subscriptions.
func (d *Decoder) Subscribe() ([][]byte, error) {
	data, err := json.Marshal(subscribe{Type: "subscribe", ProductIDs: d.symbols.VenueNames(), Channel: d.channel})
	if err != nil {
		return nil, err
	}
	hb, err := json.Marshal(subscribe{Type: "subscribe", Channel: "heartbeats"})
	if err != nil {
		return nil, err
	}
	return [][]byte{data, hb}, nil
}

type message struct {
	Type        string            `json:"type"`
	Message     string            `json:"message"`
	Channel     string            `json:"channel"`
	Timestamp   string            `json:"timestamp"`
	SequenceNum *int64            `json:"sequence_num"`
	Events      []json.RawMessage `json:"events"`
}

type tickerEvent struct {
	Type    string `json:"type"`
	Tickers []struct {
		ProductID string `json:"product_id"`
		Price     string `json:"price"`
	} `json:"tickers"`
}

type tradesEvent struct {
	Type   string `json:"type"`
	Trades []struct {
		TradeID   string `json:"trade_id"`
		ProductID string `json:"product_id"`
		Price     string `json:"price"`
		Size      string `json:"size"`
		Side      string `json:"side"`
		Time      string `json:"time"`
	} `json:"trades"`
}

// Decode interprets one message.
func (d *Decoder) Decode(msg []byte) (venue.Result, error) {
	var m message
	if err := json.Unmarshal(msg, &m); err != nil {
		return venue.Result{}, fmt.Errorf("coinbase: decode: %w", err)
	}
	if m.Type == "error" {
		return venue.Result{Alive: true}, fmt.Errorf("coinbase: error: %s", m.Message)
	}
	var gapErr error
	if m.SequenceNum != nil {
		seq := *m.SequenceNum
		switch {
		case d.lastSeq >= 0 && seq <= d.lastSeq:
			return venue.Result{}, fmt.Errorf("coinbase: sequence_num %d after %d: dropping a repeated message", seq, d.lastSeq)
		case d.lastSeq >= 0 && seq > d.lastSeq+1:
			gapErr = fmt.Errorf("coinbase: sequence gap: %d message(s) missed between %d and %d", seq-d.lastSeq-1, d.lastSeq, seq)
		}
		d.lastSeq = seq
	}
	res, err := d.decodeChannel(m)
	return res, errors.Join(gapErr, err)
}

func (d *Decoder) decodeChannel(m message) (venue.Result, error) {
	switch m.Channel {
	case "heartbeats":
		return venue.Result{Alive: true}, nil
	case "subscriptions":
		return venue.Result{Alive: true, Subscribed: true}, nil
	case "ticker", "ticker_batch":
		var ts time.Time
		if m.Timestamp != "" {
			t, err := time.Parse(time.RFC3339Nano, m.Timestamp)
			if err != nil {
				return venue.Result{}, fmt.Errorf("coinbase: timestamp %q: %w", m.Timestamp, err)
			}
			ts = t
		}
		var res venue.Result
		var errs []error
		for _, raw := range m.Events {
			var ev tickerEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				errs = append(errs, fmt.Errorf("coinbase: ticker event: %w", err))
				continue
			}
			for _, tk := range ev.Tickers {
				sym, ok := d.symbols.Symbol(tk.ProductID)
				if !ok {
					continue
				}
				p, err := venue.Price(tk.Price, false)
				if err != nil {
					errs = append(errs, fmt.Errorf("coinbase: %s price: %w", tk.ProductID, err))
					continue
				}
				res.Items = append(res.Items, venue.Item{
					Tick:     feeds.Tick{Symbol: sym, Price: p, VenueTime: ts},
					Snapshot: ev.Type == "snapshot",
				})
			}
		}
		return res, errors.Join(errs...)
	case "market_trades":
		var res venue.Result
		var errs []error
		for _, raw := range m.Events {
			var ev tradesEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				errs = append(errs, fmt.Errorf("coinbase: trades event: %w", err))
				continue
			}
			var items []venue.Item
			for _, tr := range ev.Trades {
				sym, ok := d.symbols.Symbol(tr.ProductID)
				if !ok {
					continue
				}
				it, err := tradeItem(sym, tr.TradeID, tr.Price, tr.Size, tr.Side, tr.Time)
				if err != nil {
					errs = append(errs, fmt.Errorf("coinbase: trade %s: %w", tr.TradeID, err))
					continue
				}
				it.Snapshot = ev.Type == "snapshot"
				items = append(items, it)
			}
			// Coinbase lists a batch newest first; emit oldest first.
			sort.SliceStable(items, func(i, j int) bool {
				a, b := items[i], items[j]
				if a.ID != 0 && b.ID != 0 {
					return a.ID < b.ID
				}
				return a.Tick.VenueTime.Before(b.Tick.VenueTime)
			})
			res.Items = append(res.Items, items...)
		}
		return res, errors.Join(errs...)
	case "":
		return venue.Result{}, fmt.Errorf("coinbase: message without channel or type")
	}
	return venue.Result{Alive: true}, nil // a channel we did not ask for
}

func tradeItem(sym, id, price, size, side, at string) (venue.Item, error) {
	p, err := venue.Price(price, false)
	if err != nil {
		return venue.Item{}, fmt.Errorf("price: %w", err)
	}
	q, err := venue.Price(size, true)
	if err != nil {
		return venue.Item{}, fmt.Errorf("size: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return venue.Item{}, fmt.Errorf("time %q: %w", at, err)
	}
	var s feeds.Side
	switch strings.ToUpper(side) {
	case "BUY":
		s = feeds.SideBuy
	case "SELL":
		s = feeds.SideSell
	}
	n, _ := strconv.ParseInt(id, 10, 64)
	if n < 0 {
		n = 0
	}
	return venue.Item{Tick: feeds.Tick{Symbol: sym, Price: p, Size: q, Side: s, VenueTime: t}, ID: n}, nil
}
