package solana

import (
	"encoding/json"
	"sync"
)

// The kinds of Notification.
const (
	// NoteData carries a notification's result.
	NoteData = iota
	// NoteSubscribed says the subscription is active on a new connection;
	// Again is true when it was active on an earlier one, so notifications
	// may have been missed in between and the consumer should catch up.
	NoteSubscribed
	// NoteRefused says the node refused the subscription (Err); it is sent
	// again on the next connection.
	NoteRefused
)

// Notification is what a subscription delivers to its Inbox.
type Notification struct {
	Sub  *Sub
	Kind int
	// Slot is the notification's context slot (0 when it has none).
	Slot uint64
	// Result is the notification's params.result, as received.
	Result json.RawMessage
	// Again: see NoteSubscribed.
	Again bool
	// Err: see NoteRefused.
	Err error
}

// Inbox is a consumer's queue of notifications from any number of
// subscriptions. Delivery never blocks the connection: beyond its capacity
// notifications are dropped and the next Take reports the loss, so that the
// consumer reads the state it follows again. Safe for concurrent use.
type Inbox struct {
	mu    sync.Mutex
	q     []Notification
	max   int
	lost  bool
	ready chan struct{}
}

// NewInbox returns an inbox holding at most max notifications (at least 1).
func NewInbox(max int) *Inbox {
	if max < 1 {
		max = 1
	}
	return &Inbox{max: max, ready: make(chan struct{}, 1)}
}

// Ready is signalled when notifications are waiting.
func (in *Inbox) Ready() <-chan struct{} { return in.ready }

// Take returns the waiting notifications in delivery order, and whether any
// were dropped since the last Take.
func (in *Inbox) Take() ([]Notification, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	q, lost := in.q, in.lost
	in.q, in.lost = nil, false
	return q, lost
}

func (in *Inbox) put(n Notification) {
	in.mu.Lock()
	if len(in.q) >= in.max {
		in.lost = true
	} else {
		in.q = append(in.q, n)
	}
	in.mu.Unlock()
	select {
	case in.ready <- struct{}{}:
	default:
	}
}
