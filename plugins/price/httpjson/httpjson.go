// Package httpjson is the price.http plugin: it polls a JSON HTTP API every
// interval and reports the prices that path expressions (package jsonpath)
// pick out of the answer, so that operators add a source in YAML alone.
package httpjson

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/clock"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
	"github.com/feedd/feedd/plugins/price/jsonpath"
)

// MaxBody bounds the answer read from the API.
const MaxBody = 4 << 20

// MaxRetryAfter caps how long a 429 answer's Retry-After can hold polling.
const MaxRetryAfter = time.Hour

// Config is price.http's configuration.
type Config struct {
	URL       string            `yaml:"url" required:"true" doc:"http or https URL of the JSON API"`
	Method    string            `yaml:"method" default:"GET" enum:"GET,POST" doc:"HTTP method"`
	Headers   map[string]string `yaml:"headers" doc:"request headers (values may use ${ENV} for secrets)"`
	Body      string            `yaml:"body" doc:"request body, for POST (sent with Content-Type application/json unless headers set one)"`
	Interval  time.Duration     `yaml:"interval" default:"10s" min:"100ms" doc:"time between polls (a 429's Retry-After can stretch it)"`
	Timeout   time.Duration     `yaml:"timeout" default:"5s" min:"1ms" doc:"limit on one request, answer included"`
	Symbol    string            `yaml:"symbol" doc:"the pair the answer prices, as BASE-QUOTE (single-symbol form, with price)"`
	Price     string            `yaml:"price" doc:"path to the price, e.g. data.amount or result.XXBTZUSD.c[0] (single-symbol form)"`
	Size      string            `yaml:"size" doc:"path to the traded size, optional (single-symbol form)"`
	Volume    string            `yaml:"volume" doc:"path to a volume reported as the tick's size instead of size, optional (single-symbol form)"`
	Timestamp string            `yaml:"timestamp" doc:"path to the venue's time: unix seconds, milliseconds, microseconds or nanoseconds (told apart by size) or an RFC 3339 string; optional"`
	Symbols   []Entry           `yaml:"symbols" doc:"several symbols priced by one answer, instead of symbol/price/size"`
	Source    string            `yaml:"source" doc:"source id on the ticks; default the instance id"`
}

// Entry is one symbol of the several-symbols form.
type Entry struct {
	Symbol    string `yaml:"symbol" required:"true" doc:"the pair, as BASE-QUOTE"`
	Price     string `yaml:"price" required:"true" doc:"path to its price"`
	Size      string `yaml:"size" doc:"path to its size or volume, optional"`
	Timestamp string `yaml:"timestamp" doc:"path to its venue time, optional (default: the top-level timestamp)"`
}

// Validate checks that exactly one form is used, the symbols, the paths and
// the URL.
func (c *Config) Validate(v *config.Validation) {
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		switch {
		case err != nil:
			v.Errorf("url", "not a URL: %v", errors.Unwrap(err))
		case u.Scheme != "http" && u.Scheme != "https":
			v.Errorf("url", "want an http:// or https:// URL, got scheme %q", u.Scheme)
		case u.Host == "":
			v.Errorf("url", "URL %q has no host", Redact(c.URL))
		}
	}
	if c.Body != "" && c.Method != http.MethodPost {
		v.Errorf("body", "a body is sent with method POST only (method is %s)", c.Method)
	}
	for k := range c.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n\t") {
			v.Errorf("headers", "%q is not a valid header name", k)
		}
	}
	single := c.Symbol != "" || c.Price != "" || c.Size != "" || c.Volume != ""
	switch {
	case single && len(c.Symbols) > 0:
		v.Errorf("symbols", "use either symbol/price (one symbol) or symbols (several), not both")
		return
	case !single && len(c.Symbols) == 0:
		v.Errorf("", "missing what to report: give symbol and price (one symbol) or symbols (a list of symbol, price and optional size)")
		return
	}
	checkPath(v, "timestamp", c.Timestamp, false)
	if single {
		checkSymbol(v, "symbol", c.Symbol)
		checkPath(v, "price", c.Price, true)
		checkPath(v, "size", c.Size, false)
		checkPath(v, "volume", c.Volume, false)
		if c.Size != "" && c.Volume != "" {
			v.Errorf("volume", "give size or volume, not both: both become the tick's size")
		}
		return
	}
	seen := map[string]int{}
	for i, e := range c.Symbols {
		p := fmt.Sprintf("symbols[%d]", i)
		if e.Symbol != "" {
			checkSymbol(v, p+".symbol", e.Symbol)
			if j, dup := seen[e.Symbol]; dup {
				v.Errorf(p+".symbol", "%s is listed twice (also symbols[%d])", e.Symbol, j)
			}
			seen[e.Symbol] = i
		}
		if e.Price != "" {
			checkPath(v, p+".price", e.Price, false)
		}
		checkPath(v, p+".size", e.Size, false)
		checkPath(v, p+".timestamp", e.Timestamp, false)
	}
}

func checkSymbol(v *config.Validation, key, s string) {
	if s == "" {
		v.Errorf(key, "required: the pair as BASE-QUOTE, e.g. ETH-USD")
		return
	}
	if _, _, err := feeds.ParseSymbol(s); err != nil {
		v.Errorf(key, "%v", err)
	}
}

func checkPath(v *config.Validation, key, expr string, required bool) {
	if expr == "" {
		if required {
			v.Errorf(key, "required: a path such as data.price or result.XXBTZUSD.c[0]")
		}
		return
	}
	if _, err := jsonpath.Parse(expr); err != nil {
		v.Errorf(key, "%v", err)
	}
}

//go:embed example.yaml
var example string

func init() {
	plugins.Register(plugins.Type{
		Name:    "price.http",
		Kind:    plugins.KindSource,
		Doc:     "polls a JSON HTTP API and reports the prices path expressions pick out of it",
		Config:  func() any { return &Config{} },
		Example: example,
		NewSource: func(cfg any, env plugins.Env) (plugins.Instance, error) {
			return New(*cfg.(*Config), env)
		},
	})
}

// target is one symbol to pick out of an answer.
type target struct {
	symbol          string
	price, size, ts *jsonpath.Path
}

// Source is one price.http instance.
type Source struct {
	cfg     Config
	source  string
	targets []target
	ts      *jsonpath.Path
	client  *http.Client
	tracer  trace.Tracer
	logURL  string
}

func optPath(expr string) (*jsonpath.Path, error) {
	if expr == "" {
		return nil, nil
	}
	p, err := jsonpath.Parse(expr)
	return &p, err
}

// New makes an instance from a validated configuration.
func New(cfg Config, env plugins.Env) (*Source, error) {
	s := &Source{cfg: cfg, source: cfg.Source, client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}, tracer: env.Tracer, logURL: Redact(cfg.URL)}
	if s.source == "" {
		s.source = env.ID
	}
	var err error
	if s.ts, err = optPath(cfg.Timestamp); err != nil {
		return nil, err
	}
	entries := cfg.Symbols
	if len(entries) == 0 {
		size := cfg.Size
		if size == "" {
			size = cfg.Volume
		}
		entries = []Entry{{Symbol: cfg.Symbol, Price: cfg.Price, Size: size}}
	}
	for _, e := range entries {
		t := target{symbol: e.Symbol}
		var err1, err2, err3 error
		t.price, err1 = optPath(e.Price)
		t.size, err2 = optPath(e.Size)
		t.ts, err3 = optPath(e.Timestamp)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		if t.price == nil {
			return nil, fmt.Errorf("symbol %s has no price path", e.Symbol)
		}
		if t.ts == nil {
			t.ts = s.ts
		}
		s.targets = append(s.targets, t)
	}
	return s, nil
}

// Redact returns raw with its query string and user info hidden, for
// logs: both often carry API keys.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery = "REDACTED"
		u.ForceQuery = false
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// Run polls every interval until ctx ends. Failed polls are logged and
// retried at the next interval (or after a 429's Retry-After, when later);
// Run returns only when ctx ends.
func (s *Source) Run(ctx context.Context, h *plugins.Host) error {
	clk := h.Clock()
	timer := clk.NewTimer(0)
	defer timer.Stop()
	defer s.client.CloseIdleConnections()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C():
		}
		start := clk.Now()
		wait := s.cfg.Interval
		_, retryAfter, err := s.poll(ctx, h, clk)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil:
			failures++
			args := []any{"url", s.logURL, "error", err, "failures", failures}
			if retryAfter > wait {
				wait = retryAfter
				args = append(args, "retry_after", retryAfter)
			}
			h.Logger().Warn("price.http poll failed", args...)
		default:
			if failures > 0 {
				h.Logger().Info("price.http poll recovered", "url", s.logURL, "after_failures", failures)
			}
			failures = 0
		}
		// The next poll is due an interval after this one started.
		timer.Reset(max(0, wait-clk.Now().Sub(start)))
	}
}

// errStatus is an answer other than 200 OK.
type errStatus struct {
	code int
	body string
}

func (e *errStatus) Error() string {
	msg := fmt.Sprintf("HTTP %d %s", e.code, http.StatusText(e.code))
	if e.body != "" {
		msg += ": " + e.body
	}
	return msg
}

// poll makes one request and emits a tick per symbol found. It returns how
// many ticks it emitted and, for a 429, how long the API asks to wait.
func (s *Source) poll(ctx context.Context, h *plugins.Host, clk clock.Clock) (int, time.Duration, error) {
	if s.tracer != nil {
		var span trace.Span
		ctx, span = s.tracer.Start(ctx, "price.http.poll", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("http.request.method", s.cfg.Method), attribute.String("url.full", s.logURL)))
		defer span.End()
		n, ra, err := s.pollIn(ctx, h, clk)
		span.SetAttributes(attribute.Int("feedd.ticks", n))
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		return n, ra, err
	}
	return s.pollIn(ctx, h, clk)
}

func (s *Source) pollIn(ctx context.Context, h *plugins.Host, clk clock.Clock) (int, time.Duration, error) {
	doc, retryAfter, err := s.fetch(ctx, clk)
	if err != nil {
		return 0, retryAfter, err
	}
	recv := clk.Now()
	var errs []error
	var ticks []feeds.Tick
	for _, t := range s.targets {
		tick, err := s.extract(doc, t)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.symbol, err))
			continue
		}
		tick.ReceiveTime = recv
		ticks = append(ticks, tick)
	}
	if len(errs) > 0 && len(ticks) > 0 {
		// Some symbols came through: report the others without failing the poll.
		h.Logger().Warn("price.http answer lacks some symbols", "url", s.logURL, "error", errors.Join(errs...))
	}
	for _, t := range ticks {
		h.EmitContext(ctx, t)
	}
	if len(ticks) == 0 {
		return 0, 0, errors.Join(errs...)
	}
	return len(ticks), 0, nil
}

// fetch makes the request and decodes the answer.
func (s *Source) fetch(ctx context.Context, clk clock.Clock) (any, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var body io.Reader
	if s.cfg.Body != "" {
		body = strings.NewReader(s.cfg.Body)
	}
	req, err := http.NewRequestWithContext(ctx, s.cfg.Method, s.cfg.URL, body)
	if err != nil {
		return nil, 0, fmt.Errorf("make request: %w", redactErr(err))
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "feedd")
	if s.cfg.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range s.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, 0, redactErr(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, 0, fmt.Errorf("read answer: %w", redactErr(err))
	}
	if resp.StatusCode != http.StatusOK {
		e := &errStatus{code: resp.StatusCode, body: snippet(data)}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			return nil, retryAfter(resp.Header.Get("Retry-After"), clk.Now()), e
		}
		return nil, 0, e
	}
	if len(data) > MaxBody {
		return nil, 0, fmt.Errorf("answer larger than %d bytes", MaxBody)
	}
	doc, err := jsonpath.Decode(data)
	if err != nil {
		return nil, 0, fmt.Errorf("%w (answer starts %q)", err, snippet(data))
	}
	return doc, 0, nil
}

// redactErr strips the URL from errors of package net/http (a *url.Error
// quotes the whole URL, query string and all).
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, Redact(ue.URL), ue.Err)
	}
	return err
}

// snippet returns the start of an answer for an error message.
func snippet(data []byte) string {
	s := strings.TrimSpace(string(data))
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date. It
// returns 0 when the header is absent or unreadable, and caps the wait at
// MaxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}

// extract picks one symbol's tick out of the answer.
func (s *Source) extract(doc any, t target) (feeds.Tick, error) {
	tick := feeds.Tick{Source: s.source, Symbol: t.symbol}
	p, err := t.price.Number(doc)
	if err != nil {
		return tick, err
	}
	if p <= 0 {
		return tick, fmt.Errorf("%s: price %v is not positive", t.price, p)
	}
	tick.Price = p
	if t.size != nil {
		size, err := t.size.Number(doc)
		if err != nil {
			return tick, err
		}
		if size < 0 {
			return tick, fmt.Errorf("%s: size %v is negative", t.size, size)
		}
		tick.Size = size
	}
	if t.ts != nil {
		v, err := t.ts.Eval(doc)
		if err != nil {
			return tick, err
		}
		if tick.VenueTime, err = Timestamp(v); err != nil {
			return tick, fmt.Errorf("%s: %w", t.ts, err)
		}
	}
	return tick, nil
}

// Timestamp reads a venue time from a decoded JSON value: an RFC 3339 string,
// or a unix time (number or numeric string) in seconds, milliseconds,
// microseconds or nanoseconds, told apart by magnitude (any time from 1973 to
// 5138 reads right).
func Timestamp(v any) (time.Time, error) {
	if s, ok := v.(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s)); err == nil {
			return t.UTC(), nil
		}
	}
	f, err := jsonpath.ToNumber(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp: %w", err)
	}
	if f <= 0 {
		return time.Time{}, fmt.Errorf("timestamp %v is not a positive unix time", f)
	}
	var unit time.Duration
	switch {
	case f < 1e11:
		unit = time.Second
	case f < 1e14:
		unit = time.Millisecond
	case f < 1e17:
		unit = time.Microsecond
	case f < math.MaxInt64:
		unit = time.Nanosecond
	default:
		return time.Time{}, fmt.Errorf("timestamp %v is out of range", f)
	}
	whole := math.Floor(f)
	n := int64(whole)
	var text string
	switch x := v.(type) {
	case json.Number:
		text = string(x)
	case string:
		text = strings.TrimSpace(x)
	}
	if i, err := strconv.ParseInt(text, 10, 64); err == nil {
		n, whole = i, f // exact, even past float64's 53 bits
	}
	per := int64(time.Second / unit)
	t := time.Unix(n/per, n%per*int64(unit))
	if frac := f - whole; frac > 0 {
		t = t.Add(time.Duration(math.Round(frac * float64(unit))))
	}
	return t.UTC(), nil
}
