package channels

import (
	"testing"
	"time"

	"github.com/feedd/feedd/channels/protocol"
	"github.com/feedd/feedd/internal/clock"
)

// hubTimers is how many fake timers an idle hub loop waits on: heartbeat,
// sweep and the stalled-write reaper.
const hubTimers = 3

// tick advances the fake clock by d and waits until the hub loop has run
// and re-armed its timers (extra is the number of other timers that stay).
func tick(t *testing.T, ts *testServer, clk *clock.Fake, d time.Duration, extra int) {
	t.Helper()
	advance(t, ts, clk, d)
	waitTimers(t, clk, hubTimers+extra)
}

// advance moves the fake clock once no session is inside a write: the
// stalled-write reaper times writes with the hub's clock, and a write that
// is just returning when the clock jumps would look stalled.
func advance(t *testing.T, ts *testServer, clk *clock.Fake, d time.Duration) {
	t.Helper()
	waitFor(t, "writes to finish", func() bool {
		ts.hub.mu.RLock()
		defer ts.hub.mu.RUnlock()
		for s := range ts.hub.sessions {
			if s.writingNs.Load() != 0 {
				return false
			}
		}
		return true
	})
	clk.Advance(d)
}

// expectPing reads the next message, which must be a server ping at now.
func (c *testClient) expectPing(now time.Time) {
	c.t.Helper()
	m := c.nextAny()
	if m.Type != protocol.TypePing || m.TS != now.UnixMilli() {
		c.t.Fatalf("got %s, want a ping with ts %d", c.last, now.UnixMilli())
	}
	c.expectKeys("type", "ts")
}

// PROTOCOL.md, "Heartbeat": the server pings every heartbeat_ms; a client
// that answers stays, one that does not is closed with 4000 once it has not
// answered for two intervals.
func TestConformanceHeartbeat(t *testing.T) {
	const every = 10 * time.Second
	clk := clock.NewFake(fakeStart)
	ts := newTestServer(t, HubOptions{Clock: clk, Heartbeat: every}, ServerOptions{})
	waitTimers(t, clk, hubTimers)
	good := ts.dial("", nil)
	if w := good.expect(protocol.TypeWelcome); w.HeartbeatMS != 10000 {
		t.Fatalf("welcome %s", good.last)
	}
	silent := ts.mustDial("", nil)

	// Nothing before the interval.
	tick(t, ts, clk, every-time.Millisecond, 0)
	good.roundTrip()
	silent.roundTrip()
	tick(t, ts, clk, time.Millisecond, 0)

	closedAt := 0
	for i := 1; i <= 4; i++ {
		if i > 1 {
			tick(t, ts, clk, every, 0)
		}
		now := clk.Now()
		good.expectPing(now)
		good.sendRaw(`{"type":"pong"}`)
		good.roundTrip() // the pong has been handled
		if closedAt == 0 {
			m, ok := silent.nextWithin(5 * time.Second)
			switch {
			case ok && m.Type == protocol.TypePing && m.TS == now.UnixMilli():
			case !ok:
				closedAt = i
			default:
				t.Fatalf("silent client got %s at tick %d", silent.last, i)
			}
		}
	}
	// Not answering for one interval is fine; by the third ping (more than
	// two intervals without an answer) the client is closed.
	if closedAt < 2 || closedAt > 3 {
		t.Fatalf("silent client closed at tick %d, want after two intervals (tick 2 or 3)", closedAt)
	}
	silent.expectClosed(protocol.CloseHeartbeat)
	good.roundTrip()
	if st := ts.hub.Stats(); st.Sessions != 1 {
		t.Fatalf("stats %+v, want the answering session only", st)
	}
}

// Any pong (not only one right after a ping) counts as an answer, and a
// late answer still saves the connection as long as it comes within two
// intervals.
func TestConformanceHeartbeatLateAnswer(t *testing.T) {
	const every = 10 * time.Second
	clk := clock.NewFake(fakeStart)
	ts := newTestServer(t, HubOptions{Clock: clk, Heartbeat: every}, ServerOptions{})
	waitTimers(t, clk, hubTimers)
	c := ts.mustDial("", nil)
	for i := 1; i <= 6; i++ {
		tick(t, ts, clk, every, 0)
		c.expectPing(clk.Now())
		if i%2 == 0 { // answer every other ping only
			c.sendRaw(`{"type":"pong"}`)
		}
		c.roundTrip()
	}
}
