package channels

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/coder/websocket"

	"github.com/feedd/feedd/channels/protocol"
)

func expectCalls(t *testing.T, r *interestRecorder, want ...string) {
	t.Helper()
	if got := r.get(); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("interest calls %q, want %q", got, want)
	}
}

// PROTOCOL.md, "Channels": subscribing to wallet: is the request to watch
// it. The hub tells the interest handler of the first subscriber and the
// last one leaving, by canonical name.
func TestConformanceInterest(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	rec := &interestRecorder{}
	ts.hub.OnInterest("wallet", rec)
	ts.hub.OnInterest("prices", rec) // not an interest namespace: never called

	a := ts.mustDial("", nil)
	b := ts.mustDial("", nil)
	a.subscribe("wallet:0xABC")
	expectCalls(t, rec, "watch wallet:0xabc")
	b.subscribe("wallet:0xabc")
	expectCalls(t, rec, "watch wallet:0xabc")

	a.send(map[string]any{"type": "unsubscribe", "channels": []string{"wallet:0xABC"}})
	a.expect(protocol.TypeUnsubscribed)
	expectCalls(t, rec, "watch wallet:0xabc")
	b.send(map[string]any{"type": "unsubscribe", "channels": []string{"wallet:0xAbc"}})
	b.expect(protocol.TypeUnsubscribed)
	expectCalls(t, rec, "watch wallet:0xabc", "unwatch wallet:0xabc")

	// A disconnect counts as leaving.
	a.subscribe("wallet:0xdef")
	b.subscribe("wallet:0xDEF")
	expectCalls(t, rec, "watch wallet:0xabc", "unwatch wallet:0xabc", "watch wallet:0xdef")
	a.conn.Close(websocket.StatusNormalClosure, "")
	b.roundTrip()
	waitFor(t, "a's session to end", func() bool { return ts.hub.Stats().Sessions == 1 })
	expectCalls(t, rec, "watch wallet:0xabc", "unwatch wallet:0xabc", "watch wallet:0xdef")
	b.conn.CloseNow()
	waitFor(t, "the unwatch after b's disconnect", func() bool { return len(rec.get()) == 4 })
	expectCalls(t, rec, "watch wallet:0xabc", "unwatch wallet:0xabc", "watch wallet:0xdef", "unwatch wallet:0xdef")

	// Non-interest namespaces, refused and failed subscriptions: no calls.
	c := ts.mustDial("", nil)
	c.subscribe("prices:ETH-USD")
	c.subscribe("ops:a")
	c.send(map[string]any{"type": "subscribe", "channels": []string{"wallet:"}})
	c.expectError(protocol.ErrBadChannel, "", "wallet:")
	c.send(map[string]any{"type": "unsubscribe", "channels": []string{"prices:ETH-USD", "wallet:0x1"}})
	c.expect(protocol.TypeUnsubscribed)
	c.expect(protocol.TypeUnsubscribed)
	if n := len(rec.get()); n != 4 {
		t.Fatalf("interest calls %q: want no more", rec.get())
	}
}

// Calls for one channel come in order, Watch before Unwatch, even when the
// last subscriber leaves while a new one arrives and the broker is slow to
// unsubscribe: the handler must not end up unwatching a channel that has a
// subscriber.
func TestConformanceInterestLeaveWhileJoining(t *testing.T) {
	gb := newGateBroker()
	ts := newTestServer(t, HubOptions{Broker: gb}, ServerOptions{})
	rec := &interestRecorder{}
	ts.hub.OnInterest("wallet", rec)

	a := ts.mustDial("", nil)
	b := ts.mustDial("", nil)
	a.subscribe("wallet:0xabc")
	entered, release := gb.hold("unsub", "wallet:0xabc")
	defer release()
	a.send(map[string]any{"type": "unsubscribe", "channels": []string{"wallet:0xabc"}})
	waitClosed(t, "the broker unsubscribe", entered)
	b.subscribe("wallet:0xabc") // b joins while a's leave is under way
	release()
	a.expect(protocol.TypeUnsubscribed)

	calls := rec.get()
	if len(calls) == 0 || calls[len(calls)-1] != "watch wallet:0xabc" {
		t.Fatalf("hub.go:307 detach calls Unwatch after releasing h.mu and after broker.Unsubscribe, so it can run after a new subscriber's Watch (hub.go:272): "+
			"a subscribes wallet:0xabc, a unsubscribes while the broker's Unsubscribe is slow, b subscribes; calls %q, want the last call a Watch while b is subscribed", calls)
	}
}

// A second subscriber that joins while the first one's broker subscription
// is still being made must not miss publications.
func TestConformanceJoinWhileBrokerSubscribes(t *testing.T) {
	gb := newGateBroker()
	ts := newTestServer(t, HubOptions{Broker: gb}, ServerOptions{})
	ts.publish("ops:race", `{"n":1}`)

	a := ts.mustDial("", nil)
	b := ts.mustDial("", nil)
	entered, release := gb.hold("sub", "ops:race")
	defer release()
	a.send(map[string]any{"type": "subscribe", "channels": []string{"ops:race"}})
	waitClosed(t, "the broker subscribe", entered)
	// b joins a channel whose broker subscription is still in progress: its
	// reply waits until publications reach the node, so none falls between.
	b.send(map[string]any{"type": "subscribe", "channels": []string{"ops:race"}})
	if m, ok := b.nextWithin(200e6); ok {
		t.Fatalf("b answered before the broker subscription was settled: %s", b.last)
		_ = m
	}
	if _, err := ts.hub.Publish(context.Background(), "ops:race", json.RawMessage(`{"n":2}`), nil); err != nil {
		t.Fatal(err)
	}
	release()
	sa := a.expect(protocol.TypeSubscribed)
	sb := b.expect(protocol.TypeSubscribed)
	ts.publish("ops:race", `{"n":3}`)
	for _, c := range []struct {
		cl  *testClient
		off uint64
	}{{a, sa.Offset}, {b, sb.Offset}} {
		if c.off != 2 {
			t.Fatalf("subscribed at offset %d, want 2 (n=2 was published before the subscription settled)", c.off)
		}
		c.cl.expectUpdates("ops:race", 3, 3)
	}
}
