package uniswap_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/internal/devchain/contracts"
	"github.com/feedd/feedd/plugins/price/uniswap"
)

// poolV3 loads testdata/TestPoolV3 (compiled with the dev chain contracts'
// solc settings): a stand-in V3 pool with token0, token1, slot0 and a swap
// that sets the price and emits V3's Swap.
func poolV3(t *testing.T) contracts.Contract {
	t.Helper()
	abiJSON, err := os.ReadFile("testdata/TestPoolV3.abi")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := abi.JSON(bytes.NewReader(abiJSON))
	if err != nil {
		t.Fatal(err)
	}
	binHex, err := os.ReadFile("testdata/TestPoolV3.bin")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := hex.DecodeString(string(bytes.TrimSpace(binHex)))
	if err != nil {
		t.Fatal(err)
	}
	return contracts.Contract{Name: "TestPoolV3", ABI: parsed, Bin: bin}
}

// sqrtPriceX96 is sqrt(token1 units per token0 unit) × 2^96 for a price
// of price quote per base.
func sqrtPriceX96(price float64, wethIs0 bool) *big.Int {
	// raw token1 per token0, in smallest units.
	raw := new(big.Float).SetPrec(256)
	if wethIs0 { // TUSD per WETH: price × 1e6 / 1e18
		raw.Quo(big.NewFloat(price*1e6), big.NewFloat(1e18))
	} else { // WETH per TUSD: 1e18 / (price × 1e6)
		raw.Quo(big.NewFloat(1e18), big.NewFloat(price*1e6))
	}
	raw.Sqrt(raw)
	raw.Mul(raw, new(big.Float).SetInt(new(big.Int).Lsh(big.NewInt(1), 96)))
	out, _ := raw.Int(nil)
	return out
}

func TestV3(t *testing.T) {
	dev, d := startDev(t)
	ct := poolV3(t)
	wethIs0 := d.Token0() == d.WETH
	t0, t1 := d.WETH, d.TUSD
	if !wethIs0 {
		t0, t1 = t1, t0
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	data, err := ct.DeployData(t0, t1, sqrtPriceX96(3000, wethIs0))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := dev.Send(ctx, dev.Accounts()[1], devchain.TxRequest{Data: data, Gas: 2_000_000})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, dev)
	rc, err := dev.WaitReceipt(ctx, tx.Hash())
	if err != nil || rc.Status != 1 {
		t.Fatalf("deploy: %v %+v", err, rc)
	}
	pool := rc.ContractAddress

	r := run(t, dev, d, fmt.Sprintf(`
- type: price.uniswapv3
  id: v3
  chain: devnet
  pools:
    - {address: %q, symbol: ETH-USD, invert: %t}
`, pool.Hex(), !wethIs0))
	first, n := r.waitTick(t, "initial price", 0, func(feeds.Tick) bool { return true })
	if first.Symbol != "ETH-USD" || !near6(first.Price, 3000) {
		t.Fatalf("initial tick %+v, want 3000", first)
	}

	// A buy of 2 WETH for 6100 TUSD moving the price to 3050.
	weth, tusd := units(-2, devchain.WETHUnit), units(6100, devchain.TUSDUnit)
	a0, a1 := weth, tusd
	if !wethIs0 {
		a0, a1 = tusd, weth
	}
	call, err := ct.Pack("swap", a0, a1, sqrtPriceX96(3050, wethIs0))
	if err != nil {
		t.Fatal(err)
	}
	tx, err = dev.Send(ctx, dev.Accounts()[1], devchain.TxRequest{To: &pool, Data: call, Gas: 500_000})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, dev)
	tk, _ := r.waitTick(t, "after the swap", n, func(feeds.Tick) bool { return true })
	if !near6(tk.Price, 3050) || tk.Side != feeds.SideBuy || !near(tk.Size, 2) {
		t.Fatalf("after the swap %+v, want 3050, buy 2", tk)
	}
}

func near6(a, b float64) bool { return a > b*(1-1e-6) && a < b*(1+1e-6) }

func TestPriceV3(t *testing.T) {
	e18, e6 := devchain.WETHUnit, devchain.TUSDUnit
	// token0 WETH, token1 TUSD at 3000.
	if p, _ := uniswap.PriceV3(sqrtPriceX96(3000, true), e18, e6, false); !near6(p, 3000) {
		t.Errorf("price %v, want 3000", p)
	}
	// token0 TUSD, token1 WETH, base WETH.
	if p, _ := uniswap.PriceV3(sqrtPriceX96(3000, false), e6, e18, true); !near6(p, 3000) {
		t.Errorf("inverted price %v, want 3000", p)
	}
	// Uniswap's documented example: sqrtPriceX96 of 2^96 is a raw price of 1.
	if p, _ := uniswap.PriceV3(new(big.Int).Lsh(big.NewInt(1), 96), big.NewInt(1), big.NewInt(1), false); p != 1 {
		t.Errorf("price %v, want 1", p)
	}
}
