package daemon

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/feedd/feedd/channels/client"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/plugins"
)

// chanSource emits the ticks sent on its channel.
type chanSource struct{ ticks <-chan feeds.Tick }

func (s chanSource) Run(ctx context.Context, h *plugins.Host) error {
	h.Ready()
	for {
		select {
		case <-ctx.Done():
			return nil
		case t := <-s.ticks:
			t.ReceiveTime = time.Now()
			h.Emit(t)
		}
	}
}

// BenchmarkTickToClient measures a tick reported by a source to the
// prices:<symbol> update read by a WebSocket client of the real daemon:
// supervisor, aggregation (median of 3 sources, two TWAP windows), publish,
// fan-out and write. Reports p50 and p99.
func BenchmarkTickToClient(b *testing.B) {
	ticks := make(chan feeds.Tick)
	reg := plugins.NewRegistry()
	reg.Register(plugins.Type{Name: "bench.ticks", Kind: plugins.KindSource, Doc: "ticks from the benchmark",
		NewSource: func(any, plugins.Env) (plugins.Instance, error) { return chanSource{ticks: ticks}, nil }})
	path := filepath.Join(b.TempDir(), "feedd.yaml")
	writeFile(b, path, header+`feeds:
  - {id: bench, type: bench.ticks}
prices:
  symbols:
    - {symbol: ETH-USD, sources: [bench], twap: [1m, 5m], publish: {min_interval: 0s, deviation: 0, heartbeat: 1h}}
`)
	d, err := New(Options{ConfigPath: path, Registry: reg, LogOutput: &syncBuffer{}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()

	c, err := client.Dial(ctx, client.Options{URL: "ws://" + d.Addr().String() + "/ws"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	got := make(chan float64, 16)
	if _, err := c.Subscribe(ctx, "prices:ETH-USD", client.HandlerFuncs{Update: func(u client.Update) {
		var p feeds.PriceUpdate
		if json.Unmarshal(u.Data, &p) == nil {
			got <- p.Price
		}
	}}); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		price := 3000 + float64(i%1000)/10 + 0.01
		start := time.Now()
		ticks <- feeds.Tick{Source: "bench", Symbol: "ETH-USD", Price: price}
		for {
			select {
			case p := <-got:
				if p != price {
					continue
				}
			case <-time.After(10 * time.Second):
				b.Fatalf("tick %d never reached the client", i)
			}
			break
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
