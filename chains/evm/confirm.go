package evm

// Confirmer holds what consumers published as included (wallet events,
// logs, transactions) by the block that included it, until the block has the
// chain's confirmations or a reorg removes it. Feed it the head stream in
// order. It is not safe for concurrent use. Memory is bounded by what the
// last `confirmations` blocks hold.
type Confirmer[T any] struct {
	need   uint64
	blocks []Included[T] // ascending by block number
}

// Included is what one block included.
type Included[T any] struct {
	Block BlockRef
	Items []T
}

// NewConfirmer returns a Confirmer for need confirmations (the including
// block counts as one; need 0 is taken as 1).
func NewConfirmer[T any](need uint64) *Confirmer[T] {
	return &Confirmer[T]{need: max(need, 1)}
}

// Include records items of block b, a new canonical block.
func (c *Confirmer[T]) Include(b BlockRef, items ...T) {
	if len(items) == 0 {
		return
	}
	if n := len(c.blocks); n > 0 && c.blocks[n-1].Block == b {
		c.blocks[n-1].Items = append(c.blocks[n-1].Items, items...)
		return
	}
	c.blocks = append(c.blocks, Included[T]{Block: b, Items: items})
}

// Confirmed returns, and forgets, what reached the confirmations now that
// head is the newest canonical block number.
func (c *Confirmer[T]) Confirmed(head uint64) []Included[T] {
	n := 0
	for n < len(c.blocks) && head+1 >= c.blocks[n].Block.Number+c.need {
		n++
	}
	if n == 0 {
		return nil
	}
	out := append([]Included[T](nil), c.blocks[:n]...)
	c.blocks = append(c.blocks[:0], c.blocks[n:]...)
	return out
}

// Removed returns, and forgets, what the blocks of a reorg's Old included.
func (c *Confirmer[T]) Removed(old []BlockRef) []Included[T] {
	gone := make(map[BlockRef]bool, len(old))
	for _, r := range old {
		gone[r] = true
	}
	var out []Included[T]
	kept := c.blocks[:0]
	for _, b := range c.blocks {
		if gone[b.Block] {
			out = append(out, b)
		} else {
			kept = append(kept, b)
		}
	}
	clear(c.blocks[len(kept):])
	c.blocks = kept
	return out
}

// Pending returns how many blocks hold unconfirmed items.
func (c *Confirmer[T]) Pending() int { return len(c.blocks) }

// Depth returns the confirmations count of a block at number n when head is
// the newest block (1 for the head itself).
func Depth(head, n uint64) uint64 {
	if head < n {
		return 0
	}
	return head - n + 1
}
