package tx

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/feedd/feedd/chains/evm"
	"github.com/feedd/feedd/chains/evm/events"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/plugins"
)

// tracked is one watched transaction.
type tracked struct {
	hash   common.Hash
	status string // last published status; "" before the first
	tx     *evm.Transaction
	block  *evm.BlockRef // the block including it, once included
	index  uint
	failed bool
	errMsg string
	// settled: confirmed (or failed and confirmed); nothing more is
	// published unless a reorg takes its block.
	settled bool
	// replacedBy is the transaction that used its nonce, replacedIn the
	// block holding it; when that transaction was not seen, replacedBy is
	// empty and replacedIn is the block at which the sender's nonce showed
	// as used. A reorg taking replacedIn takes the verdict back.
	replacedBy  string
	replacedIn  *evm.BlockRef
	unseenSince time.Time // when first found neither pooled nor mined
	askedAt     time.Time // when the node was last asked about it
	// ask: ask the node about it at the next block whatever its status (a
	// reorg took the block that made it replaced, or reading its receipt
	// failed).
	ask bool
}

// following reports whether t is still followed: it counts against
// max_watched and the node is asked about it at every block until mined. A
// confirmed, replaced or dropped transaction is not, though a reorg, a
// block including it or the node's pool can bring it back.
func (t *tracked) following() bool {
	return !t.settled && t.status != feeds.StatusReplaced && t.status != feeds.StatusDropped
}

// watcher follows the watched transactions through the head stream; it
// runs on the instance's goroutine only.
type watcher struct {
	cfg   Config
	chain *evm.Chain
	h     *plugins.Host
	txs   map[common.Hash]*tracked
	// head and at are the number and hash of the last block handled; at
	// is zero before the first and after a reorg, until the next block.
	head   uint64
	at     common.Hash
	gapped bool // blocks were skipped since the last block handled
}

func newWatcher(cfg Config, chain *evm.Chain, h *plugins.Host) *watcher {
	return &watcher{cfg: cfg, chain: chain, h: h, txs: map[common.Hash]*tracked{}}
}

// errNoBlock says the watcher has no canonical block to read state at
// (before the first block, or after a reorg until the next one).
var errNoBlock = errors.New("no canonical block handled")

// start makes b, the chain's head when the watcher starts, the block
// handled last; the stream brings the blocks after it.
func (w *watcher) start(b *evm.Block) { w.head, w.at = b.Number, b.Hash }

func (w *watcher) add(ctx context.Context, hash common.Hash) {
	if _, ok := w.txs[hash]; ok {
		return
	}
	if len(w.txs) >= w.cfg.MaxWatched && w.followed() >= w.cfg.MaxWatched {
		w.h.Logger().Warn("max_watched reached; transaction not watched", "hash", hash.Hex(), "max_watched", w.cfg.MaxWatched)
		return
	}
	t := &tracked{hash: hash}
	w.txs[hash] = t
	w.refresh(ctx, []*tracked{t})
}

// followed counts the watched transactions still followed.
func (w *watcher) followed() int {
	n := 0
	for _, t := range w.txs {
		if t.following() {
			n++
		}
	}
	return n
}

func (w *watcher) remove(hash common.Hash) { delete(w.txs, hash) }

// pooled asks about watched transactions the node just announced, so that
// they show as pending at once (a dropped one too: it was sent again).
func (w *watcher) pooled(ctx context.Context, hashes []common.Hash) {
	var list []*tracked
	for _, h := range hashes {
		if t := w.txs[h]; t != nil && !t.settled && t.block == nil && t.status != feeds.StatusPending && t.status != feeds.StatusReplaced {
			list = append(list, t)
		}
	}
	w.refresh(ctx, list)
}

// refresh asks the node about transactions not known to be mined: a pooled
// one is pending, a mined one is included (or failed), one whose sender
// used its nonce otherwise is replaced, and one unknown for drop_after is
// dropped.
func (w *watcher) refresh(ctx context.Context, list []*tracked) {
	if len(list) == 0 {
		return
	}
	hashes := make([]common.Hash, len(list))
	for i, t := range list {
		hashes[i] = t.hash
	}
	found, err := w.chain.TransactionsByHash(ctx, hashes)
	if err != nil {
		w.h.Logger().Warn("asking for watched transactions failed; asking again at the next block", "error", err)
		return
	}
	now := w.h.Clock().Now()
	for i, t := range list {
		tx := found[i]
		t.askedAt, t.ask = now, false
		switch {
		case tx == nil:
			if t.unseenSince.IsZero() {
				t.unseenSince = now
			}
			if t.tx != nil {
				used, err := w.nonceUsed(ctx, t)
				switch {
				case err != nil && t.status == feeds.StatusReplaced:
					t.ask = true // the verdict stands until the node answers
					continue
				case used:
					if t.status != feeds.StatusReplaced {
						t.replacedBy, t.replacedIn = "", &evm.BlockRef{Number: w.head, Hash: w.at}
						w.publish(ctx, t, feeds.StatusReplaced)
					} else if t.replacedBy == "" {
						t.replacedIn = &evm.BlockRef{Number: w.head, Hash: w.at}
					}
					continue
				}
			}
			if t.status == feeds.StatusReplaced {
				// A reorg took what used its nonce: back to waiting
				// for it, drop_after counting from now.
				t.replacedBy, t.replacedIn, t.unseenSince = "", nil, now
				w.publish(ctx, t, feeds.StatusPending)
				continue
			}
			if t.status != feeds.StatusDropped && now.Sub(t.unseenSince) >= w.cfg.DropAfter {
				w.publish(ctx, t, feeds.StatusDropped)
			}
		case tx.BlockHash == nil:
			t.unseenSince = time.Time{}
			t.tx = tx
			if t.status != feeds.StatusPending {
				t.replacedBy, t.replacedIn = "", nil
				w.publish(ctx, t, feeds.StatusPending)
			}
		default:
			t.unseenSince = time.Time{}
			t.tx = tx
			if t.block == nil && *tx.BlockNumber <= w.head {
				// Mined in a block the stream already passed (before the
				// watch began, or while it was dropped): report it now.
				w.included(ctx, []*tracked{t}, []evm.BlockRef{{Number: *tx.BlockNumber, Hash: *tx.BlockHash}})
			}
		}
	}
}

// nonceUsed reports whether t's sender had used t's nonce as of the last
// block handled, not the chain's head: a block the watcher has not reached
// yet is handled in turn, and names the transaction that used the nonce.
// Asked only about a transaction the node does not know at all, so the
// nonce was used by another one.
func (w *watcher) nonceUsed(ctx context.Context, t *tracked) (bool, error) {
	if w.at == (common.Hash{}) {
		return false, errNoBlock
	}
	n, err := w.chain.NonceAt(ctx, t.tx.From, w.at)
	if err != nil {
		return false, err
	}
	return n > t.tx.Nonce, nil
}

// handle applies one head event.
func (w *watcher) handle(ctx context.Context, ev evm.HeadEvent) {
	switch {
	case ev.Reorg != nil:
		w.at = common.Hash{} // gone or not, the next block says where we are
		gone := map[common.Hash]bool{}
		for _, r := range ev.Reorg.Old {
			gone[r.Hash] = true
		}
		for _, t := range w.txs {
			switch {
			case t.block != nil && gone[t.block.Hash]:
				t.block, t.failed, t.errMsg, t.settled = nil, false, "", false
				t.unseenSince = time.Time{}
				w.publish(ctx, t, feeds.StatusReorged)
				t.status = feeds.StatusPending // back in the pool until mined again
			case t.status == feeds.StatusReplaced && t.replacedIn != nil && gone[t.replacedIn.Hash]:
				if t.replacedBy != "" {
					// The replacing transaction left the chain: this one
					// may be mined yet.
					t.replacedBy, t.replacedIn, t.unseenSince = "", nil, time.Time{}
					w.publish(ctx, t, feeds.StatusPending)
				} else {
					// The nonce was used at or before that block: ask
					// again at the next one.
					t.ask = true
				}
			}
		}
		return
	case ev.Gap != nil:
		w.gapped = true // the next block asks about what is not mined
		return
	}
	b := ev.Block
	w.head, w.at = b.Number, b.Hash
	if len(w.txs) == 0 {
		w.gapped = false
		return
	}
	// Every watched transaction not mined, by sender and nonce: a block
	// transaction of the same sender and nonce replaces them.
	bySender := map[common.Address]map[uint64][]*tracked{}
	for _, t := range w.txs {
		if !t.settled && t.block == nil && t.tx != nil && t.status != feeds.StatusReplaced {
			if bySender[t.tx.From] == nil {
				bySender[t.tx.From] = map[uint64][]*tracked{}
			}
			bySender[t.tx.From][t.tx.Nonce] = append(bySender[t.tx.From][t.tx.Nonce], t)
		}
	}
	ref := b.Ref()
	var mined []*tracked
	var refs []evm.BlockRef
	for _, tx := range b.Transactions {
		if t := w.txs[tx.Hash]; t != nil && t.block == nil {
			// Whatever was said of it (dropped, replaced), it is mined.
			t.index = tx.Index
			mined = append(mined, t)
			refs = append(refs, ref)
		}
		// The same nonce check for every transaction, watched or not: the
		// original of a watched speed-up is replaced by it.
		for _, t := range bySender[tx.From][tx.Nonce] {
			if t.hash != tx.Hash && t.status != feeds.StatusReplaced {
				t.replacedBy, t.replacedIn = strings.ToLower(tx.Hash.Hex()), &ref
				w.publish(ctx, t, feeds.StatusReplaced)
			}
		}
	}
	w.included(ctx, mined, refs)

	now := w.h.Clock().Now()
	var ask []*tracked
	for _, t := range w.txs {
		switch {
		case t.settled:
		case t.block != nil:
			if evm.Depth(b.Number, t.block.Number) >= w.cfg.Confirmations {
				t.settled = true
				if t.failed {
					w.publish(ctx, t, feeds.StatusFailed)
				} else {
					w.publish(ctx, t, feeds.StatusConfirmed)
				}
			}
		case t.ask:
			ask = append(ask, t)
		case t.status == feeds.StatusReplaced:
		case t.status == feeds.StatusDropped:
			// Mined ones show in the blocks and pooled ones are announced;
			// asking now and then covers skipped blocks and nodes that
			// announce nothing.
			if w.gapped || now.Sub(t.askedAt) >= w.cfg.DropAfter {
				ask = append(ask, t)
			}
		default:
			ask = append(ask, t)
		}
	}
	w.gapped = false
	w.refresh(ctx, ask)
}

// included reads the receipts of transactions mined in refs and publishes
// them as included or failed.
func (w *watcher) included(ctx context.Context, list []*tracked, refs []evm.BlockRef) {
	if len(list) == 0 {
		return
	}
	// One first seen mined: read the transaction itself (its nonce, its
	// input for the revert reason).
	var unknown []common.Hash
	for _, t := range list {
		if t.tx == nil {
			unknown = append(unknown, t.hash)
		}
	}
	if len(unknown) > 0 {
		found, err := w.chain.TransactionsByHash(ctx, unknown)
		if err != nil {
			w.h.Logger().Warn("reading mined transactions failed; asking again at the next block", "error", err)
		} else {
			byHash := make(map[common.Hash]*evm.Transaction, len(found))
			for _, tx := range found {
				if tx != nil {
					byHash[tx.Hash] = tx
				}
			}
			for _, t := range list {
				if t.tx == nil && byHash[t.hash] != nil {
					t.tx = byHash[t.hash]
				}
			}
		}
	}
	hashes := make([]common.Hash, len(list))
	for i, t := range list {
		hashes[i] = t.hash
	}
	receipts, err := w.chain.Receipts(ctx, hashes)
	if err != nil {
		w.h.Logger().Warn("reading receipts failed; asking again at the next block", "error", err)
		for _, t := range list {
			t.ask = true
		}
		return
	}
	for i, t := range list {
		r := receipts[i]
		if t.tx == nil || r == nil || r.BlockHash != refs[i].Hash {
			t.ask = true // not (or no longer) in that block: asked again later
			continue
		}
		ref := refs[i]
		t.block, t.index = &ref, r.Index
		t.replacedBy, t.replacedIn, t.unseenSince, t.ask = "", nil, time.Time{}, false
		if r.Status == 0 {
			t.failed = true
			t.errMsg = w.revertReason(ctx, t)
			w.publish(ctx, t, feeds.StatusFailed)
		} else {
			w.publish(ctx, t, feeds.StatusIncluded)
		}
		if evm.Depth(w.head, ref.Number) >= w.cfg.Confirmations {
			t.settled = true
			if !t.failed {
				w.publish(ctx, t, feeds.StatusConfirmed)
			}
		}
	}
}

// revertReason replays a failed transaction at its parent block.
func (w *watcher) revertReason(ctx context.Context, t *tracked) string {
	const generic = "execution reverted"
	if !w.cfg.RevertReason || t.tx == nil || t.tx.To == nil || t.block == nil {
		return generic
	}
	blocks, err := w.parent(ctx, t.block.Hash)
	if err != nil {
		return generic
	}
	_, errs, err := w.chain.CallAt(ctx, blocks, []evm.CallMsg{{From: t.tx.From, To: *t.tx.To, Data: t.tx.Input, Value: t.tx.Value, Gas: t.tx.Gas}})
	if err != nil || errs[0] == nil {
		return generic
	}
	var de rpc.DataError
	if errors.As(errs[0], &de) {
		if s, ok := de.ErrorData().(string); ok {
			if data, err := hexutil.Decode(s); err == nil {
				if reason, ok := events.DecodeRevert(data); ok {
					return reason
				}
			}
		}
	}
	return errs[0].Error()
}

// parent returns the parent hash of the block with hash.
func (w *watcher) parent(ctx context.Context, hash common.Hash) (common.Hash, error) {
	var h struct {
		Parent common.Hash `json:"parentHash"`
	}
	if err := w.chain.Call(ctx, &h, "eth_getBlockByHash", hash, false); err != nil {
		return common.Hash{}, err
	}
	return h.Parent, nil
}

// publish records status and sends it to the transaction's channel and, when
// configured, the sender's wallet channel.
func (w *watcher) publish(ctx context.Context, t *tracked, status string) {
	t.status = status
	ts := w.h.Clock().Now().UnixMilli()
	p := feeds.TxStatus{Chain: w.chain.Name(), Hash: strings.ToLower(t.hash.Hex()), Status: status, ReplacedBy: t.replacedBy, TS: ts}
	if t.block != nil && status != feeds.StatusReorged {
		n, idx := t.block.Number, t.index
		p.Block, p.BlockHash, p.Index = &n, t.block.Hash.Hex(), &idx
		p.Confirmations = evm.Depth(w.head, n)
	}
	if status == feeds.StatusFailed {
		p.Error = t.errMsg
	}
	if t.tx != nil {
		p.From = strings.ToLower(t.tx.From.Hex())
		nonce := t.tx.Nonce
		p.Nonce = &nonce
	}
	w.h.EmitContext(ctx, feeds.Publication{Kind: "tx", Channel: "tx:" + w.chain.Name() + ":" + p.Hash, Data: p})
	if !w.cfg.WalletEvents || t.tx == nil {
		return
	}
	ev := feeds.WalletEvent{Type: feeds.WalletTransaction, Address: p.From, Chain: w.chain.Name(), ChainID: w.chain.ChainID(), TS: ts,
		Status: status, Confirmations: p.Confirmations, BlockHash: p.BlockHash, TxHash: p.Hash, TxIndex: p.Index, From: p.From,
		Nonce: p.Nonce, ReplacedBy: p.ReplacedBy, Error: p.Error, Direction: "out"}
	if p.Block != nil {
		ev.Block = *p.Block
	}
	if t.tx.To != nil {
		ev.To = strings.ToLower(t.tx.To.Hex())
	}
	if t.tx.Value != nil {
		ev.Value = t.tx.Value.String()
	}
	w.h.EmitContext(ctx, feeds.Publication{Kind: "wallet", Channel: "wallet:" + p.From, Data: ev})
}
