package channels

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/feedd/feedd/channels/protocol"
)

// Slow clients. The client below stops calling Read, so its TCP buffers and
// then the server's write fill up; publications are large so that this
// happens quickly.

const slowPayload = 64 << 10

func bigData(i int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"i":%d,"pad":"%s"}`, i, strings.Repeat("x", slowPayload)))
}

// publishUntilStalled publishes big data to channel until the session's
// writer has been stuck in one write for a while (or n publications).
func publishUntilStalled(t *testing.T, ts *testServer, channel string, n int) int {
	t.Helper()
	stalledSince := time.Time{}
	for i := 1; i <= n; i++ {
		if _, err := ts.hub.Publish(context.Background(), channel, bigData(i), nil); err != nil {
			t.Fatalf("publish: %v", err)
		}
		if i < 32 {
			continue
		}
		writing := false
		ts.hub.mu.RLock()
		for s := range ts.hub.sessions {
			if s.writingNs.Load() != 0 {
				writing = true
			}
		}
		ts.hub.mu.RUnlock()
		switch {
		case !writing:
			stalledSince = time.Time{}
		case stalledSince.IsZero():
			stalledSince = time.Now()
		case time.Since(stalledSince) > 100*time.Millisecond && i >= 100:
			return i
		}
	}
	return n
}

// PROTOCOL.md: a state channel is coalesced for a slow client: it gets the
// newest value, offsets jump, and it stays connected.
func TestConformanceSlowStateChannelCoalesced(t *testing.T) {
	ts := newTestServer(t, HubOptions{MaxQueue: 16, WriteTimeout: 2 * time.Second}, ServerOptions{})
	m := ts.dialManual()
	m.readUntil(protocol.TypeWelcome)
	m.send(map[string]any{"type": "subscribe", "channels": []string{"prices:SLOW-USD"}})
	m.readUntil(protocol.TypeSubscribed)

	start := time.Now()
	n := publishUntilStalled(t, ts, "prices:SLOW-USD", 600)
	t.Logf("published %d in %v", n, time.Since(start))

	var offsets []uint64
	var last protocol.Message
	for last.Offset != uint64(n) {
		msgs, err := m.read(5 * time.Second)
		if err != nil {
			t.Fatalf("read after %d updates (last offset %d): %v (status %d)", len(offsets), last.Offset, err, websocket.CloseStatus(err))
		}
		for _, msg := range msgs {
			if msg.Type != protocol.TypeUpdate {
				continue
			}
			if len(offsets) > 0 && msg.Offset <= offsets[len(offsets)-1] {
				t.Fatalf("offset %d after %d", msg.Offset, offsets[len(offsets)-1])
			}
			offsets = append(offsets, msg.Offset)
			last = msg
		}
	}
	var d struct{ I int }
	if err := json.Unmarshal(last.Data, &d); err != nil || d.I != n {
		t.Fatalf("newest update carries i=%d (%v), want %d", d.I, err, n)
	}
	if len(offsets) >= n {
		t.Fatalf("got all %d updates: the client was never behind, the test proves nothing", n)
	}
	jumps := 0
	for i := 1; i < len(offsets); i++ {
		if offsets[i] != offsets[i-1]+1 {
			jumps++
		}
	}
	t.Logf("received %d of %d updates, %d jumps", len(offsets), n, jumps)
	if jumps == 0 {
		t.Fatalf("offsets %v never jump", offsets)
	}
	// Still connected.
	m.send(map[string]any{"type": "ping", "id": "alive"})
	if p := m.readUntil(protocol.TypePong); string(p.ID) != `"alive"` {
		t.Fatalf("pong %+v", p)
	}
	if c := ts.srv.Counters().SlowCloses.Load(); c != 0 {
		t.Fatalf("%d slow closes", c)
	}
	// The skipped publications are counted (feedd_messages_coalesced_total).
	if c := ts.srv.Counters().Coalesced.Load(); c < int64(jumps) {
		t.Fatalf("coalesced counter %d, want at least the %d jumps seen", c, jumps)
	}
}

// PROTOCOL.md: an event channel is never coalesced; a client too slow for it
// is closed with 4008 and recovers everything from history on reconnect.
func TestConformanceSlowEventChannelClosed(t *testing.T) {
	for _, channel := range []string{"ops:slow", "wallet:0xSLOW"} {
		t.Run(channel, func(t *testing.T) {
			ns := testNamespaces()
			for _, n := range ns {
				n.HistorySize = 1000
			}
			ts := newTestServer(t, HubOptions{Namespaces: ns, MaxQueue: 16, WriteTimeout: 2 * time.Second}, ServerOptions{})
			m := ts.dialManual()
			m.readUntil(protocol.TypeWelcome)
			m.send(map[string]any{"type": "subscribe", "channels": []string{channel}})
			sub := m.readUntil(protocol.TypeSubscribed)

			n := publishUntilStalled(t, ts, channel, 600)
			var seen uint64
			var err error
			for {
				var msgs []protocol.Message
				msgs, err = m.read(5 * time.Second)
				if err != nil {
					break
				}
				for _, msg := range msgs {
					if msg.Type != protocol.TypeUpdate {
						continue
					}
					if msg.Channel != channel || msg.Offset != seen+1 {
						t.Fatalf("update %s@%d after offset %d: an event channel must not skip", msg.Channel, msg.Offset, seen)
					}
					seen = msg.Offset
				}
			}
			if got := websocket.CloseStatus(err); got != protocol.CloseTooSlow {
				t.Fatalf("connection ended with %v (status %d) after %d of %d updates, want close 4008", err, got, seen, n)
			}
			if seen >= uint64(n) {
				t.Fatalf("got all %d updates before the close", n)
			}
			if c := ts.srv.Counters().SlowCloses.Load(); c != 1 {
				t.Fatalf("%d slow closes, want 1", c)
			}
			t.Logf("closed with 4008 after %d of %d updates", seen, n)

			// Reconnect and recover the rest from history.
			c := ts.mustDial("", nil)
			c.send(sinceReq("back", channel, sub.Epoch, seen))
			s := c.expect(protocol.TypeSubscribed)
			if s.Recovered == nil || !*s.Recovered || s.Offset != uint64(n) {
				t.Fatalf("subscribed %.300s: want recovered:true at offset %d", c.last, n)
			}
			c.expectUpdates(channel, seen+1, uint64(n))
		})
	}
}
