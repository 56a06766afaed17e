package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestMarketOverviewEndToEnd replays sized ticks through the real daemon
// and reads market:overview and prices:ETH-USD over WebSocket; when the
// replay stops, the log names the sources that went stale.
func TestMarketOverviewEndToEnd(t *testing.T) {
	dir := t.TempDir()
	var ticks strings.Builder
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&ticks, `{"ts":%d,"source":"cb","symbol":"ETH-USD","price":%d,"size":0.5,"side":"buy"}`+"\n", 1000+i*10, 3000+i)
		fmt.Fprintf(&ticks, `{"ts":%d,"source":"kr","symbol":"BTC-USD","price":%d,"size":0.25,"side":"sell"}`+"\n", 1005+i*10, 60000+i)
	}
	os.WriteFile(filepath.Join(dir, "ticks.jsonl"), []byte(ticks.String()), 0o644)
	r := startIn(t, dir, header+`feeds:
  - {id: replay, type: price.replay, file: ticks.jsonl, speed: 1, loop: false}
prices:
  symbols:
    - {symbol: ETH-USD, supply: 100, max_age: 300ms, twap: [1m, 5m], publish: {min_interval: 0s}}
    - {symbol: BTC-USD, supply: 10, max_age: 300ms, publish: {min_interval: 0s}}
    - {symbol: ETH-BTC, derive: {from: [ETH-USD, BTC-USD], op: divide}, max_age: 300ms}
  market: {interval: 20ms, top_movers: 2, recent_trades: 4}
`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","channels":["market:overview","prices:ETH-USD"]}`))

	type overview struct {
		TotalMarketCap float64  `json:"totalMarketCap"`
		TotalVolume    float64  `json:"totalVolume"`
		BTCDominance   *float64 `json:"btcDominance"`
		TopMovers      []struct {
			Symbol string `json:"symbol"`
		} `json:"topMovers"`
		RecentTrades []struct {
			Symbol, Source, Side string
			Price, Size          float64
			TS                   int64
		} `json:"recentTrades"`
		TS int64 `json:"ts"`
	}
	var last overview
	var price map[string]any
	for last.TotalMarketCap == 0 || len(last.RecentTrades) < 4 || price == nil || price["twap"] == nil {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v (last overview %+v, price %v)", err, last, price)
		}
		var msgs []json.RawMessage
		if data[0] == '[' {
			json.Unmarshal(data, &msgs)
		} else {
			msgs = []json.RawMessage{data}
		}
		for _, m := range msgs {
			var msg struct {
				Type, Channel string
				Data          json.RawMessage
			}
			json.Unmarshal(m, &msg)
			switch {
			case msg.Type != "update":
			case msg.Channel == "market:overview":
				last = overview{}
				if err := json.Unmarshal(msg.Data, &last); err != nil {
					t.Fatal(err)
				}
			case msg.Channel == "prices:ETH-USD":
				price = nil
				json.Unmarshal(msg.Data, &price)
			}
		}
	}
	if last.BTCDominance == nil || *last.BTCDominance <= 0.6 || *last.BTCDominance >= 0.7 || last.TotalVolume <= 0 ||
		len(last.RecentTrades) != 4 || len(last.TopMovers) != 2 || last.TS == 0 {
		t.Fatalf("overview: %+v", last)
	}
	for _, tr := range last.RecentTrades {
		if tr.Size <= 0 || tr.Source == "" || (tr.Symbol != "ETH-USD" && tr.Symbol != "BTC-USD") || tr.Side == "" {
			t.Fatalf("recent trade: %+v", tr)
		}
	}
	if _, ok := price["twap"].(map[string]any)["1m"]; !ok || price["volume24h"] == nil || price["change24h"] == nil {
		t.Fatalf("price update: %v", price)
	}
	// The replay does not loop: the sources go stale, and the log names them.
	eventually(t, "stale log lines", func() bool {
		logs := r.logs.String()
		return strings.Contains(logs, "price stale") && strings.Contains(logs, "cb") && strings.Contains(logs, "kr") &&
			strings.Contains(logs, "ETH-BTC")
	})
}
