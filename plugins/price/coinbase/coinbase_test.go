package coinbase_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
	"github.com/feedd/feedd/plugins/price/coinbase"
	"github.com/feedd/feedd/plugins/price/venue/venuetest"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func entry(url string, kv ...any) config.Raw {
	e := config.Raw{"type": "price.coinbase", "url": url, "symbols": []any{"BTC-USD", "ETH-USD"},
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

func TestTickerSessionReconnect(t *testing.T) {
	srv := venuetest.NewServer(t)
	rig := venuetest.Start(t, entry(srv.URL))

	c := srv.Next(t)
	if got, want := string(c.Expect(t)), `{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channel":"ticker"}`; got != want {
		t.Fatalf("subscribe = %s, want %s", got, want)
	}
	if got, want := string(c.Expect(t)), `{"type":"subscribe","channel":"heartbeats"}`; got != want {
		t.Fatalf("heartbeats subscribe = %s, want %s", got, want)
	}
	for _, f := range []string{"subscriptions.json", "subscriptions_heartbeats.json"} {
		c.Send(t, venuetest.Fixture(t, f))
	}
	rig.WaitState(plugins.StateRunning)
	c.Send(t, venuetest.Fixture(t, "ticker_snapshot.json"))
	c.Send(t, venuetest.Fixture(t, "heartbeats.json"))
	c.Send(t, venuetest.Fixture(t, "ticker_update.json"))
	c.Send(t, venuetest.Fixture(t, "ticker_gap.json"))
	c.Send(t, venuetest.Fixture(t, "ticker_gap.json")) // repeated sequence_num: dropped
	c.Send(t, venuetest.Fixture(t, "error.json"))
	checkTicks(t, rig.Ticks(4), []feeds.Tick{
		{Source: "price.coinbase", Symbol: "BTC-USD", Price: 97123.45, VenueTime: ts("2026-11-22T08:00:00.250Z")},
		{Source: "price.coinbase", Symbol: "ETH-USD", Price: 3012.55, VenueTime: ts("2026-11-22T08:00:00.250Z")},
		{Source: "price.coinbase", Symbol: "ETH-USD", Price: 3013, VenueTime: ts("2026-11-22T08:00:01.500Z")},
		{Source: "price.coinbase", Symbol: "BTC-USD", Price: 97130, VenueTime: ts("2026-11-22T08:00:02.000Z")},
	})
	rig.WaitLog("sequence gap: 2 message(s) missed between 4 and 7")
	rig.WaitLog("dropping a repeated message")
	rig.WaitLog("coinbase: error: failure to subscribe")

	// The venue drops the connection: the source reconnects, subscribes
	// again, and the snapshot repeating the last prices emits nothing.
	c.Close()
	c2 := srv.Next(t)
	if got := string(c2.Expect(t)); !strings.Contains(got, `"channel":"ticker"`) {
		t.Fatalf("resubscribe = %s", got)
	}
	c2.Expect(t)
	c2.Send(t, venuetest.Fixture(t, "reconnect_subscriptions.json"))
	c2.Send(t, venuetest.Fixture(t, "reconnect_snapshot.json"))
	c2.Send(t, venuetest.Fixture(t, "reconnect_update.json"))
	checkTicks(t, rig.Ticks(1), []feeds.Tick{
		{Source: "price.coinbase", Symbol: "BTC-USD", Price: 97150.5, VenueTime: ts("2026-11-22T08:00:05.900Z")},
	})
	rig.NoTicks(50 * time.Millisecond)
	if st := rig.WaitState(plugins.StateRunning); st.Restarts != 0 {
		t.Errorf("status %+v: the reconnect should not restart the instance", st)
	}
	for name, want := range map[string]int64{
		"feedd.venue.connects":       2,
		"feedd.venue.disconnects":    1,
		"feedd.venue.connected":      1,
		"feedd.venue.duplicates":     2, // the snapshot after the reconnect
		"feedd.venue.message_errors": 3, // gap, repeat, error
	} {
		if got := rig.Sum(name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
}

func TestMarketTrades(t *testing.T) {
	srv := venuetest.NewServer(t)
	rig := venuetest.Start(t, entry(srv.URL, "channel", "market_trades", "source", "cb", "symbols", []any{"ETH-USD"}))
	c := srv.Next(t)
	if got, want := string(c.Expect(t)), `{"type":"subscribe","product_ids":["ETH-USD"],"channel":"market_trades"}`; got != want {
		t.Fatalf("subscribe = %s, want %s", got, want)
	}
	c.Expect(t)
	c.Send(t, venuetest.Fixture(t, "subscriptions.json"))
	c.Send(t, venuetest.Fixture(t, "market_trades_snapshot.json"))
	c.Send(t, venuetest.Fixture(t, "market_trades_update.json"))
	want := []feeds.Tick{
		{Source: "cb", Symbol: "ETH-USD", Price: 3012.55, Size: 0.5, Side: feeds.SideBuy, VenueTime: ts("2026-11-22T07:59:59.512Z")},
		{Source: "cb", Symbol: "ETH-USD", Price: 3012.56, Size: 0.75, Side: feeds.SideSell, VenueTime: ts("2026-11-22T07:59:59.870Z")},
		{Source: "cb", Symbol: "ETH-USD", Price: 3013.1, Size: 0.0421, Side: feeds.SideBuy, VenueTime: ts("2026-11-22T08:00:01.201Z")},
	}
	checkTicks(t, rig.Ticks(3), want)

	// After a reconnect the snapshot replays trades already seen.
	c.Close()
	c2 := srv.Next(t)
	c2.Expect(t)
	c2.Expect(t)
	c2.Send(t, venuetest.Fixture(t, "subscriptions.json"))
	c2.Send(t, venuetest.Fixture(t, "market_trades_snapshot.json"))
	c2.Send(t, venuetest.Fixture(t, "market_trades_update.json"))
	rig.NoTicks(100 * time.Millisecond)
}

func TestDecode(t *testing.T) {
	d := coinbase.NewDecoder(coinbase.Config{Symbols: []string{"BTC-USD", "POL-USD"}, SymbolMap: map[string]string{"MATIC-USD": "POL-USD"}, Channel: "ticker"})
	tests := []struct {
		name       string
		msg        string
		alive, sub bool
		ticks      int
		symbol     string
		err        string
	}{
		{name: "heartbeat is alive", msg: `{"channel":"heartbeats","sequence_num":0,"events":[{"heartbeat_counter":12}]}`, alive: true},
		{name: "subscriptions ack", msg: `{"channel":"subscriptions","sequence_num":1,"events":[]}`, alive: true, sub: true},
		{name: "mapped product", msg: `{"channel":"ticker","timestamp":"2026-11-22T08:00:00Z","sequence_num":2,"events":[{"type":"update","tickers":[{"product_id":"MATIC-USD","price":"0.41"}]}]}`, ticks: 1, symbol: "POL-USD"},
		{name: "unknown product ignored", msg: `{"channel":"ticker","sequence_num":3,"events":[{"type":"update","tickers":[{"product_id":"DOGE-USD","price":"0.1"}]}]}`},
		{name: "bad price", msg: `{"channel":"ticker","sequence_num":4,"events":[{"type":"update","tickers":[{"product_id":"BTC-USD","price":"NaN"}]}]}`, err: "BTC-USD price"},
		{name: "zero price", msg: `{"channel":"ticker","sequence_num":5,"events":[{"type":"update","tickers":[{"product_id":"BTC-USD","price":"0"}]}]}`, err: "out of range"},
		{name: "gap", msg: `{"channel":"heartbeats","sequence_num":9,"events":[]}`, alive: true, err: "sequence gap: 3 message(s) missed"},
		{name: "repeat", msg: `{"channel":"heartbeats","sequence_num":9,"events":[]}`, err: "repeated"},
		{name: "error", msg: `{"type":"error","message":"rate limit exceeded"}`, alive: true, err: "rate limit exceeded"},
		{name: "not json", msg: `nope`, err: "decode"},
		{name: "no channel", msg: `{}`, err: "without channel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := d.Decode([]byte(tt.msg))
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			if res.Alive != tt.alive || res.Subscribed != tt.sub || len(res.Items) != tt.ticks {
				t.Fatalf("result %+v, want alive %v subscribed %v ticks %d", res, tt.alive, tt.sub, tt.ticks)
			}
			if tt.symbol != "" && res.Items[0].Tick.Symbol != tt.symbol {
				t.Fatalf("symbol %s, want %s", res.Items[0].Tick.Symbol, tt.symbol)
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
		{"ok", config.Raw{"type": "price.coinbase", "symbols": []any{"BTC-USD"}}, ""},
		{"no symbols", config.Raw{"type": "price.coinbase"}, "symbols"},
		{"bad symbol", config.Raw{"type": "price.coinbase", "symbols": []any{"btc-usd"}}, "want BASE-QUOTE"},
		{"duplicate", config.Raw{"type": "price.coinbase", "symbols": []any{"BTC-USD", "BTC-USD"}}, "listed twice"},
		{"map to unlisted", config.Raw{"type": "price.coinbase", "symbols": []any{"BTC-USD"}, "symbol_map": map[string]any{"XBT-USD": "ETH-USD"}}, "not one of symbols"},
		{"bad channel", config.Raw{"type": "price.coinbase", "symbols": []any{"BTC-USD"}, "channel": "level2"}, "channel"},
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
	typ, ok := plugins.Default.Lookup("price.coinbase")
	if !ok {
		t.Fatal("price.coinbase not registered")
	}
	var entries []config.Raw
	if err := yaml.Unmarshal([]byte(typ.Example), &entries); err != nil {
		t.Fatal(err)
	}
	specs, ps := venuetest.Specs(entries...)
	if len(ps) > 0 || len(specs) != 1 {
		t.Fatalf("example: %v", ps)
	}
	if cfg := specs[0].Config.(*coinbase.Config); cfg.URL != coinbase.DefaultURL || specs[0].StallAfter != 2*time.Minute {
		t.Fatalf("example config %+v", cfg)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"channel":"ticker","timestamp":"2026-11-22T08:00:00Z","sequence_num":2,"events":[{"type":"update","tickers":[{"product_id":"BTC-USD","price":"1"}]}]}`,
		`{"channel":"market_trades","sequence_num":2,"events":[{"type":"snapshot","trades":[{"trade_id":"1","product_id":"BTC-USD","price":"1","size":"2","side":"BUY","time":"2026-11-22T08:00:00Z"}]}]}`,
		`{"type":"error","message":"x"}`, `{"channel":"heartbeats","sequence_num":-5}`, `{"events":[1]}`, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, ch := range []string{"ticker", "market_trades"} {
			d := coinbase.NewDecoder(coinbase.Config{Symbols: []string{"BTC-USD"}, Channel: ch})
			res, _ := d.Decode(msg)
			for _, it := range res.Items {
				if it.Tick.Symbol != "BTC-USD" || !(it.Tick.Price > 0) || math.IsInf(it.Tick.Price, 0) || it.Tick.Size < 0 {
					t.Fatalf("bad tick %+v from %q", it.Tick, msg)
				}
			}
		}
	})
}
