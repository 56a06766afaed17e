package channels

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/feedd/feedd/channels/protocol"
)

func sinceReq(id any, channel, epoch string, offset uint64) map[string]any {
	return map[string]any{"type": "subscribe", "id": id, "channels": []string{channel},
		"since": map[string]any{channel: map[string]any{"epoch": epoch, "offset": offset}}}
}

// PROTOCOL.md, "Ordering, offsets and recovery": since in the same epoch
// with every later message held -> recovered:true, the missed updates in
// order before live ones, no snapshot.
func TestConformanceRecover(t *testing.T) {
	for _, channel := range []string{"ops:rec", "prices:REC-USD", "wallet:0xrec"} {
		t.Run(channel, func(t *testing.T) {
			ts := newTestServer(t, HubOptions{}, ServerOptions{})
			c := ts.mustDial("", nil)
			p := ts.publishN(channel, 10)
			c.send(sinceReq("r", channel, p.Epoch, 4))
			s := c.expect(protocol.TypeSubscribed)
			c.expectKeys("type", "id", "channel", "epoch", "offset", "recovered")
			if s.Recovered == nil || !*s.Recovered || s.Epoch != p.Epoch || s.Offset != 10 || string(s.ID) != `"r"` || s.Snapshot != nil {
				t.Fatalf("subscribed %s: want recovered:true, epoch %s, offset 10, no snapshot", c.last, p.Epoch)
			}
			for off := uint64(5); off <= 10; off++ {
				u := c.expect(protocol.TypeUpdate)
				if u.Channel != channel || u.Offset != off || string(u.Data) != fmt.Sprintf(`{"n":%d}`, off-1) {
					t.Fatalf("got %s, want the update at offset %d", c.last, off)
				}
			}
			ts.publish(channel, `{"n":10}`)
			c.expectUpdates(channel, 11, 11)
			c.roundTrip()
		})
	}
}

// since at the latest offset: recovered with nothing to replay.
func TestConformanceRecoverNothingMissed(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	c := ts.mustDial("", nil)
	p := ts.publishN("prices:ETH-USD", 3)
	c.send(sinceReq(1, "prices:ETH-USD", p.Epoch, 3))
	s := c.expect(protocol.TypeSubscribed)
	if s.Recovered == nil || !*s.Recovered || s.Offset != 3 || s.Snapshot != nil {
		t.Fatalf("subscribed %s: want recovered:true at offset 3 without snapshot", c.last)
	}
	c.roundTrip()

	// recovered is only in the replies to channels given a since.
	c.send(map[string]any{"type": "subscribe", "id": 2, "channels": []string{"ops:z", "prices:BTC-USD"},
		"since": map[string]any{"prices:BTC-USD": map[string]any{"epoch": "x", "offset": 0}}})
	c.expect(protocol.TypeSubscribed)
	c.expectKeys("type", "id", "channel", "epoch", "offset")
	if s := c.expect(protocol.TypeSubscribed); s.Channel != "prices:BTC-USD" || s.Recovered == nil || *s.Recovered {
		t.Fatalf("subscribed %s: want recovered:false", c.last)
	}
}

// since that cannot be served -> recovered:false with a fresh snapshot (when
// the channel has one) and no replay.
func TestConformanceRecoverFails(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	pp := ts.publishN("prices:ETH-USD", 150) // history 100
	op := ts.publishN("ops:x", 5)
	cases := []struct {
		name     string
		channel  string
		epoch    string
		offset   uint64
		snapshot string
		latest   uint64
	}{
		{"wrong epoch", "prices:ETH-USD", "not-" + pp.Epoch, 149, `{"n":149}`, 150},
		{"beyond history size", "prices:ETH-USD", pp.Epoch, 10, `{"n":149}`, 150},
		{"just beyond history size", "prices:ETH-USD", pp.Epoch, 49, `{"n":149}`, 150},
		{"offset in the future", "prices:ETH-USD", pp.Epoch, 151, `{"n":149}`, 150},
		{"empty epoch", "prices:ETH-USD", "", 150, `{"n":149}`, 150},
		{"event channel, wrong epoch", "ops:x", "old", 2, `{"n":4}`, 5},
		{"unknown channel", "ops:new", "old", 2, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.with(t).mustDial("", nil)
			c.send(sinceReq(2, tc.channel, tc.epoch, tc.offset))
			s := c.expect(protocol.TypeSubscribed)
			keys := []string{"type", "id", "channel", "epoch", "offset", "recovered"}
			if tc.snapshot != "" {
				keys = append(keys, "snapshot")
			}
			c.expectKeys(keys...)
			wantEpoch := pp.Epoch
			if tc.channel == "ops:x" {
				wantEpoch = op.Epoch
			}
			if s.Recovered == nil || *s.Recovered || string(s.Snapshot) != tc.snapshot || s.Offset != tc.latest ||
				s.Epoch == "" || tc.channel != "ops:new" && s.Epoch != wantEpoch {
				t.Fatalf("subscribed %s: want recovered:false, offset %d, snapshot %s", c.last, tc.latest, tc.snapshot)
			}
			c.roundTrip() // no replay
		})
	}
	// The oldest offset still held recovers.
	c := ts.mustDial("", nil)
	c.send(sinceReq(3, "prices:ETH-USD", pp.Epoch, 50))
	if s := c.expect(protocol.TypeSubscribed); s.Recovered == nil || !*s.Recovered {
		t.Fatalf("subscribed %s: want recovered:true from offset 50 with 100 held", c.last)
	}
	c.expectUpdates("prices:ETH-USD", 51, 150)
}

// Recovery while publications keep coming: the replay and the live updates
// join without gaps or duplicates.
func TestConformanceRecoverWhilePublishing(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	for round := 0; round < 5; round++ {
		channel := fmt.Sprintf("ops:busy%d", round)
		p := ts.publishN(channel, 20)
		c := ts.mustDial("", nil)
		const more = 500
		done := make(chan error, 1)
		go func() {
			for i := 0; i < more; i++ {
				if (i+round*5)%25 == 24 {
					time.Sleep(time.Millisecond) // spread the publications around the subscribe
				}
				if _, err := ts.hub.Publish(context.Background(), channel, json.RawMessage(fmt.Sprintf(`{"n":%d}`, 20+i)), nil); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		since := uint64(round * 3)
		c.send(sinceReq(round, channel, p.Epoch, since))
		s := c.expect(protocol.TypeSubscribed)
		t.Logf("round %d: subscribed at offset %d", round, s.Offset)
		if s.Recovered == nil || !*s.Recovered || s.Snapshot != nil || s.Offset < 20 {
			t.Fatalf("subscribed %s: want recovered:true", c.last)
		}
		for want := since + 1; want <= 20+more; want++ {
			u := c.next()
			if u.Type != protocol.TypeUpdate || u.Offset != want {
				t.Fatalf("round %d: got %s, want the update at offset %d (subscribed at %d)", round, c.last, want, s.Offset)
			}
			if string(u.Data) != fmt.Sprintf(`{"n":%d}`, want-1) {
				t.Fatalf("update %s carries other data", c.last)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		c.roundTrip() // no duplicates after the last
	}
}

// Recovery across a disconnect: the client reconnects with the position it
// saw last and gets everything it missed.
func TestConformanceRecoverAfterReconnect(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	c := ts.mustDial("", nil)
	s := c.subscribe("wallet:0xDEAD")
	if s.Offset != 0 || s.Epoch == "" {
		t.Fatalf("subscribed %s", c.last)
	}
	epoch := s.Epoch
	for i := 1; i <= 5; i++ {
		ts.publish("wallet:0xdead", fmt.Sprintf(`{"n":%d}`, i))
	}
	c.expectUpdates("wallet:0xDEAD", 1, 3) // the client saw 3 (4 and 5 may be in flight)
	c.conn.Close(websocket.StatusNormalClosure, "bye")
	waitFor(t, "the session to end", func() bool { return ts.hub.Stats().Sessions == 0 })
	for i := 6; i <= 9; i++ {
		ts.publish("wallet:0xdead", fmt.Sprintf(`{"n":%d}`, i))
	}
	c2 := ts.mustDial("", nil)
	c2.send(sinceReq("again", "wallet:0xDEAD", epoch, 3))
	s2 := c2.expect(protocol.TypeSubscribed)
	if s2.Recovered == nil || !*s2.Recovered || s2.Epoch != epoch || s2.Offset != 9 {
		t.Fatalf("subscribed %s: want recovered:true in epoch %s at offset 9", c2.last, epoch)
	}
	c2.expectUpdates("wallet:0xDEAD", 4, 9)
	ts.publish("wallet:0xDeAd", `{"n":10}`)
	c2.expectUpdates("wallet:0xDEAD", 10, 10)
}
