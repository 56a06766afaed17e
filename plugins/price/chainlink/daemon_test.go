package chainlink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/feedd/feedd/internal/chaintest"
	"github.com/feedd/feedd/internal/devchain"
	_ "github.com/feedd/feedd/plugins/price/uniswap"
)

// TestThroughDaemon runs both on-chain price sources in the real daemon
// against the dev chain: the contracts are deployed before the daemon
// starts, at the addresses DeployAll predicts.
func TestThroughDaemon(t *testing.T) {
	d := devchain.PredictDeployment(devchain.DeriveAccount(devchain.DefaultSeed, 0).Address, 0)
	var deployed *devchain.Deployment
	extra := fmt.Sprintf(`feeds:
  - type: price.chainlink
    id: chainlink-eth
    chain: devnet
    feeds:
      - address: %q
        symbol: ETH-USD
        heartbeat: 1h
  - type: price.uniswapv2
    id: uniswap-eth
    chain: devnet
    pools:
      - address: %q
        symbol: ETH-USD
        invert: %t
prices:
  symbols:
    - symbol: ETH-USD
      sources: [chainlink-eth, uniswap-eth]
      min_sources: 1
      max_age: 1h
      max_deviation: 0
      publish: {min_interval: 1ms, heartbeat: 0s}
`, d.Aggregator.Hex(), d.Pair.Hex(), d.Token0() != d.WETH)
	env := chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true, Accounts: 2}, Extra: extra,
		Endpoint: func(dev *devchain.Chain) string {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var err error
			if deployed, err = devchain.DeployAll(ctx, dev); err != nil {
				t.Fatal(err)
			}
			return dev.WSURL()
		}})
	if deployed.Aggregator != d.Aggregator || deployed.Pair != d.Pair {
		t.Fatalf("deployed %+v, predicted %+v", deployed, d)
	}
	events := func() map[string]float64 {
		resp, err := http.Get("http://" + env.Daemon.Addr().String() + "/api/v1/sources")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Sources []struct {
				ID     string  `json:"id"`
				Events float64 `json:"events"`
			} `json:"sources"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, s := range body.Sources {
			out[s.ID] = s.Events
		}
		return out
	}
	waitEvents := func(id string, n float64) {
		t.Helper()
		deadline := time.Now().Add(wait)
		for events()[id] < n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v events, want %v", id, events()[id], n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitEvents("chainlink-eth", 1)
	waitEvents("uniswap-eth", 1)

	// The aggregated price on prices:ETH-USD, as a client sees it.
	w := env.Subscribe(t, "prices:ETH-USD")
	price := func(states []json.RawMessage) []float64 {
		var out []float64
		for _, s := range states {
			var p struct {
				Price *float64 `json:"price"`
			}
			if json.Unmarshal(s, &p) == nil && p.Price != nil {
				out = append(out, *p.Price)
			}
		}
		return out
	}
	w.WaitForStates(t, "price 3000", func(states []json.RawMessage) bool {
		ps := price(states)
		return len(ps) > 0 && ps[len(ps)-1] > 2999.99 && ps[len(ps)-1] < 3000.01
	})
	update(t, env.Dev, deployed, e8(3050))
	waitEvents("chainlink-eth", 2)
	w.WaitForStates(t, "price moved by the oracle", func(states []json.RawMessage) bool {
		ps := price(states)
		return len(ps) > 0 && ps[len(ps)-1] > 3000.01 && ps[len(ps)-1] <= 3050
	})
}
