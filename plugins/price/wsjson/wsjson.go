// Package wsjson is the price.ws plugin: a generic WebSocket price source.
// It connects to a venue, sends subscribe messages built from templates and
// picks ticks out of the venue's JSON messages with path expressions
// (package jsonpath), so that operators add a venue in YAML alone. The
// session (reconnect with backoff, resubscribe, read timeout, pings,
// de-duplication, metrics) is package venue's.
package wsjson

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/internal/clock"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
	"github.com/feedd/feedd/plugins/price/httpjson"
	"github.com/feedd/feedd/plugins/price/jsonpath"
	"github.com/feedd/feedd/plugins/price/venue"
)

// Placeholders in subscribe templates and symbol_pattern.
const (
	// SymbolPlaceholder is replaced by one venue symbol name; a template
	// holding it is sent once per configured symbol.
	SymbolPlaceholder = "{symbol}"
	// SymbolsPlaceholder, as a whole JSON string ("{symbols}"), is replaced
	// by the JSON array of all venue symbol names.
	SymbolsPlaceholder = "{symbols}"
)

// ErrorLogInterval spaces the warnings about malformed messages: the first
// is logged, then at most one per interval with the count suppressed.
const ErrorLogInterval = 10 * time.Second

// Config is price.ws's configuration.
type Config struct {
	URL           string            `yaml:"url" required:"true" doc:"ws:// or wss:// address of the venue"`
	Headers       map[string]string `yaml:"headers" doc:"handshake headers; not supported yet (package venue dials without headers)"`
	Subscribe     []config.Raw      `yaml:"subscribe" doc:"messages sent (as JSON) after each connect; a string \"{symbols}\" becomes the array of venue symbol names, and a template with {symbol} in a string is sent once per symbol"`
	SubscribeRaw  []string          `yaml:"subscribe_raw" doc:"messages sent as written after each connect (after subscribe), for exact text; same placeholders (\"{symbols}\" quoted)"`
	Match         Match             `yaml:"match" doc:"what a message must hold to be a price message; others are ignored (logged at debug)"`
	ReconnectOn   Match             `yaml:"reconnect_on" doc:"a message the venue sends to ask clients to reconnect (e.g. {path: event, equals: \"bts:request_reconnect\"}); the session reconnects and resubscribes"`
	Items         string            `yaml:"items" doc:"path to an array of items when one message carries several ticks; the other paths are then relative to an item, and a message without it is ignored"`
	Symbol        string            `yaml:"symbol" doc:"path to the venue's symbol name in the message (or item); required with more than one symbol"`
	SymbolPattern string            `yaml:"symbol_pattern" doc:"pattern the value at the symbol path has, with {symbol} where the venue name is, e.g. live_trades_{symbol}; default {symbol}"`
	Symbols       []string          `yaml:"symbols" required:"true" doc:"symbols as BASE-QUOTE; the venue name is the symbol itself unless symbol_map names it"`
	SymbolMap     map[string]string `yaml:"symbol_map" doc:"venue symbol name (e.g. btcusd) -> BASE-QUOTE"`
	Price         string            `yaml:"price" required:"true" doc:"path to the price (a number or numeric string)"`
	Size          string            `yaml:"size" doc:"path to the traded size, optional"`
	Side          string            `yaml:"side" doc:"path to the aggressor side, optional; buy/sell/b/s/bid/ask (any case) unless side_map says otherwise"`
	SideMap       map[string]string `yaml:"side_map" doc:"venue side value -> buy or sell, e.g. {\"0\": buy, \"1\": sell}"`
	Timestamp     string            `yaml:"timestamp" doc:"path to the venue's time: unix seconds, ms, µs or ns (told apart by size) or RFC 3339; optional"`
	ID            string            `yaml:"trade_id" doc:"path to the venue's increasing trade id (integer or numeric string), optional; drops trades replayed after a reconnect"`
	Ping          string            `yaml:"ping" doc:"application ping message template; not supported yet (ping_interval sends WebSocket pings)"`
	PingInterval  time.Duration     `yaml:"ping_interval" doc:"send a WebSocket ping when the connection has been quiet this long; 0 for none"`
	ReadTimeout   time.Duration     `yaml:"read_timeout" default:"30s" min:"1ms" doc:"reconnect when the venue sends nothing for this long"`
	ReconnectMin  time.Duration     `yaml:"reconnect_min" default:"1s" min:"1ms" doc:"first reconnect delay (doubling, with jitter)"`
	ReconnectMax  time.Duration     `yaml:"reconnect_max" default:"1m" min:"1ms" doc:"longest reconnect delay"`
	MaxConnAge    time.Duration     `yaml:"max_conn_age" doc:"reconnect before the venue's own connection age limit; 0 for none"`
	Source        string            `yaml:"source" doc:"source id on the ticks; default the instance id"`
}

// Match is a condition on a message.
type Match struct {
	Path   string `yaml:"path" doc:"path to a value in the message"`
	Equals string `yaml:"equals" doc:"the value it must have (numbers and booleans compared as written, e.g. \"1\", \"true\")"`
}

// Validate checks the URL, paths, symbols and templates.
func (c *Config) Validate(v *config.Validation) {
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		switch {
		case err != nil:
			v.Errorf("url", "not a URL: %v", errors.Unwrap(err))
		case u.Scheme != "ws" && u.Scheme != "wss":
			v.Errorf("url", "want a ws:// or wss:// URL, got scheme %q", u.Scheme)
		case u.Host == "":
			v.Errorf("url", "URL %q has no host", httpjson.Redact(c.URL))
		}
	}
	if len(c.Headers) > 0 {
		v.Errorf("headers", "not supported yet: the WebSocket session (package venue) dials without extra headers")
	}
	if c.Ping != "" {
		v.Errorf("ping", "application ping messages are not supported yet; ping_interval sends WebSocket pings")
	}
	venue.ValidateSymbols(v, c.Symbols, c.SymbolMap)
	if len(c.Symbols) > 1 && c.Symbol == "" {
		v.Errorf("symbol", "required with more than one symbol: a path to the venue's symbol name in the message")
	}
	if c.SymbolPattern != "" {
		if c.Symbol == "" {
			v.Errorf("symbol_pattern", "needs symbol, the path to the value it matches")
		}
		if strings.Count(c.SymbolPattern, SymbolPlaceholder) != 1 {
			v.Errorf("symbol_pattern", "want exactly one %s in %q", SymbolPlaceholder, c.SymbolPattern)
		}
	}
	checkPath(v, "price", c.Price)
	for _, kp := range [][2]string{{"match.path", c.Match.Path}, {"items", c.Items}, {"symbol", c.Symbol}, {"size", c.Size}, {"side", c.Side}, {"timestamp", c.Timestamp}, {"trade_id", c.ID}} {
		checkPath(v, kp[0], kp[1])
	}
	if c.Match.Equals != "" && c.Match.Path == "" {
		v.Errorf("match.path", "required with match.equals")
	}
	checkPath(v, "reconnect_on.path", c.ReconnectOn.Path)
	if c.ReconnectOn.Equals != "" && c.ReconnectOn.Path == "" {
		v.Errorf("reconnect_on.path", "required with reconnect_on.equals")
	}
	for k, s := range c.SideMap {
		if s != "buy" && s != "sell" {
			v.Errorf("side_map."+k, "want buy or sell, got %q", s)
		}
	}
	if len(c.SideMap) > 0 && c.Side == "" {
		v.Errorf("side_map", "needs side, the path to the side value")
	}
	if c.ReconnectMax < c.ReconnectMin {
		v.Errorf("reconnect_max", "%v is below reconnect_min %v", c.ReconnectMax, c.ReconnectMin)
	}
	names := []string{"X"}
	for i, m := range c.Subscribe {
		key := fmt.Sprintf("subscribe[%d]", i)
		b, err := json.Marshal(map[string]any(m))
		if err != nil {
			v.Errorf(key, "cannot be written as JSON: %v", err)
			continue
		}
		if _, err := Render(string(b), names); err != nil {
			v.Errorf(key, "%v", err)
		}
	}
	for i, s := range c.SubscribeRaw {
		if _, err := Render(s, names); err != nil {
			v.Errorf(fmt.Sprintf("subscribe_raw[%d]", i), "%v", err)
		}
	}
}

func checkPath(v *config.Validation, key, expr string) {
	if expr == "" {
		return
	}
	if _, err := jsonpath.Parse(expr); err != nil {
		v.Errorf(key, "%v", err)
	}
}

// Render fills a message template: "{symbols}" (quoted, as a JSON string)
// becomes the JSON array of names, and a template holding {symbol} becomes
// one message per name, the name JSON-escaped in place. The result must be
// valid JSON.
func Render(tmpl string, names []string) ([][]byte, error) {
	if !json.Valid([]byte(tmpl)) {
		return nil, fmt.Errorf("template %q is not valid JSON", snippet(tmpl))
	}
	if strings.Contains(tmpl, `"`+SymbolsPlaceholder+`"`) {
		arr, err := json.Marshal(names)
		if err != nil {
			return nil, err
		}
		tmpl = strings.ReplaceAll(tmpl, `"`+SymbolsPlaceholder+`"`, string(arr))
	}
	if !strings.Contains(tmpl, SymbolPlaceholder) {
		return [][]byte{[]byte(tmpl)}, nil
	}
	out := make([][]byte, 0, len(names))
	for _, n := range names {
		q, err := json.Marshal(n)
		if err != nil {
			return nil, err
		}
		msg := strings.ReplaceAll(tmpl, SymbolPlaceholder, string(q[1:len(q)-1]))
		if !json.Valid([]byte(msg)) {
			return nil, fmt.Errorf("template %q with symbol %q is not valid JSON (put {symbol} inside a string)", snippet(tmpl), n)
		}
		out = append(out, []byte(msg))
	}
	return out, nil
}

func snippet(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

//go:embed example.yaml
var example string

func init() {
	plugins.Register(plugins.Type{
		Name:       "price.ws",
		Kind:       plugins.KindSource,
		Doc:        "generic WebSocket venue: subscribe templates and path expressions pick ticks out of JSON messages",
		Config:     func() any { return &Config{} },
		Example:    example,
		StallAfter: 5 * time.Minute,
		NewSource: func(cfg any, env plugins.Env) (plugins.Instance, error) {
			c := *cfg.(*Config)
			if c.Source == "" {
				c.Source = env.ID
			}
			d, err := NewDecoder(c)
			if err != nil {
				return nil, err
			}
			return &Source{cfg: c, env: env, dec: d}, nil
		},
	})
}

// Source is one price.ws instance.
type Source struct {
	cfg Config
	env plugins.Env
	dec *Decoder
}

// Run streams until ctx ends.
func (s *Source) Run(ctx context.Context, h *plugins.Host) error {
	s.dec.SetLogger(h.Logger(), h.Clock())
	return venue.Run(ctx, h, s.dec, venue.Options{
		Source:         s.cfg.Source,
		Meter:          s.env.Meter,
		Plugin:         s.env.ID,
		Type:           "price.ws",
		ReadTimeout:    s.cfg.ReadTimeout,
		PingInterval:   s.cfg.PingInterval,
		MaxConnAge:     s.cfg.MaxConnAge,
		ReadyOnConnect: true,
		Backoff:        backoff.Policy{Initial: s.cfg.ReconnectMin, Max: s.cfg.ReconnectMax},
	})
}

// Decoder applies a configuration to messages; it implements venue.Adapter.
type Decoder struct {
	url       string
	subscribe [][]byte
	symbols   *venue.Symbols
	single    string // the symbol when there is no symbol path
	prefix    string // symbol_pattern around {symbol}
	suffix    string

	match                            *jsonpath.Path
	equals                           string
	reconnect                        *jsonpath.Path
	reconnectEquals                  string
	items, symbol, price, size, side *jsonpath.Path
	ts, id                           *jsonpath.Path
	sideMap                          map[string]feeds.Side

	mu         sync.Mutex
	log        *slog.Logger
	clk        clock.Clock
	lastWarn   time.Time
	suppressed int
}

func optPath(expr string) (*jsonpath.Path, error) {
	if expr == "" {
		return nil, nil
	}
	p, err := jsonpath.Parse(expr)
	return &p, err
}

// NewDecoder returns the adapter for cfg (already validated).
func NewDecoder(cfg Config) (*Decoder, error) {
	d := &Decoder{
		url:     cfg.URL,
		symbols: venue.NewSymbols(cfg.Symbols, cfg.SymbolMap, func(b, q string) string { return b + "-" + q }),
		equals:  cfg.Match.Equals,
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if cfg.Symbol == "" && len(cfg.Symbols) == 1 {
		d.single = cfg.Symbols[0]
	}
	if pat := cfg.SymbolPattern; pat != "" {
		d.prefix, d.suffix, _ = strings.Cut(pat, SymbolPlaceholder)
	}
	var errs [8]error
	d.match, errs[0] = optPath(cfg.Match.Path)
	d.items, errs[1] = optPath(cfg.Items)
	d.symbol, errs[2] = optPath(cfg.Symbol)
	d.price, errs[3] = optPath(cfg.Price)
	d.size, errs[4] = optPath(cfg.Size)
	d.side, errs[5] = optPath(cfg.Side)
	d.ts, errs[6] = optPath(cfg.Timestamp)
	d.id, errs[7] = optPath(cfg.ID)
	var rerr error
	d.reconnect, rerr = optPath(cfg.ReconnectOn.Path)
	d.reconnectEquals = cfg.ReconnectOn.Equals
	if err := errors.Join(append(errs[:], rerr)...); err != nil {
		return nil, err
	}
	if d.price == nil {
		return nil, errors.New("price.ws: no price path")
	}
	if d.symbol == nil && d.single == "" {
		return nil, errors.New("price.ws: a symbol path is needed with several symbols")
	}
	if len(cfg.SideMap) > 0 {
		d.sideMap = map[string]feeds.Side{}
		for k, v := range cfg.SideMap {
			d.sideMap[k] = feeds.Side(v)
		}
	}
	names := d.symbols.VenueNames()
	var tmpls []string
	for _, m := range cfg.Subscribe {
		b, err := json.Marshal(map[string]any(m))
		if err != nil {
			return nil, fmt.Errorf("price.ws: subscribe: %w", err)
		}
		tmpls = append(tmpls, string(b))
	}
	tmpls = append(tmpls, cfg.SubscribeRaw...)
	for _, t := range tmpls {
		msgs, err := Render(t, names)
		if err != nil {
			return nil, fmt.Errorf("price.ws: subscribe: %w", err)
		}
		d.subscribe = append(d.subscribe, msgs...)
	}
	return d, nil
}

// SetLogger sets where ignored messages (debug) and rate-limited warnings
// about malformed messages go.
func (d *Decoder) SetLogger(l *slog.Logger, clk clock.Clock) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.log, d.clk = l, clk
}

// URL returns the endpoint.
func (d *Decoder) URL() string { return d.url }

// Reset does nothing: generic messages carry no sequence the decoder tracks.
func (d *Decoder) Reset() {}

// Subscribe returns the rendered subscribe messages.
func (d *Decoder) Subscribe() ([][]byte, error) { return d.subscribe, nil }

// Decode interprets one message. Messages that do not match are signs of
// life, logged at debug level; malformed ones and bad items are reported as
// errors (which the session logs), at most one per ErrorLogInterval.
func (d *Decoder) Decode(msg []byte) (venue.Result, error) {
	res, err := d.Extract(msg)
	var rec *venue.ReconnectError
	if errors.As(err, &rec) {
		return res, err
	}
	if err != nil {
		return res, d.limit(err)
	}
	return res, nil
}

// limit passes err when a warning is due and nil otherwise.
func (d *Decoder) limit(err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.clk == nil {
		return err
	}
	now := d.clk.Now()
	if !d.lastWarn.IsZero() && now.Sub(d.lastWarn) < ErrorLogInterval {
		d.suppressed++
		return nil
	}
	d.lastWarn = now
	if d.suppressed > 0 {
		err = fmt.Errorf("%w (and %d more malformed messages in the last %v)", err, d.suppressed, ErrorLogInterval)
		d.suppressed = 0
	}
	return err
}

func (d *Decoder) debug(msg string, args ...any) {
	d.mu.Lock()
	l := d.log
	d.mu.Unlock()
	l.Debug(msg, args...)
}

// Extract is Decode without rate limiting: every problem is returned. Items
// that fail are skipped; the others are returned with the error.
func (d *Decoder) Extract(msg []byte) (venue.Result, error) {
	doc, err := jsonpath.Decode(msg)
	if err != nil {
		return venue.Result{}, fmt.Errorf("price.ws: %w (message starts %q)", err, snippet(strings.ToValidUTF8(string(msg), "?")))
	}
	if d.reconnect != nil {
		if v, err := d.reconnect.Eval(doc); err == nil && (d.reconnectEquals == "" || scalar(v) == d.reconnectEquals) {
			return venue.Result{Alive: true}, venue.Reconnect(fmt.Errorf("price.ws: the venue asked to reconnect: %s", snippet(string(msg))))
		}
	}
	if d.match != nil {
		v, err := d.match.Eval(doc)
		if err != nil || d.equals != "" && scalar(v) != d.equals {
			d.debug("price.ws: message ignored: no match", "message", snippet(string(msg)))
			return venue.Result{Alive: true}, nil
		}
	}
	items := []any{doc}
	if d.items != nil {
		v, err := d.items.Eval(doc)
		if err != nil {
			// An acknowledgement or a status, say, rather than a malformed message.
			d.debug("price.ws: message ignored: no items", "message", snippet(string(msg)))
			return venue.Result{Alive: true}, nil
		}
		list, ok := v.([]any)
		if !ok {
			return venue.Result{Alive: true}, fmt.Errorf("price.ws: items %s: want an array, got %s", d.items, snippet(scalar(v)))
		}
		items = list
	}
	res := venue.Result{Alive: true}
	var errs []error
	for i, it := range items {
		item, ok, err := d.item(it)
		switch {
		case err != nil:
			if len(items) > 1 || d.items != nil {
				err = fmt.Errorf("item %d: %w", i, err)
			}
			errs = append(errs, err)
		case ok:
			res.Items = append(res.Items, item)
		}
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("price.ws: %w", errors.Join(errs...))
	}
	return res, nil
}

// item extracts one tick; ok is false for an item of a symbol not configured.
func (d *Decoder) item(doc any) (venue.Item, bool, error) {
	var it venue.Item
	sym := d.single
	if d.symbol != nil {
		v, err := d.symbol.Eval(doc)
		if err != nil {
			return it, false, err
		}
		name, isStr := v.(string)
		if !isStr {
			return it, false, fmt.Errorf("%s: want a string, got %s", d.symbol, snippet(scalar(v)))
		}
		if !strings.HasPrefix(name, d.prefix) || !strings.HasSuffix(name[len(d.prefix):], d.suffix) {
			d.debug("price.ws: item ignored: symbol does not fit symbol_pattern", "value", name)
			return it, false, nil
		}
		name = name[len(d.prefix) : len(name)-len(d.suffix)]
		s, known := d.symbols.Symbol(name)
		if !known {
			d.debug("price.ws: item ignored: symbol not configured", "venue_symbol", name)
			return it, false, nil
		}
		sym = s
	}
	it.Tick.Symbol = sym
	p, err := d.price.Number(doc)
	if err != nil {
		return it, false, err
	}
	if it.Tick.Price, err = venue.Check(p, false); err != nil {
		return it, false, fmt.Errorf("%s: price %w", d.price, err)
	}
	if d.size != nil {
		q, err := d.size.Number(doc)
		if err != nil {
			return it, false, err
		}
		if it.Tick.Size, err = venue.Check(q, true); err != nil {
			return it, false, fmt.Errorf("%s: size %w", d.size, err)
		}
	}
	if d.side != nil {
		v, err := d.side.Eval(doc)
		if err != nil {
			return it, false, err
		}
		if it.Tick.Side, err = d.sideOf(v); err != nil {
			return it, false, fmt.Errorf("%s: %w", d.side, err)
		}
	}
	if d.ts != nil {
		v, err := d.ts.Eval(doc)
		if err != nil {
			return it, false, err
		}
		if it.Tick.VenueTime, err = httpjson.Timestamp(v); err != nil {
			return it, false, fmt.Errorf("%s: %w", d.ts, err)
		}
	}
	if d.id != nil {
		v, err := d.id.Eval(doc)
		if err != nil {
			return it, false, err
		}
		if it.ID, err = tradeID(v); err != nil {
			return it, false, fmt.Errorf("%s: %w", d.id, err)
		}
	}
	return it, true, nil
}

func (d *Decoder) sideOf(v any) (feeds.Side, error) {
	s := scalar(v)
	if d.sideMap != nil {
		if side, ok := d.sideMap[s]; ok {
			return side, nil
		}
		return "", fmt.Errorf("side %q is not in side_map", snippet(s))
	}
	switch strings.ToLower(s) {
	case "buy", "b", "bid":
		return feeds.SideBuy, nil
	case "sell", "s", "ask", "offer":
		return feeds.SideSell, nil
	}
	return "", fmt.Errorf("side %q is not buy or sell (map it with side_map)", snippet(s))
}

// tradeID reads a positive integer id from a number or a numeric string.
func tradeID(v any) (int64, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, fmt.Errorf("want an integer id, got %s", snippet(scalar(v)))
	}
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 || fmt.Sprint(n) != s {
		return 0, fmt.Errorf("want a positive integer id, got %q", snippet(s))
	}
	return n, nil
}

// scalar renders a decoded value as text: strings as they are, numbers and
// booleans as written, other values as JSON.
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
