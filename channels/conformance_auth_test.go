package channels

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/feedd/feedd/channels/protocol"
	"github.com/feedd/feedd/internal/clock"
)

// testVerifier knows these tokens (the fake clock starts at fakeStart).
func testVerifier() mapVerifier {
	return mapVerifier{
		"good":   {Subject: "alice"},
		"short":  {Subject: "bob", Expires: fakeStart.Add(30 * time.Second)},
		"long":   {Subject: "bob", Expires: fakeStart.Add(90 * time.Second)},
		"claims": {Subject: "carol", Allows: func(ch string) bool { return ch == "claimed:yes" || ch == "claimed:0xabc" }},
		"none":   {Subject: "dave", Allows: func(string) bool { return false }},
	}
}

// PROTOCOL.md, "Authentication": token namespaces need a token; claims
// namespaces need the token to allow the channel; a refusal is forbidden and
// the connection stays.
func TestConformanceReadPolicies(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{Verifier: testVerifier()})
	cases := []struct {
		name    string
		query   string
		hdr     http.Header
		channel string
		ok      bool
	}{
		{"public without token", "", nil, "ops:a", true},
		{"token ns without token", "", nil, "private:x", false},
		{"token ns with query token", "token=good", nil, "private:x", true},
		{"token ns with header token", "", bearerHeader("good"), "private:x", true},
		{"token ns with lower-case bearer", "", http.Header{"Authorization": {"bearer good"}}, "private:x", true},
		{"claims ns without token", "", nil, "claimed:yes", false},
		{"claims ns, token without claims", "token=good", nil, "claimed:yes", false},
		{"claims ns, claim does not allow", "token=claims", nil, "claimed:no", false},
		{"claims ns, claim allows", "token=claims", nil, "claimed:yes", true},
		{"claims ns, claims allow nothing", "token=none", nil, "claimed:yes", false},
		{"public with token", "token=none", nil, "prices:ETH-USD", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.with(t).dial(tc.query, tc.hdr)
			c.expect(protocol.TypeWelcome)
			c.send(map[string]any{"type": "subscribe", "id": "s", "channels": []string{tc.channel}})
			if tc.ok {
				if s := c.expect(protocol.TypeSubscribed); s.Channel != tc.channel || string(s.ID) != `"s"` {
					t.Fatalf("subscribed %s", c.last)
				}
				return
			}
			c.expectError(protocol.ErrForbidden, `"s"`, tc.channel)
			c.roundTrip()
		})
	}
}

// PROTOCOL.md: an invalid token at connect gets error unauthorized and a
// close with 4001.
func TestConformanceBadTokenAtConnect(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{Verifier: testVerifier()})
	noVerifier := newTestServer(t, HubOptions{}, ServerOptions{})
	cases := []struct {
		name  string
		ts    *testServer
		query string
		hdr   http.Header
	}{
		{"query", ts, "token=bad", nil},
		{"header", ts, "", bearerHeader("bad")},
		{"server without verifier", noVerifier, "token=good", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.ts.with(t).dial(tc.query, tc.hdr)
			c.expectError(protocol.ErrUnauthorized, "", "")
			c.expectClosed(protocol.CloseUnauthorized)
		})
	}
}

// PROTOCOL.md, auth message: a valid token -> authed with exp (Unix seconds)
// and access to token namespaces; a bad one -> error unauthorized, the
// connection stays.
func TestConformanceAuthMessage(t *testing.T) {
	clk := clock.NewFake(fakeStart)
	ts := newTestServer(t, HubOptions{Clock: clk, Heartbeat: time.Hour}, ServerOptions{Verifier: testVerifier()})
	c := ts.mustDial("", nil)
	c.send(map[string]any{"type": "subscribe", "id": 1, "channels": []string{"private:x"}})
	c.expectError(protocol.ErrForbidden, "1", "private:x")

	c.send(map[string]any{"type": "auth", "id": "a1", "token": "bad"})
	c.expectError(protocol.ErrUnauthorized, `"a1"`, "")
	c.roundTrip()

	c.send(map[string]any{"type": "auth", "id": "a2", "token": "long"})
	a := c.expect(protocol.TypeAuthed)
	c.expectKeys("type", "id", "exp")
	if string(a.ID) != `"a2"` || a.Exp != fakeStart.Add(90*time.Second).Unix() {
		t.Fatalf("authed %s, want id \"a2\" and exp %d", c.last, fakeStart.Add(90*time.Second).Unix())
	}
	c.send(map[string]any{"type": "subscribe", "id": 2, "channels": []string{"private:x"}})
	c.expect(protocol.TypeSubscribed)

	// A bad token later does not take the identity away.
	c.send(map[string]any{"type": "auth", "id": 3, "token": "worse"})
	c.expectError(protocol.ErrUnauthorized, "3", "")
	c.send(map[string]any{"type": "subscribe", "id": 4, "channels": []string{"private:y"}})
	c.expect(protocol.TypeSubscribed)

	// The claims of a new token apply to later subscriptions.
	c.send(map[string]any{"type": "auth", "id": 5, "token": "claims"})
	c.expect(protocol.TypeAuthed)
	c.send(map[string]any{"type": "subscribe", "id": 6, "channels": []string{"claimed:yes", "claimed:no"}})
	c.expect(protocol.TypeSubscribed)
	c.expectError(protocol.ErrForbidden, "6", "claimed:no")

	// A server without a verifier refuses auth but keeps the connection.
	ts2 := newTestServer(t, HubOptions{}, ServerOptions{})
	d := ts2.mustDial("", nil)
	d.send(map[string]any{"type": "auth", "id": 7, "token": "good"})
	d.expectError(protocol.ErrUnauthorized, "7", "")
	d.roundTrip()
}

// Claims are checked against the canonical channel name.
func TestConformanceClaimsCanonicalName(t *testing.T) {
	ns := append(testNamespaces(), &Namespace{Name: "mywallet", Read: ReadClaims, Canon: func(r string) (string, error) { return lower(r), nil }})
	v := mapVerifier{"w": {Subject: "x", Allows: func(ch string) bool { return ch == "mywallet:0xabc" }}}
	ts := newTestServer(t, HubOptions{Namespaces: ns}, ServerOptions{Verifier: v})
	c := ts.mustDial("token=w", nil)
	for _, name := range []string{"mywallet:0xABC", "mywallet:0xabc"} {
		c.send(map[string]any{"type": "unsubscribe", "channels": []string{name}})
		c.expect(protocol.TypeUnsubscribed)
		if s := c.subscribe(name); s.Channel != name {
			t.Fatalf("subscribed %s", c.last)
		}
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// PROTOCOL.md: when a connection's token expires and no fresh auth arrived,
// the server closes with 4001.
func TestConformanceTokenExpiry(t *testing.T) {
	t.Run("expires", func(t *testing.T) {
		clk := clock.NewFake(fakeStart)
		ts := newTestServer(t, HubOptions{Clock: clk, Heartbeat: time.Hour}, ServerOptions{Verifier: testVerifier()})
		waitTimers(t, clk, hubTimers)
		c := ts.mustDial("token=short", nil)
		c.subscribe("private:x")
		tick(t, ts, clk, 29*time.Second, 1) // the expiry timer stays
		c.roundTrip()
		advance(t, ts, clk, time.Second)
		c.expectClosed(protocol.CloseUnauthorized)
	})
	t.Run("refreshed", func(t *testing.T) {
		clk := clock.NewFake(fakeStart)
		ts := newTestServer(t, HubOptions{Clock: clk, Heartbeat: time.Hour}, ServerOptions{Verifier: testVerifier()})
		waitTimers(t, clk, hubTimers)
		c := ts.mustDial("", bearerHeader("short"))
		tick(t, ts, clk, 20*time.Second, 1)
		c.send(map[string]any{"type": "auth", "id": 1, "token": "long"})
		if a := c.expect(protocol.TypeAuthed); a.Exp != fakeStart.Add(90*time.Second).Unix() {
			t.Fatalf("authed %s", c.last)
		}
		tick(t, ts, clk, 15*time.Second, 1) // past the first token's expiry
		c.roundTrip()
		tick(t, ts, clk, 54*time.Second, 1) // 1s before the second's
		c.roundTrip()
		advance(t, ts, clk, time.Second)
		c.expectClosed(protocol.CloseUnauthorized)
	})
	t.Run("token without expiry replaces one with", func(t *testing.T) {
		clk := clock.NewFake(fakeStart)
		ts := newTestServer(t, HubOptions{Clock: clk, Heartbeat: time.Hour}, ServerOptions{Verifier: testVerifier()})
		waitTimers(t, clk, hubTimers)
		c := ts.mustDial("token="+url.QueryEscape("short"), nil)
		c.send(map[string]any{"type": "auth", "id": 1, "token": "good"})
		c.expect(protocol.TypeAuthed)
		c.expectKeys("type", "id")
		tick(t, ts, clk, time.Minute, 0)
		c.roundTrip()
	})
	t.Run("auth on a connection without a token", func(t *testing.T) {
		clk := clock.NewFake(fakeStart)
		ts := newTestServer(t, HubOptions{Clock: clk, Heartbeat: time.Hour}, ServerOptions{Verifier: testVerifier()})
		waitTimers(t, clk, hubTimers)
		c := ts.mustDial("", nil)
		c.send(map[string]any{"type": "auth", "id": 1, "token": "short"})
		c.expect(protocol.TypeAuthed)
		tick(t, ts, clk, 29*time.Second, 1)
		c.roundTrip()
		advance(t, ts, clk, time.Second)
		c.expectClosed(protocol.CloseUnauthorized)
	})
}
