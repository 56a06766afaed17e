package channels

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/feedd/feedd/channels/protocol"
)

// PROTOCOL.md, subscribe: one subscribed per channel, id echoed, the
// snapshot (a state channel's state, an event channel's newest event),
// offset = latest, a non-empty epoch.
func TestConformanceSubscribe(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	ts.publish("prices:ETH-USD", `{"price":1}`)
	pp := ts.publish("prices:ETH-USD", `{"price":2}`)
	wp := ts.publishN("wallet:0xabc", 3)
	cases := []struct {
		name     string
		id       string // raw JSON, "" for none
		channel  string
		offset   uint64
		epoch    string // "" for any non-empty one
		snapshot string // "" for none
	}{
		{"state channel, number id", `7`, "prices:ETH-USD", 2, pp.Epoch, `{"price":2}`},
		{"state channel, string id", `"a-1"`, "prices:BTC-USD", 0, "", ""},
		{"event channel, newest event as snapshot", `"w"`, "wallet:0xabc", 3, wp.Epoch, `{"n":2}`},
		{"event channel, no data", `-12.5e3`, "ops:empty", 0, "", ""},
		{"no id", ``, "ops:other", 0, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.with(t).mustDial("", nil)
			req := `{"type":"subscribe","channels":[` + quote(tc.channel) + `]`
			if tc.id != "" {
				req += `,"id":` + tc.id
			}
			c.sendRaw(req + "}")
			s := c.expect(protocol.TypeSubscribed)
			keys := []string{"type", "channel", "epoch", "offset"}
			if tc.id != "" {
				keys = append(keys, "id")
			}
			if tc.snapshot != "" {
				keys = append(keys, "snapshot")
			}
			c.expectKeys(keys...)
			if string(s.ID) != tc.id || s.Channel != tc.channel || s.Offset != tc.offset || s.Epoch == "" ||
				tc.epoch != "" && s.Epoch != tc.epoch || string(s.Snapshot) != tc.snapshot || s.Recovered != nil {
				t.Fatalf("subscribed %s: want id %s, channel %s, offset %d, epoch %q, snapshot %s", c.last, tc.id, tc.channel, tc.offset, tc.epoch, tc.snapshot)
			}
			c.roundTrip() // nothing else was sent
		})
	}
}

// Several channels in one request: one reply per channel, in order, all
// with the id; a bad one does not stop the others.
func TestConformanceSubscribeMany(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	ts.publish("prices:ETH-USD", `{"price":1}`)
	c := ts.mustDial("", nil)
	c.send(map[string]any{"type": "subscribe", "id": "m", "channels": []string{"prices:ETH-USD", "ops:a", "nope", "wallet:0xABC", "ops:a"}})
	if s := c.expect(protocol.TypeSubscribed); s.Channel != "prices:ETH-USD" || string(s.ID) != `"m"` || string(s.Snapshot) != `{"price":1}` {
		t.Fatalf("first reply %s", c.last)
	}
	if s := c.expect(protocol.TypeSubscribed); s.Channel != "ops:a" || string(s.ID) != `"m"` {
		t.Fatalf("second reply %s", c.last)
	}
	c.expectError(protocol.ErrBadChannel, `"m"`, "nope")
	if s := c.expect(protocol.TypeSubscribed); s.Channel != "wallet:0xABC" || string(s.ID) != `"m"` {
		t.Fatalf("fourth reply %s", c.last)
	}
	// A channel named twice in one request is a repeated subscription.
	c.expectError(protocol.ErrBadRequest, `"m"`, "ops:a")
	c.roundTrip()
	if st := ts.hub.Stats(); st.Subscriptions != 3 {
		t.Fatalf("stats %+v, want 3 subscriptions", st)
	}
	// Updates reach each subscribed channel.
	ts.publish("ops:a", `1`)
	c.expectUpdates("ops:a", 1, 1)
	ts.publish("wallet:0xabc", `2`)
	c.expectUpdates("wallet:0xABC", 1, 1)
}

// Subscribing twice to one channel (in any spelling) is bad_request; the
// first subscription stays.
func TestConformanceAlreadySubscribed(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	c := ts.mustDial("", nil)
	c.subscribe("wallet:0xAbC")
	for _, name := range []string{"wallet:0xAbC", "wallet:0xabc", "wallet:0xABC"} {
		c.send(map[string]any{"type": "subscribe", "id": 3, "channels": []string{name}})
		c.expectError(protocol.ErrBadRequest, `3`, name)
	}
	ts.publish("wallet:0xABC", `{}`)
	c.expectUpdates("wallet:0xAbC", 1, 1)
	c.roundTrip() // exactly one update: one subscription
}

// PROTOCOL.md, unsubscribe: one unsubscribed per channel with the id, also
// for a channel the connection is not subscribed to; updates stop.
func TestConformanceUnsubscribe(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	c := ts.mustDial("", nil)
	c.subscribe("ops:a")
	c.subscribe("wallet:0xABC")
	c.send(map[string]any{"type": "unsubscribe", "id": "u1", "channels": []string{"ops:a", "wallet:0xabc", "ops:never", "bad"}})
	for _, ch := range []string{"ops:a", "wallet:0xabc", "ops:never"} {
		u := c.expect(protocol.TypeUnsubscribed)
		c.expectKeys("type", "id", "channel")
		if u.Channel != ch || string(u.ID) != `"u1"` {
			t.Fatalf("unsubscribed %s, want channel %s and id \"u1\"", c.last, ch)
		}
	}
	c.expectError(protocol.ErrBadChannel, `"u1"`, "bad")
	// Without id.
	c.send(map[string]any{"type": "unsubscribe", "channels": []string{"ops:a"}})
	c.expect(protocol.TypeUnsubscribed)
	c.expectKeys("type", "channel")
	ts.publish("ops:a", `1`)
	ts.publish("wallet:0xabc", `1`)
	c.roundTrip() // no updates
	if st := ts.hub.Stats(); st.Subscriptions != 0 || st.Channels != 0 {
		t.Fatalf("stats %+v, want no subscriptions", st)
	}
	// Subscribing again works and starts at the latest offset.
	if s := c.subscribe("ops:a"); s.Offset != 1 {
		t.Fatalf("resubscribed %s, want offset 1", c.last)
	}
}

// PROTOCOL.md, "Channels": a malformed name or unknown namespace is
// bad_channel, with the channel as the client wrote it; the connection stays.
func TestConformanceBadChannel(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	c := ts.mustDial("", nil)
	cases := []string{
		"",
		"prices",
		"prices:",
		":ETH-USD",
		"unknown:x",
		"PRICES:ETH-USD",
		"prices:ETH USD",
		"prices:ETH\tUSD",
		"prices:*",
		"prices:a\\b",
		"prices:a\"b",
		"prices:é",
		"prices:\x00",
		"prices:" + strings.Repeat("x", 300),
	}
	for i, name := range cases {
		c.send(map[string]any{"type": "subscribe", "id": i, "channels": []string{name}})
		if name == "" {
			// An empty name is echoed as no channel field at all.
			m := c.expect(protocol.TypeError)
			if m.Code != protocol.ErrBadChannel || string(m.ID) != "0" {
				t.Fatalf("subscribe to %q: got %s, want bad_channel", name, c.last)
			}
			continue
		}
		m := c.expect(protocol.TypeError)
		if m.Code != protocol.ErrBadChannel || m.Channel != name || string(m.ID) != strconv.Itoa(i) || m.Message == "" {
			t.Fatalf("subscribe to %q: got %s, want bad_channel with the channel echoed and id %d", name, c.last, i)
		}
	}
	c.roundTrip()
	if st := ts.hub.Stats(); st.Subscriptions != 0 {
		t.Fatalf("stats %+v after bad channels", st)
	}
}

// PROTOCOL.md: unknown type, malformed JSON or a missing field get a
// bad_request error; the connection stays open.
func TestConformanceBadRequest(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{MaxRequestsPerSecond: -1})
	cases := []struct {
		name  string
		frame string
		id    string // raw id expected in the error, "" for none
	}{
		{"malformed JSON", `{"type":"ping",`, ``},
		{"malformed JSON with id", `{"id":5,"type":`, ``},
		{"not an object", `[1,2]`, ``},
		{"a string", `"ping"`, ``},
		{"empty object", `{}`, ``},
		{"empty frame", ``, ``},
		{"unknown type", `{"type":"subscribe_all","id":1}`, `1`},
		{"missing type", `{"id":"x","channels":["ops:a"]}`, `"x"`},
		{"type not a string", `{"type":1,"id":2}`, `2`},
		{"missing channels", `{"type":"subscribe","id":3}`, `3`},
		{"empty channels", `{"type":"subscribe","id":4,"channels":[]}`, `4`},
		{"channels not a list", `{"type":"subscribe","id":5,"channels":"ops:a"}`, `5`},
		{"unsubscribe without channels", `{"type":"unsubscribe","id":6}`, `6`},
		{"auth without token", `{"type":"auth","id":7}`, `7`},
		{"unknown field", `{"type":"ping","id":8,"extra":true}`, `8`},
		{"since not in channels", `{"type":"subscribe","id":9,"channels":["ops:a"],"since":{"ops:b":{"epoch":"e","offset":1}}}`, `9`},
		{"since offset negative", `{"type":"subscribe","id":10,"channels":["ops:a"],"since":{"ops:a":{"epoch":"e","offset":-1}}}`, `10`},
		{"id an object", `{"type":"ping","id":{"a":1}}`, ``},
		{"id a list", `{"type":"ping","id":[1]}`, ``},
		{"id a bool", `{"type":"ping","id":true}`, ``},
		{"two objects", `{"type":"ping","id":11}{"type":"ping"}`, `11`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.with(t).mustDial("", nil)
			c.sendRaw(tc.frame)
			c.expectError(protocol.ErrBadRequest, tc.id, "")
			c.roundTrip()
		})
	}
	t.Run("binary frame", func(t *testing.T) {
		c := ts.with(t).mustDial("", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.conn.Write(ctx, websocket.MessageBinary, []byte(`{"type":"ping","id":1}`)); err != nil {
			t.Fatal(err)
		}
		c.expectError(protocol.ErrBadRequest, "", "")
		c.roundTrip()
	})
	if st := ts.hub.Stats(); st.Subscriptions != 0 {
		t.Fatalf("stats %+v after bad requests", st)
	}
}

// Trailing bytes after the request object are malformed JSON.
func TestConformanceTrailingGarbage(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	c := ts.mustDial("", nil)
	for _, frame := range []string{`{"type":"ping","id":1} x`, `{"type":"ping","id":1}}`, `{"type":"ping","id":1}]`} {
		c.sendRaw(frame)
		m := c.next()
		if m.Type != protocol.TypeError || m.Code != protocol.ErrBadRequest {
			t.Fatalf("protocol/protocol.go:98 DecodeRequest accepts trailing %q after the object (dec.More is false before '}' and ']'): frame %q got %s, want error bad_request",
				frame[len(`{"type":"ping","id":1}`):], frame, c.last)
		}
	}
}

// PROTOCOL.md: ping -> pong with id and ts; a client pong gets no reply.
func TestConformancePing(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	c := ts.mustDial("", nil)
	for _, id := range []string{`1`, `"abc"`, `0.5`, `""`, `-3`} {
		before := time.Now().UnixMilli()
		c.sendRaw(`{"type":"ping","id":` + id + `}`)
		p := c.expect(protocol.TypePong)
		after := time.Now().UnixMilli()
		c.expectKeys("type", "id", "ts")
		if string(p.ID) != id || p.TS < before || p.TS > after {
			t.Fatalf("pong %s: want id %s and ts in [%d, %d]", c.last, id, before, after)
		}
	}
	c.sendRaw(`{"type":"ping"}`)
	if p := c.expect(protocol.TypePong); p.TS == 0 {
		t.Fatalf("pong %s without ts", c.last)
	}
	c.expectKeys("type", "ts")
	c.sendRaw(`{"type":"pong","id":9}`)
	c.sendRaw(`{"type":"pong"}`)
	c.roundTrip() // no reply to the pongs came before this pong
}

// PROTOCOL.md, "Transport": text frames of UTF-8 JSON. Whatever a client
// sends, the server's frames stay valid UTF-8 (a browser fails the
// connection on an invalid text frame).
func TestConformanceInvalidUTF8(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	cases := []string{
		"{\"type\":\"ping\",\"id\":\"\xff\"}",
		"{\"type\":\"nope\",\"id\":\"\xc3\"}",
		"{\"type\":\"subscribe\",\"id\":1,\"channels\":[\"ops:\xff\"]}",
		"{\"type\":\"subscribe\",\"id\":\"\xfe\",\"channels\":[\"ops:a\"]}",
	}
	for _, frame := range cases {
		c := ts.mustDial("", nil)
		for len(c.raw) > 0 {
			<-c.raw
		}
		c.sendRaw(frame)
		c.next()
		reply := <-c.raw
		if !utf8.Valid(reply) {
			t.Fatalf("protocol/protocol.go:150 validID accepts a string id with invalid UTF-8 and the reply echoes it byte for byte (encode.go message.ID is a RawMessage), "+
				"so the server sends a text frame that is not UTF-8: request %q got reply frame %q", frame, reply)
		}
	}
}
