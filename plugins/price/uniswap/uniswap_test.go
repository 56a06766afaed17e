package uniswap_test

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"go.yaml.in/yaml/v3"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/internal/devchain/contracts"
	"github.com/feedd/feedd/plugins"
	"github.com/feedd/feedd/plugins/price/uniswap"
)

// poolYAML prices the pair as ETH-USD (id uni) and as USD-ETH (id inv).
func poolYAML(d *devchain.Deployment) string {
	wethIs0 := d.Token0() == d.WETH
	return fmt.Sprintf(`
- type: price.uniswapv2
  id: uni
  chain: devnet
  pools:
    - address: %q
      symbol: ETH-USD
      invert: %t
- type: price.uniswapv2
  id: inv
  chain: devnet
  pools:
    - address: %q
      symbol: USD-ETH
      invert: %t
      token0_decimals: %d
      token1_decimals: %d
`, d.Pair.Hex(), !wethIs0, d.Pair.Hex(), wethIs0, map[bool]int{true: 18, false: 6}[wethIs0], map[bool]int{true: 6, false: 18}[wethIs0])
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// amountOut is Uniswap V2's getAmountOut.
func amountOut(in, rIn, rOut *big.Int) *big.Int {
	withFee := new(big.Int).Mul(in, big.NewInt(997))
	num := new(big.Int).Mul(withFee, rOut)
	den := new(big.Int).Add(new(big.Int).Mul(rIn, big.NewInt(1000)), withFee)
	return num.Quo(num, den)
}

// swap sends swapExactIn(tokenIn, amountIn) without sealing.
func swap(t *testing.T, dev *devchain.Chain, d *devchain.Deployment, from devchain.Account, tokenIn common.Address, amountIn *big.Int) *types.Transaction {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	data, err := contracts.Pair.Pack("swapExactIn", tokenIn, amountIn, from.Address)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := dev.Send(ctx, from, devchain.TxRequest{To: &d.Pair, Data: data, Gas: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func mined(t *testing.T, dev *devchain.Chain, txs ...*types.Transaction) {
	t.Helper()
	commit(t, dev)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, tx := range txs {
		rc, err := dev.WaitReceipt(ctx, tx.Hash())
		if err != nil || rc.Status != 1 {
			t.Fatalf("swap: %v %+v", err, rc)
		}
	}
}

func units(n int64, unit *big.Int) *big.Int { return new(big.Int).Mul(big.NewInt(n), unit) }

func ratio(a, b *big.Int) float64 { f, _ := new(big.Rat).SetFrac(a, b).Float64(); return f }

func TestPriceSizeSide(t *testing.T) {
	dev, d := startDev(t)
	r := run(t, dev, d, poolYAML(d))
	isUni := func(tk feeds.Tick) bool { return tk.Source == "uni" }
	isInv := func(tk feeds.Tick) bool { return tk.Source == "inv" }

	// 10,000 WETH (18 decimals) against 30,000,000 TUSD (6 decimals).
	first, n := r.waitTick(t, "initial price", 0, isUni)
	if first.Symbol != "ETH-USD" || !near(first.Price, 3000) || first.Size != 0 {
		t.Fatalf("initial tick %+v, want ETH-USD 3000", first)
	}
	inv, _ := r.waitTick(t, "initial inverted price", 0, isInv)
	if inv.Symbol != "USD-ETH" || !near(inv.Price, 1.0/3000) {
		t.Fatalf("initial inverted tick %+v, want 1/3000", inv)
	}

	accs := dev.Accounts()
	weth, tusd := new(big.Int).Set(devchain.PairWETH), new(big.Int).Set(devchain.PairTUSD)

	// Sell 10 WETH: the price falls as the V2 formula says.
	in := units(10, devchain.WETHUnit)
	out := amountOut(in, weth, tusd)
	mined(t, dev, swap(t, dev, d, accs[1], d.WETH, in))
	weth.Add(weth, in)
	tusd.Sub(tusd, out)
	want := ratio(new(big.Int).Mul(tusd, devchain.WETHUnit), new(big.Int).Mul(weth, devchain.TUSDUnit))
	tk, n := r.waitTick(t, "after the sell", n, isUni)
	if !near(tk.Price, want) || tk.Price >= 3000 || tk.Side != feeds.SideSell || !near(tk.Size, 10) {
		t.Fatalf("after selling 10 WETH: %+v, want price %v, sell 10", tk, want)
	}
	if !tk.VenueTime.Equal(time.Unix(int64(dev.Head().Time), 0)) {
		t.Fatalf("venue time %v, want the block's %v", tk.VenueTime, dev.Head().Time)
	}

	// Two buys with TUSD in one block: one tick, the block's last reserves,
	// the total base bought.
	in1, in2 := units(60_000, devchain.TUSDUnit), units(30_000, devchain.TUSDUnit)
	out1 := amountOut(in1, tusd, weth)
	tusd.Add(tusd, in1)
	weth.Sub(weth, out1)
	out2 := amountOut(in2, tusd, weth)
	tusd.Add(tusd, in2)
	weth.Sub(weth, out2)
	mined(t, dev, swap(t, dev, d, accs[1], d.TUSD, in1), swap(t, dev, d, accs[2], d.TUSD, in2))
	want = ratio(new(big.Int).Mul(tusd, devchain.WETHUnit), new(big.Int).Mul(weth, devchain.TUSDUnit))
	size := ratio(new(big.Int).Add(out1, out2), devchain.WETHUnit)
	tk, n = r.waitTick(t, "after the buys", n, isUni)
	if !near(tk.Price, want) || tk.Side != feeds.SideBuy || !near(tk.Size, size) {
		t.Fatalf("after two buys: %+v, want price %v, buy %v", tk, want, size)
	}
	invTk, _ := r.waitTick(t, "inverted after the buys", 0, func(tk feeds.Tick) bool { return isInv(tk) && tk.Side == feeds.SideSell })
	if !near(invTk.Price, 1/want) {
		t.Fatalf("inverted after two buys: %+v, want %v", invTk, 1/want)
	}
	// A block is one tick per pool, whatever its number of swaps.
	time.Sleep(100 * time.Millisecond)
	for _, g := range r.sink.got()[n:] {
		if isUni(g) {
			t.Fatalf("more than one tick for the block: %+v", g)
		}
	}
}

func TestReorgRereads(t *testing.T) {
	dev, d := startDev(t)
	r := run(t, dev, d, poolYAML(d))
	isUni := func(tk feeds.Tick) bool { return tk.Source == "uni" }
	_, n := r.waitTick(t, "initial price", 0, isUni)
	base := dev.Head().Hash()
	mined(t, dev, swap(t, dev, d, dev.Accounts()[1], d.WETH, units(100, devchain.WETHUnit)))
	_, n = r.waitTick(t, "after the swap", n, func(tk feeds.Tick) bool { return isUni(tk) && tk.Price < 3000 })
	if err := dev.Fork(base); err != nil {
		t.Fatal(err)
	}
	if err := dev.Rollback(); err != nil {
		t.Fatal(err)
	}
	commit(t, dev)
	commit(t, dev)
	tk, _ := r.waitTick(t, "re-read after the reorg", n, isUni)
	if !near(tk.Price, 3000) {
		t.Fatalf("after the reorg %+v, want 3000 again", tk)
	}
	r.waitLog(t, "reorg; reading every pool")
}

func TestPrice(t *testing.T) {
	e18, e6 := devchain.WETHUnit, devchain.TUSDUnit
	// token0 WETH, token1 TUSD.
	if p, _ := uniswap.Price(units(2, e18), units(6000, e6), e18, e6, false); !near(p, 3000) {
		t.Errorf("price %v, want 3000", p)
	}
	// token0 TUSD, token1 WETH, base WETH: invert.
	if p, _ := uniswap.Price(units(6000, e6), units(2, e18), e6, e18, true); !near(p, 3000) {
		t.Errorf("inverted price %v, want 3000", p)
	}
	if _, ok := uniswap.Price(big.NewInt(0), big.NewInt(1), e6, e18, false); ok {
		t.Error("empty reserve priced")
	}
}

func TestExampleAndValidation(t *testing.T) {
	for _, name := range []string{"price.uniswapv2", "price.uniswapv3"} {
		typ, ok := plugins.Default.Lookup(name)
		if !ok {
			t.Fatalf("%s not registered", name)
		}
		var doc struct {
			Feeds []config.Raw `yaml:"feeds"`
		}
		if err := yaml.Unmarshal([]byte(typ.Example), &doc); err != nil {
			t.Fatal(err)
		}
		var ps config.Problems
		if specs := plugins.Default.Sources("feeds", doc.Feeds, nil, &ps); len(ps) > 0 || len(specs) != 1 {
			t.Fatalf("%s example: %v", name, ps)
		}
	}
	bad := `
- type: price.uniswapv2
  id: bad
  chain: devnet
  pools:
    - address: "not-an-address"
      symbol: ETH-USD
    - address: "0xB4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc"
      symbol: ETHUSD
`
	var entries []config.Raw
	if err := yaml.Unmarshal([]byte(bad), &entries); err != nil {
		t.Fatal(err)
	}
	var ps config.Problems
	plugins.Default.Sources("feeds", entries, nil, &ps)
	msg := fmt.Sprint(ps)
	for _, want := range []string{"feeds[0].pools[0].address", "feeds[0].pools[1].symbol"} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems do not name %s:\n%s", want, msg)
		}
	}
}
