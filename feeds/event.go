// Package feeds holds feedd's domain model: the events sources report and the
// aggregation and publish policy that turn them into channel updates. It knows
// no network.
package feeds

import "time"

// Event is something a source observed. Each concrete type names its kind.
type Event interface {
	// EventKind names the type of event, e.g. "tick".
	EventKind() string
}

// Side is the aggressor side of a trade, when the venue tells it.
type Side string

// The sides of a trade.
const (
	SideUnknown Side = ""
	SideBuy     Side = "buy"
	SideSell    Side = "sell"
)

// Tick is one price observation from one source: a trade, a quote mid-point,
// an oracle answer or a pool's price.
type Tick struct {
	// Source is the id of the reporting plugin instance (or of the venue
	// behind it, for sources that multiplex several).
	Source string `json:"source"`
	// Symbol is the pair as BASE-QUOTE, e.g. "ETH-USD".
	Symbol string `json:"symbol"`
	// Price is the quote currency per unit of base.
	Price float64 `json:"price"`
	// Size is the traded base amount, 0 when unknown.
	Size float64 `json:"size,omitempty"`
	// Side is the aggressor side, when known.
	Side Side `json:"side,omitempty"`
	// VenueTime is when the venue says it happened; zero when it does not say.
	VenueTime time.Time `json:"-"`
	// ReceiveTime is when feedd received it.
	ReceiveTime time.Time `json:"-"`
}

// EventKind returns "tick".
func (Tick) EventKind() string { return "tick" }
