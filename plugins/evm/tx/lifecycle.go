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
	block  *evm.BlockRef
	index  uint
	failed bool
	errMsg string
	// final: confirmed, replaced or dropped; nothing more is published.
	final       bool
	replacedBy  string
	unseenSince time.Time // when first found neither pooled nor mined
}

// watcher follows the watched transactions through the head stream; it
// runs on the instance's goroutine only.
type watcher struct {
	cfg   Config
	chain *evm.Chain
	h     *plugins.Host
	txs   map[common.Hash]*tracked
	head  uint64
}

func newWatcher(cfg Config, chain *evm.Chain, h *plugins.Host) *watcher {
	return &watcher{cfg: cfg, chain: chain, h: h, txs: map[common.Hash]*tracked{}}
}

func (w *watcher) add(ctx context.Context, hash common.Hash) {
	if _, ok := w.txs[hash]; ok {
		return
	}
	if len(w.txs) >= w.cfg.MaxWatched {
		w.h.Logger().Warn("max_watched reached; transaction not watched", "hash", hash.Hex(), "max_watched", w.cfg.MaxWatched)
		return
	}
	t := &tracked{hash: hash}
	w.txs[hash] = t
	w.refresh(ctx, []*tracked{t})
}

func (w *watcher) remove(hash common.Hash) { delete(w.txs, hash) }

// pooled asks about watched transactions the node just announced, so that
// they show as pending at once.
func (w *watcher) pooled(ctx context.Context, hashes []common.Hash) {
	var list []*tracked
	for _, h := range hashes {
		if t := w.txs[h]; t != nil && !t.final && t.block == nil && t.status != feeds.StatusPending {
			list = append(list, t)
		}
	}
	w.refresh(ctx, list)
}

// refresh asks the node about transactions not known to be mined: a pooled
// one is pending, a mined one is included (or failed), one unknown for
// drop_after is dropped, and one whose sender used its nonce otherwise is
// replaced.
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
		switch {
		case tx == nil:
			if t.unseenSince.IsZero() {
				t.unseenSince = now
			}
			if t.tx != nil && w.replacedUnseen(ctx, t) {
				continue
			}
			if now.Sub(t.unseenSince) >= w.cfg.DropAfter {
				t.final = true
				w.publish(ctx, t, feeds.StatusDropped)
			}
		case tx.BlockHash == nil:
			t.unseenSince = time.Time{}
			t.tx = tx
			if t.status != feeds.StatusPending {
				w.publish(ctx, t, feeds.StatusPending)
			}
		default:
			t.unseenSince = time.Time{}
			t.tx = tx
			if t.block == nil && *tx.BlockNumber <= w.head {
				// Mined in a block the stream already passed (before the
				// watch began): report it now.
				w.included(ctx, []*tracked{t}, []evm.BlockRef{{Number: *tx.BlockNumber, Hash: *tx.BlockHash}})
			}
		}
	}
}

// replacedUnseen reports (and publishes) a transaction whose sender's
// nonce was used by a transaction the stream did not show.
func (w *watcher) replacedUnseen(ctx context.Context, t *tracked) bool {
	head, ok := w.chain.Head()
	if !ok {
		return false
	}
	n, err := w.chain.NonceAt(ctx, t.tx.From, head.Hash)
	if err != nil || n <= t.tx.Nonce {
		return false
	}
	t.final = true
	w.publish(ctx, t, feeds.StatusReplaced)
	return true
}

// handle applies one head event.
func (w *watcher) handle(ctx context.Context, ev evm.HeadEvent) {
	switch {
	case ev.Reorg != nil:
		gone := map[common.Hash]bool{}
		for _, r := range ev.Reorg.Old {
			gone[r.Hash] = true
		}
		for _, t := range w.txs {
			if t.block != nil && gone[t.block.Hash] {
				t.block, t.failed, t.errMsg, t.final = nil, false, "", false
				w.publish(ctx, t, feeds.StatusReorged)
				t.status = feeds.StatusPending // back in the pool until mined again
			}
		}
		return
	case ev.Gap != nil:
		return // the next block refreshes what is not mined
	}
	b := ev.Block
	w.head = b.Number
	if len(w.txs) == 0 {
		return
	}
	bySender := map[common.Address]map[uint64]*tracked{}
	for _, t := range w.txs {
		if !t.final && t.block == nil && t.tx != nil {
			if bySender[t.tx.From] == nil {
				bySender[t.tx.From] = map[uint64]*tracked{}
			}
			bySender[t.tx.From][t.tx.Nonce] = t
		}
	}
	var mined []*tracked
	var refs []evm.BlockRef
	for _, tx := range b.Transactions {
		if t := w.txs[tx.Hash]; t != nil && !t.final && t.block == nil {
			t.index = tx.Index
			mined = append(mined, t)
			refs = append(refs, b.Ref())
			continue
		}
		if t := bySender[tx.From][tx.Nonce]; t != nil && t.hash != tx.Hash {
			t.final, t.replacedBy = true, strings.ToLower(tx.Hash.Hex())
			w.publish(ctx, t, feeds.StatusReplaced)
		}
	}
	w.included(ctx, mined, refs)

	var unmined []*tracked
	for _, t := range w.txs {
		switch {
		case t.final:
		case t.block != nil:
			if evm.Depth(b.Number, t.block.Number) >= w.cfg.Confirmations {
				t.final = true
				if t.failed {
					w.publish(ctx, t, feeds.StatusFailed)
				} else {
					w.publish(ctx, t, feeds.StatusConfirmed)
				}
			}
		default:
			unmined = append(unmined, t)
		}
	}
	w.refresh(ctx, unmined)
}

// included reads the receipts of transactions mined in refs and publishes
// them as included or failed.
func (w *watcher) included(ctx context.Context, list []*tracked, refs []evm.BlockRef) {
	if len(list) == 0 {
		return
	}
	hashes := make([]common.Hash, len(list))
	for i, t := range list {
		hashes[i] = t.hash
	}
	receipts, err := w.chain.Receipts(ctx, hashes)
	if err != nil {
		w.h.Logger().Warn("reading receipts failed; asking again at the next block", "error", err)
		return
	}
	for i, t := range list {
		r := receipts[i]
		if r == nil || r.BlockHash != refs[i].Hash {
			continue // not (or no longer) in that block: asked again later
		}
		ref := refs[i]
		t.block, t.index = &ref, r.Index
		if t.tx == nil {
			t.tx = &evm.Transaction{Hash: t.hash, From: r.From, To: r.To}
		}
		if r.Status == 0 {
			t.failed = true
			t.errMsg = w.revertReason(ctx, t)
			w.publish(ctx, t, feeds.StatusFailed)
		} else {
			w.publish(ctx, t, feeds.StatusIncluded)
		}
		if evm.Depth(w.head, ref.Number) >= w.cfg.Confirmations {
			t.final = true
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
