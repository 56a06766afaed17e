package uniswap_test

import (
	"context"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/internal/devchain/contracts"
	_ "github.com/feedd/feedd/plugins/price/chainlink"
)

// TestTraffic moves the pair and the oracle with the dev chain's traffic
// generator: the last tick of each source is the chain's price at the end.
func TestTraffic(t *testing.T) {
	dev, d := startDev(t)
	r := run(t, dev, d, poolYAML(d)+fmt.Sprintf(`
- type: price.chainlink
  id: cl
  chain: devnet
  feeds:
    - {address: %q, symbol: ETH-USD, heartbeat: 1h}
`, d.Aggregator.Hex()))
	r.waitTick(t, "initial chainlink", 0, func(tk feeds.Tick) bool { return tk.Source == "cl" })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := devchain.RunTraffic(ctx, dev, d, devchain.TrafficOptions{Rate: 300, Seed: 7, FailPercent: -1, ReplacePercent: -1})
		done <- err
	}()
	for range 15 {
		time.Sleep(40 * time.Millisecond)
		commit(t, dev)
	}
	cancel()
	if err := <-done; err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
	// Seal what is still pending.
	for i := 0; ; i++ {
		if p, q := dev.PoolStats(); p+q == 0 {
			break
		}
		if i > 50 {
			t.Fatal("pool does not drain")
		}
		commit(t, dev)
	}
	commit(t, dev)

	qctx, qcancel := context.WithTimeout(context.Background(), wait)
	defer qcancel()
	pair, err := devchain.PairPrice(qctx, dev, d)
	if err != nil {
		t.Fatal(err)
	}
	out, err := contracts.Call(qctx, dev.Client(), d.Aggregator, contracts.Aggregator, "latestAnswer")
	if err != nil {
		t.Fatal(err)
	}
	oracle, _ := new(big.Rat).SetFrac(out[0].(*big.Int), big.NewInt(100_000_000)).Float64()
	if near(pair, 3000) || near(oracle, 3000) {
		t.Fatalf("traffic did not move the prices: pair %v oracle %v", pair, oracle)
	}
	last := func(src string) (feeds.Tick, int) {
		var out feeds.Tick
		n := 0
		for _, tk := range r.sink.got() {
			if tk.Source == src {
				out, n = tk, n+1
			}
		}
		return out, n
	}
	deadline := time.Now().Add(wait)
	for {
		u, nu := last("uni")
		c, nc := last("cl")
		if near(u.Price, pair) && near(c.Price, oracle) {
			t.Logf("%d pair ticks, last %v; %d oracle ticks, last %v", nu, u.Price, nc, c.Price)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("last ticks %+v / %+v, want pair %v oracle %v", u, c, pair, oracle)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
