package evm

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// HeadEvent is one step of a chain's canonical history, in order: exactly
// one of Block, Reorg and Gap is set.
type HeadEvent struct {
	// Block is the next canonical block; its parent is the previous Block
	// (after a Reorg: the common ancestor; after a Gap: unknown).
	Block *Block
	// Reorg says the blocks Old left the canonical chain; the blocks New
	// replace them and follow as Block events.
	Reorg *Reorg
	// Gap says blocks were skipped (more than max_backfill behind).
	Gap *Gap
	// Received is when the head that caused the event was announced.
	Received time.Time
}

// Reorg describes blocks replaced on the canonical chain.
type Reorg struct {
	// Depth is how many held blocks were replaced.
	Depth int
	// From is the number of the first replaced block (the common ancestor
	// plus one).
	From uint64
	// Old are the replaced blocks, ascending.
	Old []BlockRef
	// New are the blocks that replace them, ascending (possibly more).
	New []BlockRef
}

// Gap describes blocks that were skipped.
type Gap struct {
	From, To uint64 // inclusive
	Reason   string
}

// Subscription is a consumer's view of the head stream. Events arrive in
// order, none dropped: a consumer that does not read holds the stream back
// for every consumer of the chain, so read promptly.
type Subscription struct {
	ch   chan HeadEvent
	done chan struct{}
	once sync.Once
	t    *tracker
}

// Events returns the stream.
func (s *Subscription) Events() <-chan HeadEvent { return s.ch }

// Close ends the subscription; its channel is not closed.
func (s *Subscription) Close() {
	s.once.Do(func() {
		close(s.done)
		s.t.mu.Lock()
		delete(s.t.subs, s)
		s.t.mu.Unlock()
	})
}

// Subscribe returns a subscription to the head stream from now on.
func (c *Chain) Subscribe() *Subscription {
	s := &Subscription{ch: make(chan HeadEvent, 256), done: make(chan struct{}), t: &c.heads}
	c.heads.mu.Lock()
	c.heads.subs[s] = struct{}{}
	c.heads.mu.Unlock()
	return s
}

// Head returns the newest canonical block, when there is one yet.
func (c *Chain) Head() (*Block, bool) {
	c.heads.mu.Lock()
	defer c.heads.mu.Unlock()
	return c.heads.head, c.heads.head != nil
}

// tracker holds the recent canonical hashes and turns announced heads into
// the ordered stream. advance runs on the follow goroutine only.
type tracker struct {
	c    *Chain
	ring []BlockRef // contiguous, ascending, at most reorg_depth
	// oldestParent is the parent hash of ring[0].
	oldestParent common.Hash

	mu   sync.Mutex
	head *Block
	subs map[*Subscription]struct{}
}

func (t *tracker) init(c *Chain) {
	t.c = c
	t.subs = map[*Subscription]struct{}{}
}

// at returns the held block at number n, or the parent of the oldest
// held block (whose hash is known too).
func (t *tracker) at(n uint64) (BlockRef, bool) {
	if len(t.ring) == 0 || n > t.ring[len(t.ring)-1].Number {
		return BlockRef{}, false
	}
	first := t.ring[0].Number
	if n+1 == first && first > 0 {
		return BlockRef{Number: n, Hash: t.oldestParent}, true
	}
	if n < first {
		return BlockRef{}, false
	}
	return t.ring[n-first], true
}

// known reports whether the block is canonical and held.
func (t *tracker) known(n uint64, hash [32]byte) bool {
	r, ok := t.at(n)
	return ok && r.Hash == hash
}

func (t *tracker) push(b *Block) {
	if len(t.ring) == 0 {
		t.oldestParent = b.ParentHash
	}
	t.ring = append(t.ring, b.Ref())
	if over := len(t.ring) - t.c.cfg.ReorgDepth; over > 0 {
		t.oldestParent = t.ring[over-1].Hash
		t.ring = append(t.ring[:0], t.ring[over:]...)
	}
}

// advance makes b the head: it fetches the blocks between the held head and
// b (at most max_backfill), walks back from b to the common ancestor when b
// does not extend the held chain, and emits the reorg, gap and block events
// in order.
func (t *tracker) advance(ctx context.Context, cn *conn, b *Block, received time.Time) error {
	c := t.c
	if len(t.ring) == 0 {
		t.push(b)
		return t.emit(ctx, HeadEvent{Block: b, Received: received})
	}
	if t.known(b.Number, b.Hash) {
		return nil
	}
	if b.Number < t.ring[0].Number {
		// Older than anything held: a lagging endpoint, not a reorg.
		c.log.Debug("ignoring a head older than the held blocks", "number", b.Number, "oldest_held", t.ring[0].Number)
		return nil
	}
	last := t.ring[len(t.ring)-1]
	maxBackfill := uint64(c.cfg.MaxBackfill)
	var cands map[uint64]*Block
	if b.Number > last.Number+1 {
		lo := last.Number + 1
		if b.Number-lo > maxBackfill {
			lo = b.Number - maxBackfill
		}
		var err error
		if cands, err = c.blocksByNumber(ctx, cn, lo, b.Number-1); err != nil {
			return err
		}
	}
	segment := []*Block{b}
	cur := b
	var (
		ancestor *BlockRef
		deep     bool // walked below every held block
		jump     bool // more than max_backfill blocks behind
	)
	for cur.Number > 0 {
		pn := cur.Number - 1
		if r, ok := t.at(pn); ok && r.Hash == cur.ParentHash {
			ancestor = &r
			break
		}
		if pn < t.ring[0].Number {
			// The oldest held block's parent (at() knows its hash) differs:
			// every held block was replaced.
			deep = true
			break
		}
		if pn > last.Number && uint64(len(segment)) > maxBackfill {
			jump = true
			break
		}
		p := cands[pn]
		if p == nil || p.Hash != cur.ParentHash {
			var err error
			if p, err = c.blockByHash(ctx, cn, cur.ParentHash); err != nil {
				return err
			}
			if p.Number != pn {
				return fmt.Errorf("block %s at %d names parent %s, which the node reports at %d", cur.Hash, cur.Number, cur.ParentHash, p.Number)
			}
		}
		segment = append(segment, p)
		cur = p
	}
	reverse(segment)
	newRefs := make([]BlockRef, len(segment))
	for i, s := range segment {
		newRefs[i] = s.Ref()
	}
	switch {
	case jump:
		// The held blocks may have been replaced while we were away: check
		// them before skipping, or their events would be confirmed.
		if err := t.checkHeld(ctx, cn, received); err != nil {
			return err
		}
		last = t.ring[len(t.ring)-1]
		from, to := last.Number+1, segment[0].Number-1
		c.log.Warn("fell behind more than max_backfill; skipping blocks", "from", from, "to", to, "max_backfill", maxBackfill)
		c.m.Gaps.Add(ctx, 1, c.m.Attrs)
		t.ring = t.ring[:0]
		if err := t.emit(ctx, HeadEvent{Gap: &Gap{From: from, To: to, Reason: fmt.Sprintf("more than max_backfill (%d) blocks behind", maxBackfill)}, Received: received}); err != nil {
			return err
		}
	case deep:
		old := append([]BlockRef(nil), t.ring...)
		c.log.Warn("reorg deeper than reorg_depth: replacing every held block; blocks before them may have changed too", "from", old[0].Number, "reorg_depth", c.cfg.ReorgDepth)
		t.ring = t.ring[:0]
		if err := t.reorg(ctx, old, newRefs, received); err != nil {
			return err
		}
	case ancestor != nil && ancestor.Number < last.Number:
		keep := int(ancestor.Number + 1 - t.ring[0].Number) // 0 when the ancestor is the oldest's parent
		old := append([]BlockRef(nil), t.ring[keep:]...)
		t.ring = t.ring[:keep]
		if err := t.reorg(ctx, old, newRefs, received); err != nil {
			return err
		}
	default:
		if n := len(segment) - 1; n > 0 {
			c.m.backfilled.Add(ctx, int64(n), c.m.Attrs)
			c.log.Info("backfilled missed blocks", "from", segment[0].Number, "to", segment[n-1].Number)
		}
	}
	for _, s := range segment {
		t.push(s)
		if err := t.emit(ctx, HeadEvent{Block: s, Received: received}); err != nil {
			return err
		}
	}
	return nil
}

// checkHeld asks the node for the held block numbers and, where its blocks
// differ, reports a reorg from the first difference and follows the node's
// blocks up to the newest held number.
func (t *tracker) checkHeld(ctx context.Context, cn *conn, received time.Time) error {
	first, last := t.ring[0].Number, t.ring[len(t.ring)-1].Number
	now, err := t.c.blocksByNumber(ctx, cn, first, last)
	if err != nil {
		return err
	}
	keep := len(t.ring)
	for i, r := range t.ring {
		if b := now[r.Number]; b == nil || b.Hash != r.Hash {
			keep = i
			break
		}
	}
	if keep == len(t.ring) {
		return nil
	}
	var segment []*Block
	for n := t.ring[keep].Number; n <= last; n++ {
		b := now[n]
		if b == nil || (len(segment) == 0 && keep > 0 && b.ParentHash != t.ring[keep-1].Hash) ||
			(len(segment) > 0 && b.ParentHash != segment[len(segment)-1].Hash) {
			break // the node moved on meanwhile: the next head sorts it out
		}
		segment = append(segment, b)
	}
	old := append([]BlockRef(nil), t.ring[keep:]...)
	newRefs := make([]BlockRef, len(segment))
	for i, b := range segment {
		newRefs[i] = b.Ref()
	}
	t.ring = t.ring[:keep]
	if len(newRefs) == 0 {
		newRefs = nil
	}
	if err := t.reorg(ctx, old, newRefs, received); err != nil {
		return err
	}
	for _, b := range segment {
		t.push(b)
		if err := t.emit(ctx, HeadEvent{Block: b, Received: received}); err != nil {
			return err
		}
	}
	if len(t.ring) == 0 {
		return fmt.Errorf("the node replaced every held block and its own blocks do not link up; starting over at the next head")
	}
	return nil
}

func (t *tracker) reorg(ctx context.Context, old, newRefs []BlockRef, received time.Time) error {
	c := t.c
	r := &Reorg{Depth: len(old), From: old[0].Number, Old: old, New: newRefs}
	newHead := "(none yet)"
	if len(newRefs) > 0 {
		newHead = newRefs[len(newRefs)-1].Hash.Hex()
	}
	c.log.Warn("reorg", "depth", r.Depth, "from", r.From, "old_head", old[len(old)-1].Hash, "new_head", newHead)
	c.m.reorgs.Add(ctx, 1, c.m.Attrs)
	c.m.reorgDepth.Record(ctx, int64(r.Depth), c.m.Attrs)
	return t.emit(ctx, HeadEvent{Reorg: r, Received: received})
}

// emit hands ev to every subscriber, waiting for room.
func (t *tracker) emit(ctx context.Context, ev HeadEvent) error {
	t.mu.Lock()
	if ev.Block != nil {
		t.head = ev.Block
	}
	subs := make([]*Subscription, 0, len(t.subs))
	for s := range t.subs {
		subs = append(subs, s)
	}
	t.mu.Unlock()
	for _, s := range subs {
		select {
		case s.ch <- ev:
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}
