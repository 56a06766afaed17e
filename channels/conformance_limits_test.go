package channels

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/feedd/feedd/channels/protocol"
	"github.com/feedd/feedd/internal/clock"
)

// HubOptions.MaxSubscriptions: beyond it, too_many_subscriptions for the
// channel; the connection stays and a freed place can be used again.
func TestConformanceMaxSubscriptions(t *testing.T) {
	ts := newTestServer(t, HubOptions{MaxSubscriptions: 2}, ServerOptions{})
	c := ts.mustDial("", nil)
	c.send(map[string]any{"type": "subscribe", "id": 1, "channels": []string{"ops:a", "ops:b", "ops:c"}})
	c.expect(protocol.TypeSubscribed)
	c.expect(protocol.TypeSubscribed)
	c.expectError(protocol.ErrTooManySubscriptions, "1", "ops:c")
	c.send(map[string]any{"type": "subscribe", "id": 2, "channels": []string{"wallet:0xABC"}})
	c.expectError(protocol.ErrTooManySubscriptions, "2", "wallet:0xABC")
	c.send(map[string]any{"type": "unsubscribe", "id": 3, "channels": []string{"ops:a"}})
	c.expect(protocol.TypeUnsubscribed)
	c.subscribe("ops:c")
	// The limit is per connection.
	d := ts.mustDial("", nil)
	d.subscribe("ops:a")
	d.subscribe("ops:b")
}

// PROTOCOL.md, "Transport": a frame larger than max_message_bytes closes
// the connection with 1009; one of exactly that size is fine.
func TestConformanceMaxMessageBytes(t *testing.T) {
	const limit = 1024
	ts := newTestServer(t, HubOptions{}, ServerOptions{MaxMessageBytes: limit})
	frame := func(size int) string {
		f := `{"type":"ping","id":"x"}`
		return f[:len(f)-1] + strings.Repeat(" ", size-len(f)) + "}"
	}
	c := ts.mustDial("", nil)
	c.sendRaw(frame(limit))
	if p := c.expect(protocol.TypePong); string(p.ID) != `"x"` {
		t.Fatalf("pong %s", c.last)
	}
	c.sendRaw(frame(limit + 1))
	c.expectClosed(websocket.StatusMessageTooBig)

	// The default is 65536.
	ts2 := newTestServer(t, HubOptions{}, ServerOptions{})
	c2 := ts2.mustDial("", nil)
	c2.sendRaw(frame(65536))
	c2.expect(protocol.TypePong)
	c2.sendRaw(frame(65537))
	c2.expectClosed(websocket.StatusMessageTooBig)
}

// PROTOCOL.md: a client that sends more than max_requests_per_second is told
// rate_limited and, if it persists, closed with 4029. The fake clock keeps
// the bucket from refilling on its own.
func TestConformanceRateLimit(t *testing.T) {
	clk := clock.NewFake(fakeStart)
	ts := newTestServer(t, HubOptions{Clock: clk}, ServerOptions{MaxRequestsPerSecond: 5}) // burst 10
	c := ts.mustDial("", nil)
	for i := 0; i < 10; i++ {
		c.send(map[string]any{"type": "ping", "id": i})
		if p := c.expect(protocol.TypePong); string(p.ID) != fmt.Sprint(i) {
			t.Fatalf("pong %s, want id %d", c.last, i)
		}
	}
	c.send(map[string]any{"type": "ping", "id": 10})
	c.expectError(protocol.ErrRateLimited, "", "")
	// Time refills the bucket: the connection was not closed.
	advance(t, ts, clk, time.Second)
	for i := 0; i < 5; i++ {
		c.send(map[string]any{"type": "ping", "id": 100 + i})
		c.expect(protocol.TypePong)
	}
	// Persisting: told rate_limited for every request over the limit, then,
	// after 2*max_requests_per_second of them in a row, closed with 4029.
	for i := 0; i < 10; i++ {
		c.send(map[string]any{"type": "ping", "id": 200 + i})
		c.expectError(protocol.ErrRateLimited, "", "")
	}
	c.send(map[string]any{"type": "ping", "id": 300})
	c.expectClosed(protocol.CloseRateLimited)
	if n := ts.srv.Counters().RateLimited.Load(); n != 12 {
		t.Fatalf("RateLimited counter %d, want 12", n)
	}
	// Other connections are not affected.
	d := ts.mustDial("", nil)
	d.roundTrip()
}

// A flooding client (the usual case of a rate-limited one) must still be
// told rate_limited before the 4029 close.
func TestConformanceRateLimitFloodIsTold(t *testing.T) {
	clk := clock.NewFake(fakeStart)
	ts := newTestServer(t, HubOptions{Clock: clk}, ServerOptions{MaxRequestsPerSecond: 5}) // burst 10
	c := ts.mustDial("", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := 0; i < 40; i++ {
		if err := c.conn.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
			break
		}
	}
	pongs, limited := 0, 0
	for {
		m, ok := c.nextWithin(5 * time.Second)
		if !ok {
			break
		}
		switch {
		case m.Type == protocol.TypePong:
			pongs++
		case m.Type == protocol.TypeError && m.Code == protocol.ErrRateLimited:
			limited++
		default:
			t.Fatalf("got %s", c.last)
		}
	}
	c.expectClosed(protocol.CloseRateLimited)
	if pongs != 10 || limited != 10 {
		t.Fatalf("session.go:239 closeWith marks the session closed and flush (session.go:123) then drops the queued replies, "+
			"so a flooding client is closed with 4029 without being told rate_limited (and loses the answers to its allowed requests): "+
			"40 pings at 5/s (burst 10) gave %d pongs and %d rate_limited errors before the close, want 10 pongs and 10 rate_limited errors", pongs, limited)
	}
}
