package channels

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"time"
)

// Publication is one message of a channel's stream. It is immutable once
// published and shared by every reader: nothing may modify it.
type Publication struct {
	// Channel is the canonical channel name.
	Channel string
	// Epoch is the stream's epoch and Offset the publication's place in it:
	// within an epoch, offsets start at 1 and grow by exactly one.
	Epoch  string
	Offset uint64
	// Time is when it was published.
	Time time.Time
	// Data is the JSON payload.
	Data json.RawMessage
	// Header carries metadata across nodes (trace context).
	Header map[string]string

	frame atomic.Pointer[[]byte] // the encoded update message; see canonicalFrame
}

// Position returns the publication's stream position.
func (p *Publication) Position() Position { return Position{Epoch: p.Epoch, Offset: p.Offset} }

// Position is a place in a channel's stream. Offset 0 means "before the first
// publication of the epoch".
type Position struct {
	Epoch  string
	Offset uint64
}

// StreamOptions are a channel's history settings, given with each publication.
type StreamOptions struct {
	// HistorySize is how many publications are kept; 0 keeps none.
	HistorySize int
	// HistoryTTL is how long a publication is kept; 0 keeps it until pushed
	// out by size. It is also how long an idle stream is kept at all.
	HistoryTTL time.Duration
	// Coalesce marks a state channel: its snapshot is its latest data.
	Coalesce bool
}

// PublishOptions go with one publication.
type PublishOptions struct {
	StreamOptions
	// Snapshot, when set, replaces the channel's snapshot (the state a new
	// subscriber receives). For state channels the data itself is the
	// snapshot when Snapshot is nil.
	Snapshot json.RawMessage
	// Header is metadata carried with the publication.
	Header map[string]string
}

// HistoryResult is a channel's state as the broker holds it.
type HistoryResult struct {
	// Latest is the stream's current position (Offset 0 when empty).
	Latest Position
	// Publications are those after the requested position, oldest first,
	// up to the limit.
	Publications []*Publication
	// Complete is true when Publications holds every publication after the
	// requested position in the same epoch (nothing expired or pushed out).
	Complete bool
	// Snapshot is the channel's state for a new subscriber: the latest
	// PublishOptions.Snapshot given, else the newest publication's data
	// (for an event channel, its latest event); nil when it has neither.
	Snapshot json.RawMessage
}

// Broker stores channel streams and carries publications to the nodes that
// subscribed to them. The contract every implementation keeps:
//
//   - Ordering: publications of one channel are totally ordered. Offsets are
//     assigned by the broker, start at 1 in an epoch and grow by exactly one;
//     no two publications share an offset in an epoch.
//   - Atomicity: Publish either assigns an offset, stores the publication in
//     history (when HistorySize > 0) and schedules its delivery, or fails and
//     does none of these. A publication that History can return has been or
//     will be delivered to every node subscribed when it was published.
//   - Delivery: each subscribed node's handler receives a channel's
//     publications in offset order, each once, never concurrently for one
//     channel. Different channels may be delivered concurrently.
//   - Epochs: a new epoch starts whenever the broker loses a channel's
//     history (restart of a memory broker, expiry of an idle stream); a
//     position from another epoch is never Complete.
//   - Zero values: an empty channel has Latest.Offset 0, no snapshot, and is
//     Complete for any position in its epoch at offset 0.
type Broker interface {
	// Publish appends data to channel and returns the publication.
	Publish(ctx context.Context, channel string, data json.RawMessage, opts PublishOptions) (*Publication, error)
	// History returns the channel's position and snapshot, and the
	// publications after since (none when since is nil), at most limit
	// (0: none, negative: all held).
	History(ctx context.Context, channel string, since *Position, limit int) (HistoryResult, error)
	// Subscribe makes the broker deliver channel's publications to this
	// node's handler from now on; Unsubscribe stops it. Calls nest: a
	// channel subscribed twice needs two Unsubscribes.
	Subscribe(ctx context.Context, channel string) error
	Unsubscribe(ctx context.Context, channel string) error
	// SetHandler sets the function deliveries go to. It must be called
	// before the first Subscribe.
	SetHandler(h func(*Publication))
	// Close releases the broker; later calls fail with ErrBrokerClosed.
	Close() error
}

// ErrBrokerClosed is returned by a broker after Close.
var ErrBrokerClosed = errors.New("broker closed")
