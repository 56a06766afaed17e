package wallets

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/feedd/feedd/chains/evm"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/plugins"
)

// The standard token events.
var (
	topicTransfer       = common.HexToHash("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
	topicApproval       = common.HexToHash("0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925")
	topicApprovalForAll = common.HexToHash("0x17307eab39ab6107e8899845ad3d59bd9653f200f220920489ca2b5937696c31")
	topicTransferSingle = common.HexToHash("0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62")
	topicTransferBatch  = common.HexToHash("0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb")
	tokenTopics         = []common.Hash{topicTransfer, topicApproval, topicApprovalForAll, topicTransferSingle, topicTransferBatch}
	balanceOfSelector   = []byte{0x70, 0xa0, 0x82, 0x31}
	batchArgs           = func() abi.Arguments {
		t, _ := abi.NewType("uint256[]", "", nil)
		return abi.Arguments{{Type: t}, {Type: t}}
	}()
)

// native is the asset name of the chain's own coin in balance events.
const native = "native"

// wallet is what is known of one watched address.
type wallet struct {
	addr     common.Address
	hex      string // lower case
	bits     evm.BloomBits
	static   bool
	balances map[string]*big.Int // asset → last known balance
	decimals map[string]int      // asset → decimals, when known
	recent   []feeds.WalletEvent
}

// pending is a published event awaiting confirmation or removal.
type pending struct {
	w  *wallet
	ev feeds.WalletEvent
}

// scanner turns the head stream into wallet events; it runs on the
// instance's goroutine only.
type scanner struct {
	cfg     Config
	chain   *evm.Chain
	h       *plugins.Host
	watched map[common.Address]*wallet
	tokens  []common.Address
	conf    *evm.Confirmer[pending]
	head    uint64
	last    common.Hash // the last block processed
	fresh   []*wallet   // newly watched: balance baseline to read
	// idle are unwatched wallets kept while events of theirs may still be
	// confirmed or removed (until the head passes the block number noted
	// plus the confirmations), so a quick re-watch continues them.
	idle map[common.Address]idleWallet
}

func newScanner(cfg Config, chain *evm.Chain, h *plugins.Host) *scanner {
	s := &scanner{cfg: cfg, chain: chain, h: h, watched: map[common.Address]*wallet{}, conf: evm.NewConfirmer[pending](chain.Confirmations())}
	for _, t := range cfg.Tokens {
		s.tokens = append(s.tokens, common.HexToAddress(t))
	}
	return s
}

// idleWallet is an unwatched wallet and the head when it was unwatched.
type idleWallet struct {
	w    *wallet
	head uint64
}

func (s *scanner) watch(a common.Address, static bool) {
	if w, ok := s.watched[a]; ok {
		w.static = w.static || static
		return
	}
	if iw, ok := s.idle[a]; ok {
		delete(s.idle, a)
		iw.w.static = static
		s.watched[a] = iw.w
		return
	}
	if len(s.watched) >= s.cfg.MaxWatched {
		s.h.Logger().Warn("max_watched reached; address not watched", "address", strings.ToLower(a.Hex()), "max_watched", s.cfg.MaxWatched)
		return
	}
	w := &wallet{addr: a, hex: strings.ToLower(a.Hex()), bits: evm.AddressTopicBits(a), static: static, balances: map[string]*big.Int{}, decimals: map[string]int{}}
	s.watched[a] = w
	s.fresh = append(s.fresh, w)
}

func (s *scanner) unwatch(a common.Address) {
	if w, ok := s.watched[a]; ok && !w.static {
		delete(s.watched, a)
		if s.idle == nil {
			s.idle = map[common.Address]idleWallet{}
		}
		s.idle[a] = idleWallet{w: w, head: s.head}
	}
}

// forgetIdle drops the unwatched wallets whose events are all settled.
func (s *scanner) forgetIdle() {
	for a, iw := range s.idle {
		if s.head > iw.head+s.chain.Confirmations() {
			delete(s.idle, a)
		}
	}
}

// baselines reads the native balance of newly watched addresses at the
// block with hash (the last block processed, so that the next change has a
// delta); it goes into the snapshot only. With no block processed yet it
// waits for the first one.
func (s *scanner) baselines(ctx context.Context, at common.Hash) {
	if len(s.fresh) == 0 || !s.cfg.Native {
		s.fresh = nil
		return
	}
	if at == (common.Hash{}) {
		return
	}
	var addrs []common.Address
	var ws []*wallet
	for _, w := range s.fresh {
		if s.watched[w.addr] == w {
			addrs, ws = append(addrs, w.addr), append(ws, w)
		}
	}
	s.fresh = nil
	bals, err := s.chain.Balances(ctx, addrs, at)
	if err != nil {
		s.h.Logger().Warn("reading balances of newly watched addresses; deltas start with the next change", "error", err)
		return
	}
	for i, w := range ws {
		if _, known := w.balances[native]; !known {
			w.balances[native] = bals[i]
			w.decimals[native] = 18
		}
	}
}

// handle processes one head event, retrying the node for a while when it
// fails (a failover in progress) so that no block is skipped.
func (s *scanner) handle(ctx context.Context, ev evm.HeadEvent) error {
	switch {
	case ev.Reorg != nil:
		s.reorg(ctx, ev.Reorg)
		return nil
	case ev.Gap != nil:
		s.h.Logger().Warn("blocks skipped by the chain; wallet events in them are not reported", "from", ev.Gap.From, "to", ev.Gap.To)
		return nil
	}
	b := ev.Block
	if !evm.Retry(ctx, s.h, "reading block activity", b.Number, func() error { return s.block(ctx, b) }) {
		return nil
	}
	s.head, s.last = b.Number, b.Hash
	s.forgetIdle()
	var confirmed []pending
	for _, inc := range s.conf.Confirmed(b.Number) {
		for _, p := range inc.Items {
			p.ev.Status = feeds.StatusConfirmed
			p.ev.Confirmations = evm.Depth(b.Number, p.ev.Block)
			confirmed = append(confirmed, p)
		}
	}
	s.publish(ctx, confirmed)
	s.h.Alive()
	return nil
}

// reorg republishes as removed every event of the replaced blocks, newest
// first, and restores the balances they changed.
func (s *scanner) reorg(ctx context.Context, r *evm.Reorg) {
	removed := s.conf.Removed(r.Old)
	var out []pending
	for i := len(removed) - 1; i >= 0; i-- {
		items := removed[i].Items
		for j := len(items) - 1; j >= 0; j-- {
			p := items[j]
			p.ev.Status = feeds.StatusRemoved
			p.ev.Confirmations = 0
			if p.ev.Type == feeds.WalletBalance {
				bal, _ := new(big.Int).SetString(p.ev.Balance, 10)
				delta, _ := new(big.Int).SetString(p.ev.Delta, 10)
				if bal != nil && delta != nil {
					p.w.balances[p.ev.Asset] = bal.Sub(bal, delta)
				} else {
					// No earlier balance known: the new branch's read
					// reports it afresh.
					delete(p.w.balances, p.ev.Asset)
				}
			}
			out = append(out, p)
		}
	}
	s.publish(ctx, out)
	// The last block read is gone; baselines wait for the next block.
	s.last = common.Hash{}
}

// block reports the activity of watched addresses in b. It makes its RPC
// reads first and publishes only when all succeeded, so a retry publishes
// nothing twice.
func (s *scanner) block(ctx context.Context, b *evm.Block) error {
	if len(s.fresh) > 0 {
		s.baselines(ctx, b.ParentHash)
	}
	if len(s.watched) == 0 {
		return nil
	}
	base := feeds.WalletEvent{Chain: s.chain.Name(), ChainID: s.chain.ChainID(), TS: int64(b.Time) * 1000,
		Status: feeds.StatusIncluded, Confirmations: 1, Block: b.Number, BlockHash: b.Hash.Hex()}
	var out []pending
	touched := map[*wallet]bool{}

	// Transactions from and to watched addresses.
	var txs []evm.Tx
	for _, tx := range b.Transactions {
		from := s.watched[tx.From]
		var to *wallet
		if tx.To != nil {
			to = s.watched[*tx.To]
		}
		if from != nil || to != nil {
			txs = append(txs, tx)
		}
		if from != nil {
			touched[from] = true
		}
		if to != nil {
			touched[to] = true
		}
	}
	if m := s.watched[b.Miner]; m != nil {
		touched[m] = true
	}
	var receipts []*evm.Receipt
	if len(txs) > 0 {
		hashes := make([]common.Hash, len(txs))
		for i, tx := range txs {
			hashes[i] = tx.Hash
		}
		var err error
		if receipts, err = s.chain.Receipts(ctx, hashes); err != nil {
			return err
		}
	}
	for i, tx := range txs {
		ev := base
		ev.Type = feeds.WalletTransaction
		ev.TxHash = tx.Hash.Hex()
		idx := tx.Index
		ev.TxIndex = &idx
		ev.From = lower(tx.From)
		if tx.To != nil {
			ev.To = lower(*tx.To)
		}
		ev.Value = tx.Value.String()
		nonce := tx.Nonce
		ev.Nonce = &nonce
		if r := receipts[i]; r != nil && r.Status == 0 {
			ev.Error = "reverted"
		}
		for _, w := range parties(s.watched, tx.From, tx.To) {
			e := ev
			e.Address = w.hex
			e.Direction = direction(w.addr, tx.From, tx.To)
			out = append(out, pending{w: w, ev: e})
		}
	}

	// Token events, when the bloom says a watched address may be in them.
	var tokenBalances []tokenRead
	if s.bloomHit(&b.Bloom) {
		logs, err := s.chain.Logs(ctx, b.Hash, s.tokens, tokenTopics)
		if err != nil {
			return err
		}
		evs, reads, err := s.tokenEvents(ctx, b, base, logs)
		if err != nil {
			return err
		}
		out = append(out, evs...)
		tokenBalances = reads
	}

	// Balances at this block.
	bal, err := s.balances(ctx, b, base, touched, tokenBalances)
	if err != nil {
		return err
	}
	out = append(out, bal...)

	for _, p := range out {
		s.conf.Include(b.Ref(), p)
		if p.ev.Type == feeds.WalletBalance {
			v, _ := new(big.Int).SetString(p.ev.Balance, 10)
			p.w.balances[p.ev.Asset] = v
			if p.ev.Decimals != nil {
				p.w.decimals[p.ev.Asset] = *p.ev.Decimals
			}
		}
	}
	s.publish(ctx, out)
	return nil
}

func (s *scanner) bloomHit(bloom *types.Bloom) bool {
	for _, w := range s.watched {
		if w.bits.In(bloom) {
			return true
		}
	}
	return false
}

// tokenRead is a token balance to read after a transfer.
type tokenRead struct {
	w        *wallet
	token    common.Address
	decimals *int
}

// tokenEvents decodes the standard token events that involve watched
// addresses.
func (s *scanner) tokenEvents(ctx context.Context, b *evm.Block, base feeds.WalletEvent, logs []types.Log) ([]pending, []tokenRead, error) {
	var out []pending
	var reads []tokenRead
	readSeen := map[[2]common.Address]bool{}
	addRead := func(w *wallet, token common.Address, dec *int) {
		if w == nil || readSeen[[2]common.Address{w.addr, token}] {
			return
		}
		readSeen[[2]common.Address{w.addr, token}] = true
		reads = append(reads, tokenRead{w: w, token: token, decimals: dec})
	}
	topicAddr := func(t common.Hash) common.Address { return common.BytesToAddress(t[12:]) }
	for _, l := range logs {
		if l.Removed || len(l.Topics) == 0 || l.BlockHash != b.Hash {
			continue
		}
		ev := base
		ev.TxHash = l.TxHash.Hex()
		li, ti := l.Index, l.TxIndex
		ev.LogIndex, ev.TxIndex = &li, &ti
		ev.Token = lower(l.Address)
		switch t := l.Topics; {
		case t[0] == topicTransfer && len(t) == 3 && len(l.Data) == 32: // ERC-20
			from, to := topicAddr(t[1]), topicAddr(t[2])
			wf, wt := s.watched[from], s.watched[to]
			if wf == nil && wt == nil {
				continue
			}
			dec, err := s.decimals(ctx, l.Address, b.Hash)
			if err != nil {
				return nil, nil, err
			}
			ev.Type, ev.Standard = feeds.WalletTokenTransfer, "erc20"
			ev.From, ev.To, ev.Amount, ev.Decimals = lower(from), lower(to), new(big.Int).SetBytes(l.Data).String(), dec
			for _, w := range parties(s.watched, from, &to) {
				e := ev
				e.Address, e.Direction = w.hex, direction(w.addr, from, &to)
				out = append(out, pending{w: w, ev: e})
			}
			addRead(wf, l.Address, dec)
			addRead(wt, l.Address, dec)
		case t[0] == topicTransfer && len(t) == 4: // ERC-721
			from, to := topicAddr(t[1]), topicAddr(t[2])
			ev.Type, ev.Standard = feeds.WalletNFT, "erc721"
			ev.From, ev.To, ev.TokenID, ev.Amount = lower(from), lower(to), t[3].Big().String(), "1"
			for _, w := range parties(s.watched, from, &to) {
				e := ev
				e.Address, e.Direction = w.hex, direction(w.addr, from, &to)
				out = append(out, pending{w: w, ev: e})
			}
		case t[0] == topicApproval && len(t) == 3 && len(l.Data) == 32: // ERC-20
			owner, spender := topicAddr(t[1]), topicAddr(t[2])
			w := s.watched[owner]
			if w == nil {
				continue
			}
			dec, err := s.decimals(ctx, l.Address, b.Hash)
			if err != nil {
				return nil, nil, err
			}
			ev.Type, ev.Standard, ev.Address = feeds.WalletApproval, "erc20", w.hex
			ev.Owner, ev.Spender, ev.Amount, ev.Decimals = lower(owner), lower(spender), new(big.Int).SetBytes(l.Data).String(), dec
			out = append(out, pending{w: w, ev: ev})
		case t[0] == topicApproval && len(t) == 4: // ERC-721
			owner, spender := topicAddr(t[1]), topicAddr(t[2])
			w := s.watched[owner]
			if w == nil {
				continue
			}
			ev.Type, ev.Standard, ev.Address = feeds.WalletApproval, "erc721", w.hex
			ev.Owner, ev.Spender, ev.TokenID = lower(owner), lower(spender), t[3].Big().String()
			out = append(out, pending{w: w, ev: ev})
		case t[0] == topicApprovalForAll && len(t) == 3 && len(l.Data) == 32:
			owner, operator := topicAddr(t[1]), topicAddr(t[2])
			w := s.watched[owner]
			if w == nil {
				continue
			}
			ev.Type, ev.Address = feeds.WalletApproval, w.hex
			ev.Owner, ev.Operator, ev.Value = lower(owner), lower(operator), fmt.Sprint(new(big.Int).SetBytes(l.Data).Sign() != 0)
			out = append(out, pending{w: w, ev: ev})
		case t[0] == topicTransferSingle && len(t) == 4 && len(l.Data) == 64:
			operator, from, to := topicAddr(t[1]), topicAddr(t[2]), topicAddr(t[3])
			ev.Type, ev.Standard, ev.Operator = feeds.WalletNFT, "erc1155", lower(operator)
			ev.From, ev.To = lower(from), lower(to)
			ev.TokenID, ev.Amount = new(big.Int).SetBytes(l.Data[:32]).String(), new(big.Int).SetBytes(l.Data[32:]).String()
			for _, w := range parties(s.watched, from, &to) {
				e := ev
				e.Address, e.Direction = w.hex, direction(w.addr, from, &to)
				out = append(out, pending{w: w, ev: e})
			}
		case t[0] == topicTransferBatch && len(t) == 4:
			operator, from, to := topicAddr(t[1]), topicAddr(t[2]), topicAddr(t[3])
			ws := parties(s.watched, from, &to)
			if len(ws) == 0 {
				continue
			}
			vals, err := batchArgs.Unpack(l.Data)
			if err != nil || len(vals) != 2 {
				s.h.Logger().Warn("malformed TransferBatch skipped", "token", lower(l.Address), "tx", l.TxHash.Hex(), "error", err)
				continue
			}
			ids, _ := vals[0].([]*big.Int)
			amounts, _ := vals[1].([]*big.Int)
			if len(ids) != len(amounts) {
				s.h.Logger().Warn("malformed TransferBatch skipped: ids and values differ in length", "token", lower(l.Address), "tx", l.TxHash.Hex())
				continue
			}
			ev.Type, ev.Standard, ev.Operator = feeds.WalletNFT, "erc1155", lower(operator)
			ev.From, ev.To = lower(from), lower(to)
			for k := range ids {
				for _, w := range ws {
					e := ev
					e.Address, e.Direction = w.hex, direction(w.addr, from, &to)
					e.TokenID, e.Amount = ids[k].String(), amounts[k].String()
					out = append(out, pending{w: w, ev: e})
				}
			}
		}
	}
	return out, reads, nil
}

func (s *scanner) decimals(ctx context.Context, token common.Address, at common.Hash) (*int, error) {
	d, ok, err := s.chain.Decimals(ctx, token, at)
	if err != nil || !ok {
		return nil, err
	}
	return &d, nil
}

// balances reads, at b, the native balance of the touched addresses and the
// token balances after transfers, and returns a balance event for each that
// changed.
func (s *scanner) balances(ctx context.Context, b *evm.Block, base feeds.WalletEvent, touched map[*wallet]bool, tokens []tokenRead) ([]pending, error) {
	var out []pending
	if s.cfg.Native && len(touched) > 0 {
		var ws []*wallet
		var addrs []common.Address
		for w := range touched {
			ws, addrs = append(ws, w), append(addrs, w.addr)
		}
		bals, err := s.chain.Balances(ctx, addrs, b.Hash)
		switch {
		case evm.IsStateUnavailable(err):
			// Too far behind for a pruning node: the next block whose
			// state is there reports the change, with the summed delta.
			s.h.Logger().Warn("the node no longer has this block's state; its balance changes show with a later block", "block", b.Number, "error", err)
		case err != nil:
			return nil, err
		default:
			dec := 18
			for i, w := range ws {
				if ev, changed := balanceEvent(base, w, native, bals[i], &dec); changed {
					out = append(out, pending{w: w, ev: ev})
				}
			}
		}
	}
	if len(tokens) > 0 {
		msgs := make([]evm.CallMsg, len(tokens))
		for i, r := range tokens {
			msgs[i] = evm.CallMsg{To: r.token, Data: append(append([]byte(nil), balanceOfSelector...), common.LeftPadBytes(r.w.addr.Bytes(), 32)...)}
		}
		res, errs, err := s.chain.CallAt(ctx, b.Hash, msgs)
		if err != nil {
			return nil, err
		}
		for i, r := range tokens {
			if errs[i] != nil || len(res[i]) != 32 {
				continue // not a standard balanceOf
			}
			if ev, changed := balanceEvent(base, r.w, lower(r.token), new(big.Int).SetBytes(res[i]), r.decimals); changed {
				ev.Token = lower(r.token)
				out = append(out, pending{w: r.w, ev: ev})
			}
		}
	}
	return out, nil
}

func balanceEvent(base feeds.WalletEvent, w *wallet, asset string, bal *big.Int, dec *int) (feeds.WalletEvent, bool) {
	prev, known := w.balances[asset]
	if known && prev.Cmp(bal) == 0 {
		return feeds.WalletEvent{}, false
	}
	ev := base
	ev.Type, ev.Address, ev.Asset, ev.Balance, ev.Decimals = feeds.WalletBalance, w.hex, asset, bal.String(), dec
	if known {
		ev.Delta = new(big.Int).Sub(bal, prev).String()
	}
	return ev, true
}

// parties returns the watched wallets among from and to, once each.
func parties(watched map[common.Address]*wallet, from common.Address, to *common.Address) []*wallet {
	var out []*wallet
	if w := watched[from]; w != nil {
		out = append(out, w)
	}
	if to != nil && *to != from {
		if w := watched[*to]; w != nil {
			out = append(out, w)
		}
	}
	return out
}

func direction(self, from common.Address, to *common.Address) string {
	switch {
	case to != nil && from == self && *to == self:
		return "self"
	case from == self:
		return "out"
	}
	return "in"
}

func lower(a common.Address) string { return strings.ToLower(a.Hex()) }

// publish keeps each event among its wallet's recent events (replacing an
// earlier status of the same event) and sends it to the wallet's channel,
// in order. The last update of each wallet carries the new snapshot (a
// channel's snapshot stays until replaced), so it is built once per wallet.
func (s *scanner) publish(ctx context.Context, items []pending) {
	last := map[*wallet]int{}
	for i, p := range items {
		s.remember(p.w, p.ev)
		last[p.w] = i
	}
	for i, p := range items {
		pub := feeds.Publication{Kind: "wallet", Channel: "wallet:" + p.w.hex, Data: p.ev}
		if last[p.w] == i {
			pub.Snapshot = s.snapshot(p.w)
		}
		s.h.EmitContext(ctx, pub)
	}
}

// remember keeps ev among w's recent events.
func (s *scanner) remember(w *wallet, ev feeds.WalletEvent) {
	k := key(ev)
	for i := range w.recent {
		if key(w.recent[i]) == k {
			w.recent[i] = ev
			return
		}
	}
	if s.cfg.Recent > 0 {
		w.recent = append(w.recent, ev)
		if over := len(w.recent) - s.cfg.Recent; over > 0 {
			w.recent = append(w.recent[:0], w.recent[over:]...)
		}
	}
}

// Snapshot is what a new wallet:<address> subscriber gets from this chain:
// the balances known now and the recent events, oldest first.
type Snapshot struct {
	Address  string              `json:"address"`
	Chain    string              `json:"chain"`
	ChainID  uint64              `json:"chainId"`
	Balances []Balance           `json:"balances"`
	Recent   []feeds.WalletEvent `json:"recent"`
}

// Balance is one asset's balance in a Snapshot.
type Balance struct {
	Asset    string `json:"asset"` // "native" or the token's address
	Balance  string `json:"balance"`
	Decimals *int   `json:"decimals,omitempty"`
}

func (s *scanner) snapshot(w *wallet) Snapshot {
	snap := Snapshot{Address: w.hex, Chain: s.chain.Name(), ChainID: s.chain.ChainID(), Balances: []Balance{}, Recent: append([]feeds.WalletEvent{}, w.recent...)}
	for asset, v := range w.balances {
		b := Balance{Asset: asset, Balance: v.String()}
		if d, ok := w.decimals[asset]; ok {
			b.Decimals = &d
		}
		snap.Balances = append(snap.Balances, b)
	}
	sort.Slice(snap.Balances, func(i, j int) bool { return snap.Balances[i].Asset < snap.Balances[j].Asset })
	return snap
}

// key identifies one event across its statuses.
func key(ev feeds.WalletEvent) string {
	li := -1
	if ev.LogIndex != nil {
		li = int(*ev.LogIndex)
	}
	return fmt.Sprintf("%s|%s|%s|%d|%s|%s|%s", ev.Type, ev.BlockHash, ev.TxHash, li, ev.Asset, ev.TokenID, ev.Address)
}
