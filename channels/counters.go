package channels

import (
	"errors"
	"maps"
	"sync"
	"sync/atomic"
)

// Counters are the server's running totals, read by the daemon's metrics
// and by tests. Make them with newCounters.
type Counters struct {
	Connections atomic.Int64 // open now
	Accepted    atomic.Int64 // ever accepted
	Refused     atomic.Int64 // refused before or at the upgrade
	Frames      atomic.Int64 // frames written
	Messages    atomic.Int64 // messages written (a frame holds one or more)
	SlowCloses  atomic.Int64 // closed with 4008
	RateLimited atomic.Int64
	Coalesced   atomic.Int64 // publications skipped for slow clients of state channels

	mu             sync.Mutex
	authByReason   map[string]int64
	subsByNS       map[string]int64
	requestsByCode map[string]int64
}

func newCounters() *Counters {
	return &Counters{authByReason: map[string]int64{}, subsByNS: map[string]int64{}, requestsByCode: map[string]int64{}}
}

func (c *Counters) frame(n int) {
	c.Frames.Add(1)
	c.Messages.Add(int64(n))
}

func (c *Counters) slowClose() { c.SlowCloses.Add(1) }

// authFailure counts a refused token under its auth.Error reason, else
// "invalid".
func (c *Counters) authFailure(err error) {
	var r interface{ AuthReason() string }
	if errors.As(err, &r) {
		c.add(c.authByReason, r.AuthReason(), 1)
		return
	}
	c.add(c.authByReason, "invalid", 1)
}

// AuthFailuresByReason returns refused tokens per reason (auth.Error
// reasons, "expired" for connections whose token ran out, else "invalid").
func (c *Counters) AuthFailuresByReason() map[string]int64 { return c.snapshot(&c.authByReason) }

func (c *Counters) requestError(code string) { c.add(c.requestsByCode, code, 1) }

func (c *Counters) subscribed(ns string, delta int64) { c.add(c.subsByNS, ns, delta) }

// Subscriptions returns the open subscriptions per namespace.
func (c *Counters) Subscriptions() map[string]int64 { return c.snapshot(&c.subsByNS) }

// Errors returns the error replies sent per code.
func (c *Counters) Errors() map[string]int64 { return c.snapshot(&c.requestsByCode) }

func (c *Counters) add(m map[string]int64, key string, delta int64) {
	c.mu.Lock()
	m[key] += delta
	c.mu.Unlock()
}

// snapshot copies one of the counter maps under the lock.
func (c *Counters) snapshot(m *map[string]int64) map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(*m)
}
