package httpjson_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/internal/clock"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
	"github.com/feedd/feedd/plugins/price/httpjson"
	"github.com/feedd/feedd/plugins/price/jsonpath"
)

const wait = 5 * time.Second

var epoch = time.Date(2024, 11, 22, 10, 0, 0, 0, time.UTC)

// Recorded answer shapes of real APIs.
const (
	coinbaseSpot  = `{"data":{"amount":"3012.55","base":"ETH","currency":"USD"}}`
	coinbaseSpot2 = `{"data":{"amount":"3013.10","base":"ETH","currency":"USD"}}`
	krakenTicker  = `{"error":[],"result":{"XXBTZUSD":{"a":["64000.20000","1","1.000"],"b":["64000.10000","2","2.000"],"c":["64000.10000","0.01000000"],"v":["1023.44","2440.91"]},"XETHZUSD":{"a":["3012.60","5","5.000"],"b":["3012.50","3","3.000"],"c":["3012.55","0.25000000"],"v":["8000.1","15000.2"]}}}`
	binancePrice  = `{"symbol":"BTCUSDT","price":"64000.10"}`
)

// answer is one scripted response.
type answer struct {
	status int
	header map[string]string
	body   string
	block  bool // hold the request until the client gives up
}

// request is what the server saw.
type request struct {
	method, path, query, body string
	header                    http.Header
}

// api is a local HTTP server playing a script of answers; the last repeats.
type api struct {
	*httptest.Server
	mu      sync.Mutex
	script  []answer
	seen    []request
	release chan struct{}
}

func newAPI(t *testing.T, script ...answer) *api {
	a := &api{script: script, release: make(chan struct{})}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.seen = append(a.seen, request{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, body: string(body), header: r.Header.Clone()})
		ans := a.script[0]
		if len(a.script) > 1 {
			a.script = a.script[1:]
		}
		a.mu.Unlock()
		if ans.block {
			select {
			case <-r.Context().Done():
			case <-a.release:
			}
			return
		}
		for k, v := range ans.header {
			w.Header().Set(k, v)
		}
		if ans.status == 0 {
			ans.status = http.StatusOK
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ans.status)
		io.WriteString(w, ans.body)
	}))
	t.Cleanup(func() {
		close(a.release)
		a.Close()
	})
	return a
}

func (a *api) requests() []request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

// script replaces the answers to come.
func (a *api) answer(script ...answer) {
	a.mu.Lock()
	a.script = script
	a.mu.Unlock()
}

func ok(body string) answer { return answer{body: body} }

// sink records ticks.
type sink struct {
	mu    sync.Mutex
	ticks []feeds.Tick
}

func (s *sink) Handle(_ context.Context, _ plugins.Source, ev feeds.Event) {
	s.mu.Lock()
	s.ticks = append(s.ticks, ev.(feeds.Tick))
	s.mu.Unlock()
}

func (s *sink) got() []feeds.Tick {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ticks)
}

// logs is a concurrency-safe log buffer.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type rig struct {
	t    *testing.T
	clk  *clock.Fake
	sink *sink
	logs *logs
	sup  *plugins.Supervisor
}

func entry(kv ...any) config.Raw {
	e := config.Raw{"type": "price.http"}
	for i := 0; i < len(kv); i += 2 {
		e[kv[i].(string)] = kv[i+1]
	}
	return e
}

func specs(t *testing.T, entries ...config.Raw) []plugins.Spec {
	t.Helper()
	var ps config.Problems
	out := plugins.Default.Sources("feeds", entries, nil, &ps)
	if len(ps) > 0 {
		t.Fatalf("configuration problems:\n%v", ps)
	}
	return out
}

func start(t *testing.T, entries ...config.Raw) *rig {
	t.Helper()
	r := &rig{t: t, clk: clock.NewFake(epoch), sink: &sink{}, logs: &logs{}}
	r.sup = plugins.New(plugins.Options{
		Logger:  slog.New(slog.NewTextHandler(r.logs, nil)),
		Clock:   r.clk,
		Sink:    r.sink,
		Backoff: backoff.Policy{Initial: time.Second, Max: time.Minute, Factor: 2, Jitter: -1},
		Rand:    func() float64 { return 0 },
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := r.sup.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := r.sup.Apply(ctx, specs(t, entries...)); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return r
}

// next waits until the instance waits for its next poll and checks when
// that is due.
func (r *rig) next(due time.Duration) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := r.clk.WaitTimers(ctx, 1); err != nil {
		r.t.Fatalf("instance does not wait for its next poll: %v; status %+v; logs:\n%s", err, r.sup.Status(), r.logs)
	}
	if got := r.clk.Waiting(); len(got) != 1 || !got[0].Equal(epoch.Add(due)) {
		r.t.Fatalf("waiting for %v, want [+%v]", got, due)
	}
}

// advance moves the clock to epoch+to.
func (r *rig) advance(to time.Duration) { r.clk.Set(epoch.Add(to)) }

func (r *rig) expect(when string, want ...feeds.Tick) {
	r.t.Helper()
	got := r.sink.got()
	if !slices.EqualFunc(got, want, func(x, y feeds.Tick) bool {
		return x.Source == y.Source && x.Symbol == y.Symbol && x.Price == y.Price && x.Size == y.Size &&
			x.Side == y.Side && x.VenueTime.Equal(y.VenueTime) && x.ReceiveTime.Equal(y.ReceiveTime)
	}) {
		r.t.Fatalf("%s: got ticks\n%s\nwant\n%s\nlogs:\n%s", when, show(got), show(want), r.logs)
	}
}

func show(ts []feeds.Tick) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "\t{%s %s %v size=%v venue=%v recv=+%v}\n", t.Source, t.Symbol, t.Price, t.Size, t.VenueTime, t.ReceiveTime.Sub(epoch))
	}
	return b.String()
}

func tick(src, sym string, price, size float64, recv time.Duration) feeds.Tick {
	return feeds.Tick{Source: src, Symbol: sym, Price: price, Size: size, ReceiveTime: epoch.Add(recv)}
}

func TestCoinbaseSpotEveryInterval(t *testing.T) {
	srv := newAPI(t, ok(coinbaseSpot), ok(coinbaseSpot2))
	r := start(t, entry("id", "cb", "url", srv.URL+"/v2/prices/ETH-USD/spot", "symbol", "ETH-USD", "price", "data.amount"))
	r.next(10 * time.Second) // default interval
	r.expect("first poll at once", tick("cb", "ETH-USD", 3012.55, 0, 0))
	if st := r.sup.Status(); len(st) != 1 || st[0].State != plugins.StateRunning {
		t.Fatalf("status %+v, want running", st)
	}
	r.advance(9999 * time.Millisecond)
	r.next(10 * time.Second)
	r.expect("not before the interval", tick("cb", "ETH-USD", 3012.55, 0, 0))
	r.advance(10 * time.Second)
	r.next(20 * time.Second)
	r.expect("second poll after exactly 10s", tick("cb", "ETH-USD", 3012.55, 0, 0), tick("cb", "ETH-USD", 3013.10, 0, 10*time.Second))
	reqs := srv.requests()
	if len(reqs) != 2 || reqs[0].method != "GET" || reqs[0].path != "/v2/prices/ETH-USD/spot" || reqs[0].header.Get("Accept") != "application/json" {
		t.Fatalf("requests %+v", reqs)
	}
}

func TestKrakenSeveralSymbols(t *testing.T) {
	srv := newAPI(t, ok(krakenTicker))
	r := start(t, entry("id", "kraken-rest", "source", "kraken", "url", srv.URL+"/0/public/Ticker?pair=XBTUSD,ETHUSD",
		"interval", "15s", "symbols", []any{
			map[string]any{"symbol": "BTC-USD", "price": "result.XXBTZUSD.c[0]", "size": "result.XXBTZUSD.c[1]"},
			map[string]any{"symbol": "ETH-USD", "price": "result.XETHZUSD.c[0]", "size": "result.XETHZUSD.v[1]"},
		}))
	r.next(15 * time.Second)
	r.expect("one answer, two symbols", tick("kraken", "BTC-USD", 64000.1, 0.01, 0), tick("kraken", "ETH-USD", 3012.55, 15000.2, 0))
	if q := srv.requests()[0].query; q != "pair=XBTUSD,ETHUSD" {
		t.Fatalf("query %q", q)
	}
}

func TestPostWithHeadersAndBody(t *testing.T) {
	srv := newAPI(t, ok(binancePrice))
	body := `{"symbol":"BTCUSDT"}`
	r := start(t, entry("url", srv.URL+"/api/v3/ticker/price", "method", "POST", "body", body,
		"headers", map[string]any{"X-MBX-APIKEY": "k3y", "Authorization": "Bearer t0ken"},
		"symbol", "BTC-USDT", "price", "price", "interval", "100ms"))
	r.next(100 * time.Millisecond)
	r.expect("POST answer", tick("price.http", "BTC-USDT", 64000.10, 0, 0))
	req := srv.requests()[0]
	if req.method != "POST" || req.body != body || req.header.Get("X-MBX-APIKEY") != "k3y" ||
		req.header.Get("Authorization") != "Bearer t0ken" || req.header.Get("Content-Type") != "application/json" {
		t.Fatalf("server saw %+v", req)
	}
}

func TestVolumeAndTimestamp(t *testing.T) {
	srv := newAPI(t,
		ok(`{"last":"100.5","vol":"12.5","ts":1732269600}`),
		ok(`{"last":"101","vol":13,"ts":1732269610123}`),
		ok(`{"last":102,"vol":"14","ts":"2024-11-22T10:00:20.5Z"}`))
	r := start(t, entry("id", "x", "url", srv.URL, "symbol", "SOL-USD", "price", "last", "volume", "vol", "timestamp", "ts", "interval", "1s"))
	r.next(time.Second)
	r.advance(time.Second)
	r.next(2 * time.Second)
	r.advance(2 * time.Second)
	r.next(3 * time.Second)
	want := []feeds.Tick{tick("x", "SOL-USD", 100.5, 12.5, 0), tick("x", "SOL-USD", 101, 13, time.Second), tick("x", "SOL-USD", 102, 14, 2*time.Second)}
	want[0].VenueTime = time.Unix(1732269600, 0)
	want[1].VenueTime = time.UnixMilli(1732269610123)
	want[2].VenueTime = time.Date(2024, 11, 22, 10, 0, 20, 500e6, time.UTC)
	r.expect("volume as size, seconds, ms and RFC 3339", want...)
}

func TestErrorsAreRetriedAtTheNextInterval(t *testing.T) {
	srv := newAPI(t,
		answer{status: 500, body: `{"error":"internal"}`},
		ok(`<html>502 Bad Gateway</html>`),
		ok(`{"data":{"currency":"USD"}}`),
		answer{status: 429, header: map[string]string{"Retry-After": "30"}, body: `{"errors":[{"id":"rate_limit_exceeded"}]}`},
		answer{status: 429, header: map[string]string{"Retry-After": "1"}},
		ok(`{"data":{"amount":"0"}}`),
		ok(coinbaseSpot))
	r := start(t, entry("id", "cb", "url", srv.URL+"/spot?api_key=s3cret", "symbol", "ETH-USD", "price", "data.amount"))
	r.next(10 * time.Second)
	r.expect("500")
	if st := r.sup.Status(); st[0].State == plugins.StateBackoff {
		t.Fatalf("a failed poll made the instance back off: %+v", st)
	}
	r.advance(10 * time.Second)
	r.next(20 * time.Second)
	r.advance(20 * time.Second)
	r.next(30 * time.Second)
	r.advance(30 * time.Second)
	r.next(60 * time.Second) // 429 with Retry-After 30 beats the 10s interval
	r.advance(60 * time.Second)
	r.next(70 * time.Second) // Retry-After 1 is shorter than the interval
	r.advance(70 * time.Second)
	r.next(80 * time.Second) // a zero price is refused
	r.expect("before recovery")
	r.advance(80 * time.Second)
	r.next(90 * time.Second)
	r.expect("recovered", tick("cb", "ETH-USD", 3012.55, 0, 80*time.Second))

	logs := r.logs.String()
	for _, want := range []string{
		"HTTP 500 Internal Server Error",
		`bad JSON`,
		`data.amount: key \"amount\" not found at data (has currency)`,
		"HTTP 429 Too Many Requests",
		"retry_after=30s",
		"price 0 is not positive",
		"url=" + srv.URL + "/spot?REDACTED",
		"failures=6",
		"price.http poll recovered",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "s3cret") {
		t.Errorf("logs show the query string's secret:\n%s", logs)
	}
	if n := len(srv.requests()); n != 7 {
		t.Errorf("%d requests, want 7", n)
	}
}

func TestTimeout(t *testing.T) {
	srv := newAPI(t, answer{block: true}, ok(binancePrice))
	r := start(t, entry("url", srv.URL+"/p?k=v", "symbol", "BTC-USDT", "price", "price", "timeout", "50ms", "interval", "1s"))
	r.next(time.Second)
	r.expect("timed out")
	if logs := r.logs.String(); !strings.Contains(logs, "context deadline exceeded") || !strings.Contains(logs, "/p?REDACTED") || strings.Contains(logs, "k=v") {
		t.Fatalf("logs:\n%s", logs)
	}
	r.advance(time.Second)
	r.next(2 * time.Second)
	r.expect("next poll", tick("price.http", "BTC-USDT", 64000.10, 0, time.Second))
}

func TestPartialAnswer(t *testing.T) {
	srv := newAPI(t, ok(`{"result":{"XXBTZUSD":{"c":["64000.1","0.01"]}}}`))
	r := start(t, entry("url", srv.URL, "symbols", []any{
		map[string]any{"symbol": "BTC-USD", "price": "result.XXBTZUSD.c[0]"},
		map[string]any{"symbol": "ETH-USD", "price": "result.XETHZUSD.c[0]"},
	}))
	r.next(10 * time.Second)
	r.expect("the symbol that is there", tick("price.http", "BTC-USD", 64000.1, 0, 0))
	if logs := r.logs.String(); !strings.Contains(logs, `ETH-USD: result.XETHZUSD.c[0]: key \"XETHZUSD\" not found at result`) {
		t.Fatalf("logs:\n%s", logs)
	}
}

func TestConfigProblems(t *testing.T) {
	for _, tc := range []struct {
		entry config.Raw
		want  []string
	}{
		{entry("symbol", "ETH-USD", "price", "p"), []string{"feeds[0].url: required"}},
		{entry("url", "ftp://x/y", "symbol", "ETH-USD", "price", "p"), []string{`feeds[0].url: want an http:// or https:// URL, got scheme "ftp"`}},
		{entry("url", "http://x"), []string{"feeds[0]: missing what to report"}},
		{entry("url", "http://x", "symbol", "ETH-USD"), []string{"feeds[0].price: required"}},
		{entry("url", "http://x", "price", "p"), []string{"feeds[0].symbol: required"}},
		{entry("url", "http://x", "symbol", "eth/usd", "price", "data..p"), []string{`feeds[0].symbol: symbol "eth/usd"`, `feeds[0].price: path "data..p" at offset 5: empty key between dots`}},
		{entry("url", "http://x", "symbol", "ETH-USD", "price", "p", "size", "s", "volume", "v"), []string{"feeds[0].volume: give size or volume, not both"}},
		{entry("url", "http://x", "symbol", "ETH-USD", "price", "p", "symbols", []any{map[string]any{"symbol": "BTC-USD", "price": "q"}}), []string{"feeds[0].symbols: use either symbol/price"}},
		{entry("url", "http://x", "symbols", []any{
			map[string]any{"symbol": "BTC-USD", "price": "q["},
			map[string]any{"symbol": "BTC-USD", "price": "r", "size": "s]"},
			map[string]any{"symbol": "ETH-USD"},
		}), []string{"feeds[0].symbols[0].price: path", "feeds[0].symbols[1].symbol: BTC-USD is listed twice", "feeds[0].symbols[1].size: path", "feeds[0].symbols[2].price: required"}},
		{entry("url", "http://x", "symbol", "ETH-USD", "price", "p", "body", "{}"), []string{"feeds[0].body: a body is sent with method POST only"}},
		{entry("url", "http://x", "symbol", "ETH-USD", "price", "p", "method", "PUT", "interval", "10ms", "timestamp", "[x"), []string{"feeds[0].method", "feeds[0].interval", "feeds[0].timestamp: path"}},
	} {
		var ps config.Problems
		plugins.Default.Sources("feeds", []config.Raw{tc.entry}, nil, &ps)
		got := ps.Error()
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("entry %v: problems\n%s\nlack %q", tc.entry, got, w)
			}
		}
		if len(ps) != len(tc.want) {
			t.Errorf("entry %v: %d problems, want %d:\n%s", tc.entry, len(ps), len(tc.want), got)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := epoch
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"30", 30 * time.Second},
		{"99999999999", httpjson.MaxRetryAfter},
		{now.Add(45 * time.Second).Format(http.TimeFormat), 45 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), httpjson.MaxRetryAfter},
		{"soon", 0},
	} {
		if got := httpjson.RetryAfter(tc.v, now); got != tc.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestTimestamp(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want time.Time
	}{
		{`1732269600`, time.Unix(1732269600, 0)},
		{`1732269600.25`, time.Unix(1732269600, 250e6)},
		{`"1732269600"`, time.Unix(1732269600, 0)},
		{`1732269600123`, time.UnixMilli(1732269600123)},
		{`1732269600123456`, time.UnixMicro(1732269600123456)},
		{`1732269600123456789`, time.Unix(0, 1732269600123456789)},
		{`"2024-11-22T10:00:00.123456Z"`, time.Date(2024, 11, 22, 10, 0, 0, 123456e3, time.UTC)},
	} {
		v, err := decode(tc.doc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := httpjson.Timestamp(v)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("Timestamp(%s) = %v, %v; want %v", tc.doc, got, err, tc.want)
		}
	}
	for _, bad := range []string{`0`, `-1`, `"yesterday"`, `true`, `1e30`} {
		v, _ := decode(bad)
		if _, err := httpjson.Timestamp(v); err == nil {
			t.Errorf("Timestamp(%s) did not fail", bad)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.x.com/v1/p?key=secret&a=b": "https://api.x.com/v1/p?REDACTED",
		"https://user:pw@api.x.com/p":           "https://REDACTED@api.x.com/p",
		"https://api.x.com/p#frag":              "https://api.x.com/p",
		"http://h/p":                            "http://h/p",
	} {
		if got := httpjson.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExample(t *testing.T) {
	data, err := os.ReadFile("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	typ, found := plugins.Default.Lookup("price.http")
	if !found || typ.Kind != plugins.KindSource || typ.Example != string(data) {
		t.Fatalf("price.http registered: %v, kind %q, example matches example.yaml: %v", found, typ.Kind, typ.Example == string(data))
	}
	var list []map[string]any
	if err := yaml.Unmarshal(data, &list); err != nil {
		t.Fatalf("example does not parse: %v", err)
	}
	entries := make([]config.Raw, len(list))
	for i, m := range list {
		entries[i] = config.Raw(m)
	}
	out := specs(t, entries...)
	if len(out) != 2 || out[0].ID != "coinbase-spot" || out[1].ID != "kraken-rest" {
		t.Fatalf("example specs %+v", out)
	}
	kr := out[1].Config.(*httpjson.Config)
	if len(kr.Symbols) != 2 || kr.Symbols[1].Price != "result.XETHZUSD.c[0]" || kr.Headers["User-Agent"] != "feedd" || kr.Interval != 15*time.Second {
		t.Fatalf("kraken example config %+v", *kr)
	}

	// Run the examples against local servers answering as the real APIs do.
	cb, k := newAPI(t, ok(coinbaseSpot)), newAPI(t, ok(krakenTicker))
	entries[0]["url"] = cb.URL + "/v2/prices/ETH-USD/spot"
	entries[1]["url"] = k.URL + "/0/public/Ticker?pair=XBTUSD,ETHUSD"
	r := start(t, entries...)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := r.clk.WaitTimers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	got := r.sink.got()
	slices.SortFunc(got, func(a, b feeds.Tick) int { return strings.Compare(a.Source+a.Symbol, b.Source+b.Symbol) })
	want := []feeds.Tick{tick("coinbase-spot", "ETH-USD", 3012.55, 0, 0), tick("kraken-rest", "BTC-USD", 64000.1, 0.01, 0), tick("kraken-rest", "ETH-USD", 3012.55, 0.25, 0)}
	if !slices.Equal(got, want) {
		t.Fatalf("example ticks\n%s\nwant\n%s", show(got), show(want))
	}
	if ua := k.requests()[0].header.Get("User-Agent"); ua != "feedd" {
		t.Fatalf("User-Agent %q", ua)
	}
}

func decode(s string) (any, error) {
	return jsonpath.Decode([]byte(s))
}
