package plugins

import "sync"

// Change is one Watch or Unwatch of a channel, parsed into the plugin's key.
type Change[K any] struct {
	Key   K
	Watch bool
}

// Interest is a Watcher that queues the hub's calls for the plugin's run
// loop: Watch and Unwatch return at once (as the hub needs), the loop takes
// the changes in order when Ready fires. Channels whose name parse rejects
// (another chain's, another family's) are ignored. Safe for concurrent use.
type Interest[K any] struct {
	parse   func(channel string) (K, bool)
	mu      sync.Mutex
	changes []Change[K]
	ready   chan struct{}
}

// NewInterest returns an Interest keyed by parse's result.
func NewInterest[K any](parse func(channel string) (K, bool)) *Interest[K] {
	return &Interest[K]{parse: parse, ready: make(chan struct{}, 1)}
}

// Watch queues the channel's first subscriber.
func (i *Interest[K]) Watch(channel string) { i.queue(channel, true) }

// Unwatch queues the channel's last subscriber leaving.
func (i *Interest[K]) Unwatch(channel string) { i.queue(channel, false) }

func (i *Interest[K]) queue(channel string, watch bool) {
	k, ok := i.parse(channel)
	if !ok {
		return
	}
	i.mu.Lock()
	i.changes = append(i.changes, Change[K]{Key: k, Watch: watch})
	i.mu.Unlock()
	select {
	case i.ready <- struct{}{}:
	default:
	}
}

// Ready is signalled when changes wait.
func (i *Interest[K]) Ready() <-chan struct{} { return i.ready }

// Take returns the waiting changes, oldest first.
func (i *Interest[K]) Take() []Change[K] {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := i.changes
	i.changes = nil
	return out
}
