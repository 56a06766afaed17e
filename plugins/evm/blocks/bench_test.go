package blocks_test

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/feedd/feedd/channels/client"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/chaintest"
	"github.com/feedd/feedd/internal/devchain"
)

// BenchmarkHeadToClient measures the latency from a block being sealed on
// the node (Commit returns; the node then announces it over WebSocket) to
// its blocks:<chain> update arriving at a subscribed WebSocket client of
// the daemon: notification, block fetch, publication, fan-out and write.
func BenchmarkHeadToClient(b *testing.B) {
	env := chaintest.Start(b, chaintest.Options{Dev: devchain.Options{Manual: true},
		Extra: "feeds:\n  - {id: blocks, type: evm.blocks, chain: devnet}\n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.Dial(ctx, client.Options{URL: env.URL()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	wake := make(chan struct{}, 1)
	_, err = c.Subscribe(ctx, "blocks:devnet", client.HandlerFuncs{Update: func(u client.Update) {
		var blk feeds.Block
		if json.Unmarshal(u.Data, &blk) == nil && blk.Type == "block" {
			mu.Lock()
			arrived[blk.Hash] = time.Now()
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h, err := env.Dev.Commit()
		if err != nil {
			b.Fatal(err)
		}
		sealed := time.Now()
		deadline := time.After(10 * time.Second)
		for {
			mu.Lock()
			at, ok := arrived[h.Hex()]
			mu.Unlock()
			if ok {
				lat = append(lat, at.Sub(sealed))
				break
			}
			select {
			case <-wake:
			case <-deadline:
				b.Fatalf("block %s did not reach the client", h.Hex())
			}
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
