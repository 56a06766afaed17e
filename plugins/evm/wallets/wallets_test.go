package wallets_test

import (
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/chaintest"
	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/internal/devchain/contracts"
	"github.com/feedd/feedd/plugins/evm/wallets"
)

const feedsYAML = `feeds:
  - {id: wallets, type: evm.wallets, chain: devnet}
  - {id: blocks, type: evm.blocks, chain: devnet}
`

func lower(a common.Address) string { return strings.ToLower(a.Hex()) }

// find returns the events of the updates that match.
func find(ups []json.RawMessage, t *testing.T, match func(feeds.WalletEvent) bool) []feeds.WalletEvent {
	var out []feeds.WalletEvent
	for _, ev := range chaintest.Decode[feeds.WalletEvent](t, ups) {
		if match(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// waitEvent waits for an event of the watch that matches, and returns it.
func waitEvent(t *testing.T, w *chaintest.Watch, what string, match func(feeds.WalletEvent) bool) feeds.WalletEvent {
	t.Helper()
	ups := w.WaitFor(t, what, func(ups []json.RawMessage) bool { return len(find(ups, t, match)) > 0 })
	return find(ups, t, match)[0]
}

func TestWalletEvents(t *testing.T) {
	env := chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true}, Extra: feedsYAML})
	accts := env.Dev.Accounts()
	deployer, alice, bob := accts[0], accts[1], accts[2]
	token := env.Deploy(t, deployer, contracts.Token, "Test USD", "TUSD", uint8(6))
	nft := env.Deploy(t, deployer, contracts.NFT, "Test NFT", "TNFT")
	multi := env.Deploy(t, deployer, contracts.Multi)

	// Mixed case on purpose: one channel per address.
	w := env.Subscribe(t, "wallet:"+alice.Address.Hex())
	a := lower(alice.Address)

	// Native transfer: a transaction and a balance change, included then confirmed.
	tx := env.Transfer(t, alice, bob.Address, big.NewInt(1e18))
	r := env.Mine(t, tx)
	hash := tx.Hash().Hex()
	got := waitEvent(t, w, "the transfer included", func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletTransaction && e.TxHash == hash && e.Status == feeds.StatusIncluded
	})
	if got.Address != a || got.From != a || got.To != lower(bob.Address) || got.Value != "1000000000000000000" ||
		got.Direction != "out" || got.Block != r.BlockNumber.Uint64() || got.Confirmations != 1 || got.ChainID != 1337 || got.Chain != "devnet" {
		t.Errorf("transaction event %+v", got)
	}
	bal := waitEvent(t, w, "the balance change", func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletBalance && e.Asset == "native" && e.Block == r.BlockNumber.Uint64()
	})
	fee := new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice)
	wantDelta := new(big.Int).Neg(new(big.Int).Add(big.NewInt(1e18), fee))
	onChain, err := env.Dev.Client().BalanceAt(t.Context(), alice.Address, r.BlockNumber)
	if err != nil {
		t.Fatal(err)
	}
	if bal.Delta != wantDelta.String() || bal.Balance != onChain.String() || bal.Decimals == nil || *bal.Decimals != 18 {
		t.Errorf("balance event %+v; want delta %s balance %s", bal, wantDelta, onChain)
	}
	env.Commit(t)
	env.Commit(t) // third confirmation
	waitEvent(t, w, "the transfer confirmed", func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletTransaction && e.TxHash == hash && e.Status == feeds.StatusConfirmed && e.Confirmations == 3
	})
	waitEvent(t, w, "the balance confirmed", func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletBalance && e.Block == r.BlockNumber.Uint64() && e.Status == feeds.StatusConfirmed
	})

	// ERC-20: mint (in), transfer (out), approval; token balance with decimals.
	env.Mine(t, env.Send(t, deployer, token, contracts.Token, "mint", alice.Address, big.NewInt(1_000_000_000)))
	env.Mine(t, env.Send(t, alice, token, contracts.Token, "transfer", bob.Address, big.NewInt(250_000_000)))
	env.Mine(t, env.Send(t, alice, token, contracts.Token, "approve", bob.Address, big.NewInt(100)))
	in := waitEvent(t, w, "the minted tokens", func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletTokenTransfer && e.Direction == "in"
	})
	if in.Amount != "1000000000" || in.From != lower(common.Address{}) || in.Token != lower(token) || in.Standard != "erc20" || *in.Decimals != 6 || in.LogIndex == nil {
		t.Errorf("mint event %+v", in)
	}
	out := waitEvent(t, w, "the token transfer", func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletTokenTransfer && e.Direction == "out"
	})
	if out.Amount != "250000000" || out.To != lower(bob.Address) {
		t.Errorf("transfer event %+v", out)
	}
	tokBal := waitEvent(t, w, "the token balance after the transfer", func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletBalance && e.Asset == lower(token) && e.Balance == "750000000"
	})
	if tokBal.Delta != "-250000000" || *tokBal.Decimals != 6 {
		t.Errorf("token balance event %+v", tokBal)
	}
	ap := waitEvent(t, w, "the approval", func(e feeds.WalletEvent) bool { return e.Type == feeds.WalletApproval })
	if ap.Owner != a || ap.Spender != lower(bob.Address) || ap.Amount != "100" || ap.Standard != "erc20" {
		t.Errorf("approval event %+v", ap)
	}

	// ERC-721: mint and transfer.
	env.Mine(t, env.Send(t, deployer, nft, contracts.NFT, "mint", alice.Address))
	env.Mine(t, env.Send(t, alice, nft, contracts.NFT, "transferFrom", alice.Address, bob.Address, big.NewInt(1)))
	n := waitEvent(t, w, "the NFT sent", func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletNFT && e.Standard == "erc721" && e.Direction == "out"
	})
	if n.TokenID != "1" || n.To != lower(bob.Address) || n.Token != lower(nft) {
		t.Errorf("erc721 event %+v", n)
	}

	// ERC-1155: single and batch.
	env.Mine(t, env.Send(t, deployer, multi, contracts.Multi, "mint", alice.Address, big.NewInt(7), big.NewInt(10)))
	env.Mine(t, env.Send(t, alice, multi, contracts.Multi, "safeTransferFrom", alice.Address, bob.Address, big.NewInt(7), big.NewInt(3), []byte{}))
	env.Mine(t, env.Send(t, deployer, multi, contracts.Multi, "mintBatch", alice.Address, []*big.Int{big.NewInt(1), big.NewInt(2)}, []*big.Int{big.NewInt(5), big.NewInt(6)}))
	env.Mine(t, env.Send(t, alice, multi, contracts.Multi, "safeBatchTransferFrom", alice.Address, bob.Address,
		[]*big.Int{big.NewInt(1), big.NewInt(2)}, []*big.Int{big.NewInt(1), big.NewInt(2)}, []byte{}))
	single := waitEvent(t, w, "the ERC-1155 transfer", func(e feeds.WalletEvent) bool {
		return e.Standard == "erc1155" && e.Direction == "out" && e.TokenID == "7"
	})
	if single.Amount != "3" || single.Operator != a {
		t.Errorf("erc1155 single %+v", single)
	}
	ups := w.WaitFor(t, "both batch items", func(ups []json.RawMessage) bool {
		return len(find(ups, t, func(e feeds.WalletEvent) bool {
			return e.Standard == "erc1155" && e.Direction == "out" && e.Status == feeds.StatusIncluded && (e.TokenID == "1" || e.TokenID == "2")
		})) == 2
	})
	for _, e := range find(ups, t, func(e feeds.WalletEvent) bool {
		return e.Standard == "erc1155" && e.Direction == "out" && (e.TokenID == "1" || e.TokenID == "2") && e.Status == feeds.StatusIncluded
	}) {
		if (e.TokenID == "1" && e.Amount != "1") || (e.TokenID == "2" && e.Amount != "2") {
			t.Errorf("batch item %+v", e)
		}
	}

	// A new subscriber's snapshot has the balances and recent events.
	w2 := env.Subscribe(t, "wallet:"+a)
	var snap wallets.Snapshot
	raw := w2.Snapshot(t)
	if err := json.Unmarshal(raw, &snap); err != nil {
		t.Fatalf("snapshot %s: %v", raw, err)
	}
	if snap.Address != a || len(snap.Recent) == 0 || len(snap.Balances) < 2 {
		t.Errorf("snapshot %s", raw)
	}
}

func TestReorgRemovesAndReincludes(t *testing.T) {
	env := chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true}, Extra: feedsYAML})
	accts := env.Dev.Accounts()
	alice, bob := accts[1], accts[2]
	w := env.Subscribe(t, "wallet:"+lower(bob.Address))
	base := env.Commit(t)
	tx := env.Transfer(t, alice, bob.Address, big.NewInt(5e17))
	r := env.Mine(t, tx)
	hash := tx.Hash().Hex()
	waitEvent(t, w, "included", func(e feeds.WalletEvent) bool {
		return e.TxHash == hash && e.Status == feeds.StatusIncluded && e.BlockHash == r.BlockHash.Hex()
	})
	if err := env.Dev.Fork(base); err != nil {
		t.Fatal(err)
	}
	// The transaction went back to the pool: the new branch includes it again.
	r2 := env.Mine(t, tx)
	env.Commit(t)
	if r2.BlockHash == r.BlockHash {
		t.Fatal("fork did not change the block")
	}
	removed := waitEvent(t, w, "removed", func(e feeds.WalletEvent) bool {
		return e.TxHash == hash && e.Status == feeds.StatusRemoved
	})
	if removed.BlockHash != r.BlockHash.Hex() {
		t.Errorf("removed event names block %s, want the old %s", removed.BlockHash, r.BlockHash.Hex())
	}
	waitEvent(t, w, "removed balance", func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletBalance && e.Status == feeds.StatusRemoved && e.BlockHash == r.BlockHash.Hex()
	})
	again := waitEvent(t, w, "included again", func(e feeds.WalletEvent) bool {
		return e.TxHash == hash && e.Status == feeds.StatusIncluded && e.BlockHash == r2.BlockHash.Hex()
	})
	if again.Block != r2.BlockNumber.Uint64() {
		t.Errorf("re-included event %+v", again)
	}
	// The balance delta on the new branch is the transfer again, not zero.
	nb := waitEvent(t, w, "balance on the new branch", func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletBalance && e.BlockHash == r2.BlockHash.Hex()
	})
	if nb.Delta != "500000000000000000" {
		t.Errorf("delta on the new branch %s, want 500000000000000000", nb.Delta)
	}
	// Removed comes before included-again in the channel.
	ups := chaintest.Decode[feeds.WalletEvent](t, w.Updates())
	ri, ai := -1, -1
	for i, e := range ups {
		if e.TxHash == hash && e.Status == feeds.StatusRemoved && ri < 0 {
			ri = i
		}
		if e.TxHash == hash && e.BlockHash == r2.BlockHash.Hex() && ai < 0 {
			ai = i
		}
	}
	if ri > ai {
		t.Errorf("re-included (%d) before removed (%d)", ai, ri)
	}
}

// A first balance (no delta) removed by a reorg is reported afresh on the
// new branch, even when the value is the same.
func TestReorgOfFirstTokenBalance(t *testing.T) {
	env := chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true}, Extra: feedsYAML})
	accts := env.Dev.Accounts()
	token := env.Deploy(t, accts[0], contracts.Token, "Test USD", "TUSD", uint8(6))
	w := env.Subscribe(t, "wallet:"+lower(accts[1].Address))
	base := env.Commit(t)
	tx := env.Send(t, accts[0], token, contracts.Token, "mint", accts[1].Address, big.NewInt(42))
	r := env.Mine(t, tx)
	waitEvent(t, w, "the first token balance", func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletBalance && e.Asset == lower(token) && e.BlockHash == r.BlockHash.Hex()
	})
	if err := env.Dev.Fork(base); err != nil {
		t.Fatal(err)
	}
	r2 := env.Mine(t, tx)
	again := waitEvent(t, w, "the token balance on the new branch", func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletBalance && e.Asset == lower(token) && e.BlockHash == r2.BlockHash.Hex()
	})
	if again.Balance != "42" || again.Status != feeds.StatusIncluded {
		t.Errorf("new-branch balance %+v", again)
	}
}
