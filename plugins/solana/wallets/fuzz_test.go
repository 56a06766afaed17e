package wallets

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/gagliardetto/solana-go"

	chain "github.com/feedd/feedd/chains/solana"
	"github.com/feedd/feedd/plugins"
)

// FuzzTokenAccount reads arbitrary account values as token accounts:
// either an error or a state with a non-negative amount.
func FuzzTokenAccount(f *testing.F) {
	f.Add([]byte(`{"lamports":2039280,"owner":"TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA","data":{"program":"spl-token","parsed":{"type":"account","info":{"mint":"m","owner":"o","tokenAmount":{"amount":"5","decimals":6}}}}}`))
	f.Add([]byte(`{"lamports":1,"owner":"TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb","data":["AAAA","base64"]}`))
	f.Add([]byte(`{"owner":"TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA","data":{"parsed":{"type":"account","info":{"tokenAmount":{"amount":"-1","decimals":300}}}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var v accountValue
		if json.Unmarshal(raw, &v) != nil {
			return
		}
		st, err := tokenAccount(&v)
		if err == nil && (st.Amount == nil || st.Amount.Sign() < 0 || st.Decimals > 255) {
			t.Fatalf("state %+v from %s", st, raw)
		}
	})
}

// FuzzEvents turns arbitrary getTransaction answers into a wallet's events:
// no panic, and every event is the wallet's.
func FuzzEvents(f *testing.F) {
	w := solana.MustPublicKeyFromBase58("2zPurrd7GLzGyQanTsJmyzc1KUP1XC4PYrS9WdTwkCRP")
	f.Add([]byte(`{"slot":5,"blockTime":1,"meta":{"err":null,"fee":5000,"preBalances":[10,0],"postBalances":[3,2],"preTokenBalances":[{"accountIndex":1,"mint":"m","owner":"2zPurrd7GLzGyQanTsJmyzc1KUP1XC4PYrS9WdTwkCRP","uiTokenAmount":{"amount":"7","decimals":2}}],"postTokenBalances":[]},"transaction":{"message":{"accountKeys":["2zPurrd7GLzGyQanTsJmyzc1KUP1XC4PYrS9WdTwkCRP",{"pubkey":"uXwfnT2FAfj4rVWGvCSbG38Jujse9ZNfvS5wFbrVqJR","signer":false}]}}}`))
	f.Add([]byte(`{"meta":{"preBalances":[1],"postBalances":[],"postTokenBalances":[{"accountIndex":99}]},"transaction":{"message":{"accountKeys":[]}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var res txResult
		if json.Unmarshal(raw, &res) != nil || res.Meta == nil {
			return
		}
		c, err := chain.New("fuzz", chain.Config{RPC: []string{"http://127.0.0.1:1"}}, plugins.Env{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		tr := newTracker(Config{MaxTokenAccounts: 0, Recent: 5}, c, nil, chain.NewInbox(1), nil)
		wl := &wallet{addr: w, key: w.String(), tokens: map[string]*tokenAcct{}, seen: map[string]bool{}}
		evs, _ := tr.events(wl, "sig", &res)
		for _, ev := range evs {
			if ev.Address != wl.key || ev.TxHash != "sig" {
				t.Fatalf("event %+v not of the wallet's transaction", ev)
			}
		}
	})
}
