package channels

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/feedd/feedd/internal/clock"
)

// MemoryBroker is the Broker of a single process: streams live in memory and
// are lost (a new epoch) when the process ends. Idle streams with no
// subscriber are dropped after their history TTL, so memory stays bounded by
// the active channels.
type MemoryBroker struct {
	clk clock.Clock

	mu      sync.Mutex
	streams map[string]*memStream
	handler func(*Publication)
	closed  bool
}

type memStream struct {
	mu       sync.Mutex // orders publication and delivery of the stream
	epoch    string
	offset   uint64
	ring     []*Publication // history, ring[i % len]; len = HistorySize
	ttl      time.Duration
	snapshot json.RawMessage
	explicit bool      // snapshot was set by a publisher, not taken from data
	last     time.Time // last publication
	subs     int       // node subscriptions
}

// NewMemoryBroker returns an empty broker using clk (nil: the wall clock).
func NewMemoryBroker(clk clock.Clock) *MemoryBroker {
	if clk == nil {
		clk = clock.Real{}
	}
	return &MemoryBroker{clk: clk, streams: map[string]*memStream{}}
}

func newEpoch() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SetHandler sets where deliveries go.
func (b *MemoryBroker) SetHandler(h func(*Publication)) {
	b.mu.Lock()
	b.handler = h
	b.mu.Unlock()
}

// stream returns channel's stream, creating it when create is set.
func (b *MemoryBroker) stream(channel string, create bool) (*memStream, func(*Publication), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, ErrBrokerClosed
	}
	s := b.streams[channel]
	if s == nil && create {
		s = &memStream{epoch: newEpoch()}
		b.streams[channel] = s
	}
	return s, b.handler, nil
}

// Publish appends data to channel's stream and delivers it, in the caller's
// goroutine, to this node's handler when the channel is subscribed.
func (b *MemoryBroker) Publish(ctx context.Context, channel string, data json.RawMessage, opts PublishOptions) (*Publication, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, handler, err := b.stream(channel, true)
	if err != nil {
		return nil, err
	}
	now := b.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset++
	p := &Publication{Channel: channel, Epoch: s.epoch, Offset: s.offset, Time: now, Data: data, Header: opts.Header}
	s.ttl = opts.HistoryTTL
	s.last = now
	if n := opts.HistorySize; n > 0 {
		if len(s.ring) != n {
			s.resize(n)
		}
		s.ring[p.Offset%uint64(n)] = p
	} else {
		s.ring = nil
	}
	if opts.Snapshot != nil {
		s.snapshot = opts.Snapshot
		s.explicit = true
	} else if !s.explicit {
		s.snapshot = data
	}
	if s.subs > 0 && handler != nil {
		handler(p)
	}
	return p, nil
}

// resize keeps the newest publications in a ring of n.
func (s *memStream) resize(n int) {
	ring := make([]*Publication, n)
	for _, p := range s.ring {
		if p != nil && p.Offset+uint64(n) > s.offset {
			ring[p.Offset%uint64(n)] = p
		}
	}
	s.ring = ring
}

// History returns the stream's position, snapshot and publications after since.
func (b *MemoryBroker) History(ctx context.Context, channel string, since *Position, limit int) (HistoryResult, error) {
	if err := ctx.Err(); err != nil {
		return HistoryResult{}, err
	}
	s, _, err := b.stream(channel, false)
	if err != nil {
		return HistoryResult{}, err
	}
	if s == nil {
		// No stream: a fresh epoch that nobody can have a position in yet.
		return HistoryResult{Latest: Position{Epoch: "", Offset: 0}, Complete: since == nil}, nil
	}
	now := b.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	res := HistoryResult{Latest: Position{Epoch: s.epoch, Offset: s.offset}, Snapshot: s.snapshot}
	if since == nil {
		res.Complete = true
		return res, nil
	}
	if since.Epoch != s.epoch || since.Offset > s.offset {
		return res, nil
	}
	res.Complete = true
	for off := since.Offset + 1; off <= s.offset; off++ {
		var p *Publication
		if len(s.ring) > 0 {
			p = s.ring[off%uint64(len(s.ring))]
		}
		if p == nil || p.Offset != off || (s.ttl > 0 && now.Sub(p.Time) > s.ttl) {
			res.Complete = false
			res.Publications = nil
			continue
		}
		if limit >= 0 && len(res.Publications) >= limit {
			res.Complete = false
			break
		}
		res.Publications = append(res.Publications, p)
	}
	if !res.Complete {
		res.Publications = nil
	}
	return res, nil
}

// Subscribe starts delivery of channel's publications to the handler.
func (b *MemoryBroker) Subscribe(ctx context.Context, channel string) error {
	s, _, err := b.stream(channel, true)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.subs++
	s.mu.Unlock()
	return nil
}

// Unsubscribe undoes one Subscribe.
func (b *MemoryBroker) Unsubscribe(ctx context.Context, channel string) error {
	s, _, err := b.stream(channel, false)
	if err != nil || s == nil {
		return err
	}
	s.mu.Lock()
	if s.subs > 0 {
		s.subs--
	}
	s.mu.Unlock()
	return nil
}

// Sweep drops streams that nobody subscribes to and that saw no publication
// for their TTL (or ever, with no TTL and no history), returning how many it
// dropped. The hub calls it periodically.
func (b *MemoryBroker) Sweep() int {
	now := b.clk.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for name, s := range b.streams {
		s.mu.Lock()
		idle := s.subs == 0 && (len(s.ring) == 0 && s.snapshot == nil || s.ttl > 0 && now.Sub(s.last) > s.ttl)
		s.mu.Unlock()
		if idle {
			delete(b.streams, name)
			n++
		}
	}
	return n
}

// Close drops every stream.
func (b *MemoryBroker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.streams = nil
	return nil
}
