package solana_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/feedd/feedd/channels/client"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/chaintest"
	"github.com/feedd/feedd/internal/solanatest/litesvm"
)

// feedsYAML runs the three solana plugins, polling fast.
const feedsYAML = `feeds:
  - {id: slots, type: solana.slots, chain: solana, poll_interval: 200ms}
  - {id: wallets, type: solana.wallets, chain: solana}
  - {id: tx, type: solana.tx, chain: solana, poll_interval: 200ms, drop_after_blocks: 151}
`

// sol1 is one SOL in lamports.
const sol1 = 1_000_000_000

// setup returns a client of the shared facade, a context bounding the
// test's calls and a daemon following the facade. Without the facade the
// test fails: node and npm are required, not optional.
func setup(t *testing.T) (*litesvm.Client, context.Context, *chaintest.Env) {
	t.Helper()
	return setupAt(t, "")
}

// setupAt is setup with the chain at the given commitment ("": confirmed).
func setupAt(t *testing.T, commitment string) (*litesvm.Client, context.Context, *chaintest.Env) {
	t.Helper()
	if startErr != nil {
		t.Fatalf("the litesvm facade did not start (it needs node >= 20 and npm on PATH): %v", startErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	c := litesvm.NewClient(node)
	t.Cleanup(func() {
		cancel()
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("litesvm facade output:\n%s", nodeLog.String())
		}
	})
	env := chaintest.StartSolana(t, chaintest.SolanaOptions{RPC: node.RPC, WS: node.WS, Commitment: commitment, Extra: feedsYAML})
	t.Cleanup(func() {
		// Warnings are not failures (a facade is not a cluster), but
		// they are worth a look.
		for _, l := range strings.Split(env.Logs.String(), "\n") {
			if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
				t.Logf("daemon: %s", l)
			}
		}
	})
	return c, ctx, env
}

// newKey returns a fresh keypair, funded with lamports when not zero.
func newKey(t *testing.T, ctx context.Context, c *litesvm.Client, lamports uint64) sol.PrivateKey {
	t.Helper()
	k, err := sol.NewRandomPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	if lamports > 0 {
		if err := c.Airdrop(ctx, k.PublicKey(), lamports); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// balanceOf reads an account's lamports from the node.
func balanceOf(t *testing.T, ctx context.Context, c *litesvm.Client, k sol.PublicKey) uint64 {
	t.Helper()
	b, err := c.RPC().GetBalance(ctx, k, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	return b.Value
}

// slotOf returns the slot a landed transaction is in.
func slotOf(t *testing.T, ctx context.Context, c *litesvm.Client, sig sol.Signature) uint64 {
	t.Helper()
	st, err := c.RPC().GetSignatureStatuses(ctx, true, sig)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Value) != 1 || st.Value[0] == nil {
		t.Fatalf("no status for %s", sig)
	}
	return st.Value[0].Slot
}

// ---------------------------------------------------------------- wallet events

func events(t *testing.T, ups []json.RawMessage) []feeds.WalletEvent {
	t.Helper()
	var out []feeds.WalletEvent
	for _, u := range ups {
		if strings.Contains(string(u), `"balances"`) {
			// A snapshot: its recent events.
			var snap struct {
				Recent []feeds.WalletEvent `json:"recent"`
			}
			if err := json.Unmarshal(u, &snap); err != nil {
				t.Fatalf("snapshot %s: %v", u, err)
			}
			out = append(out, snap.Recent...)
			continue
		}
		out = append(out, chaintest.Decode[feeds.WalletEvent](t, []json.RawMessage{u})...)
	}
	return out
}

func find(evs []feeds.WalletEvent, cond func(feeds.WalletEvent) bool) []feeds.WalletEvent {
	var out []feeds.WalletEvent
	for _, e := range evs {
		if cond(e) {
			out = append(out, e)
		}
	}
	return out
}

func balance(asset, bal string) func(feeds.WalletEvent) bool {
	return func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletBalance && e.Asset == asset && e.Balance == bal
	}
}

func ofTx(typ string, sig sol.Signature) func(feeds.WalletEvent) bool {
	return func(e feeds.WalletEvent) bool { return e.Type == typ && e.TxHash == sig.String() }
}

// has waits until an event of the watch satisfies cond and returns the
// events so far.
func has(t *testing.T, w *chaintest.Watch, what string, cond func(feeds.WalletEvent) bool) []feeds.WalletEvent {
	t.Helper()
	var got []feeds.WalletEvent
	w.WaitForStates(t, what, func(ups []json.RawMessage) bool {
		got = events(t, ups)
		return len(find(got, cond)) > 0
	})
	return got
}

// one returns the single event satisfying cond.
func one(t *testing.T, evs []feeds.WalletEvent, what string, cond func(feeds.WalletEvent) bool) feeds.WalletEvent {
	t.Helper()
	got := find(evs, cond)
	if len(got) != 1 {
		t.Fatalf("%d events of %s, want 1: %+v", len(got), what, got)
	}
	return got[0]
}

func decimals(e feeds.WalletEvent) int {
	if e.Decimals == nil {
		return -1
	}
	return *e.Decimals
}

// ---------------------------------------------------------------- 1. SOL

func TestSOLTransfer(t *testing.T) {
	c, ctx, env := setup(t)
	alice := newKey(t, ctx, c, sol1)
	bob := newKey(t, ctx, c, 0)
	a, b := alice.PublicKey().String(), bob.PublicKey().String()

	wa := env.Subscribe(t, "wallet:"+a)
	wb := env.Subscribe(t, "wallet:"+b)
	has(t, wa, "alice's SOL balance", balance("native", "1000000000"))
	has(t, wb, "bob's SOL balance", balance("native", "0"))

	sig, err := c.Transfer(ctx, alice, bob.PublicKey(), 2_000_000)
	if err != nil {
		t.Fatal(err)
	}
	slot := slotOf(t, ctx, c, sig)

	evs := has(t, wa, "alice's balance after the transfer", balance("native", "997995000"))
	bal := one(t, evs, "alice's new balance", balance("native", "997995000"))
	if bal.Delta != "-2005000" || decimals(bal) != 9 || bal.Address != a || bal.Chain != "solana" ||
		bal.Status != feeds.StatusConfirmed || bal.Commitment != "confirmed" || bal.Block != slot {
		t.Errorf("alice's balance event %+v (slot %d)", bal, slot)
	}
	evs = has(t, wa, "alice's transaction", ofTx(feeds.WalletTransaction, sig))
	tx := one(t, evs, "alice's transaction", ofTx(feeds.WalletTransaction, sig))
	if tx.Direction != "out" || tx.From != a || tx.To != b || tx.Value != "2000000" || tx.Fee != "5000" ||
		decimals(tx) != 9 || tx.Block != slot || tx.Error != "" || tx.Status != feeds.StatusConfirmed || tx.TS == 0 {
		t.Errorf("alice's transaction %+v (slot %d)", tx, slot)
	}

	evs = has(t, wb, "bob's transaction", ofTx(feeds.WalletTransaction, sig))
	in := one(t, evs, "bob's transaction", ofTx(feeds.WalletTransaction, sig))
	if in.Direction != "in" || in.From != a || in.To != b || in.Value != "2000000" || in.Fee != "5000" || in.Block != slot {
		t.Errorf("bob's transaction %+v", in)
	}
	evs = has(t, wb, "bob's balance after the transfer", balance("native", "2000000"))
	if got := one(t, evs, "bob's new balance", balance("native", "2000000")); got.Delta != "2000000" || decimals(got) != 9 {
		t.Errorf("bob's balance event %+v", got)
	}

	// A transfer that fails on chain: alice pays the fee, the transaction
	// event carries the error.
	failed, err := c.FailingTransfer(ctx, alice, bob.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	evs = has(t, wa, "the failed transaction", ofTx(feeds.WalletTransaction, failed))
	f := one(t, evs, "the failed transaction", ofTx(feeds.WalletTransaction, failed))
	if !strings.Contains(f.Error, "InstructionError") || f.Fee != "5000" || f.Direction != "out" || f.From != a {
		t.Errorf("failed transaction %+v", f)
	}
	evs = has(t, wa, "alice's balance after the failure", balance("native", "997990000"))
	if got := one(t, evs, "the fee of the failure", balance("native", "997990000")); got.Delta != "-5000" {
		t.Errorf("balance after the failure %+v", got)
	}

	// To itself: direction self, the value moved, only the fee spent.
	self, err := c.Transfer(ctx, alice, alice.PublicKey(), 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	evs = has(t, wa, "the self transfer", ofTx(feeds.WalletTransaction, self))
	st := one(t, evs, "the self transfer", ofTx(feeds.WalletTransaction, self))
	if st.Direction != "self" || st.From != a || st.To != a || st.Value != "1000000" || st.Fee != "5000" {
		t.Errorf("self transfer %+v", st)
	}
	has(t, wa, "alice's balance after the self transfer", balance("native", "997985000"))

	// A late subscriber's snapshot has the balance and the recent events.
	snap := env.Subscribe(t, "wallet:"+a).Snapshot(t)
	for _, want := range []string{`"balance":"997985000"`, sig.String(), failed.String(), self.String()} {
		if !strings.Contains(string(snap), want) {
			t.Errorf("snapshot %s lacks %s", snap, want)
		}
	}
}

// ---------------------------------------------------------------- 2. tokens

func TestTokenTransfer(t *testing.T) {
	c, ctx, env := setup(t)
	for _, tc := range []struct {
		standard string
		program  sol.PublicKey
		decimals uint8
	}{
		{"spl-token", sol.TokenProgramID, 6},
		{"spl-token-2022", sol.Token2022ProgramID, 2},
	} {
		t.Run(tc.standard, func(t *testing.T) {
			alice := newKey(t, ctx, c, sol1)
			bob := newKey(t, ctx, c, 0)
			a, b := alice.PublicKey().String(), bob.PublicKey().String()
			mint, err := c.CreateMint(ctx, alice, tc.decimals, tc.program)
			if err != nil {
				t.Fatal(err)
			}
			aliceATA, err := c.MintTo(ctx, alice, mint, alice.PublicKey(), 5_000_000)
			if err != nil {
				t.Fatal(err)
			}
			bobATA, err := litesvm.AssociatedTokenAddress(bob.PublicKey(), mint, tc.program)
			if err != nil {
				t.Fatal(err)
			}
			m := mint.String()

			wa := env.Subscribe(t, "wallet:"+a)
			wb := env.Subscribe(t, "wallet:"+b)
			evs := has(t, wa, "alice's token balance", balance(m, "5000000"))
			if got := one(t, evs, "alice's token balance", balance(m, "5000000")); got.TokenAccount != aliceATA.String() || decimals(got) != int(tc.decimals) {
				t.Errorf("alice's token balance %+v", got)
			}
			has(t, wa, "alice's SOL balance", func(e feeds.WalletEvent) bool { return e.Type == feeds.WalletBalance && e.Asset == "native" })
			has(t, wb, "bob's SOL balance", balance("native", "0"))

			// The transfer creates bob's token account (alice pays).
			sig, err := c.TokenTransfer(ctx, alice, mint, bob.PublicKey(), 1_250_000, tc.decimals)
			if err != nil {
				t.Fatal(err)
			}
			slot := slotOf(t, ctx, c, sig)

			evs = has(t, wa, "alice's token transfer", ofTx(feeds.WalletTokenTransfer, sig))
			out := one(t, evs, "alice's token transfer", ofTx(feeds.WalletTokenTransfer, sig))
			if out.Direction != "out" || out.From != a || out.To != b || out.Token != m || out.Amount != "1250000" ||
				decimals(out) != int(tc.decimals) || out.Standard != tc.standard || out.TokenAccount != aliceATA.String() ||
				out.Block != slot || out.Error != "" {
				t.Errorf("alice's token transfer %+v", out)
			}
			evs = has(t, wa, "alice's token balance after", balance(m, "3750000"))
			if got := one(t, evs, "alice's new token balance", balance(m, "3750000")); got.Delta != "-1250000" || got.TokenAccount != aliceATA.String() || decimals(got) != int(tc.decimals) {
				t.Errorf("alice's token balance after %+v", got)
			}
			evs = has(t, wa, "alice's transaction", ofTx(feeds.WalletTransaction, sig))
			if tx := one(t, evs, "alice's transaction", ofTx(feeds.WalletTransaction, sig)); tx.Fee != "5000" || tx.Direction != "out" || tx.From != a {
				t.Errorf("alice's transaction %+v", tx)
			}
			// Her SOL paid the fee and the new account's rent.
			lamports := balanceOf(t, ctx, c, alice.PublicKey())
			evs = has(t, wa, "alice's SOL balance after", balance("native", u64(lamports)))
			if got := one(t, evs, "alice's SOL after", balance("native", u64(lamports))); !strings.HasPrefix(got.Delta, "-") {
				t.Errorf("alice's SOL balance after %+v", got)
			}

			evs = has(t, wb, "bob's token transfer", ofTx(feeds.WalletTokenTransfer, sig))
			in := one(t, evs, "bob's token transfer", ofTx(feeds.WalletTokenTransfer, sig))
			if in.Direction != "in" || in.From != a || in.To != b || in.Token != m || in.Amount != "1250000" ||
				decimals(in) != int(tc.decimals) || in.Standard != tc.standard || in.TokenAccount != bobATA.String() || in.Block != slot {
				t.Errorf("bob's token transfer %+v", in)
			}
			evs = has(t, wb, "bob's new token account's balance", balance(m, "1250000"))
			if got := one(t, evs, "bob's token balance", balance(m, "1250000")); got.TokenAccount != bobATA.String() || decimals(got) != int(tc.decimals) {
				t.Errorf("bob's token balance %+v", got)
			}

			// The new account is followed from then on.
			again, err := c.TokenTransfer(ctx, alice, mint, bob.PublicKey(), 250_000, tc.decimals)
			if err != nil {
				t.Fatal(err)
			}
			evs = has(t, wb, "bob's next token balance", balance(m, "1500000"))
			if got := one(t, evs, "bob's next token balance", balance(m, "1500000")); got.Delta != "250000" || got.TokenAccount != bobATA.String() {
				t.Errorf("bob's next token balance %+v", got)
			}
			has(t, wb, "bob's second token transfer", ofTx(feeds.WalletTokenTransfer, again))
			has(t, wa, "alice's token balance after the second", balance(m, "3500000"))
			snap := env.Subscribe(t, "wallet:"+b).Snapshot(t)
			for _, want := range []string{m, bobATA.String(), `"balance":"1500000"`} {
				if !strings.Contains(string(snap), want) {
					t.Errorf("bob's snapshot %s lacks %s", snap, want)
				}
			}
		})
	}
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

// ---------------------------------------------------------------- 3. tx lifecycle

// signedTransfer builds and signs a system transfer without sending it, so
// that its signature is known first.
func signedTransfer(t *testing.T, ctx context.Context, c *litesvm.Client, from sol.PrivateKey, to sol.PublicKey, lamports uint64) *sol.Transaction {
	t.Helper()
	bh, err := c.RPC().GetLatestBlockhash(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := system.NewTransferInstruction(lamports, from.PublicKey(), to).ValidateAndBuild()
	if err != nil {
		t.Fatal(err)
	}
	tx, err := sol.NewTransaction([]sol.Instruction{ix}, bh.Value.Blockhash, sol.TransactionPayer(from.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Sign(func(k sol.PublicKey) *sol.PrivateKey {
		if k.Equals(from.PublicKey()) {
			return &from
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return tx
}

func send(t *testing.T, ctx context.Context, c *litesvm.Client, tx *sol.Transaction, skipPreflight bool) {
	t.Helper()
	if _, err := c.RPC().SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{SkipPreflight: skipPreflight, PreflightCommitment: rpc.CommitmentFinalized}); err != nil {
		t.Fatal(err)
	}
}

func statuses(t *testing.T, ups []json.RawMessage) []feeds.TxStatus {
	return chaintest.Decode[feeds.TxStatus](t, ups)
}

func final(s feeds.TxStatus) bool { return s.Commitment == "finalized" }

// waitFinal waits for a tx channel's finalized status and checks the
// steps: pending first when subscribed before sending, then commitments
// that never go back, nothing after finalized.
func waitFinal(t *testing.T, w *chaintest.Watch, sig sol.Signature, pendingFirst bool) []feeds.TxStatus {
	t.Helper()
	var sts []feeds.TxStatus
	w.WaitForStates(t, "the finalized status of "+sig.String(), func(ups []json.RawMessage) bool {
		sts = statuses(t, ups)
		return len(sts) > 0 && final(sts[len(sts)-1])
	})
	if pendingFirst && (sts[0].Status != feeds.StatusPending || sts[0].Block != nil) {
		t.Errorf("first status %+v, want pending without a block", sts[0])
	}
	rank := map[string]int{"": 0, "processed": 1, "confirmed": 2, "finalized": 3}
	for i, s := range sts {
		if s.Hash != sig.String() || s.Chain != "solana" || s.TS == 0 {
			t.Errorf("status %d %+v", i, s)
		}
		if i > 0 && rank[s.Commitment] <= rank[sts[i-1].Commitment] {
			t.Errorf("status %d %+v does not move past %+v", i, s, sts[i-1])
		}
	}
	return sts
}

func TestTxLifecycle(t *testing.T) {
	c, ctx, env := setup(t)
	alice := newKey(t, ctx, c, sol1)
	bob := newKey(t, ctx, c, 0)

	t.Run("confirmed", func(t *testing.T) {
		tx := signedTransfer(t, ctx, c, alice, bob.PublicKey(), 1_000_000)
		sig := tx.Signatures[0]
		w := env.Subscribe(t, "tx:solana:"+sig.String())
		w.WaitForStates(t, "pending", func(ups []json.RawMessage) bool { return len(ups) > 0 })
		send(t, ctx, c, tx, false)
		if err := c.WaitConfirmed(ctx, sig); err != nil {
			t.Fatal(err)
		}
		slot := slotOf(t, ctx, c, sig)
		sts := waitFinal(t, w, sig, true)
		t.Logf("statuses: %+v", sts)
		last := sts[len(sts)-1]
		if last.Status != feeds.StatusConfirmed || last.Block == nil || *last.Block != slot || last.Confirmations != 32 || last.Error != "" {
			t.Errorf("final status %+v, want confirmed (finalized) in slot %d", last, slot)
		}
		for _, s := range sts[1:] {
			if s.Status != feeds.StatusIncluded && s.Status != feeds.StatusConfirmed {
				t.Errorf("status %+v", s)
			}
		}
	})

	t.Run("failed", func(t *testing.T) {
		// More than alice holds: it lands (skipPreflight) and fails.
		tx := signedTransfer(t, ctx, c, alice, bob.PublicKey(), balanceOf(t, ctx, c, alice.PublicKey())+1)
		sig := tx.Signatures[0]
		w := env.Subscribe(t, "tx:solana:"+sig.String())
		w.WaitForStates(t, "pending", func(ups []json.RawMessage) bool { return len(ups) > 0 })
		send(t, ctx, c, tx, true)
		var txErr *litesvm.TxError
		if err := c.WaitConfirmed(ctx, sig); !errors.As(err, &txErr) {
			t.Fatalf("transaction did not fail: %v", err)
		}
		slot := slotOf(t, ctx, c, sig)
		sts := waitFinal(t, w, sig, true)
		for _, s := range sts[1:] {
			if s.Status != feeds.StatusFailed || !strings.Contains(s.Error, "InstructionError") || s.Block == nil || *s.Block != slot {
				t.Errorf("status %+v, want failed with the error in slot %d", s, slot)
			}
		}
	})

	t.Run("dropped", func(t *testing.T) {
		// Signed, never sent: once drop_after_blocks (151) blocks have
		// passed since the watch began, its blockhash has expired.
		tx := signedTransfer(t, ctx, c, alice, bob.PublicKey(), 1_000_000)
		sig := tx.Signatures[0]
		w := env.Subscribe(t, "tx:solana:"+sig.String())
		w.WaitForStates(t, "pending", func(ups []json.RawMessage) bool { return len(ups) > 0 })
		other := newKey(t, ctx, c, 0)
		for range 152 { // a block each
			if err := c.Airdrop(ctx, other.PublicKey(), 1_000_000); err != nil {
				t.Fatal(err)
			}
		}
		var sts []feeds.TxStatus
		w.WaitForStates(t, "dropped", func(ups []json.RawMessage) bool {
			sts = statuses(t, ups)
			return len(sts) > 0 && sts[len(sts)-1].Status == feeds.StatusDropped
		})
		if len(sts) != 2 || sts[0].Status != feeds.StatusPending || sts[1].Block != nil || !strings.Contains(sts[1].Error, "expired") {
			t.Errorf("statuses %+v, want pending then dropped with the reason", sts)
		}
		// The node agrees: the transaction can no longer land.
		if _, err := c.RPC().SendTransaction(ctx, tx); err == nil {
			t.Errorf("the dropped transaction was accepted")
		}
	})

	t.Run("failed, subscribed after", func(t *testing.T) {
		sig, err := c.FailingTransfer(ctx, alice, bob.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		w := env.Subscribe(t, "tx:solana:"+sig.String())
		sts := waitFinal(t, w, sig, false)
		last := sts[len(sts)-1]
		if last.Status != feeds.StatusFailed || !strings.Contains(last.Error, "InstructionError") || last.Confirmations != 32 {
			t.Errorf("status %+v, want failed (finalized) with the error", last)
		}
		if len(sts) != 1 {
			t.Errorf("statuses %+v, want the final one only", sts)
		}
	})
}

// ---------------------------------------------------------------- 4. blocks

func TestBlocks(t *testing.T) {
	c, ctx, env := setup(t)
	alice := newKey(t, ctx, c, sol1)
	bob := newKey(t, ctx, c, 0)

	w := env.Subscribe(t, "blocks:solana")
	var sigs []sol.Signature
	for i := range 3 {
		sig, err := c.Transfer(ctx, alice, bob.PublicKey(), uint64(1_000_000+i))
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, sig)
	}
	failed, err := c.FailingTransfer(ctx, alice, bob.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	sigs = append(sigs, failed) // a failed transaction is in its block too
	want := map[uint64]bool{}
	var first, last uint64
	for i, s := range sigs {
		slot := slotOf(t, ctx, c, s)
		want[slot] = true
		if i == 0 {
			first = slot
		}
		last = slot
	}

	var blocks []feeds.Block
	w.WaitForStates(t, "the blocks of the transactions", func(ups []json.RawMessage) bool {
		blocks = nil
		for _, u := range ups {
			var b feeds.Block
			if json.Unmarshal(u, &b) == nil && b.Type == "block" {
				blocks = append(blocks, b)
			}
		}
		n := 0
		for _, b := range blocks {
			if want[b.Number] {
				n++
			}
		}
		return n == len(want)
	})
	txs := 0
	for i, b := range blocks {
		if b.Chain != "solana" || b.Hash == "" || b.ParentHash == "" || b.ParentSlot == nil || b.Height == nil || b.Commitment != "confirmed" || b.Timestamp == 0 {
			t.Errorf("block %+v", b)
			continue
		}
		if want[b.Number] && b.TxCount != 1 {
			t.Errorf("block %d has txCount %d, want 1 (one transaction per block)", b.Number, b.TxCount)
		}
		if b.Number >= first && b.Number <= last {
			txs += b.TxCount
		}
		if i > 0 {
			p := blocks[i-1]
			if b.Number <= p.Number || *b.ParentSlot != p.Number || b.ParentHash != p.Hash || *b.Height != *p.Height+1 {
				t.Errorf("block %+v does not follow %+v", b, p)
			}
		}
	}
	if txs != len(sigs) {
		t.Errorf("%d transactions in slots %d-%d, want %d", txs, first, last, len(sigs))
	}
}

// TestCommitments runs a transfer with the chain at processed and at
// finalized commitment: wallet events say which, blocks are read at
// confirmed (for processed) and finalized.
func TestCommitments(t *testing.T) {
	for _, tc := range []struct{ commitment, status, blocks string }{
		{"processed", feeds.StatusIncluded, "confirmed"},
		{"finalized", feeds.StatusConfirmed, "finalized"},
	} {
		t.Run(tc.commitment, func(t *testing.T) {
			c, ctx, env := setupAt(t, tc.commitment)
			alice := newKey(t, ctx, c, sol1)
			bob := newKey(t, ctx, c, 0)
			w := env.Subscribe(t, "wallet:"+alice.PublicKey().String())
			bw := env.Subscribe(t, "blocks:solana")
			has(t, w, "alice's SOL balance", balance("native", "1000000000"))
			sig, err := c.Transfer(ctx, alice, bob.PublicKey(), 1_000_000)
			if err != nil {
				t.Fatal(err)
			}
			slot := slotOf(t, ctx, c, sig)
			evs := has(t, w, "the transaction", ofTx(feeds.WalletTransaction, sig))
			evs = has(t, w, "the balance after", balance("native", "998995000"))
			for _, e := range append(find(evs, ofTx(feeds.WalletTransaction, sig)), find(evs, balance("native", "998995000"))...) {
				if e.Status != tc.status || e.Commitment != tc.commitment || e.Block != slot {
					t.Errorf("event %+v, want status %s at %s in slot %d", e, tc.status, tc.commitment, slot)
				}
			}
			bw.WaitForStates(t, "the transfer's block", func(ups []json.RawMessage) bool {
				for _, b := range chaintest.Decode[feeds.Block](t, ups) {
					if b.Number == slot {
						if b.TxCount != 1 || b.Commitment != tc.blocks {
							t.Errorf("block %+v, want one transaction at %s", b, tc.blocks)
						}
						return true
					}
				}
				return false
			})
		})
	}
}

// ---------------------------------------------------------------- 5. bad input

// subscribeErr subscribes to channel over a new connection and returns the
// error (nil when the daemon accepted).
func subscribeErr(t *testing.T, env *chaintest.Env, channel string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, client.Options{URL: env.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_, err = cl.Subscribe(ctx, channel, client.HandlerFuncs{})
	return err
}

// b58encode is base58 (Bitcoin alphabet), for addresses of odd lengths.
func b58encode(b []byte) string {
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	n := new(big.Int).SetBytes(b)
	var out []byte
	mod, base := new(big.Int), big.NewInt(58)
	for n.Sign() > 0 {
		n.DivMod(n, base, mod)
		out = append(out, alphabet[mod.Int64()])
	}
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, '1')
	}
	slices.Reverse(out)
	return string(out)
}

func TestBadChannels(t *testing.T) {
	_, _, env := setup(t)
	b58 := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i + 1)
		}
		return b58encode(b)
	}
	for _, ch := range []string{
		"wallet:not-base58-0OIl",
		"wallet:" + b58(31),
		"wallet:" + b58(33),
		"tx:solana:" + b58(32),                    // an address, not a signature
		"tx:solana:0x" + strings.Repeat("ab", 32), // an EVM hash on a Solana chain
		"tx:nochain:" + b58(64),
	} {
		err := subscribeErr(t, env, ch)
		var se *client.ServerError
		if !errors.As(err, &se) || se.Code != "bad_channel" {
			t.Errorf("subscribe %s: %v, want a bad_channel error", ch, err)
		}
	}
	for _, ch := range []string{"wallet:" + b58(32), "tx:solana:" + b58(64), "blocks:solana"} {
		if err := subscribeErr(t, env, ch); err != nil {
			t.Errorf("subscribe %s: %v", ch, err)
		}
	}
}

// ---------------------------------------------------------------- 6. feedctl

// goTool returns the go command.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("go command not found: %v", err)
	}
	return p
}

// TestFeedctlTail is the "done" check: the real feedctl binary tails a
// wallet while real SOL and token transfers land.
func TestFeedctlTail(t *testing.T) {
	if testing.Short() {
		t.Skip("builds feedctl")
	}
	c, ctx, env := setup(t)
	alice := newKey(t, ctx, c, sol1)
	bob := newKey(t, ctx, c, 0)
	mint, err := c.CreateMint(ctx, alice, 6, sol.TokenProgramID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.MintTo(ctx, alice, mint, alice.PublicKey(), 5_000_000); err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(t.TempDir(), "feedctl")
	started := time.Now()
	// Built like this test binary (-race or not), so that the packages
	// it shares with it come from the build cache.
	args := []string{"build", "-o", bin}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "-race" && s.Value == "true":
				args = append(args, "-race")
			case s.Key == "-tags" && s.Value != "":
				args = append(args, "-tags", s.Value)
			}
		}
	}
	build := exec.CommandContext(ctx, goTool(t), append(args, "github.com/feedd/feedd/cmd/feedctl")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build feedctl: %v\n%s", err, out)
	}
	t.Logf("feedctl built in %v", time.Since(started).Round(time.Millisecond))

	var stdout, stderr chaintest.Buffer
	cmd := exec.Command(bin, "tail", "--url", env.URL(), "wallet:"+alice.PublicKey().String())
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			return err
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			return errors.New("feedctl did not stop on SIGINT; killed")
		}
	}
	t.Cleanup(func() { _ = stop() })

	// lines waits until the output satisfies cond.
	type line struct {
		Channel  string             `json:"channel"`
		Data     *feeds.WalletEvent `json:"data"`
		Snapshot json.RawMessage    `json:"snapshot"`
	}
	wait := func(what string, cond func([]line) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			var ls []line
			sc := bufio.NewScanner(strings.NewReader(stdout.String()))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var l line
				if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
					t.Fatalf("feedctl printed %q: %v", sc.Text(), err)
				}
				ls = append(ls, l)
			}
			if cond(ls) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("feedctl tail: no %s within 20 s; stdout:\n%s\nstderr:\n%s", what, stdout.String(), stderr.String())
			}
			select {
			case err := <-exited:
				t.Fatalf("feedctl exited (%v) before %s; stdout:\n%s\nstderr:\n%s", err, what, stdout.String(), stderr.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	event := func(cond func(feeds.WalletEvent) bool) func([]line) bool {
		return func(ls []line) bool {
			for _, l := range ls {
				if l.Data != nil && cond(*l.Data) {
					return true
				}
			}
			return false
		}
	}
	m := mint.String()
	wait("token balance", func(ls []line) bool {
		for _, l := range ls {
			if (l.Data != nil && balance(m, "5000000")(*l.Data)) || strings.Contains(string(l.Snapshot), `"balance":"5000000"`) {
				return true
			}
		}
		return false
	})

	sig, err := c.Transfer(ctx, alice, bob.PublicKey(), 3_000_000)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.TokenTransfer(ctx, alice, mint, bob.PublicKey(), 1_000_000, 6)
	if err != nil {
		t.Fatal(err)
	}
	lamports := balanceOf(t, ctx, c, alice.PublicKey())
	wait("the SOL transfer", event(func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletTransaction && e.TxHash == sig.String() && e.Direction == "out" && e.Value == "3000000"
	}))
	wait("the SOL balance change", event(func(e feeds.WalletEvent) bool {
		return balance("native", u64(lamports))(e) && strings.HasPrefix(e.Delta, "-")
	}))
	wait("the token transfer", event(func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletTokenTransfer && e.TxHash == tok.String() && e.Token == m && e.Amount == "1000000"
	}))
	wait("the token balance change", event(func(e feeds.WalletEvent) bool {
		return balance(m, "4000000")(e) && e.Delta == "-1000000"
	}))
	if err := stop(); err != nil {
		t.Errorf("feedctl tail: %v; stderr:\n%s", err, stderr.String())
	}
}
