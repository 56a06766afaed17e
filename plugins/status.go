package plugins

import (
	"encoding/json"
	"time"
)

// State is where an instance is in its life.
type State string

// The states of an instance.
const (
	// StateStarting: Run was called and the instance has not said Ready.
	StateStarting State = "starting"
	// StateRunning: the instance said Ready (or reported an event).
	StateRunning State = "running"
	// StateBackoff: the last run failed, panicked or stalled; the next
	// attempt is at NextAttempt.
	StateBackoff State = "backoff"
	// StateStopped: the instance was stopped, or finished by returning nil.
	StateStopped State = "stopped"
)

// Status is a snapshot of one instance.
type Status struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	State    State  `json:"state"`
	Optional bool   `json:"optional"`
	// Since is when the instance entered State.
	Since time.Time `json:"-"`
	// LastEvent is when it last reported an event (zero: never).
	LastEvent time.Time `json:"-"`
	// Events counts events over the instance's life, across restarts.
	Events uint64 `json:"events"`
	// Restarts counts runs after the first.
	Restarts int `json:"restarts"`
	// Panics counts runs that ended in a panic.
	Panics int `json:"panics"`
	// Stalls counts runs the stall watch ended.
	Stalls int `json:"stalls"`
	// Stalled is true while the instance waits to restart after a stall.
	Stalled bool `json:"stalled"`
	// Error is the error that ended the last failed run, "" if none.
	Error string `json:"error,omitempty"`
	// NextAttempt is when a backing-off instance runs again.
	NextAttempt time.Time `json:"-"`
	// ReloadError says why the last reload kept this instance's old
	// configuration.
	ReloadError string `json:"reload_error,omitempty"`
}

// Ready reports whether the instance counts as ready: running, or optional.
func (s Status) Ready() bool { return s.State == StateRunning || s.Optional }

// MarshalJSON writes times as Unix milliseconds (null when unset), as the
// rest of the API does.
func (s Status) MarshalJSON() ([]byte, error) {
	type plain Status
	ms := func(t time.Time) *int64 {
		if t.IsZero() {
			return nil
		}
		v := t.UnixMilli()
		return &v
	}
	return json.Marshal(struct {
		plain
		Since       *int64 `json:"since"`
		LastEvent   *int64 `json:"last_event"`
		NextAttempt *int64 `json:"next_attempt,omitempty"`
	}{plain(s), ms(s.Since), ms(s.LastEvent), ms(s.NextAttempt)})
}
