package client

import "sync"

// dispatcher runs callbacks one at a time, in the order they were pushed,
// on its own goroutine, so that a slow or re-entrant handler never blocks
// the connection's reader. Its queue is unbounded: a handler slower than
// the stream lets it grow.
type dispatcher struct {
	mu      sync.Mutex
	q       []func()
	wake    chan struct{}
	stopped chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newDispatcher() *dispatcher {
	return &dispatcher{wake: make(chan struct{}, 1), stopped: make(chan struct{}), done: make(chan struct{})}
}

func (d *dispatcher) push(f func()) {
	d.mu.Lock()
	d.q = append(d.q, f)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	var batch []func()
	for {
		d.mu.Lock()
		batch, d.q = d.q, batch[:0]
		d.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-d.wake:
				continue
			case <-d.stopped:
				return
			}
		}
		for i, f := range batch {
			select {
			case <-d.stopped:
				return
			default:
			}
			f()
			batch[i] = nil
		}
	}
}

// stop ends run after the callback in progress, dropping the rest, and
// waits for it.
func (d *dispatcher) stop() {
	d.once.Do(func() { close(d.stopped) })
	<-d.done
}
