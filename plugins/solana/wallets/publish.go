package wallets

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/gagliardetto/solana-go/rpc"

	"github.com/feedd/feedd/feeds"
)

// Snapshot is what a new wallet:<address> subscriber gets from a Solana
// chain: the balances known now (SOL as "native", tokens by mint, one entry
// per token account) and the recent events, oldest first.
type Snapshot struct {
	Address  string              `json:"address"`
	Chain    string              `json:"chain"`
	Balances []Balance           `json:"balances"`
	Recent   []feeds.WalletEvent `json:"recent"`
}

// Balance is one asset's balance in a Snapshot.
type Balance struct {
	Asset        string `json:"asset"` // "native" or the token's mint
	Balance      string `json:"balance"`
	Decimals     *int   `json:"decimals,omitempty"`
	TokenAccount string `json:"tokenAccount,omitempty"`
}

// event starts an event of w.
func (t *tracker) event(w *wallet, typ string, slot uint64) feeds.WalletEvent {
	return feeds.WalletEvent{Type: typ, Address: w.key, Chain: t.chain.Name(), TS: t.clk.Now().UnixMilli(),
		Status: t.status, Confirmations: 1, Block: slot, Commitment: string(t.commit)}
}

// publish sends events to w's channel, in order; the last carries the new
// snapshot.
func (t *tracker) publish(ctx context.Context, w *wallet, evs ...feeds.WalletEvent) {
	for _, ev := range evs {
		t.remember(w, ev)
	}
	for i, ev := range evs {
		pub := feeds.Publication{Kind: "wallet", Channel: "wallet:" + w.key, Data: ev}
		if i == len(evs)-1 {
			pub.Snapshot = t.snapshot(w)
		}
		t.h.EmitContext(ctx, pub)
	}
}

func (t *tracker) remember(w *wallet, ev feeds.WalletEvent) {
	if t.cfg.Recent <= 0 {
		return
	}
	w.recent = append(w.recent, ev)
	if over := len(w.recent) - t.cfg.Recent; over > 0 {
		w.recent = append(w.recent[:0], w.recent[over:]...)
	}
}

func (t *tracker) snapshot(w *wallet) Snapshot {
	snap := Snapshot{Address: w.key, Chain: t.chain.Name(), Balances: []Balance{}, Recent: append([]feeds.WalletEvent{}, w.recent...)}
	if w.known {
		snap.Balances = append(snap.Balances, Balance{Asset: "native", Balance: u64(w.lamports), Decimals: intp(9)})
	}
	var toks []Balance
	for _, tok := range w.tokens {
		if tok.amount == nil {
			continue
		}
		b := Balance{Asset: tok.mint, Balance: tok.amount.String(), TokenAccount: tok.key}
		if tok.decimals >= 0 {
			b.Decimals = intp(tok.decimals)
		}
		toks = append(toks, b)
	}
	sort.Slice(toks, func(i, j int) bool {
		if toks[i].Asset != toks[j].Asset {
			return toks[i].Asset < toks[j].Asset
		}
		return toks[i].TokenAccount < toks[j].TokenAccount
	})
	snap.Balances = append(snap.Balances, toks...)
	return snap
}

// resyncAll reads everything again after notifications were lost.
func (t *tracker) resyncAll(ctx context.Context) {
	for _, w := range t.wallets {
		t.readBalance(ctx, w)
		if t.cfg.Tokens {
			t.listTokens(ctx, w)
			for _, tok := range w.tokens {
				t.readToken(ctx, w, tok)
			}
		}
		if t.cfg.Transactions {
			for _, m := range append([]*mention{&w.self}, tokenMentions(w)...) {
				if m.marked {
					t.catchUp(ctx, w, m)
				} else {
					t.mark(ctx, w, m)
				}
			}
		}
	}
}

// atLeastConfirmed: transactions are not served at processed.
func atLeastConfirmed(c rpc.CommitmentType) rpc.CommitmentType {
	if c == rpc.CommitmentProcessed {
		return rpc.CommitmentConfirmed
	}
	return c
}

func intp(v int) *int { return &v }

// clip shortens a raw message for a log line.
func clip(b json.RawMessage) string {
	if len(b) > 200 {
		return fmt.Sprintf("%s… (%d bytes)", b[:200], len(b))
	}
	return string(b)
}

func tokenMentions(w *wallet) []*mention {
	out := make([]*mention, 0, len(w.tokens))
	for _, tok := range w.tokens {
		out = append(out, &tok.logs)
	}
	return out
}
