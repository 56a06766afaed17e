package evm

import (
	"sync"

	"github.com/ethereum/go-ethereum/common"
)

// pendingListeners are the consumers of pending transaction hashes.
type pendingListeners struct {
	mu    sync.RWMutex
	next  int
	fns   map[int]func(common.Hash)
	added chan struct{} // signalled when a listener is added
}

// any reports whether someone listens.
func (p *pendingListeners) any() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.fns) > 0
}

// OnPending calls fn with the hash of every transaction the connected node
// announces as entering its pool (over WebSocket, when the chain's
// pending_transactions is on and the node offers it). fn runs on the
// chain's goroutine and must return at once. Announcements are best effort:
// none arrive while disconnected or over HTTP. cancel stops the calls.
func (c *Chain) OnPending(fn func(common.Hash)) (cancel func()) {
	p := &c.pending
	p.mu.Lock()
	if p.fns == nil {
		p.fns = map[int]func(common.Hash){}
	}
	id := p.next
	p.next++
	p.fns[id] = fn
	p.mu.Unlock()
	select {
	case p.added <- struct{}{}:
	default:
	}
	return func() {
		p.mu.Lock()
		delete(p.fns, id)
		p.mu.Unlock()
	}
}

func (p *pendingListeners) dispatch(h common.Hash) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, fn := range p.fns {
		fn(h)
	}
}
