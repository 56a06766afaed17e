package wallets_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/chaintest"
	"github.com/feedd/feedd/internal/solanatest"
)

const feedsYAML = `feeds:
  - {id: wallets, type: solana.wallets, chain: solana}
`

func start(t *testing.T, extra string) (*solanatest.Server, *chaintest.Env) {
	t.Helper()
	srv, err := solanatest.New(solanatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if extra == "" {
		extra = feedsYAML
	}
	env := chaintest.StartSolana(t, chaintest.SolanaOptions{RPC: srv.RPCURL(), WS: srv.WSURL(), Extra: extra})
	return srv, env
}

// events decodes wallet updates.
func events(t *testing.T, ups []json.RawMessage) []feeds.WalletEvent {
	return chaintest.Decode[feeds.WalletEvent](t, ups)
}

// find returns the events matching cond.
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

func has(t *testing.T, w *chaintest.Watch, what string, cond func(feeds.WalletEvent) bool) []feeds.WalletEvent {
	t.Helper()
	var got []feeds.WalletEvent
	w.WaitForStates(t, what, func(ups []json.RawMessage) bool {
		got = events(t, ups)
		return len(find(got, cond)) > 0
	})
	return got
}

// settle produces slots until the server's changes are confirmed, and
// waits a moment for notifications to land.
func settle(srv *solanatest.Server) {
	srv.Produce(2)
}

func TestSOLBalanceAndTransactions(t *testing.T) {
	srv, env := start(t, "")
	alice, bob := sol.NewWallet().PublicKey(), sol.NewWallet().PublicKey()
	srv.Airdrop(alice, 10_000_000)
	settle(srv)

	w := env.Subscribe(t, "wallet:"+alice.String())
	has(t, w, "the SOL balance", balance("native", "10000000"))
	if snap := env.Subscribe(t, "wallet:"+alice.String()).Snapshot(t); !strings.Contains(string(snap), `"balance":"10000000"`) {
		t.Errorf("snapshot %s lacks the SOL balance", snap)
	}
	sig := srv.Transfer(alice, bob, 2_000_000)
	settle(srv)
	has(t, w, "the transfer", func(e feeds.WalletEvent) bool { return e.Type == feeds.WalletTransaction && e.TxHash == sig.String() })
	evs := has(t, w, "the balance after it", balance("native", "7995000"))
	bal := find(evs, balance("native", "7995000"))
	if len(bal) != 1 || bal[0].Delta != "-2005000" || bal[0].Decimals == nil || *bal[0].Decimals != 9 || bal[0].Status != feeds.StatusConfirmed || bal[0].Commitment != "confirmed" {
		t.Errorf("balance events %+v", bal)
	}
	tx := find(evs, func(e feeds.WalletEvent) bool { return e.Type == feeds.WalletTransaction })[0]
	if tx.Direction != "out" || tx.From != alice.String() || tx.To != bob.String() || tx.Value != "2000000" || tx.Fee != "5000" || tx.Block == 0 {
		t.Errorf("transaction %+v", tx)
	}

	// Incoming, and a failed transaction.
	srv.Airdrop(bob, 50_000_000)
	settle(srv)
	in := srv.Transfer(bob, alice, 3_000_000)
	failed := srv.FailTx(alice)
	settle(srv)
	evs = has(t, w, "the failed transaction", func(e feeds.WalletEvent) bool { return e.TxHash == failed.String() })
	got := find(evs, func(e feeds.WalletEvent) bool { return e.TxHash == in.String() })
	if len(got) != 1 || got[0].Direction != "in" || got[0].From != bob.String() || got[0].Value != "3000000" {
		t.Errorf("incoming transfer %+v", got)
	}
	f := find(evs, func(e feeds.WalletEvent) bool { return e.TxHash == failed.String() })[0]
	if f.Error == "" || !strings.Contains(f.Error, "Custom") {
		t.Errorf("failed transaction %+v: no error", f)
	}
}

func TestTokenBalancesAndTransfers(t *testing.T) {
	srv, env := start(t, "")
	alice, bob := sol.NewWallet().PublicKey(), sol.NewWallet().PublicKey()
	srv.Airdrop(alice, 10_000_000)
	srv.Airdrop(bob, 10_000_000)
	mint := srv.CreateMint(6, sol.TokenProgramID)
	settle(srv)
	aliceTok, _ := srv.MintTo(mint, alice, 5_000_000)
	mint22 := srv.CreateMint(2, sol.Token2022ProgramID)
	settle(srv)
	srv.MintTo(mint22, alice, 700)
	settle(srv)

	w := env.Subscribe(t, "wallet:"+alice.String())
	has(t, w, "the Token-2022 balance", func(e feeds.WalletEvent) bool { return e.Type == feeds.WalletBalance && e.Asset == mint22.String() })
	snap := env.Subscribe(t, "wallet:"+alice.String()).Snapshot(t)
	for _, want := range []string{mint.String(), mint22.String(), `"balance":"5000000"`, `"balance":"700"`} {
		if !strings.Contains(string(snap), want) {
			t.Errorf("snapshot %s lacks %s", snap, want)
		}
	}

	// Out: alice sends to bob, whose token account the transfer creates.
	out := srv.TokenTransfer(mint, alice, bob, 1_250_000)
	settle(srv)
	evs := has(t, w, "the token transfer out", func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletTokenTransfer && e.TxHash == out.String()
	})
	tt := find(evs, func(e feeds.WalletEvent) bool { return e.Type == feeds.WalletTokenTransfer })[0]
	if tt.Direction != "out" || tt.Amount != "1250000" || tt.Token != mint.String() || tt.To != bob.String() || tt.Decimals == nil || *tt.Decimals != 6 || tt.Standard != "spl-token" || tt.TokenAccount != aliceTok.String() {
		t.Errorf("token transfer %+v", tt)
	}
	has(t, w, "the token balance after", balance(mint.String(), "3750000"))

	// In: bob sends some back; the notification on alice's token account
	// and the transaction mentioning it both report it.
	back := srv.TokenTransfer(mint, bob, alice, 250_000)
	settle(srv)
	evs = has(t, w, "the token transfer in", func(e feeds.WalletEvent) bool {
		return e.Type == feeds.WalletTokenTransfer && e.TxHash == back.String()
	})
	in := find(evs, func(e feeds.WalletEvent) bool {
		return e.TxHash == back.String() && e.Type == feeds.WalletTokenTransfer
	})
	if len(in) != 1 || in[0].Direction != "in" || in[0].From != bob.String() || in[0].Amount != "250000" {
		t.Errorf("token transfer in %+v", in)
	}
	has(t, w, "the token balance after it", balance(mint.String(), "4000000"))

	// A new token arrives: its account is found from the transaction and
	// followed from then on.
	mint3 := srv.CreateMint(0, sol.TokenProgramID)
	settle(srv)
	srv.MintTo(mint3, bob, 10)
	settle(srv)
	gift := srv.TokenTransfer(mint3, bob, alice, 3)
	settle(srv)
	has(t, w, "the new token's balance", balance(mint3.String(), "3"))
	srv.TokenTransfer(mint3, bob, alice, 4)
	settle(srv)
	evs = has(t, w, "the new token's next balance", balance(mint3.String(), "7"))
	if n := len(find(evs, func(e feeds.WalletEvent) bool { return e.TxHash == gift.String() })); n != 2 {
		t.Errorf("%d events of the gift, want 2 (transaction and token_transfer)", n)
	}
}

func TestReconnectNoLossNoDuplicate(t *testing.T) {
	srv, env := start(t, "")
	alice, bob := sol.NewWallet().PublicKey(), sol.NewWallet().PublicKey()
	srv.Airdrop(alice, 100_000_000)
	settle(srv)
	w := env.Subscribe(t, "wallet:"+alice.String())
	has(t, w, "the SOL balance", balance("native", "100000000"))
	first := srv.Transfer(alice, bob, 1_000_000)
	settle(srv)
	has(t, w, "the first transfer", func(e feeds.WalletEvent) bool { return e.TxHash == first.String() })

	// While the socket is down, two transfers land.
	srv.DropConnections()
	var sigs []string
	for i := 0; i < 2; i++ {
		sigs = append(sigs, srv.Transfer(alice, bob, uint64(1_000+i)).String())
		settle(srv)
	}
	after := srv.Transfer(alice, bob, 7_000)
	settle(srv)
	sigs = append(sigs, after.String())
	evs := has(t, w, "the transfer after the reconnect", func(e feeds.WalletEvent) bool { return e.TxHash == after.String() })
	time.Sleep(300 * time.Millisecond)
	evs = events(t, w.States())
	count := map[string]int{}
	for _, e := range evs {
		if e.Type == feeds.WalletTransaction {
			count[e.TxHash]++
		}
	}
	for _, s := range append(sigs, first.String()) {
		if count[s] != 1 {
			t.Errorf("transaction %s reported %d times, want once", s, count[s])
		}
	}
	want := fmt.Sprint(srv.Balance(alice))
	has(t, w, "the final balance", balance("native", want))
	balances := find(evs, func(e feeds.WalletEvent) bool { return e.Type == feeds.WalletBalance })
	for i := 1; i < len(balances); i++ {
		if balances[i].Balance == balances[i-1].Balance {
			t.Errorf("balance %s published twice in a row", balances[i].Balance)
		}
	}
}
