package tx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	chain "github.com/feedd/feedd/chains/solana"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/plugins"
)

// The commitments a transaction walks through, in order.
var levels = []rpc.CommitmentType{rpc.CommitmentProcessed, rpc.CommitmentConfirmed, rpc.CommitmentFinalized}

func rank(c rpc.CommitmentType) int {
	for i, l := range levels {
		if l == c {
			return i + 1
		}
	}
	return 0
}

// rooted is the confirmations reported once a transaction is finalized
// (the node reports null then): the depth of a vote tower.
const rooted = 32

// watched is one followed transaction.
type watched struct {
	sig      solana.Signature
	key      string
	height0  uint64 // block height when the watch began, once known
	heightOK bool   // height0 was read (a height may be 0)
	level    int    // rank of the newest commitment seen; 0: not landed
	failed   bool
	slot     uint64
	errText  string
	gone     int  // reads in a row in which the node did not know it
	final    bool // finalized or dropped
	subs     []*chain.Sub
	last     feeds.TxStatus
	sent     bool
}

// watcher owns the followed transactions; it runs on the instance's
// goroutine.
type watcher struct {
	cfg    Config
	chain  *chain.Chain
	h      *plugins.Host
	in     *chain.Inbox
	tracer trace.Tracer
	txs    map[solana.Signature]*watched
	open   int // not final
	// stale are the transactions whose subscriptions came back after a
	// reconnect: their status is read (batched) once the notifications
	// at hand are handled.
	stale map[*watched]bool
}

func newWatcher(cfg Config, c *chain.Chain, h *plugins.Host, in *chain.Inbox, tracer trace.Tracer) *watcher {
	return &watcher{cfg: cfg, chain: c, h: h, in: in, tracer: tracer, txs: map[solana.Signature]*watched{}, stale: map[*watched]bool{}}
}

// add starts following sig: its current status is read and published, and
// while it is not final, each commitment is subscribed.
func (w *watcher) add(ctx context.Context, sig solana.Signature) {
	if w.txs[sig] != nil {
		return
	}
	if w.open >= w.cfg.MaxWatched {
		w.h.Logger().Warn("max_watched reached; transaction not followed", "signature", sig.String(), "max_watched", w.cfg.MaxWatched)
		return
	}
	x := &watched{sig: sig, key: sig.String()}
	w.txs[sig] = x
	w.open++
	ctx, span := w.tracer.Start(ctx, "solana.tx.watch", trace.WithAttributes(attribute.String("feedd.chain", w.chain.Name()), attribute.String("feedd.tx", x.key)))
	defer span.End()
	if h, err := w.height(ctx); err == nil {
		x.height0, x.heightOK = h, true
	} else {
		w.h.Logger().Warn("reading the block height failed; the drop deadline starts at the next poll", "signature", x.key, "error", err)
	}
	w.read(ctx, []*watched{x})
	if !x.sent {
		w.publish(ctx, x)
	}
	if x.final {
		return
	}
	for _, l := range levels[x.level:] {
		x.subs = append(x.subs, w.subscribe(x, l))
	}
}

// subscribe subscribes to x's signature at commitment c.
func (w *watcher) subscribe(x *watched, c rpc.CommitmentType) *chain.Sub {
	return w.chain.Subscribe(chain.SubRequest{Method: "signatureSubscribe", OneShot: true, Key: level{x, c},
		Params: []any{x.key, map[string]any{"commitment": c}}}, w.in)
}

// resubscribe replaces s, a signature subscription of x spent by a
// notification that said nothing (malformed, or "receivedSignature"): the
// chain ends a one-shot subscription at its first notification, so without
// a new one x's next step at that commitment would wait for the poll.
func (w *watcher) resubscribe(x *watched, s *chain.Sub, c rpc.CommitmentType) {
	if rank(c) <= x.level {
		return // that commitment was reached: nothing to wait for
	}
	for i, old := range x.subs {
		if old == s {
			old.Close()
			x.subs[i] = w.subscribe(x, c)
			return
		}
	}
}

// level tags a signature subscription with its commitment.
type level struct {
	x *watched
	c rpc.CommitmentType
}

// remove stops following sig.
func (w *watcher) remove(sig solana.Signature) {
	x := w.txs[sig]
	if x == nil {
		return
	}
	w.finish(x)
	delete(w.txs, sig)
	delete(w.stale, x)
}

func (w *watcher) finish(x *watched) {
	for _, s := range x.subs {
		s.Close()
	}
	x.subs = nil
	if !x.final {
		x.final = true
		w.open--
	}
}

func (w *watcher) closeAll() {
	for _, x := range w.txs {
		w.finish(x)
	}
}

// handle takes a signature notification. One that says nothing (malformed:
// no context slot, a value that is not an object with err; or
// "receivedSignature") is skipped and its subscription, spent by it,
// replaced.
func (w *watcher) handle(ctx context.Context, n chain.Notification) {
	k, ok := n.Sub.Key.(level)
	if !ok || w.txs[k.x.sig] != k.x || k.x.final {
		return
	}
	x := k.x
	switch n.Kind {
	case chain.NoteRefused:
		w.h.Logger().Warn("signature subscription refused; the poll follows the transaction", "signature", x.key, "error", n.Err)
		return
	case chain.NoteSubscribed:
		if n.Again {
			w.stale[x] = true // what the reconnect may have hidden: see catchUp
		}
		return
	}
	var note struct {
		Context struct {
			Slot *uint64 `json:"slot"`
		} `json:"context"`
		Value json.RawMessage `json:"value"`
	}
	var v map[string]json.RawMessage
	err := json.Unmarshal(n.Result, &note)
	switch {
	case err == nil && len(note.Value) > 0 && note.Value[0] == '"':
		w.resubscribe(x, n.Sub, k.c) // "receivedSignature": not landed yet
		return
	case err == nil && note.Context.Slot == nil:
		err = fmt.Errorf("no context slot")
	case err == nil:
		if err = json.Unmarshal(note.Value, &v); err == nil && v == nil {
			err = fmt.Errorf("value %s: want an object", note.Value)
		} else if _, ok := v["err"]; err == nil && !ok {
			err = fmt.Errorf("value %s: no err", note.Value)
		}
	}
	if err != nil {
		w.h.Logger().Warn("malformed signature notification skipped", "signature", x.key, "commitment", string(k.c), "error", err)
		w.resubscribe(x, n.Sub, k.c)
		return
	}
	slot := *note.Context.Slot
	ctx, span := w.tracer.Start(ctx, "solana.tx.notification", trace.WithAttributes(attribute.String("feedd.chain", w.chain.Name()),
		attribute.String("feedd.tx", x.key), attribute.String("feedd.commitment", string(k.c)), attribute.Int64("feedd.slot", int64(slot))))
	defer span.End()
	var confirmations *uint64
	if k.c != rpc.CommitmentFinalized {
		one := uint64(1)
		confirmations = &one
	}
	w.apply(ctx, x, rank(k.c), slot, chain.ErrorText(v["err"]), confirmations)
}

// catchUp reads the status of the transactions whose subscriptions came
// back after a reconnect, in one batched read rather than one per
// subscription.
func (w *watcher) catchUp(ctx context.Context) {
	if len(w.stale) == 0 {
		return
	}
	var xs []*watched
	for x := range w.stale {
		if !x.final {
			xs = append(xs, x)
		}
	}
	clear(w.stale)
	w.read(ctx, xs)
}

// poll reads the status of every unfinished transaction, and drops those
// whose blockhash must have expired.
func (w *watcher) poll(ctx context.Context) {
	clear(w.stale) // all are read
	var open []*watched
	for _, x := range w.txs {
		if !x.final {
			open = append(open, x)
		}
	}
	if len(open) == 0 {
		return
	}
	ctx, span := w.tracer.Start(ctx, "solana.tx.poll", trace.WithAttributes(attribute.String("feedd.chain", w.chain.Name()), attribute.Int("feedd.txs", len(open))))
	defer span.End()
	w.read(ctx, open)
	var waiting []*watched
	for _, x := range open {
		if x.level == 0 && !x.final {
			waiting = append(waiting, x)
		}
	}
	if len(waiting) == 0 {
		return
	}
	h, err := w.height(ctx)
	if err != nil {
		w.h.Logger().Warn("reading the block height failed", "error", err)
		return
	}
	for _, x := range waiting {
		switch {
		case !x.heightOK:
			x.height0, x.heightOK = h, true
		case h >= x.height0+w.cfg.DropAfterBlocks:
			x.last = feeds.TxStatus{Chain: w.chain.Name(), Hash: x.key, Status: feeds.StatusDropped, TS: w.h.Clock().Now().UnixMilli(),
				Error: fmt.Sprintf("not landed within %d blocks (block height %d to %d): its blockhash has expired", w.cfg.DropAfterBlocks, x.height0, h)}
			w.emit(ctx, x)
			w.finish(x)
		}
	}
}

// read applies the statuses the node reports for xs (in batches of 256,
// the most getSignatureStatuses takes).
func (w *watcher) read(ctx context.Context, xs []*watched) {
	for len(xs) > 0 {
		batch := xs[:min(len(xs), 256)]
		xs = xs[len(batch):]
		sigs := make([]solana.Signature, len(batch))
		for i, x := range batch {
			sigs[i] = x.sig
		}
		var res *rpc.GetSignatureStatusesResult
		err := w.chain.Do(ctx, "getSignatureStatuses", func(ctx context.Context, cl *rpc.Client) (err error) {
			res, err = cl.GetSignatureStatuses(ctx, true, sigs...)
			return err
		})
		if err == nil && res == nil {
			err = errors.New("getSignatureStatuses: null result")
		}
		if err != nil {
			w.h.Logger().Warn("reading transaction statuses failed", "error", err)
			return
		}
		for i, x := range batch {
			if i >= len(res.Value) || x.final {
				continue
			}
			st := res.Value[i]
			if st == nil {
				x.gone++
				// Seen processed, gone now twice in a row (once could be
				// an rpc node behind the pubsub one): its fork was
				// abandoned.
				if x.level > 0 && x.level < rank(rpc.CommitmentConfirmed) && x.gone >= 2 {
					x.level, x.slot, x.errText, x.failed = 0, 0, "", false
					x.last = feeds.TxStatus{Chain: w.chain.Name(), Hash: x.key, Status: feeds.StatusReorged, TS: w.h.Clock().Now().UnixMilli()}
					w.emit(ctx, x)
				}
				continue
			}
			x.gone = 0
			errJSON, _ := json.Marshal(st.Err)
			w.apply(ctx, x, rank(rpc.CommitmentType(st.ConfirmationStatus)), st.Slot, chain.ErrorText(errJSON), st.Confirmations)
		}
	}
}

// apply takes a status at commitment rank lv and publishes it when it is
// news.
func (w *watcher) apply(ctx context.Context, x *watched, lv int, slot uint64, errMsg string, confirmations *uint64) {
	if lv == 0 || lv < x.level || (lv == x.level && x.sent) {
		return
	}
	x.level, x.slot = lv, slot
	if errMsg != "" {
		x.failed, x.errText = true, errMsg
	}
	c := levels[lv-1]
	block := slot
	st := feeds.TxStatus{Chain: w.chain.Name(), Hash: x.key, Block: &block, Commitment: string(c), TS: w.h.Clock().Now().UnixMilli(), Error: x.errText}
	switch {
	case x.failed:
		st.Status = feeds.StatusFailed
	case c == rpc.CommitmentProcessed:
		st.Status = feeds.StatusIncluded
	default:
		st.Status = feeds.StatusConfirmed
	}
	switch {
	case c == rpc.CommitmentFinalized:
		st.Confirmations = rooted
	case confirmations != nil:
		st.Confirmations = max(*confirmations, 1)
	default:
		st.Confirmations = 1
	}
	x.last = st
	w.emit(ctx, x)
	if c == rpc.CommitmentFinalized {
		w.finish(x)
	}
}

// publish sends x's first status: pending when the node does not know it.
func (w *watcher) publish(ctx context.Context, x *watched) {
	x.last = feeds.TxStatus{Chain: w.chain.Name(), Hash: x.key, Status: feeds.StatusPending, TS: w.h.Clock().Now().UnixMilli()}
	w.emit(ctx, x)
}

func (w *watcher) emit(ctx context.Context, x *watched) {
	x.sent = true
	w.h.EmitContext(ctx, feeds.Publication{Kind: "tx", Channel: "tx:" + w.chain.Name() + ":" + x.key, Data: x.last})
}

func (w *watcher) height(ctx context.Context) (uint64, error) {
	var h uint64
	err := w.chain.Do(ctx, "getBlockHeight", func(ctx context.Context, cl *rpc.Client) (err error) {
		h, err = cl.GetBlockHeight(ctx, rpc.CommitmentConfirmed)
		return err
	})
	return h, err
}
