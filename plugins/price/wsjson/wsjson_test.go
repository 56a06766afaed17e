package wsjson_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
	"github.com/feedd/feedd/plugins/price/venue/venuetest"
	"github.com/feedd/feedd/plugins/price/wsjson"
)

func bitstamp(url string, kv ...any) config.Raw {
	e := config.Raw{
		"type": "price.ws", "id": "bitstamp", "url": url,
		"subscribe":      []any{map[string]any{"event": "bts:subscribe", "data": map[string]any{"channel": "live_trades_{symbol}"}}},
		"match":          map[string]any{"path": "event", "equals": "trade"},
		"reconnect_on":   map[string]any{"path": "event", "equals": "bts:request_reconnect"},
		"symbol":         "channel",
		"symbol_pattern": "live_trades_{symbol}",
		"symbols":        []any{"BTC-USD", "ETH-USD"},
		"symbol_map":     map[string]any{"btcusd": "BTC-USD", "ethusd": "ETH-USD"},
		"price":          "data.price",
		"size":           "data.amount",
		"side":           "data.type",
		"side_map":       map[string]any{"0": "buy", "1": "sell"},
		"timestamp":      "data.timestamp",
		"trade_id":       "data.id",
		"reconnect_min":  "10ms", "reconnect_max": "20ms",
	}
	for i := 0; i < len(kv); i += 2 {
		e[kv[i].(string)] = kv[i+1]
	}
	return e
}

func okx(url string) config.Raw {
	return config.Raw{
		"type": "price.ws", "id": "okx", "url": url,
		"subscribe_raw": []any{`{"op":"subscribe","args":[{"channel":"trades","instId":"{symbol}"}]}`},
		"match":         map[string]any{"path": "arg.channel", "equals": "trades"},
		"items":         "data",
		"symbol":        "instId",
		"symbols":       []any{"BTC-USDT", "ETH-USDT"},
		"price":         "px", "size": "sz", "side": "side", "timestamp": "ts", "trade_id": "tradeId",
		"reconnect_min": "10ms", "reconnect_max": "20ms",
	}
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

func expectSubscribe(t *testing.T, c *venuetest.Conn, want ...string) {
	t.Helper()
	for _, w := range want {
		if got := string(c.Expect(t)); got != w {
			t.Fatalf("subscribe = %s, want %s", got, w)
		}
	}
}

func TestBitstampSessionReconnect(t *testing.T) {
	srv := venuetest.NewServer(t)
	rig := venuetest.Start(t, bitstamp(srv.URL))
	subs := []string{
		`{"data":{"channel":"live_trades_btcusd"},"event":"bts:subscribe"}`,
		`{"data":{"channel":"live_trades_ethusd"},"event":"bts:subscribe"}`,
	}
	c := srv.Next(t)
	expectSubscribe(t, c, subs...)
	rig.WaitState(plugins.StateRunning)
	for _, f := range []string{"bitstamp_sub_ok.json", "bitstamp_heartbeat.json", "bitstamp_trade1.json", "bitstamp_bad.json", "bitstamp_error.json", "bitstamp_trade2.json"} {
		c.Send(t, venuetest.Fixture(t, f))
	}
	c.Send(t, "not json at all")
	checkTicks(t, rig.Ticks(2), []feeds.Tick{
		{Source: "bitstamp", Symbol: "BTC-USD", Price: 64000.1, Size: 0.01, Side: feeds.SideBuy, VenueTime: time.Unix(1700000000, 0)},
		{Source: "bitstamp", Symbol: "ETH-USD", Price: 3012.55, Size: 0.5, Side: feeds.SideSell, VenueTime: time.Unix(1700000001, 0)},
	})
	rig.WaitLog(`not a number`)
	rig.WaitLog(`message ignored: no match`)

	c.Close()
	c2 := srv.Next(t)
	expectSubscribe(t, c2, subs...)
	c2.Send(t, venuetest.Fixture(t, "bitstamp_trade1.json")) // already emitted
	c2.Send(t, venuetest.Fixture(t, "bitstamp_trade3.json"))
	checkTicks(t, rig.Ticks(1), []feeds.Tick{
		{Source: "bitstamp", Symbol: "BTC-USD", Price: 64001, Size: 0.2, Side: feeds.SideSell, VenueTime: time.Unix(1700000002, 0)},
	})
	rig.NoTicks(50 * time.Millisecond)

	// The venue asks for a reconnect: the session reconnects and resubscribes.
	c2.Send(t, venuetest.Fixture(t, "bitstamp_reconnect.json"))
	c3 := srv.Next(t)
	expectSubscribe(t, c3, subs...)
	c3.Send(t, venuetest.Fixture(t, "bitstamp_trade3.json")) // already emitted
	rig.NoTicks(50 * time.Millisecond)
	if st := rig.WaitState(plugins.StateRunning); st.Restarts != 0 {
		t.Errorf("status %+v: the reconnect should not restart the instance", st)
	}
	if n := rig.Sum("feedd.venue.duplicates"); n != 2 {
		t.Errorf("duplicates = %d, want 2", n)
	}
	if st := rig.WaitState(plugins.StateRunning); st.State != plugins.StateRunning {
		t.Errorf("status %+v", st)
	}
}

func TestOKXItems(t *testing.T) {
	srv := venuetest.NewServer(t)
	rig := venuetest.Start(t, okx(srv.URL))
	c := srv.Next(t)
	expectSubscribe(t, c,
		`{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"}]}`,
		`{"op":"subscribe","args":[{"channel":"trades","instId":"ETH-USDT"}]}`)
	for _, f := range []string{"okx_sub_ok.json", "okx_trades.json", "okx_partly_bad.json"} {
		c.Send(t, venuetest.Fixture(t, f))
	}
	checkTicks(t, rig.Ticks(3), []feeds.Tick{
		{Source: "okx", Symbol: "BTC-USDT", Price: 42219.9, Size: 0.12060306, Side: feeds.SideBuy, VenueTime: time.UnixMilli(1630048897897)},
		{Source: "okx", Symbol: "BTC-USDT", Price: 42219.8, Size: 0.5, Side: feeds.SideSell, VenueTime: time.UnixMilli(1630048897899)},
		{Source: "okx", Symbol: "BTC-USDT", Price: 42220.1, Size: 0.1, Side: feeds.SideBuy, VenueTime: time.UnixMilli(1630048897901)},
	})
	rig.WaitLog("item 0")
	c.Close()
	c2 := srv.Next(t)
	c2.Expect(t)
	c2.Expect(t)
	c2.Send(t, venuetest.Fixture(t, "okx_trades.json")) // replayed
	rig.NoTicks(50 * time.Millisecond)
}

func TestExtract(t *testing.T) {
	d, err := wsjson.NewDecoder(wsjson.Config{
		URL: "ws://x", Symbols: []string{"BTC-USD"}, Price: "p", Size: "q", Side: "s", Timestamp: "t", ID: "i",
		Match: wsjson.Match{Path: "type", Equals: "1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		msg   string
		ticks int
		err   string
	}{
		{"tick", `{"type":1,"p":"1.5","q":2,"s":"B","t":1700000000000,"i":7}`, 1, ""},
		{"no match", `{"type":2,"p":1}`, 0, ""},
		{"no match path", `{"p":1}`, 0, ""},
		{"bad json", `{"type":1`, 0, "bad JSON"},
		{"zero price", `{"type":1,"p":0,"q":1,"s":"b","t":1,"i":1}`, 0, "out of range"},
		{"negative size", `{"type":1,"p":1,"q":-1,"s":"b","t":1,"i":1}`, 0, "out of range"},
		{"odd side", `{"type":1,"p":1,"q":1,"s":"x","t":1,"i":1}`, 0, "not buy or sell"},
		{"bad id", `{"type":1,"p":1,"q":1,"s":"b","t":1,"i":"1.5"}`, 0, "integer id"},
		{"missing price", `{"type":1,"q":1}`, 0, `key "p" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := d.Extract([]byte(tt.msg))
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if len(res.Items) != tt.ticks {
				t.Fatalf("items %+v, want %d", res.Items, tt.ticks)
			}
		})
	}
	res, _ := d.Extract([]byte(`{"type":1,"p":"1.5","q":2,"s":"B","t":1700000000000,"i":7}`))
	want := feeds.Tick{Symbol: "BTC-USD", Price: 1.5, Size: 2, Side: feeds.SideBuy, VenueTime: time.UnixMilli(1700000000000)}
	if g := res.Items[0]; g.Tick.Symbol != want.Symbol || g.Tick.Price != want.Price || g.Tick.Size != want.Size || g.Tick.Side != want.Side || !g.Tick.VenueTime.Equal(want.VenueTime) || g.ID != 7 {
		t.Fatalf("item %+v, want %+v id 7", g, want)
	}
}

func TestRender(t *testing.T) {
	names := []string{"btcusd", `we"ird`}
	tests := []struct {
		tmpl string
		want []string
		err  string
	}{
		{`{"op":"subscribe","args":"{symbols}"}`, []string{`{"op":"subscribe","args":["btcusd","we\"ird"]}`}, ""},
		{`{"ch":"t_{symbol}"}`, []string{`{"ch":"t_btcusd"}`, `{"ch":"t_we\"ird"}`}, ""},
		{`{"ping":1}`, []string{`{"ping":1}`}, ""},
		{`{"a":{symbol}}`, nil, "not valid JSON"},
		{`not json`, nil, "not valid JSON"},
	}
	for _, tt := range tests {
		got, err := wsjson.Render(tt.tmpl, names)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Render(%s) error %v, want %q", tt.tmpl, err, tt.err)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Fatalf("Render(%s) = %q, %v", tt.tmpl, got, err)
		}
		for i := range got {
			if string(got[i]) != tt.want[i] {
				t.Errorf("Render(%s)[%d] = %s, want %s", tt.tmpl, i, got[i], tt.want[i])
			}
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		kv   []any
		want string
	}{
		{"http url", []any{"url", "http://x"}, "feeds[0].url: want a ws:// or wss:// URL"},
		{"no symbol path", []any{"symbol", ""}, "feeds[0].symbol: required with more than one symbol"},
		{"bad price path", []any{"price", "a..b"}, "feeds[0].price: path"},
		{"bad items path", []any{"items", "[x"}, "feeds[0].items: path"},
		{"bad side map", []any{"side_map", map[string]any{"0": "long"}}, "feeds[0].side_map.0: want buy or sell"},
		{"pattern", []any{"symbol_pattern", "trades"}, "feeds[0].symbol_pattern: want exactly one {symbol}"},
		{"bad template", []any{"subscribe_raw", []any{`{"a":{symbol}}`}}, "feeds[0].subscribe_raw[0]: template"},
		{"headers", []any{"headers", map[string]any{"X-Key": "k"}}, "feeds[0].headers: not supported yet"},
		{"ping", []any{"ping", `{"op":"ping"}`}, "feeds[0].ping: application ping messages are not supported yet"},
		{"match equals alone", []any{"match", map[string]any{"equals": "x"}}, "feeds[0].match.path: required"},
		{"reconnect", []any{"reconnect_max", "1ms"}, "feeds[0].reconnect_max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := bitstamp("wss://ws.bitstamp.net", tt.kv...)
			_, ps := venuetest.Specs(e)
			if len(ps) == 0 || !strings.Contains(ps.Error(), tt.want) {
				t.Fatalf("problems %v, want %q", ps, tt.want)
			}
		})
	}
	if _, ps := venuetest.Specs(bitstamp("wss://ws.bitstamp.net")); len(ps) > 0 {
		t.Fatalf("valid entry: %v", ps)
	}
	single := okx("wss://x")
	single["symbol"], single["symbols"] = "", []any{"BTC-USDT"}
	if _, ps := venuetest.Specs(single); len(ps) > 0 {
		t.Fatalf("single symbol without symbol path: %v", ps)
	}
}

func TestExample(t *testing.T) {
	typ, ok := plugins.Default.Lookup("price.ws")
	if !ok {
		t.Fatal("price.ws not registered")
	}
	var entries []config.Raw
	if err := yaml.Unmarshal([]byte(typ.Example), &entries); err != nil {
		t.Fatal(err)
	}
	specs, ps := venuetest.Specs(entries...)
	if len(ps) > 0 || len(specs) != 2 {
		t.Fatalf("example: %d specs, %v", len(specs), ps)
	}
	d, err := wsjson.NewDecoder(*specs[0].Config.(*wsjson.Config))
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := d.Subscribe()
	if len(msgs) != 2 || string(msgs[0]) != `{"data":{"channel":"live_trades_btcusd"},"event":"bts:subscribe"}` {
		t.Fatalf("subscribe %q", msgs)
	}
	res, err := d.Extract([]byte(`{"data":{"id":301245001,"timestamp":"1700000000","amount":0.01,"price":64000.1,"type":0,"microtimestamp":"1700000000123456"},"channel":"live_trades_btcusd","event":"trade"}`))
	if err != nil || len(res.Items) != 1 || !res.Items[0].Tick.VenueTime.Equal(time.UnixMicro(1700000000123456)) {
		t.Fatalf("example decodes %+v, %v", res, err)
	}
}

func FuzzExtract(f *testing.F) {
	for _, s := range []string{
		`{"event":"trade","channel":"live_trades_btcusd","data":{"price":64000.1,"amount":0.01,"type":0,"timestamp":"1700000000","id":1}}`,
		`{"event":"trade","channel":"live_trades_ethusd","data":{"price":"1e400","amount":-1,"type":2,"timestamp":"x"}}`,
		`{"arg":{"channel":"trades"},"data":[{"instId":"BTC-USDT","px":"1","sz":"2","side":"buy","ts":"1630048897897","tradeId":"5"}]}`,
		`{"arg":{"channel":"trades"},"data":{}}`, `null`, `[]`, `"x"`, `{"event":"trade","channel":7}`,
	} {
		f.Add([]byte(s))
	}
	cfgs := []wsjson.Config{
		{URL: "ws://x", Match: wsjson.Match{Path: "event", Equals: "trade"}, Symbol: "channel", SymbolPattern: "live_trades_{symbol}",
			Symbols: []string{"BTC-USD", "ETH-USD"}, SymbolMap: map[string]string{"btcusd": "BTC-USD", "ethusd": "ETH-USD"},
			Price: "data.price", Size: "data.amount", Side: "data.type", SideMap: map[string]string{"0": "buy", "1": "sell"}, Timestamp: "data.timestamp", ID: "data.id"},
		{URL: "ws://x", Match: wsjson.Match{Path: "arg.channel"}, Items: "data", Symbol: "instId", Symbols: []string{"BTC-USDT"},
			Price: "px", Size: "sz", Side: "side", Timestamp: "ts", ID: "tradeId"},
	}
	var decs []*wsjson.Decoder
	for _, c := range cfgs {
		d, err := wsjson.NewDecoder(c)
		if err != nil {
			f.Fatal(err)
		}
		decs = append(decs, d)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, d := range decs {
			res, _ := d.Extract(msg)
			for _, it := range res.Items {
				tk := it.Tick
				if tk.Symbol == "" || !(tk.Price > 0) || math.IsInf(tk.Price, 0) || !(tk.Size >= 0) || math.IsInf(tk.Size, 0) || it.ID < 0 {
					t.Fatalf("bad item %+v from %q", it, msg)
				}
			}
		}
	})
}
