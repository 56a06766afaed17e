package binance_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
	"github.com/feedd/feedd/plugins/price/binance"
	"github.com/feedd/feedd/plugins/price/venue/venuetest"
)

func entry(url string, kv ...any) config.Raw {
	e := config.Raw{"type": "price.binance", "url": url, "symbols": []any{"BTC-USDT", "ETH-USDT"},
		"reconnect_min": "10ms", "reconnect_max": "20ms"}
	for i := 0; i < len(kv); i += 2 {
		e[kv[i].(string)] = kv[i+1]
	}
	return e
}

func checkTicks(t *testing.T, got, want []feeds.Tick) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d ticks %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Source != w.Source || g.Symbol != w.Symbol || g.Price != w.Price || g.Size != w.Size || g.Side != w.Side || !g.VenueTime.Equal(w.VenueTime) {
			t.Errorf("tick %d = %+v, want %+v", i, g, w)
		}
		if g.ReceiveTime.IsZero() {
			t.Errorf("tick %d has no receive time", i)
		}
	}
}

func TestTradeSessionReconnect(t *testing.T) {
	srv := venuetest.NewServer(t)
	rig := venuetest.Start(t, entry(srv.URL))
	c := srv.Next(t)
	if got, want := c.URL.RawQuery, "streams=btcusdt@trade/ethusdt@trade"; got != want {
		t.Fatalf("query = %s, want %s", got, want)
	}
	rig.WaitState(plugins.StateRunning) // no ack on Binance: ready once connected
	// Binance pings; coder/websocket answers while the source reads.
	if err := c.Ping(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	for _, f := range []string{"trade_btc.json", "trade_other.json", "trade_eth.json", "error.json"} {
		c.Send(t, venuetest.Fixture(t, f))
	}
	checkTicks(t, rig.Ticks(2), []feeds.Tick{
		{Source: "price.binance", Symbol: "BTC-USDT", Price: 97123.45, Size: 0.0021, Side: feeds.SideBuy, VenueTime: time.UnixMilli(1795334400121)},
		{Source: "price.binance", Symbol: "ETH-USDT", Price: 3012.55, Size: 1.5, Side: feeds.SideSell, VenueTime: time.UnixMilli(1795334400198)},
	})
	rig.WaitLog("binance: error 2: Invalid request")

	c.Close()
	c2 := srv.Next(t)
	if c2.URL.RawQuery != c.URL.RawQuery {
		t.Fatalf("reconnected with %s", c2.URL.RawQuery)
	}
	// A trade already emitted (same trade id) is not emitted again.
	c2.Send(t, venuetest.Fixture(t, "trade_btc.json"))
	c2.Send(t, venuetest.Fixture(t, "trade_btc_2.json"))
	checkTicks(t, rig.Ticks(1), []feeds.Tick{
		{Source: "price.binance", Symbol: "BTC-USDT", Price: 97124, Size: 0.05, Side: feeds.SideSell, VenueTime: time.UnixMilli(1795334400999)},
	})
	rig.NoTicks(50 * time.Millisecond)
}

func TestBookTicker(t *testing.T) {
	srv := venuetest.NewServer(t)
	rig := venuetest.Start(t, entry(srv.URL, "stream", "bookTicker", "symbols", []any{"BTC-USDT"}, "source", "bn"))
	c := srv.Next(t)
	if got, want := c.URL.RawQuery, "streams=btcusdt@bookTicker"; got != want {
		t.Fatalf("query = %s, want %s", got, want)
	}
	c.Send(t, venuetest.Fixture(t, "bookticker_btc.json"))
	c.Send(t, venuetest.Fixture(t, "bookticker_btc.json")) // same update id
	c.Send(t, venuetest.Fixture(t, "bookticker_btc_2.json"))
	checkTicks(t, rig.Ticks(2), []feeds.Tick{
		{Source: "bn", Symbol: "BTC-USDT", Price: 97124},
		{Source: "bn", Symbol: "BTC-USDT", Price: 97124.5},
	})
	rig.NoTicks(30 * time.Millisecond)
}

func TestReadTimeoutReconnects(t *testing.T) {
	srv := venuetest.NewServer(t)
	rig := venuetest.Start(t, entry(srv.URL, "read_timeout", "50ms", "ping_interval", "0s"))
	srv.Next(t)
	srv.Next(t) // silent venue: redialled
	rig.WaitLog("no message from the venue within the read timeout")
}

func TestPingsKeepQuietConnection(t *testing.T) {
	srv := venuetest.NewServer(t)
	venuetest.Start(t, entry(srv.URL, "read_timeout", "100ms", "ping_interval", "20ms"))
	srv.Next(t)
	srv.NoConn(t, 300*time.Millisecond) // answered pings keep it open
}

func TestMaxConnectionAge(t *testing.T) {
	srv := venuetest.NewServer(t)
	rig := venuetest.Start(t, entry(srv.URL, "max_connection_age", "50ms"))
	srv.Next(t)
	srv.Next(t)
	rig.WaitLog("reconnecting before the venue's connection limit")
}

func TestDecode(t *testing.T) {
	d := binance.NewDecoder(binance.Config{URL: "ws://x/stream", Symbols: []string{"BTC-USDT", "POL-USDT"}, SymbolMap: map[string]string{"maticusdt": "POL-USDT"}})
	if got, want := d.URL(), "ws://x/stream?streams=btcusdt@trade/maticusdt@trade"; got != want {
		t.Fatalf("URL = %s, want %s", got, want)
	}
	tests := []struct {
		name   string
		msg    string
		ticks  int
		symbol string
		price  float64
		err    string
	}{
		{name: "mapped", msg: `{"stream":"maticusdt@trade","data":{"e":"trade","s":"MATICUSDT","t":5,"p":"0.41","q":"10","T":1,"m":false}}`, ticks: 1, symbol: "POL-USDT", price: 0.41},
		{name: "unknown symbol", msg: `{"stream":"x@trade","data":{"e":"trade","s":"XUSDT","t":5,"p":"1","q":"1","T":1}}`},
		{name: "bad price", msg: `{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","p":"x","q":"1"}}`, err: "trade price"},
		{name: "negative qty", msg: `{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT","p":"1","q":"-1"}}`, err: "quantity"},
		{name: "book mid", msg: `{"stream":"btcusdt@bookTicker","data":{"u":9,"s":"BTCUSDT","b":"1","B":"1","a":"3","A":"1"}}`, ticks: 1, symbol: "BTC-USDT", price: 2},
		{name: "book bad ask", msg: `{"stream":"btcusdt@bookTicker","data":{"u":9,"s":"BTCUSDT","b":"1","B":"1","a":"0","A":"1"}}`, err: "ask"},
		{name: "plain error", msg: `{"code":3,"msg":"Invalid JSON"}`, err: "error 3: Invalid JSON"},
		{name: "reply", msg: `{"result":null,"id":1}`},
		{name: "no data", msg: `{"stream":"btcusdt@trade"}`, err: "without data"},
		{name: "not json", msg: `{`, err: "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := d.Decode([]byte(tt.msg))
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if len(res.Items) != tt.ticks {
				t.Fatalf("%d ticks, want %d", len(res.Items), tt.ticks)
			}
			if tt.ticks > 0 && (res.Items[0].Tick.Symbol != tt.symbol || res.Items[0].Tick.Price != tt.price) {
				t.Fatalf("tick %+v, want %s at %v", res.Items[0].Tick, tt.symbol, tt.price)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name  string
		entry config.Raw
		want  string
	}{
		{"ok", config.Raw{"type": "price.binance", "symbols": []any{"BTC-USDT"}}, ""},
		{"bad stream", config.Raw{"type": "price.binance", "symbols": []any{"BTC-USDT"}, "stream": "depth"}, "stream"},
		{"bad url", config.Raw{"type": "price.binance", "symbols": []any{"BTC-USDT"}, "url": "https://x"}, "ws://"},
		{"bad symbol", config.Raw{"type": "price.binance", "symbols": []any{"BTCUSDT"}}, "want BASE-QUOTE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := venuetest.Specs(tt.entry)
			if tt.want == "" && len(ps) > 0 || tt.want != "" && !strings.Contains(ps.Error(), tt.want) {
				t.Fatalf("problems %v, want %q", ps, tt.want)
			}
		})
	}
}

func TestExample(t *testing.T) {
	typ, ok := plugins.Default.Lookup("price.binance")
	if !ok {
		t.Fatal("price.binance not registered")
	}
	var entries []config.Raw
	if err := yaml.Unmarshal([]byte(typ.Example), &entries); err != nil {
		t.Fatal(err)
	}
	specs, ps := venuetest.Specs(entries...)
	if len(ps) > 0 || len(specs) != 1 {
		t.Fatalf("example: %v", ps)
	}
	if got := binance.NewDecoder(*specs[0].Config.(*binance.Config)).URL(); got != "wss://stream.binance.com:9443/stream?streams=btcusdt@trade/ethusdt@trade" {
		t.Fatalf("example URL %s", got)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":5,"p":"1","q":"1","T":1,"m":true}}`,
		`{"stream":"btcusdt@bookTicker","data":{"u":9,"s":"BTCUSDT","b":"1e308","B":"1","a":"1.7e308","A":"1"}}`,
		`{"error":{"code":1,"msg":"x"}}`, `{"code":1}`, `{"data":[]}`, `null`, `1`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		d := binance.NewDecoder(binance.Config{URL: "ws://x/stream", Symbols: []string{"BTC-USDT"}})
		res, _ := d.Decode(msg)
		for _, it := range res.Items {
			if it.Tick.Symbol != "BTC-USDT" || !(it.Tick.Price > 0) || math.IsInf(it.Tick.Price, 0) || it.Tick.Size < 0 || it.ID < 0 {
				t.Fatalf("bad item %+v from %q", it, msg)
			}
		}
	})
}
