package client

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"
)

// Position is a place in a channel's stream: the epoch and the offset of
// the newest message seen (0: none yet in that epoch).
type Position struct {
	Epoch  string
	Offset uint64
}

// Update is one message of a channel.
type Update struct {
	// Channel is the channel's name as given to Subscribe.
	Channel string
	// Epoch and Offset are the update's place in the channel's stream.
	Epoch  string
	Offset uint64
	// TS is when the daemon published it, Unix milliseconds.
	TS int64
	// Data is the JSON payload.
	Data json.RawMessage
	// Skipped counts the offsets between the previous update and this one
	// that were not delivered: a state channel coalesced for a slow client
	// sends only its newest value. It is 0 for event channels.
	Skipped uint64

	log *slog.Logger
}

// Time returns TS as a time.Time.
func (u Update) Time() time.Time { return time.UnixMilli(u.TS) }

// Snapshot is a channel's state as the daemon sent it with a subscription:
// at the first subscribe, and after a reconnect when the daemon no longer
// held the history to replay what was missed.
type Snapshot struct {
	Channel string
	// Epoch and Offset are the position the snapshot stands for; updates
	// that follow have greater offsets.
	Epoch  string
	Offset uint64
	// Data is the JSON state.
	Data json.RawMessage
	// Reset is true when the snapshot replaces history lost across a
	// reconnect (updates may have been missed); OnRecovered said so first.
	Reset bool

	log *slog.Logger
}

// Recovery is the outcome of subscribing again after a reconnect.
type Recovery struct {
	Channel string
	// Recovered is true when the daemon replays every update missed while
	// disconnected (as OnUpdate calls right after this one). When false
	// it no longer held them (a restart, or history expired): the
	// subscription continues from Latest, with a snapshot when the channel
	// has one.
	Recovered bool
	// Since is the position the client resumed from, Latest the daemon's
	// position when it answered.
	Since, Latest Position
	// Missed is how many updates are replayed (when Recovered).
	Missed uint64
}

// Handler receives a subscription's messages. Its methods run one at a
// time, in order, on the Client's handler goroutine.
type Handler interface {
	// OnUpdate is called for every update, in offset order, each once.
	OnUpdate(Update)
	// OnSnapshot is called when the daemon sends a snapshot.
	OnSnapshot(Snapshot)
	// OnRecovered is called after each re-subscription that follows a
	// reconnect.
	OnRecovered(Recovery)
}

// HandlerFuncs is a Handler made of functions; nil ones are skipped.
type HandlerFuncs struct {
	Update    func(Update)
	Snapshot  func(Snapshot)
	Recovered func(Recovery)
}

// OnUpdate calls f.Update.
func (f HandlerFuncs) OnUpdate(u Update) {
	if f.Update != nil {
		f.Update(u)
	}
}

// OnSnapshot calls f.Snapshot.
func (f HandlerFuncs) OnSnapshot(s Snapshot) {
	if f.Snapshot != nil {
		f.Snapshot(s)
	}
}

// OnRecovered calls f.Recovered.
func (f HandlerFuncs) OnRecovered(r Recovery) {
	if f.Recovered != nil {
		f.Recovered(r)
	}
}

// UpdateFunc is a Handler that hears updates only.
func UpdateFunc(fn func(Update)) Handler { return HandlerFuncs{Update: fn} }

// TypedHandler is a Handler that decodes the JSON of updates and snapshots
// into T. Nil functions are skipped.
type TypedHandler[T any] struct {
	Update    func(T, Update)
	Snapshot  func(T, Snapshot)
	Recovered func(Recovery)
	// DecodeError hears data that does not decode into T (the message is
	// then dropped); when nil the client logs it as a warning.
	DecodeError func(err error, channel string, offset uint64)
}

// Typed returns a TypedHandler whose updates are decoded into T.
func Typed[T any](fn func(T, Update)) *TypedHandler[T] { return &TypedHandler[T]{Update: fn} }

// OnUpdate decodes u.Data and calls h.Update.
func (h *TypedHandler[T]) OnUpdate(u Update) {
	if h.Update == nil {
		return
	}
	var v T
	if err := json.Unmarshal(u.Data, &v); err != nil {
		h.decodeError(u.log, err, u.Channel, u.Offset)
		return
	}
	h.Update(v, u)
}

// OnSnapshot decodes s.Data and calls h.Snapshot.
func (h *TypedHandler[T]) OnSnapshot(s Snapshot) {
	if h.Snapshot == nil {
		return
	}
	var v T
	if err := json.Unmarshal(s.Data, &v); err != nil {
		h.decodeError(s.log, err, s.Channel, s.Offset)
		return
	}
	h.Snapshot(v, s)
}

// OnRecovered calls h.Recovered.
func (h *TypedHandler[T]) OnRecovered(r Recovery) {
	if h.Recovered != nil {
		h.Recovered(r)
	}
}

func (h *TypedHandler[T]) decodeError(log *slog.Logger, err error, channel string, offset uint64) {
	if h.DecodeError != nil {
		h.DecodeError(err, channel, offset)
		return
	}
	if log == nil {
		log = slog.Default()
	}
	log.Warn("feedd client: cannot decode message; dropped", "channel", channel, "offset", offset, "error", err)
}

// Subscription is one channel of a Client.
type Subscription struct {
	c       *Client
	channel string
	h       Handler
	removed atomic.Bool // no longer wanted: handlers are not called any more

	// guarded by c.mu
	pos         Position
	hasPos      bool          // pos is known (the daemon confirmed once)
	ready       chan struct{} // closed at the first answer to the first subscribe
	readyClosed bool
	done        chan struct{}
	err         error
	retryAt     time.Time // a failed re-subscription is retried then
	retries     int
}

// Channel returns the channel's name as given to Subscribe.
func (s *Subscription) Channel() string { return s.channel }

// Position returns the epoch and offset of the newest message received.
func (s *Subscription) Position() (epoch string, offset uint64) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.pos.Epoch, s.pos.Offset
}

// Done is closed when the subscription ends: Unsubscribe, Close, or a
// re-subscription the daemon refused for good (Err says why).
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns why the subscription ended: nil after Unsubscribe, ErrClosed
// after Close, a *ServerError when the daemon refused to subscribe again
// after a reconnect; nil while it runs.
func (s *Subscription) Err() error {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.err
}

// Unsubscribe ends the subscription: its handler is not called from now
// on (except a call already running). It then waits, bounded by ctx, for
// the daemon to confirm; without a connection there is nothing to wait for.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	c := s.c
	c.mu.Lock()
	c.endLocked(s, nil)
	cn := c.cur
	var gone chan struct{}
	if cn != nil {
		if e := cn.server[s.channel]; e != nil && e.sub == s {
			gone = e.gone
		}
	}
	c.mu.Unlock()
	if gone == nil {
		return nil
	}
	cn.wake()
	select {
	case <-gone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return nil // Close ends the connection and with it the subscription
	}
}

// readyLocked marks the subscription's first answer as in, once; c.mu is held.
func (s *Subscription) readyLocked() {
	if !s.readyClosed {
		s.readyClosed = true
		close(s.ready)
	}
}
