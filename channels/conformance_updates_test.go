package channels

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/feedd/feedd/channels/protocol"
)

// PROTOCOL.md, update: channel, offset, ts (ms of publication), data; one
// channel's updates arrive in offset order.
func TestConformanceUpdateFieldsAndOrder(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	c := ts.mustDial("", nil)
	c.subscribe("ops:order")
	c.subscribe("prices:ETH-USD")
	before := time.Now().UnixMilli()
	p := ts.publish("ops:order", `{"a": [1, 2.5, "x"], "b": null}`)
	u := c.expect(protocol.TypeUpdate)
	c.expectKeys("type", "channel", "offset", "ts", "data")
	if u.Channel != "ops:order" || u.Offset != 1 || u.TS != p.Time.UnixMilli() || u.TS < before || string(u.Data) != `{"a": [1, 2.5, "x"], "b": null}` {
		t.Fatalf("update %s: want channel ops:order, offset 1, ts %d, the data as published", c.last, p.Time.UnixMilli())
	}
	// Many publications on two channels: each channel's offsets in order.
	const n = 300
	for i := 2; i <= n; i++ {
		ts.publish("ops:order", fmt.Sprintf(`{"i":%d}`, i))
		if i%3 == 0 {
			ts.publish("prices:ETH-USD", fmt.Sprintf(`{"price":%d}`, i))
		}
	}
	next := map[string]uint64{"ops:order": 2, "prices:ETH-USD": 1}
	for next["ops:order"] <= n {
		m := c.next()
		if m.Type != protocol.TypeUpdate {
			t.Fatalf("got %s, want updates", c.last)
		}
		if m.Channel == "prices:ETH-USD" {
			// A state channel may skip (coalesce) but never goes back.
			if m.Offset < next[m.Channel] {
				t.Fatalf("update %s after offset %d", c.last, next[m.Channel]-1)
			}
			next[m.Channel] = m.Offset + 1
			continue
		}
		if m.Channel != "ops:order" || m.Offset != next[m.Channel] {
			t.Fatalf("got %s, want ops:order at offset %d", c.last, next[m.Channel])
		}
		var d struct{ I uint64 }
		if err := json.Unmarshal(m.Data, &d); err != nil || d.I != m.Offset {
			t.Fatalf("update %s carries the data of another offset", c.last)
		}
		next[m.Channel]++
	}
}

// PROTOCOL.md, "Transport": a server frame holds one message or a JSON
// array of them.
func TestConformanceBatching(t *testing.T) {
	ts := newTestServer(t, HubOptions{WriteDelay: 20 * time.Millisecond}, ServerOptions{})
	c := ts.mustDial("", nil)
	c.subscribe("ops:batch")
	for len(c.raw) > 0 {
		<-c.raw
	}
	const n = 50
	for i := 1; i <= n; i++ {
		ts.publish("ops:batch", fmt.Sprintf(`{"i":%d}`, i))
	}
	c.expectUpdates("ops:batch", 1, n)
	arrays, single, total := 0, 0, 0
	for len(c.raw) > 0 {
		frame := <-c.raw
		switch {
		case strings.HasPrefix(string(frame), "["):
			var list []json.RawMessage
			if err := json.Unmarshal(frame, &list); err != nil || len(list) < 2 {
				t.Fatalf("array frame %.200s: %v, want an array of two or more messages", frame, err)
			}
			arrays++
			total += len(list)
		case strings.HasPrefix(string(frame), "{"):
			single++
			total++
		default:
			t.Fatalf("frame %.200s is neither an object nor an array", frame)
		}
	}
	if arrays == 0 || total != n {
		t.Fatalf("%d array frames and %d single frames carrying %d messages; want at least one array and %d messages", arrays, single, total, n)
	}
}

// PROTOCOL.md, "Channels": any letter case of an EVM address is one
// channel; replies name it exactly as the client wrote it on that connection.
func TestConformanceAlias(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	spellings := []string{"wallet:0xABC", "wallet:0xAbC", "wallet:0xabc"}
	clients := make([]*testClient, len(spellings))
	for i, name := range spellings {
		clients[i] = ts.mustDial("", nil)
		clients[i].send(map[string]any{"type": "subscribe", "id": i, "channels": []string{name}})
		if s := clients[i].expect(protocol.TypeSubscribed); s.Channel != name {
			t.Fatalf("subscribed %s, want channel %q", clients[i].last, name)
		}
	}
	if st := ts.hub.Stats(); st.Channels != 1 || st.Subscriptions != 3 {
		t.Fatalf("stats %+v, want one channel with three subscriptions", st)
	}
	ts.publish("wallet:0xaBc", `{"type":"balance"}`)
	ts.publish("wallet:0xabc", `{"type":"transaction"}`)
	for i, c := range clients {
		c.expectUpdates(spellings[i], 1, 2)
	}

	// Errors and unsubscribe name the channel as written too.
	c := clients[0]
	c.send(map[string]any{"type": "subscribe", "id": 1, "channels": []string{"wallet:0xABC"}})
	c.expectError(protocol.ErrBadRequest, "1", "wallet:0xABC")
	c.send(map[string]any{"type": "unsubscribe", "id": 2, "channels": []string{"wallet:0xABC"}})
	if u := c.expect(protocol.TypeUnsubscribed); u.Channel != "wallet:0xABC" {
		t.Fatalf("unsubscribed %s", c.last)
	}

	// Recovery names the channel as written, in the recovered updates too.
	p := ts.publish("wallet:0xabc", `{"type":"approval"}`)
	c.send(map[string]any{"type": "subscribe", "id": 3, "channels": []string{"wallet:0xABC"},
		"since": map[string]any{"wallet:0xABC": map[string]any{"epoch": p.Epoch, "offset": 1}}})
	s := c.expect(protocol.TypeSubscribed)
	if s.Channel != "wallet:0xABC" || s.Recovered == nil || !*s.Recovered || s.Offset != 3 {
		t.Fatalf("subscribed %s, want wallet:0xABC recovered at offset 3", c.last)
	}
	c.expectUpdates("wallet:0xABC", 2, 3)
	clients[1].expectUpdates("wallet:0xAbC", 3, 3)
	clients[2].expectUpdates("wallet:0xabc", 3, 3)
}
