package wallets

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"sort"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	chain "github.com/feedd/feedd/chains/solana"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/clock"
	"github.com/feedd/feedd/plugins"
)

// What a subscription is for.
const (
	subAccount = iota // the wallet's own account (SOL balance)
	subToken          // one of its token accounts
	subLogs           // transactions mentioning the wallet or a token account
)

// subKey is the Key of every subscription the tracker makes.
type subKey struct {
	kind int
	w    *wallet
	tok  *tokenAcct // subToken, and subLogs of a token account
	m    *mention   // subLogs
}

// mention is an address whose transactions the wallet reports: the wallet
// itself and each of its token accounts.
type mention struct {
	addr      solana.PublicKey
	sub       *chain.Sub
	watermark string // newest signature known to mention addr
	marked    bool   // watermark read once
	since     uint64 // the chain's slot when the watch began
}

// wallet is one watched address.
type wallet struct {
	addr     solana.PublicKey
	key      string
	static   bool
	acct     *chain.Sub
	self     mention
	lamports uint64
	known    bool   // lamports read once
	slot     uint64 // context slot of lamports
	tokens   map[string]*tokenAcct
	listed   bool // token accounts listed once
	seen     map[string]bool
	order    []string // seen, oldest first (bounded)
	recent   []feeds.WalletEvent
}

// tokenAcct is one followed token account of a wallet.
type tokenAcct struct {
	addr     solana.PublicKey
	key      string
	mint     string
	program  string
	decimals int
	amount   *big.Int // nil until read
	slot     uint64
	sub      *chain.Sub
	logs     mention
}

// fetch is a transaction to read (getTransaction), retried while the node
// does not have it yet at the commitment.
type fetch struct {
	w     *wallet
	sig   string
	slot  uint64
	err   json.RawMessage
	tries int
	due   time.Time
}

const (
	seenMax      = 4096 // signatures remembered per wallet
	fetchTries   = 20
	fetchSpacing = 500 * time.Millisecond
)

// tracker owns the watched wallets; it runs on the instance's goroutine.
type tracker struct {
	cfg     Config
	chain   *chain.Chain
	h       *plugins.Host
	in      *chain.Inbox
	tracer  trace.Tracer
	commit  rpc.CommitmentType
	status  string
	clk     clock.Clock
	wallets map[solana.PublicKey]*wallet
	fetches []*fetch
}

func newTracker(cfg Config, c *chain.Chain, h *plugins.Host, in *chain.Inbox, tracer trace.Tracer) *tracker {
	status := feeds.StatusConfirmed
	if c.Commitment() == rpc.CommitmentProcessed {
		status = feeds.StatusIncluded
	}
	var clk clock.Clock = clock.Real{}
	if h != nil {
		clk = h.Clock()
	}
	return &tracker{cfg: cfg, chain: c, h: h, in: in, tracer: tracer, commit: c.Commitment(), status: status, clk: clk, wallets: map[solana.PublicKey]*wallet{}}
}

// watch starts following addr.
func (t *tracker) watch(addr solana.PublicKey, static bool) {
	if w := t.wallets[addr]; w != nil {
		w.static = w.static || static
		return
	}
	if len(t.wallets) >= t.cfg.MaxWatched {
		t.h.Logger().Warn("max_watched reached; address not watched", "address", addr.String(), "max_watched", t.cfg.MaxWatched)
		return
	}
	w := &wallet{addr: addr, key: addr.String(), static: static, tokens: map[string]*tokenAcct{}, seen: map[string]bool{}}
	w.self.addr = addr
	w.self.since, _, _ = t.chain.Slot()
	t.wallets[addr] = w
	w.acct = t.chain.Subscribe(chain.SubRequest{Method: "accountSubscribe", Key: subKey{kind: subAccount, w: w},
		Params: []any{w.key, map[string]any{"encoding": "base64", "commitment": t.commit}}}, t.in)
	if t.cfg.Transactions {
		t.mentions(w, &w.self, nil)
	}
}

// mentions subscribes to the transactions mentioning m.addr.
func (t *tracker) mentions(w *wallet, m *mention, tok *tokenAcct) {
	m.sub = t.chain.Subscribe(chain.SubRequest{Method: "logsSubscribe", Key: subKey{kind: subLogs, w: w, tok: tok, m: m},
		Params: []any{map[string]any{"mentions": []string{m.addr.String()}}, map[string]any{"commitment": t.commit}}}, t.in)
}

// unwatch stops following addr (static addresses stay).
func (t *tracker) unwatch(addr solana.PublicKey) {
	w := t.wallets[addr]
	if w == nil || w.static {
		return
	}
	t.close(w)
	delete(t.wallets, addr)
	kept := t.fetches[:0]
	for _, f := range t.fetches {
		if f.w != w {
			kept = append(kept, f)
		}
	}
	t.fetches = kept
}

func (t *tracker) close(w *wallet) {
	w.acct.Close()
	if w.self.sub != nil {
		w.self.sub.Close()
	}
	for _, tok := range w.tokens {
		t.closeToken(tok)
	}
}

func (t *tracker) closeToken(tok *tokenAcct) {
	tok.sub.Close()
	if tok.logs.sub != nil {
		tok.logs.sub.Close()
	}
}

func (t *tracker) closeAll() {
	for _, w := range t.wallets {
		t.close(w)
	}
}

// handle takes one notification.
func (t *tracker) handle(ctx context.Context, n chain.Notification) {
	k, ok := n.Sub.Key.(subKey)
	if !ok || t.wallets[k.w.addr] != k.w {
		return // of an address no longer watched
	}
	w := k.w
	if k.tok != nil && w.tokens[k.tok.key] != k.tok {
		return // of a token account no longer followed (or followed anew)
	}
	switch n.Kind {
	case chain.NoteRefused:
		t.h.Logger().Warn("subscription refused; it is sent again on the next connection", "address", w.key, "error", n.Err)
		return
	case chain.NoteSubscribed:
		ctx, span := t.tracer.Start(ctx, "solana.wallets.resync", trace.WithAttributes(
			attribute.String("feedd.chain", t.chain.Name()), attribute.String("feedd.address", w.key), attribute.Bool("feedd.again", n.Again)))
		defer span.End()
		switch k.kind {
		case subAccount:
			t.readBalance(ctx, w)
			if t.cfg.Tokens && (!w.listed || n.Again) {
				t.listTokens(ctx, w)
			}
		case subToken:
			// Changes between finding the account and this subscription
			// (or during a reconnect) are in its state.
			t.readToken(ctx, w, k.tok)
		case subLogs:
			if !k.m.marked {
				t.mark(ctx, w, k.m)
			} else if n.Again {
				t.catchUp(ctx, w, k.m)
			}
		}
		return
	}
	ctx, span := t.tracer.Start(ctx, "solana.wallets.notification", trace.WithAttributes(
		attribute.String("feedd.chain", t.chain.Name()), attribute.String("feedd.address", w.key),
		attribute.String("feedd.subscription", [...]string{"account", "token", "logs"}[k.kind]), attribute.Int64("feedd.slot", int64(n.Slot))))
	defer span.End()
	switch k.kind {
	case subAccount:
		var note accountNote
		if err := json.Unmarshal(n.Result, &note); err != nil || note.Value == nil {
			t.h.Logger().Warn("malformed account notification skipped", "address", w.key, "error", err, "result", clip(n.Result))
			return
		}
		t.setLamports(ctx, w, note.Value.Lamports, note.Context.Slot)
	case subToken:
		var note accountNote
		if err := json.Unmarshal(n.Result, &note); err != nil {
			t.h.Logger().Warn("malformed token account notification skipped", "address", w.key, "account", k.tok.key, "error", err, "result", clip(n.Result))
			return
		}
		t.tokenNote(ctx, w, k.tok, note.Value, note.Context.Slot)
	case subLogs:
		var note struct {
			Context struct {
				Slot uint64 `json:"slot"`
			} `json:"context"`
			Value struct {
				Signature string          `json:"signature"`
				Err       json.RawMessage `json:"err"`
			} `json:"value"`
		}
		if err := json.Unmarshal(n.Result, &note); err != nil {
			t.h.Logger().Warn("malformed logs notification skipped", "address", w.key, "error", err, "result", clip(n.Result))
			return
		}
		if _, err := solana.SignatureFromBase58(note.Value.Signature); err != nil {
			t.h.Logger().Warn("logs notification with a bad signature skipped", "address", w.key, "signature", note.Value.Signature, "error", err)
			return
		}
		k.m.watermark, k.m.marked = note.Value.Signature, true
		t.transaction(ctx, w, note.Value.Signature, note.Context.Slot, note.Value.Err)
	}
}

// readBalance reads the wallet's SOL balance and publishes a change.
func (t *tracker) readBalance(ctx context.Context, w *wallet) {
	var res *rpc.GetBalanceResult
	err := t.chain.Do(ctx, "getBalance", func(ctx context.Context, cl *rpc.Client) (err error) {
		res, err = cl.GetBalance(ctx, w.addr, t.commit)
		return err
	})
	if err == nil && res == nil {
		err = errors.New("getBalance: null result")
	}
	if err != nil {
		t.h.Logger().Warn("reading a balance failed", "address", w.key, "error", err)
		return
	}
	t.setLamports(ctx, w, res.Value, res.Context.Slot)
}

// setLamports publishes the wallet's SOL balance when it changed; older
// readings (by slot) are ignored.
func (t *tracker) setLamports(ctx context.Context, w *wallet, lamports, slot uint64) {
	if w.known && (slot < w.slot || lamports == w.lamports) {
		w.slot = max(w.slot, slot)
		return
	}
	ev := t.event(w, feeds.WalletBalance, slot)
	ev.Asset, ev.Balance, ev.Decimals = "native", u64(lamports), intp(9)
	if w.known {
		ev.Delta = new(big.Int).Sub(new(big.Int).SetUint64(lamports), new(big.Int).SetUint64(w.lamports)).String()
	}
	w.lamports, w.known, w.slot = lamports, true, slot
	t.publish(ctx, w, ev)
}

// listTokens finds the wallet's token accounts of both token programs and
// follows the new ones.
func (t *tracker) listTokens(ctx context.Context, w *wallet) {
	failed := false
	for _, program := range []solana.PublicKey{solana.TokenProgramID, solana.Token2022ProgramID} {
		var res *rpc.GetTokenAccountsResult
		err := t.chain.Do(ctx, "getTokenAccountsByOwner", func(ctx context.Context, cl *rpc.Client) (err error) {
			res, err = cl.GetTokenAccountsByOwner(ctx, w.addr, &rpc.GetTokenAccountsConfig{ProgramId: program.ToPointer()},
				&rpc.GetTokenAccountsOpts{Commitment: t.commit, Encoding: solana.EncodingJSONParsed})
			return err
		})
		if err == nil && res == nil {
			err = errors.New("getTokenAccountsByOwner: null result")
		}
		if err != nil {
			t.h.Logger().Warn("listing token accounts failed", "address", w.key, "program", program.String(), "error", err)
			failed = true
			continue
		}
		for _, ta := range res.Value {
			st, err := tokenAccount(valueOf(&ta.Account))
			if err != nil {
				t.h.Logger().Warn("token account skipped", "address", w.key, "account", ta.Pubkey.String(), "error", err)
				continue
			}
			tok := w.tokens[ta.Pubkey.String()]
			if tok == nil {
				if tok = t.follow(w, ta.Pubkey, program.String()); tok == nil {
					continue
				}
			}
			t.setToken(ctx, w, tok, st, res.Context.Slot)
		}
	}
	// Listed once both programs answered; until then every resubscription
	// (and the next transaction) tries again.
	w.listed = w.listed || !failed
}

// follow subscribes to one token account of w; nil beyond max_token_accounts.
func (t *tracker) follow(w *wallet, addr solana.PublicKey, program string) *tokenAcct {
	if len(w.tokens) >= t.cfg.MaxTokenAccounts {
		t.h.Logger().Warn("max_token_accounts reached; token account not followed", "address", w.key, "account", addr.String(), "max_token_accounts", t.cfg.MaxTokenAccounts)
		return nil
	}
	tok := &tokenAcct{addr: addr, key: addr.String(), program: program, decimals: -1}
	tok.logs.addr = addr
	tok.logs.since, _, _ = t.chain.Slot()
	w.tokens[tok.key] = tok
	tok.sub = t.chain.Subscribe(chain.SubRequest{Method: "accountSubscribe", Key: subKey{kind: subToken, w: w, tok: tok},
		Params: []any{tok.key, map[string]any{"encoding": "jsonParsed", "commitment": t.commit}}}, t.in)
	if t.cfg.Transactions {
		t.mentions(w, &tok.logs, tok)
	}
	return tok
}

// readToken reads one token account again.
func (t *tracker) readToken(ctx context.Context, w *wallet, tok *tokenAcct) {
	var res *rpc.GetAccountInfoResult
	err := t.chain.Do(ctx, "getAccountInfo", func(ctx context.Context, cl *rpc.Client) (err error) {
		res, err = cl.GetAccountInfoWithOpts(ctx, tok.addr, &rpc.GetAccountInfoOpts{Commitment: t.commit, Encoding: solana.EncodingJSONParsed})
		return err
	})
	if errors.Is(err, rpc.ErrNotFound) {
		t.tokenNote(ctx, w, tok, nil, 0)
		return
	}
	if err == nil && (res == nil || res.Value == nil) {
		err = errors.New("getAccountInfo: null result")
	}
	if err != nil {
		t.h.Logger().Warn("reading a token account failed", "address", w.key, "account", tok.key, "error", err)
		return
	}
	t.tokenNote(ctx, w, tok, valueOf(res.Value), res.Context.Slot)
}

// tokenNote takes a token account's new state; an account that is no
// longer a token account of w (closed, reassigned) is published at zero and
// no longer followed.
func (t *tracker) tokenNote(ctx context.Context, w *wallet, tok *tokenAcct, v *accountValue, slot uint64) {
	st, err := tokenAccount(v)
	if err == nil && st.Owner == w.key {
		t.setToken(ctx, w, tok, st, slot)
		return
	}
	if v != nil && v.Lamports > 0 && err != nil {
		t.h.Logger().Warn("token account notification not understood; skipped", "address", w.key, "account", tok.key, "error", err)
		return
	}
	t.closeToken(tok)
	if w.tokens[tok.key] == tok {
		delete(w.tokens, tok.key)
	}
	if tok.amount != nil {
		// Published even when it was already at zero: the snapshot that
		// comes with it no longer lists the account.
		ev := t.event(w, feeds.WalletBalance, slot)
		ev.Asset, ev.Balance, ev.Delta, ev.TokenAccount = tok.mint, "0", new(big.Int).Neg(tok.amount).String(), tok.key
		if tok.decimals >= 0 {
			ev.Decimals = intp(tok.decimals)
		}
		t.publish(ctx, w, ev)
	}
}

// setToken publishes a token account's balance when it changed.
func (t *tracker) setToken(ctx context.Context, w *wallet, tok *tokenAcct, st tokenState, slot uint64) {
	if st.Decimals >= 0 {
		tok.decimals = st.Decimals
	}
	tok.mint = st.Mint
	if tok.amount != nil && (slot < tok.slot || st.Amount.Cmp(tok.amount) == 0) {
		tok.slot = max(tok.slot, slot)
		return
	}
	ev := t.event(w, feeds.WalletBalance, slot)
	ev.Asset, ev.Balance, ev.TokenAccount = tok.mint, st.Amount.String(), tok.key
	if tok.decimals >= 0 {
		ev.Decimals = intp(tok.decimals)
	}
	if tok.amount != nil {
		ev.Delta = new(big.Int).Sub(st.Amount, tok.amount).String()
	}
	tok.amount, tok.slot = st.Amount, slot
	t.publish(ctx, w, ev)
}

// markDepth is how many recent signatures the first subscription of a
// mention reads.
const markDepth = 20

// mark reads the newest signatures mentioning m.addr, the point a catch-up
// after a reconnect starts from, and reports those that landed after the
// watch began (while the subscription was being set up).
func (t *tracker) mark(ctx context.Context, w *wallet, m *mention) {
	sigs, err := t.signatures(ctx, m.addr, "", markDepth)
	if err != nil {
		t.h.Logger().Warn("reading the newest signatures failed", "address", m.addr.String(), "error", err)
		return
	}
	m.marked = true
	if len(sigs) > 0 {
		m.watermark = sigs[0].Signature.String() // the newest
	}
	for i := len(sigs) - 1; i >= 0; i-- {
		if s := sigs[i]; m.since > 0 && s.Slot > m.since {
			errJSON, _ := json.Marshal(s.Err)
			t.transaction(ctx, w, s.Signature.String(), s.Slot, errJSON)
		}
	}
}

// catchUp fetches the transactions mentioning m.addr since its watermark
// (at most catchup), oldest first; the ones already reported are skipped.
func (t *tracker) catchUp(ctx context.Context, w *wallet, m *mention) {
	if t.cfg.Catchup == 0 {
		return
	}
	sigs, err := t.signatures(ctx, m.addr, m.watermark, t.cfg.Catchup)
	if err != nil {
		t.h.Logger().Warn("catching up on transactions failed", "address", m.addr.String(), "error", err)
		return
	}
	if len(sigs) == t.cfg.Catchup {
		t.h.Logger().Warn("more transactions were missed than catchup fetches; the oldest are not reported", "address", m.addr.String(), "catchup", t.cfg.Catchup)
	}
	for i := len(sigs) - 1; i >= 0; i-- {
		s := sigs[i]
		errJSON, _ := json.Marshal(s.Err)
		m.watermark = s.Signature.String()
		t.transaction(ctx, w, m.watermark, s.Slot, errJSON)
	}
}

func (t *tracker) signatures(ctx context.Context, addr solana.PublicKey, until string, limit int) ([]*rpc.TransactionSignature, error) {
	opts := &rpc.GetSignaturesForAddressOpts{Limit: &limit, Commitment: atLeastConfirmed(t.commit)}
	if until != "" {
		sig, err := solana.SignatureFromBase58(until)
		if err != nil {
			return nil, err
		}
		opts.Until = sig
	}
	var out []*rpc.TransactionSignature
	err := t.chain.Do(ctx, "getSignaturesForAddress", func(ctx context.Context, cl *rpc.Client) (err error) {
		out, err = cl.GetSignaturesForAddressWithOpts(ctx, addr, opts)
		return err
	})
	return out, err
}

// transaction reports a transaction of w once: it is read at once, or
// again later while the node does not have it yet.
func (t *tracker) transaction(ctx context.Context, w *wallet, sig string, slot uint64, errJSON json.RawMessage) {
	if w.seen[sig] {
		return
	}
	w.seen[sig] = true
	w.order = append(w.order, sig)
	if len(w.order) > seenMax {
		delete(w.seen, w.order[0])
		w.order = w.order[1:]
	}
	f := &fetch{w: w, sig: sig, slot: slot, err: errJSON}
	if !t.read(ctx, f) {
		f.due = t.clk.Now().Add(fetchSpacing)
		t.fetches = append(t.fetches, f)
	}
}

// retryIn returns the wait until the next fetch is due.
func (t *tracker) retryIn(now time.Time) (time.Duration, bool) {
	if len(t.fetches) == 0 {
		return 0, false
	}
	first := t.fetches[0].due
	for _, f := range t.fetches {
		if f.due.Before(first) {
			first = f.due
		}
	}
	return max(first.Sub(now), time.Millisecond), true
}

// retryFetches reads the fetches that are due.
func (t *tracker) retryFetches(ctx context.Context) {
	now := t.clk.Now()
	kept := t.fetches[:0]
	for _, f := range t.fetches {
		if f.due.After(now) || t.wallets[f.w.addr] != f.w {
			if t.wallets[f.w.addr] == f.w {
				kept = append(kept, f)
			}
			continue
		}
		if t.read(ctx, f) {
			continue
		}
		if f.tries >= fetchTries {
			t.h.Logger().Warn("transaction details not available; reported without them", "address", f.w.key, "signature", f.sig)
			ev := t.event(f.w, feeds.WalletTransaction, f.slot)
			ev.TxHash, ev.Error = f.sig, chain.ErrorText(f.err)
			t.publish(ctx, f.w, ev)
			continue
		}
		f.due = now.Add(fetchSpacing)
		kept = append(kept, f)
	}
	t.fetches = kept
}

// read fetches a transaction and publishes its events; false when the
// node does not have it yet (or the call failed) and it should be retried.
func (t *tracker) read(ctx context.Context, f *fetch) bool {
	f.tries++
	sig, err := solana.SignatureFromBase58(f.sig)
	if err != nil {
		return true
	}
	ctx, span := t.tracer.Start(ctx, "solana.wallets.transaction", trace.WithAttributes(
		attribute.String("feedd.chain", t.chain.Name()), attribute.String("feedd.address", f.w.key), attribute.String("feedd.tx", f.sig)))
	defer span.End()
	var res *txResult
	zero := uint64(0)
	err = t.chain.Do(ctx, "getTransaction", func(ctx context.Context, cl *rpc.Client) error {
		return cl.RPCCallForInto(ctx, &res, "getTransaction", []any{sig.String(), map[string]any{
			"encoding": solana.EncodingJSONParsed, "commitment": atLeastConfirmed(t.commit), "maxSupportedTransactionVersion": zero}})
	})
	if err != nil {
		t.h.Logger().Debug("getTransaction failed; retrying", "signature", f.sig, "error", err)
		return false
	}
	if res == nil || res.Meta == nil {
		return false
	}
	evs, found := t.events(f.w, f.sig, res)
	t.publish(ctx, f.w, evs...)
	for _, ft := range found {
		// Its first balance, with this transaction's delta when it
		// existed before; its notifications take over from here.
		t.setToken(ctx, f.w, ft.tok, ft.st, res.Slot)
	}
	return true
}

// events are what one transaction means for w: a transaction event (its
// SOL movement for w) and one token_transfer per token account of w whose
// balance it changed. Token accounts of w it created are followed.
func (t *tracker) events(w *wallet, sig string, res *txResult) ([]feeds.WalletEvent, []foundToken) {
	var found []foundToken
	keys := res.keys()
	meta := res.Meta
	ev := t.event(w, feeds.WalletTransaction, res.Slot)
	if res.BlockTime != nil {
		ev.TS = *res.BlockTime * 1000
	}
	ev.TxHash, ev.Fee, ev.Error, ev.Decimals = sig, u64(meta.Fee), chain.ErrorText(meta.Err), intp(9)
	payer := ""
	if len(keys) > 0 {
		payer = keys[0]
	}
	delta := func(i int) *big.Int {
		if i >= len(meta.PreBalances) || i >= len(meta.PostBalances) {
			return new(big.Int)
		}
		return new(big.Int).Sub(new(big.Int).SetUint64(meta.PostBalances[i]), new(big.Int).SetUint64(meta.PreBalances[i]))
	}
	self := -1
	for i, k := range keys {
		if k == w.key {
			self = i
		}
	}
	moved := new(big.Int) // SOL moved for w, without the fee
	if self >= 0 {
		moved = delta(self)
		if w.key == payer {
			moved.Add(moved, new(big.Int).SetUint64(meta.Fee))
		}
	}
	// The counterparty: the account that moved most the other way.
	counter := ""
	best := new(big.Int)
	for i, k := range keys {
		if i == self {
			continue
		}
		d := delta(i)
		if i == 0 && payer != w.key {
			d.Add(d, new(big.Int).SetUint64(meta.Fee))
		}
		if moved.Sign() != 0 && d.Sign() == -moved.Sign() && new(big.Int).Abs(d).Cmp(best) > 0 {
			best, counter = new(big.Int).Abs(d), k
		}
	}
	switch {
	case moved.Sign() > 0:
		ev.Direction, ev.From, ev.To = "in", counter, w.key
	case moved.Sign() < 0:
		ev.Direction, ev.From, ev.To = "out", w.key, counter
	case w.key == payer:
		if self, ok := res.selfTransfers(w.key); ok {
			ev.Direction, ev.From, ev.To = "self", w.key, w.key
			moved = new(big.Int).SetUint64(self)
			break
		}
		ev.Direction, ev.From = "out", w.key
	default:
		ev.Direction, ev.To = "in", w.key
	}
	ev.Value = new(big.Int).Abs(moved).String()
	out := []feeds.WalletEvent{ev}

	// Token movements of w's token accounts.
	type bal struct {
		tb     tokenBalance
		amount *big.Int
	}
	pre, post := map[int]bal{}, map[int]bal{}
	for _, list := range []struct {
		in  []tokenBalance
		out map[int]bal
	}{{meta.PreTokenBalances, pre}, {meta.PostTokenBalances, post}} {
		for _, tb := range list.in {
			a, err := amount(tb.UITokenAmount.Amount)
			if err != nil || tb.AccountIndex < 0 || tb.AccountIndex >= len(keys) {
				continue
			}
			list.out[tb.AccountIndex] = bal{tb, a}
		}
	}
	idx := map[int]bool{}
	for i := range pre {
		idx[i] = true
	}
	for i := range post {
		idx[i] = true
	}
	order := make([]int, 0, len(idx))
	for i := range idx {
		order = append(order, i)
	}
	sort.Ints(order)
	change := func(i int) (tokenBalance, *big.Int) {
		p, q := pre[i], post[i]
		tb := q.tb
		if q.amount == nil {
			tb = p.tb
		}
		a, b := new(big.Int), new(big.Int)
		if p.amount != nil {
			a = p.amount
		}
		if q.amount != nil {
			b = q.amount
		}
		return tb, new(big.Int).Sub(b, a)
	}
	for _, i := range order {
		tb, d := change(i)
		if tb.Owner != w.key {
			continue
		}
		acct := keys[i]
		// A token account of w the transaction created or first showed
		// (possibly empty: an associated account made ahead of a
		// transfer) is followed from now on.
		if t.cfg.Tokens && w.tokens[acct] == nil && post[i].amount != nil {
			if pk, err := solana.PublicKeyFromBase58(acct); err == nil {
				program := tb.ProgramID
				if program == "" {
					program = solana.TokenProgramID.String()
				}
				if tok := t.follow(w, pk, program); tok != nil {
					tok.mint, tok.decimals = tb.Mint, tb.UITokenAmount.Decimals
					if pre[i].amount != nil {
						tok.amount = pre[i].amount
					}
					found = append(found, foundToken{tok, tokenState{Mint: tb.Mint, Owner: w.key, Amount: post[i].amount, Decimals: tb.UITokenAmount.Decimals}})
				}
			}
		}
		if d.Sign() == 0 {
			continue
		}
		tev := t.event(w, feeds.WalletTokenTransfer, res.Slot)
		tev.TS = ev.TS
		tev.TxHash, tev.Token, tev.Amount, tev.Decimals, tev.TokenAccount, tev.Error = sig, tb.Mint, new(big.Int).Abs(d).String(), intp(tb.UITokenAmount.Decimals), acct, ev.Error
		tev.Standard = "spl-token"
		if tb.ProgramID == solana.Token2022ProgramID.String() {
			tev.Standard = "spl-token-2022"
		}
		other := ""
		for _, j := range order {
			ob, od := change(j)
			if j != i && ob.Mint == tb.Mint && od.Sign() == -d.Sign() && ob.Owner != w.key {
				other = ob.Owner
				break
			}
		}
		if d.Sign() > 0 {
			tev.Direction, tev.From, tev.To = "in", other, w.key
		} else {
			tev.Direction, tev.From, tev.To = "out", w.key, other
		}
		out = append(out, tev)
	}
	return out, found
}

// foundToken is a token account of the wallet that a transaction created
// (or first showed) and its state after it.
type foundToken struct {
	tok *tokenAcct
	st  tokenState
}
