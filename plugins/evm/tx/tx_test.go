package tx_test

import (
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/chaintest"
	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/internal/devchain/contracts"
	"github.com/feedd/feedd/plugins"
)

const feedsYAML = `feeds:
  - {id: tx, type: evm.tx, chain: devnet, drop_after: 1s}
`

func start(t *testing.T) *chaintest.Env {
	return chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true}, Extra: feedsYAML})
}

// startProxied starts a daemon that reaches the node through a proxy, to
// cut it off while blocks are sealed.
func startProxied(t *testing.T) (*chaintest.Env, *devchain.Proxy) {
	var proxy *devchain.Proxy
	env := chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true}, Extra: feedsYAML,
		Endpoint: func(dev *devchain.Chain) string {
			p, err := devchain.NewProxy(dev.Addr())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			proxy = p
			return p.WSURL()
		}})
	return env, proxy
}

// cut cuts the daemon off the node and waits until it says so.
func cut(t *testing.T, env *chaintest.Env, proxy *devchain.Proxy) {
	t.Helper()
	proxy.Cut()
	url := "http://" + env.Daemon.Addr().String() + "/api/v1/chains"
	deadline := time.Now().Add(10 * time.Second)
	for {
		var body struct {
			Chains []plugins.ChainStatus `json:"chains"`
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(body.Chains) == 1 && body.Chains[0].Endpoint == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon still reports a connection: %+v", body)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func channel(h common.Hash) string { return "tx:devnet:" + h.Hex() }

// statuses returns the statuses of the updates, in order.
func statuses(t *testing.T, ups []json.RawMessage) []string {
	var out []string
	for _, s := range chaintest.Decode[feeds.TxStatus](t, ups) {
		out = append(out, s.Status)
	}
	return out
}

// waitStatuses waits until the channel's statuses (the snapshot, when the
// first status was published before the subscription took effect, then
// the updates) are exactly want.
func waitStatuses(t *testing.T, w *chaintest.Watch, want ...string) []feeds.TxStatus {
	t.Helper()
	ups := w.WaitForStates(t, strings.Join(want, " → "), func(ups []json.RawMessage) bool {
		return strings.Join(statuses(t, ups), ",") == strings.Join(want, ",")
	})
	return chaintest.Decode[feeds.TxStatus](t, ups)
}

// sign makes a transfer without sending it.
func sign(t *testing.T, env *chaintest.Env, from devchain.Account, to common.Address, nonce uint64, tip int64) *types.Transaction {
	t.Helper()
	tx, err := types.SignNewTx(from.Key, env.Dev.Signer(), &types.DynamicFeeTx{
		ChainID: env.Dev.ChainID(), Nonce: nonce, GasTipCap: big.NewInt(tip), GasFeeCap: big.NewInt(100e9), Gas: 21000,
		To: &to, Value: big.NewInt(1e15),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// speedUp signs a transfer replacing one of nonce (a higher tip and fee
// cap, as the pool asks).
func speedUp(t *testing.T, env *chaintest.Env, from devchain.Account, to common.Address, nonce uint64) *types.Transaction {
	t.Helper()
	tx, err := types.SignNewTx(from.Key, env.Dev.Signer(), &types.DynamicFeeTx{
		ChainID: env.Dev.ChainID(), Nonce: nonce, GasTipCap: big.NewInt(3e9), GasFeeCap: big.NewInt(200e9), Gas: 21000,
		To: &to, Value: big.NewInt(2e15),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func deref(p *uint64) any {
	if p == nil {
		return nil
	}
	return *p
}

func send(t *testing.T, env *chaintest.Env, tx *types.Transaction) {
	t.Helper()
	if err := env.Dev.Client().SendTransaction(t.Context(), tx); err != nil {
		t.Fatal(err)
	}
}

// waitDropped seals blocks, each of which asks about the transaction
// again, until it is dropped.
func waitDropped(t *testing.T, env *chaintest.Env, w *chaintest.Watch, before ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(w.States()) <= len(before) && time.Now().Before(deadline) {
		env.Commit(t)
		time.Sleep(200 * time.Millisecond)
	}
	waitStatuses(t, w, append(before, "dropped")...)
}

func TestConfirmedAndWalletTransitions(t *testing.T) {
	env := start(t)
	accts := env.Dev.Accounts()
	alice, bob := accts[1], accts[2]
	wallet := env.Subscribe(t, "wallet:"+alice.Address.Hex())
	// Subscribed before the node has seen it: pending the moment it is
	// broadcast (the node's pending-transaction announcements).
	tx := sign(t, env, alice, bob.Address, 0, 1e9)
	w := env.Subscribe(t, channel(tx.Hash()))
	if err := env.Dev.Client().SendTransaction(t.Context(), tx); err != nil {
		t.Fatal(err)
	}
	p := waitStatuses(t, w, "pending")[0]
	if p.From != strings.ToLower(alice.Address.Hex()) || p.Nonce == nil || *p.Nonce != 0 || p.Block != nil {
		t.Errorf("pending %+v", p)
	}
	r := env.Mine(t, tx)
	got := waitStatuses(t, w, "pending", "included")[1]
	if got.Block == nil || *got.Block != r.BlockNumber.Uint64() || got.BlockHash != r.BlockHash.Hex() || got.Index == nil || got.Confirmations != 1 {
		t.Errorf("included %+v, receipt block %d %s", got, r.BlockNumber, r.BlockHash.Hex())
	}
	env.Commit(t)
	env.Commit(t)
	c := waitStatuses(t, w, "pending", "included", "confirmed")[2]
	if c.Confirmations != 3 {
		t.Errorf("confirmed with %d confirmations", c.Confirmations)
	}
	// The sender's wallet channel got the same transitions.
	ups := wallet.WaitForStates(t, "three wallet transitions", func(ups []json.RawMessage) bool { return len(ups) >= 3 })
	for i, ev := range chaintest.Decode[feeds.WalletEvent](t, ups) {
		want := []string{"pending", "included", "confirmed"}[i]
		if ev.Type != feeds.WalletTransaction || ev.Status != want || ev.TxHash != strings.ToLower(tx.Hash().Hex()) || ev.To != strings.ToLower(bob.Address.Hex()) {
			t.Errorf("wallet update %d: %+v, want %s", i, ev, want)
		}
	}

	// Subscribing to a transaction mined long ago reports where it stands.
	late := env.Subscribe(t, channel(tx.Hash()))
	late.Snapshot(t)
	var snap feeds.TxStatus
	if err := json.Unmarshal(late.Snapshot(t), &snap); err != nil || snap.Status != feeds.StatusConfirmed {
		t.Errorf("snapshot %s (%v)", late.Snapshot(t), err)
	}
}

func TestFailedWithRevertReason(t *testing.T) {
	env := start(t)
	accts := env.Dev.Accounts()
	token := env.Deploy(t, accts[0], contracts.Token, "Test USD", "TUSD", uint8(6))
	tx := env.Send(t, accts[1], token, contracts.Token, "transfer", accts[2].Address, big.NewInt(1)) // no balance
	w := env.Subscribe(t, channel(tx.Hash()))
	waitStatuses(t, w, "pending")
	if r := env.Mine(t, tx); r.Status != 0 {
		t.Fatal("transfer without balance succeeded")
	}
	f := waitStatuses(t, w, "pending", "failed")[1]
	if f.Error != "TestToken: insufficient balance" || f.Block == nil {
		t.Errorf("failed %+v", f)
	}
	env.Commit(t)
	env.Commit(t)
	final := waitStatuses(t, w, "pending", "failed", "failed")[2]
	if final.Confirmations != 3 {
		t.Errorf("final failure with %d confirmations", final.Confirmations)
	}
}

func TestReplaced(t *testing.T) {
	env := start(t)
	accts := env.Dev.Accounts()
	alice, bob := accts[1], accts[2]
	orig := sign(t, env, alice, bob.Address, 0, 1e9)
	if err := env.Dev.Client().SendTransaction(t.Context(), orig); err != nil {
		t.Fatal(err)
	}
	w := env.Subscribe(t, channel(orig.Hash()))
	waitStatuses(t, w, "pending")
	// Same nonce, higher tip: the pool swaps it in.
	repl, err := types.SignNewTx(alice.Key, env.Dev.Signer(), &types.DynamicFeeTx{
		ChainID: env.Dev.ChainID(), Nonce: 0, GasTipCap: big.NewInt(3e9), GasFeeCap: big.NewInt(200e9), Gas: 21000,
		To: &bob.Address, Value: big.NewInt(2e15),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Dev.Client().SendTransaction(t.Context(), repl); err != nil {
		t.Fatal(err)
	}
	env.Mine(t, repl)
	got := waitStatuses(t, w, "pending", "replaced")[1]
	if got.ReplacedBy != strings.ToLower(repl.Hash().Hex()) {
		t.Errorf("replaced by %q, want %s", got.ReplacedBy, repl.Hash().Hex())
	}
}

func TestDropped(t *testing.T) {
	env := start(t)
	accts := env.Dev.Accounts()
	tx := env.Transfer(t, accts[1], accts[2].Address, big.NewInt(1e15))
	w := env.Subscribe(t, channel(tx.Hash()))
	waitStatuses(t, w, "pending")
	if err := env.Dev.Rollback(); err != nil { // the pool forgets it
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(w.States()) < 2 && time.Now().Before(deadline) {
		env.Commit(t) // each block asks about it again
		time.Sleep(200 * time.Millisecond)
	}
	waitStatuses(t, w, "pending", "dropped")
}

func TestReorged(t *testing.T) {
	env := start(t)
	accts := env.Dev.Accounts()
	base := env.Commit(t)
	tx := env.Transfer(t, accts[1], accts[2].Address, big.NewInt(1e15))
	w := env.Subscribe(t, channel(tx.Hash()))
	waitStatuses(t, w, "pending")
	r := env.Mine(t, tx)
	waitStatuses(t, w, "pending", "included")
	if err := env.Dev.Fork(base); err != nil {
		t.Fatal(err)
	}
	r2 := env.Mine(t, tx) // back in the pool, mined again on the new branch
	env.Commit(t)
	env.Commit(t)
	got := waitStatuses(t, w, "pending", "included", "reorged", "included", "confirmed")
	if got[1].BlockHash != r.BlockHash.Hex() || got[2].Block != nil || got[3].BlockHash != r2.BlockHash.Hex() {
		t.Errorf("blocks: included in %s, reorged %+v, included again in %s; want %s then %s",
			got[1].BlockHash, got[2], got[3].BlockHash, r.BlockHash.Hex(), r2.BlockHash.Hex())
	}
}

func TestChainsAPIAndMetrics(t *testing.T) {
	env := start(t)
	head := env.Commit(t)
	defer func() {
		resp, err := http.Get("http://" + env.Daemon.Addr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, name := range []string{"feedd_chain_head{", "feedd_chain_head_lag_seconds{", "feedd_chain_connected{", "feedd_rpc_duration_seconds_bucket{",
			`feedd_chain_head{chain="devnet"`} {
			if !strings.Contains(string(body), name) {
				t.Errorf("/metrics lacks %s", name)
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + env.Daemon.Addr().String() + "/api/v1/chains")
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Chains []struct {
				Name, Type, Endpoint string
				Head                 uint64
				HeadHash             string `json:"head_hash"`
			}
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(body.Chains) != 1 {
			t.Fatalf("chains %+v", body.Chains)
		}
		c := body.Chains[0]
		if c.Name == "devnet" && c.Type == "evm" && strings.HasPrefix(c.Endpoint, "ws://127.0.0.1:") && c.HeadHash == head.Hex() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("chain status %+v, want head %s", c, head.Hex())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A transaction first seen mined (never pending: the daemon was cut off
// while it was sent and mined) is published with its real nonce, and its
// revert reason comes from replaying its real input.
func TestFirstSeenMined(t *testing.T) {
	env, proxy := startProxied(t)
	accts := env.Dev.Accounts()
	owner := accts[0]
	token := env.Deploy(t, owner, contracts.Token, "Test USD", "TUSD", uint8(6)) // the owner's nonce 0
	// A transfer the owner, holding no tokens, cannot make.
	data, err := contracts.Token.Pack("transfer", accts[2].Address, big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := types.SignNewTx(owner.Key, env.Dev.Signer(), &types.DynamicFeeTx{
		ChainID: env.Dev.ChainID(), Nonce: 1, GasTipCap: big.NewInt(1e9), GasFeeCap: big.NewInt(100e9), Gas: chaintest.Gas,
		To: &token, Data: data,
	})
	if err != nil {
		t.Fatal(err)
	}
	wallet := env.Subscribe(t, "wallet:"+owner.Address.Hex())
	w := env.Subscribe(t, channel(tx.Hash()))
	cut(t, env, proxy)
	send(t, env, tx)
	if r := env.Mine(t, tx); r.Status != 0 {
		t.Fatal("transfer without balance succeeded")
	}
	proxy.Restore()
	f := waitStatuses(t, w, "failed")[0]
	if f.Nonce == nil || *f.Nonce != 1 || f.From != strings.ToLower(owner.Address.Hex()) || f.Error != "TestToken: insufficient balance" {
		t.Errorf("failed %+v (nonce %v), want nonce 1", f, deref(f.Nonce))
	}
	ev := chaintest.Decode[feeds.WalletEvent](t, wallet.WaitForStates(t, "a wallet event", func(ups []json.RawMessage) bool { return len(ups) > 0 }))[0]
	if ev.Status != "failed" || ev.Nonce == nil || *ev.Nonce != 1 || ev.To != strings.ToLower(token.Hex()) {
		t.Errorf("wallet event %+v (nonce %v), want nonce 1", ev, deref(ev.Nonce))
	}
	env.Commit(t)
	env.Commit(t)
	waitStatuses(t, w, "failed", "failed")
}

// With both the original and its speed-up watched (a wallet's usual flow),
// the original is replaced by the speed-up the moment it is mined, once.
func TestSpeedUpBothWatched(t *testing.T) {
	env := start(t)
	accts := env.Dev.Accounts()
	alice, bob := accts[1], accts[2]
	orig := sign(t, env, alice, bob.Address, 0, 1e9)
	repl := speedUp(t, env, alice, bob.Address, 0)
	wo := env.Subscribe(t, channel(orig.Hash()))
	wr := env.Subscribe(t, channel(repl.Hash()))
	send(t, env, orig)
	waitStatuses(t, wo, "pending")
	send(t, env, repl)
	waitStatuses(t, wr, "pending")
	env.Mine(t, repl)
	got := waitStatuses(t, wo, "pending", "replaced")[1]
	if got.ReplacedBy != strings.ToLower(repl.Hash().Hex()) || got.Nonce == nil || *got.Nonce != 0 {
		t.Errorf("replaced %+v, want by %s", got, repl.Hash().Hex())
	}
	env.Commit(t)
	env.Commit(t)
	waitStatuses(t, wr, "pending", "included", "confirmed")
	if s := statuses(t, wo.States()); strings.Join(s, ",") != "pending,replaced" {
		t.Errorf("original's statuses %v", s)
	}
}

// A dropped transaction sent again is pending again, then mined.
func TestDroppedThenMined(t *testing.T) {
	env := start(t)
	accts := env.Dev.Accounts()
	tx := env.Transfer(t, accts[1], accts[2].Address, big.NewInt(1e15))
	w := env.Subscribe(t, channel(tx.Hash()))
	waitStatuses(t, w, "pending")
	if err := env.Dev.Rollback(); err != nil {
		t.Fatal(err)
	}
	waitDropped(t, env, w, "pending")
	send(t, env, tx) // re-broadcast
	waitStatuses(t, w, "pending", "dropped", "pending")
	r := env.Mine(t, tx)
	env.Commit(t)
	env.Commit(t)
	got := waitStatuses(t, w, "pending", "dropped", "pending", "included", "confirmed")
	if got[3].BlockHash != r.BlockHash.Hex() || got[4].Confirmations != 3 {
		t.Errorf("included %+v, confirmed %+v; want block %s", got[3], got[4], r.BlockHash.Hex())
	}
}

// A reorg that takes the replacing transaction's block puts the original
// back to pending, and it can then be mined on the new branch.
func TestReplacementReorgedOut(t *testing.T) {
	env := start(t)
	accts := env.Dev.Accounts()
	alice, bob := accts[1], accts[2]
	base := env.Commit(t)
	orig := sign(t, env, alice, bob.Address, 0, 1e9)
	send(t, env, orig)
	w := env.Subscribe(t, channel(orig.Hash()))
	waitStatuses(t, w, "pending")
	repl := speedUp(t, env, alice, bob.Address, 0)
	send(t, env, repl)
	env.Mine(t, repl)
	waitStatuses(t, w, "pending", "replaced")
	if err := env.Dev.Fork(base); err != nil {
		t.Fatal(err)
	}
	if err := env.Dev.Rollback(); err != nil { // the replacement leaves the pool
		t.Fatal(err)
	}
	send(t, env, orig)
	r := env.Mine(t, orig) // the reorg, the original in its block
	env.Commit(t)
	env.Commit(t)
	got := waitStatuses(t, w, "pending", "replaced", "pending", "included", "confirmed")
	if got[1].ReplacedBy != strings.ToLower(repl.Hash().Hex()) || got[2].ReplacedBy != "" || got[3].BlockHash != r.BlockHash.Hex() {
		t.Errorf("replaced by %q, pending again %+v, included in %s; want by %s, then in %s",
			got[1].ReplacedBy, got[2], got[3].BlockHash, repl.Hash().Hex(), r.BlockHash.Hex())
	}
}

// The sender's nonce is read at the block being handled, not at the
// chain's head: a replacement in a block not handled yet is reported with
// that block, by its hash.
func TestReplacedNonceAtHandledBlock(t *testing.T) {
	env, proxy := startProxied(t)
	accts := env.Dev.Accounts()
	alice, bob := accts[1], accts[2]
	orig := sign(t, env, alice, bob.Address, 0, 1e9)
	send(t, env, orig)
	w := env.Subscribe(t, channel(orig.Hash()))
	waitStatuses(t, w, "pending")
	// Cut off, the daemon gets both blocks at once when back: the head is
	// the second while it handles the first.
	cut(t, env, proxy)
	if err := env.Dev.Rollback(); err != nil { // the node forgets the original
		t.Fatal(err)
	}
	env.Commit(t)
	repl := sign(t, env, alice, bob.Address, 0, 2e9)
	send(t, env, repl)
	r := env.Mine(t, repl)
	proxy.Restore()
	got := waitStatuses(t, w, "pending", "replaced")[1]
	if got.ReplacedBy != strings.ToLower(repl.Hash().Hex()) {
		t.Errorf("replaced %+v, want by %s (block %d)", got, repl.Hash().Hex(), r.BlockNumber)
	}
}

// Confirmed and replaced transactions do not count against max_watched.
func TestMaxWatchedCountsFollowedOnly(t *testing.T) {
	env := chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true},
		Extra: "feeds:\n  - {id: tx, type: evm.tx, chain: devnet, drop_after: 1s, max_watched: 1}\n"})
	accts := env.Dev.Accounts()
	alice, bob := accts[1], accts[2]
	a := sign(t, env, alice, bob.Address, 0, 1e9)
	send(t, env, a)
	wa := env.Subscribe(t, channel(a.Hash()))
	waitStatuses(t, wa, "pending")
	env.Mine(t, a)
	env.Commit(t)
	env.Commit(t)
	waitStatuses(t, wa, "pending", "included", "confirmed")

	b := sign(t, env, alice, bob.Address, 1, 1e9)
	send(t, env, b)
	wb := env.Subscribe(t, channel(b.Hash()))
	waitStatuses(t, wb, "pending")
	c := speedUp(t, env, alice, bob.Address, 1)
	send(t, env, c)
	env.Mine(t, c)
	waitStatuses(t, wb, "pending", "replaced")

	d := sign(t, env, alice, bob.Address, 2, 1e9)
	send(t, env, d)
	wd := env.Subscribe(t, channel(d.Hash()))
	waitStatuses(t, wd, "pending")
	if strings.Contains(env.Logs.String(), "max_watched reached") {
		t.Errorf("max_watched reached:\n%s", env.Logs)
	}
}
