package devchain

import (
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"go.uber.org/goleak"

	"github.com/feedd/feedd/internal/devchain/contracts"
)

// verifyNoLeaks checks, when the test ends (after the chains it started are
// closed), that no goroutine it started is left, with LeakOptions.
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if err := findLeaks(append(LeakOptions(), ignore)...); err != nil {
			t.Error(err)
		}
	})
}

func call(t *testing.T, c *Chain, to common.Address, ct contracts.Contract, method string, args ...any) []any {
	t.Helper()
	out, err := contracts.Call(testCtx(t), c.Client(), to, ct, method, args...)
	if err != nil {
		t.Fatalf("%s.%s: %v", ct.Name, method, err)
	}
	return out
}

func bigOf(t *testing.T, v any) *big.Int {
	t.Helper()
	b, ok := v.(*big.Int)
	if !ok {
		t.Fatalf("%T is not a *big.Int", v)
	}
	return b
}

// DeployAll in every sealing mode: the addresses are the predicted ones, the
// contracts hold what it promises, and every account can swap at once.
func TestDeployAll(t *testing.T) {
	verifyNoLeaks(t)
	for _, tt := range []struct {
		name string
		opts Options
	}{
		{"instant", Options{Accounts: 3}},
		{"period", Options{Accounts: 3, Period: 100 * time.Millisecond}},
		{"manual", Options{Accounts: 3, Manual: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := startChain(t, tt.opts)
			t0 := time.Now()
			d, err := DeployAll(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("DeployAll: %v, block %d", time.Since(t0), d.Block)
			accs := c.Accounts()
			want := PredictDeployment(accs[0].Address, 0)
			want.Block = d.Block
			if *d != *want {
				t.Fatalf("deployment %+v\nwant %+v", d, want)
			}

			if got := call(t, c, d.TUSD, contracts.Token, "symbol")[0]; got != "TUSD" {
				t.Errorf("TUSD symbol %v", got)
			}
			if got := call(t, c, d.TUSD, contracts.Token, "decimals")[0]; got != uint8(6) {
				t.Errorf("TUSD decimals %v", got)
			}
			if got := call(t, c, d.WETH, contracts.Token, "name")[0]; got != "Wrapped Ether" {
				t.Errorf("WETH name %v", got)
			}
			if got := call(t, c, d.WETH, contracts.Token, "decimals")[0]; got != uint8(18) {
				t.Errorf("WETH decimals %v", got)
			}
			for _, a := range accs {
				if b := bigOf(t, call(t, c, d.TUSD, contracts.Token, "balanceOf", a.Address)[0]); b.Cmp(AccountTUSD) != 0 {
					t.Errorf("%s TUSD balance %v", a.Address, b)
				}
				if b := bigOf(t, call(t, c, d.WETH, contracts.Token, "balanceOf", a.Address)[0]); b.Cmp(AccountWETH) != 0 {
					t.Errorf("%s WETH balance %v", a.Address, b)
				}
				if b := bigOf(t, call(t, c, d.NFT, contracts.NFT, "balanceOf", a.Address)[0]); b.Int64() != int64(AccountNFTs) {
					t.Errorf("%s NFT balance %v", a.Address, b)
				}
				for _, id := range MultiIDs {
					if b := bigOf(t, call(t, c, d.Multi, contracts.Multi, "balanceOf", a.Address, big.NewInt(id))[0]); b.Int64() != AccountMulti {
						t.Errorf("%s ERC-1155 %d balance %v", a.Address, id, b)
					}
				}
				for _, tok := range []common.Address{d.TUSD, d.WETH} {
					if b := bigOf(t, call(t, c, tok, contracts.Token, "allowance", a.Address, d.Pair)[0]); b.BitLen() != 256 {
						t.Errorf("%s allowance of the pair for %s: %v", a.Address, tok, b)
					}
				}
			}
			// Token ids are sequential in account order.
			if got := call(t, c, d.NFT, contracts.NFT, "ownerOf", big.NewInt(int64(AccountNFTs)+1))[0]; got != accs[1].Address {
				t.Errorf("owner of NFT %d: %v, want %s", AccountNFTs+1, got, accs[1].Address)
			}

			res := call(t, c, d.Pair, contracts.Pair, "getReserves")
			weth, tusd := bigOf(t, res[0]), bigOf(t, res[1])
			if d.Token0() != d.WETH {
				weth, tusd = tusd, weth
			}
			if weth.Cmp(PairWETH) != 0 || tusd.Cmp(PairTUSD) != 0 {
				t.Errorf("reserves WETH %v TUSD %v", weth, tusd)
			}
			if p, err := PairPrice(ctx, c, d); err != nil || p != InitialPrice {
				t.Errorf("PairPrice %v, %v", p, err)
			}
			if got := call(t, c, d.Pair, contracts.Pair, "token0")[0]; got != d.Token0() {
				t.Errorf("token0 %v, want %s", got, d.Token0())
			}

			round := call(t, c, d.Aggregator, contracts.Aggregator, "latestRoundData")
			if a := bigOf(t, round[1]); a.Cmp(OracleInitial) != 0 {
				t.Errorf("oracle answer %v", a)
			}
			if got := call(t, c, d.Aggregator, contracts.Aggregator, "decimals")[0]; got != OracleDecimals {
				t.Errorf("oracle decimals %v", got)
			}

			// An account swaps 1 WETH at about 3000 TUSD.
			from := accs[2]
			data, err := contracts.Pair.Pack("swapExactIn", d.WETH, WETHUnit, from.Address)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := c.Send(ctx, from, TxRequest{To: &d.Pair, Data: data})
			if err != nil {
				t.Fatal(err)
			}
			r, err := c.receiptCommitting(ctx, tx.Hash())
			if err != nil || r.Status != 1 {
				t.Fatalf("swap: %v, %+v", err, r)
			}
			got := bigOf(t, call(t, c, d.TUSD, contracts.Token, "balanceOf", from.Address)[0])
			got.Sub(got, AccountTUSD)
			if lo, hi := mul(2980, TUSDUnit), mul(3000, TUSDUnit); got.Cmp(lo) < 0 || got.Cmp(hi) > 0 {
				t.Errorf("1 WETH swapped for %v TUSD units", got)
			}

			js, err := d.JSON()
			if err != nil {
				t.Fatal(err)
			}
			var back Deployment
			if err := json.Unmarshal(js, &back); err != nil || back != *d {
				t.Fatalf("JSON round trip: %v\n%s", err, js)
			}
		})
	}
}
