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
)

const feedsYAML = `feeds:
  - {id: tx, type: evm.tx, chain: devnet, drop_after: 1s}
`

func start(t *testing.T) *chaintest.Env {
	return chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true}, Extra: feedsYAML})
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
