package kraken_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
	"github.com/feedd/feedd/plugins/price/kraken"
	"github.com/feedd/feedd/plugins/price/venue"
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
	e := config.Raw{"type": "price.kraken", "url": url, "symbols": []any{"BTC-USD", "ETH-USD"},
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
	if got, want := string(c.Expect(t)), `{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD","ETH/USD"]}}`; got != want {
		t.Fatalf("subscribe = %s, want %s", got, want)
	}
	c.Send(t, venuetest.Fixture(t, "status.json"))
	c.Send(t, venuetest.Fixture(t, "subscribe_ack_btc.json"))
	rig.WaitState(plugins.StateRunning)
	for _, f := range []string{"subscribe_ack_eth.json", "ticker_snapshot.json", "heartbeat.json", "ticker_update.json", "error.json", "status_maintenance.json"} {
		c.Send(t, venuetest.Fixture(t, f))
	}
	checkTicks(t, rig.Ticks(2), []feeds.Tick{
		{Source: "price.kraken", Symbol: "BTC-USD", Price: 97120.2, VenueTime: ts("2026-11-22T08:00:00.110203Z")},
		{Source: "price.kraken", Symbol: "ETH-USD", Price: 3012.55, VenueTime: ts("2026-11-22T08:00:01.25Z")},
	})
	rig.WaitLog("kraken: ping: Exceeded msg rate")
	rig.WaitLog(`kraken: system status \"maintenance\"`)

	c.Close()
	c2 := srv.Next(t)
	if got := string(c2.Expect(t)); !strings.Contains(got, `"symbol":["BTC/USD","ETH/USD"]`) {
		t.Fatalf("resubscribe = %s", got)
	}
	c2.Send(t, venuetest.Fixture(t, "subscribe_ack_eth.json"))
	c2.Send(t, venuetest.Fixture(t, "reconnect_snapshot.json")) // repeats the last ETH tick
	c2.Send(t, venuetest.Fixture(t, "reconnect_update.json"))
	checkTicks(t, rig.Ticks(1), []feeds.Tick{
		{Source: "price.kraken", Symbol: "ETH-USD", Price: 3013.25, VenueTime: ts("2026-11-22T08:00:06Z")},
	})
	rig.NoTicks(50 * time.Millisecond)
	if st := rig.WaitState(plugins.StateRunning); st.Restarts != 0 {
		t.Errorf("status %+v: the reconnect should not restart the instance", st)
	}
}

func TestTrades(t *testing.T) {
	srv := venuetest.NewServer(t)
	rig := venuetest.Start(t, entry(srv.URL, "channel", "trade", "symbols", []any{"BTC-USD"}, "source", "kr"))
	c := srv.Next(t)
	if got, want := string(c.Expect(t)), `{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"]}}`; got != want {
		t.Fatalf("subscribe = %s, want %s", got, want)
	}
	c.Send(t, venuetest.Fixture(t, "trade_snapshot.json"))
	c.Send(t, venuetest.Fixture(t, "trade_update.json"))
	checkTicks(t, rig.Ticks(3), []feeds.Tick{
		{Source: "kr", Symbol: "BTC-USD", Price: 97119.9, Size: 0.0125, Side: feeds.SideSell, VenueTime: ts("2026-11-22T07:59:58.700001Z")},
		{Source: "kr", Symbol: "BTC-USD", Price: 97120.2, Size: 0.5, Side: feeds.SideBuy, VenueTime: ts("2026-11-22T07:59:59.100002Z")},
		{Source: "kr", Symbol: "BTC-USD", Price: 97121, Size: 0.25, Side: feeds.SideBuy, VenueTime: ts("2026-11-22T08:00:02.000003Z")},
	})
	c.Close()
	c2 := srv.Next(t)
	c2.Expect(t)
	c2.Send(t, venuetest.Fixture(t, "trade_snapshot.json")) // trades already emitted
	rig.NoTicks(50 * time.Millisecond)
}

func TestUnsupportedPairIsFatal(t *testing.T) {
	srv := venuetest.NewServer(t)
	rig := venuetest.Start(t, entry(srv.URL))
	c := srv.Next(t)
	c.Expect(t)
	c.Send(t, venuetest.Fixture(t, "subscribe_error.json"))
	st := rig.WaitState(plugins.StateBackoff)
	if !strings.Contains(st.Error, "Currency pair not supported") {
		t.Fatalf("status %+v", st)
	}
}

func TestDecode(t *testing.T) {
	d := kraken.NewDecoder(kraken.Config{Symbols: []string{"BTC-USD", "DOGE-USD"}, SymbolMap: map[string]string{"XDG/USD": "DOGE-USD"}})
	tests := []struct {
		name       string
		msg        string
		alive, sub bool
		ticks      int
		symbol     string
		err        string
		fatal      bool
	}{
		{name: "heartbeat", msg: `{"channel":"heartbeat"}`, alive: true},
		{name: "ack", msg: `{"method":"subscribe","result":{"channel":"ticker","symbol":"BTC/USD"},"success":true}`, alive: true, sub: true},
		{name: "pong", msg: `{"method":"pong","time_in":"x","time_out":"y"}`, alive: true},
		{name: "mapped", msg: `{"channel":"ticker","type":"update","data":[{"symbol":"XDG/USD","last":0.41}]}`, ticks: 1, symbol: "DOGE-USD"},
		{name: "no timestamp", msg: `{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","last":1}]}`, ticks: 1, symbol: "BTC-USD"},
		{name: "unknown pair", msg: `{"channel":"ticker","type":"update","data":[{"symbol":"ETH/USD","last":1}]}`},
		{name: "no last", msg: `{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD"}]}`, err: "without last"},
		{name: "zero last", msg: `{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","last":0}]}`, err: "out of range"},
		{name: "bad time", msg: `{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","last":1,"timestamp":"yesterday"}]}`, err: "timestamp"},
		{name: "subscribe fatal", msg: `{"error":"Currency pair not supported BTC/USDX","method":"subscribe","success":false,"symbol":"BTC/USDX"}`, err: "not supported", fatal: true},
		{name: "subscribe other", msg: `{"error":"Exceeded msg rate","method":"subscribe","success":false}`, err: "Exceeded"},
		{name: "data not a list", msg: `{"channel":"trade","data":{}}`, err: "trade"},
		{name: "no channel", msg: `{}`, err: "without channel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := d.Decode([]byte(tt.msg))
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
			var fe *venue.FatalError
			if errors.As(err, &fe) != tt.fatal {
				t.Fatalf("error %v: fatal %v, want %v", err, !tt.fatal, tt.fatal)
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

func TestExample(t *testing.T) {
	typ, ok := plugins.Default.Lookup("price.kraken")
	if !ok {
		t.Fatal("price.kraken not registered")
	}
	var entries []config.Raw
	if err := yaml.Unmarshal([]byte(typ.Example), &entries); err != nil {
		t.Fatal(err)
	}
	specs, ps := venuetest.Specs(entries...)
	if len(ps) > 0 || len(specs) != 1 || specs[0].Config.(*kraken.Config).URL != kraken.DefaultURL {
		t.Fatalf("example: %v", ps)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"channel":"ticker","type":"snapshot","data":[{"symbol":"BTC/USD","last":1,"timestamp":"2026-11-22T08:00:00Z"}]}`,
		`{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1,"qty":2,"trade_id":3,"timestamp":"2026-11-22T08:00:00Z"}]}`,
		`{"channel":"status","data":[{"system":"online"}]}`, `{"method":"subscribe","success":false,"error":"x"}`,
		`{"channel":"trade","data":[{"symbol":"BTC/USD","price":-1,"qty":1e999}]}`, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, ch := range []string{"ticker", "trade"} {
			d := kraken.NewDecoder(kraken.Config{Symbols: []string{"BTC-USD"}, Channel: ch})
			res, _ := d.Decode(msg)
			for _, it := range res.Items {
				if it.Tick.Symbol != "BTC-USD" || !(it.Tick.Price > 0) || math.IsInf(it.Tick.Price, 0) || !(it.Tick.Size >= 0) || math.IsInf(it.Tick.Size, 0) {
					t.Fatalf("bad tick %+v from %q", it.Tick, msg)
				}
			}
		}
	})
}

// Heartbeats are signs of life: a quiet market with a live venue does not
// trip the supervisor's stall watch.
func TestHeartbeatsKeepAlive(t *testing.T) {
	srv := venuetest.NewServer(t)
	rig := venuetest.Start(t, entry(srv.URL, "stall_after", "150ms"))
	c := srv.Next(t)
	c.Expect(t)
	c.Send(t, venuetest.Fixture(t, "subscribe_ack_btc.json"))
	rig.WaitState(plugins.StateRunning)
	for range 15 {
		c.Send(t, venuetest.Fixture(t, "heartbeat.json"))
		time.Sleep(30 * time.Millisecond)
	}
	if st := rig.WaitState(plugins.StateRunning); st.Restarts != 0 {
		t.Fatalf("status %+v: heartbeats should keep the instance alive", st)
	}
	srv.NoConn(t, 10*time.Millisecond)
}

// The contrast: with neither ticks nor heartbeats, the stall watch restarts
// the instance, which dials again.
func TestSilenceTripsStallWatch(t *testing.T) {
	srv := venuetest.NewServer(t)
	rig := venuetest.Start(t, entry(srv.URL, "stall_after", "150ms"))
	c := srv.Next(t)
	c.Expect(t)
	c.Send(t, venuetest.Fixture(t, "subscribe_ack_btc.json"))
	srv.Next(t)
	rig.WaitLog("stall")
}
