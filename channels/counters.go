package channels

import (
	"errors"
	"maps"
	"sync"
	"sync/atomic"
)

// Counters are the hub's running totals, read by metrics and tests. The
// observability work exports them; until then they are read with Snapshot.
type Counters struct {
	Connections    atomic.Int64 // open now
	Accepted       atomic.Int64 // ever accepted
	Refused        atomic.Int64 // refused before or at the upgrade
	Frames         atomic.Int64 // frames written
	Messages       atomic.Int64 // messages written (a frame holds one or more)
	SlowCloses     atomic.Int64 // closed with 4008
	RateLimited    atomic.Int64
	AuthFailures   atomic.Int64
	RequestErrors  atomic.Int64
	Coalesced      atomic.Int64 // publications skipped for slow clients of state channels
	mu             sync.Mutex
	authByReason   map[string]int64
	subsByNS       map[string]int64
	requestsByCode map[string]int64
}

func (c *Counters) frame(n int) {
	c.Frames.Add(1)
	c.Messages.Add(int64(n))
}

func (c *Counters) slowClose() { c.SlowCloses.Add(1) }

func (c *Counters) authFailure(err error) {
	c.AuthFailures.Add(1)
	reason := "invalid"
	var r interface{ AuthReason() string }
	switch {
	case errors.As(err, &r):
		reason = r.AuthReason()
	case err != nil && err.Error() == "expired":
		reason = "expired"
	}
	c.mu.Lock()
	if c.authByReason == nil {
		c.authByReason = map[string]int64{}
	}
	c.authByReason[reason]++
	c.mu.Unlock()
}

// AuthFailuresByReason returns refused tokens per reason (auth.Error
// reasons, "expired" for connections whose token ran out, else "invalid").
func (c *Counters) AuthFailuresByReason() map[string]int64 { return c.snapshot(c.authByReason) }

// snapshot copies one of the counter maps under the lock.
func (c *Counters) snapshot(m map[string]int64) map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(m)
}

func (c *Counters) requestError(code string) {
	c.RequestErrors.Add(1)
	c.mu.Lock()
	if c.requestsByCode == nil {
		c.requestsByCode = map[string]int64{}
	}
	c.requestsByCode[code]++
	c.mu.Unlock()
}

func (c *Counters) subscribed(ns string, delta int64) {
	c.mu.Lock()
	if c.subsByNS == nil {
		c.subsByNS = map[string]int64{}
	}
	c.subsByNS[ns] += delta
	c.mu.Unlock()
}

// Subscriptions returns the open subscriptions per namespace.
func (c *Counters) Subscriptions() map[string]int64 { return c.snapshot(c.subsByNS) }

// Errors returns the error replies sent per code.
func (c *Counters) Errors() map[string]int64 { return c.snapshot(c.requestsByCode) }
