package channels

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/feedd/feedd/channels/protocol"
	"github.com/feedd/feedd/internal/clock"
)

// PROTOCOL.md, "Messages from server to client": welcome.
func TestConformanceWelcome(t *testing.T) {
	clk := clock.NewFake(fakeStart)
	ts := newTestServer(t, HubOptions{Clock: clk, Heartbeat: 7 * time.Second}, ServerOptions{})
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		c := ts.dial("", nil)
		w := c.nextAny()
		if w.Type != protocol.TypeWelcome {
			t.Fatalf("first message %s, want welcome", c.last)
		}
		c.expectKeys("type", "session", "server_time", "heartbeat_ms", "protocol")
		if w.Session == "" || w.ServerTime != fakeStart.UnixMilli() || w.HeartbeatMS != 7000 || w.Protocol != 1 {
			t.Fatalf("welcome %s: want a session id, server_time %d, heartbeat_ms 7000, protocol 1", c.last, fakeStart.UnixMilli())
		}
		if seen[w.Session] {
			t.Fatalf("session id %q given twice", w.Session)
		}
		seen[w.Session] = true
	}

	// The default heartbeat and the wall clock.
	ts2 := newTestServer(t, HubOptions{}, ServerOptions{})
	before := time.Now().UnixMilli()
	c := ts2.dial("", nil)
	w := c.expect(protocol.TypeWelcome)
	after := time.Now().UnixMilli()
	if w.HeartbeatMS != 25000 || w.ServerTime < before || w.ServerTime > after {
		t.Fatalf("welcome %s: want heartbeat_ms 25000 and server_time in [%d, %d]", c.last, before, after)
	}
}

// PROTOCOL.md, "Transport": optional subprotocol feedd.v1.
func TestConformanceSubprotocol(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	cases := []struct {
		name  string
		offer []string
		want  string
	}{
		{"not offered", nil, ""},
		{"offered", []string{"feedd.v1"}, "feedd.v1"},
		{"offered second", []string{"chat", "feedd.v1"}, "feedd.v1"},
		{"only others", []string{"chat"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, err := ts.with(t).dialOpts("", &websocket.DialOptions{Subprotocols: tc.offer})
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if got := c.conn.Subprotocol(); got != tc.want {
				t.Fatalf("subprotocol %q, want %q", got, tc.want)
			}
			if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tc.want {
				t.Fatalf("Sec-WebSocket-Protocol %q, want %q", got, tc.want)
			}
			c.expect(protocol.TypeWelcome)
			c.roundTrip()
		})
	}
}

// PROTOCOL.md, "Transport": permessage-deflate when offered and enabled.
func TestConformanceCompression(t *testing.T) {
	big := `{"pad":"` + strings.Repeat("abcdefgh", 512) + `"}`
	for _, enabled := range []bool{true, false} {
		for _, mode := range []websocket.CompressionMode{websocket.CompressionDisabled, websocket.CompressionNoContextTakeover, websocket.CompressionContextTakeover} {
			name := map[bool]string{true: "enabled", false: "disabled"}[enabled] + "/" +
				map[websocket.CompressionMode]string{websocket.CompressionDisabled: "client-none",
					websocket.CompressionNoContextTakeover: "client-no-takeover", websocket.CompressionContextTakeover: "client-takeover"}[mode]
			t.Run(name, func(t *testing.T) {
				ts := newTestServer(t, HubOptions{}, ServerOptions{Compression: enabled})
				ts.publish("prices:ETH-USD", big)
				c, resp, err := ts.dialOpts("", &websocket.DialOptions{CompressionMode: mode})
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				ext := resp.Header.Get("Sec-WebSocket-Extensions")
				want := enabled && mode != websocket.CompressionDisabled
				if got := strings.Contains(ext, "permessage-deflate"); got != want {
					t.Fatalf("Sec-WebSocket-Extensions %q: negotiated %v, want %v", ext, got, want)
				}
				c.expect(protocol.TypeWelcome)
				s := c.subscribe("prices:ETH-USD")
				if string(s.Snapshot) != big {
					t.Fatalf("snapshot of %d bytes, want the %d published", len(s.Snapshot), len(big))
				}
				ts.publish("prices:ETH-USD", big)
				if u := c.expect(protocol.TypeUpdate); u.Offset != 2 || string(u.Data) != big {
					t.Fatalf("update at %d with %d bytes", u.Offset, len(u.Data))
				}
			})
		}
	}
}

// PROTOCOL.md, "Authentication": the Origin header is checked against the
// allow-list; a mismatch is refused with HTTP 403 before the upgrade.
func TestConformanceOrigin(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{AllowedOrigins: []string{"https://app.example.com", "*.example.org"}})
	cases := []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"https://app.example.com", true},
		{"HTTPS://APP.EXAMPLE.COM", true},
		{"https://x.example.org", true},
		{"http://x.example.org", true},
		{"https://a.b.example.org", true},
		{"https://evil.com", false},
		{"http://app.example.com", false},
		{"https://app.example.com.evil.com", false},
		{"https://example.org", false},
		{"https://x.example.org.evil.com", false},
		{"https://evilexample.org", false},
		{"null", false},
	}
	for _, tc := range cases {
		t.Run(tc.origin, func(t *testing.T) {
			hdr := http.Header{}
			if tc.origin != "" {
				hdr.Set("Origin", tc.origin)
			}
			c, resp, err := ts.with(t).dialOpts("", &websocket.DialOptions{HTTPHeader: hdr})
			if tc.ok {
				if err != nil {
					t.Fatalf("dial with Origin %q: %v", tc.origin, err)
				}
				c.expect(protocol.TypeWelcome)
				return
			}
			if err == nil {
				t.Fatalf("dial with Origin %q succeeded, want HTTP 403", tc.origin)
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("dial with Origin %q: %v (response %v), want HTTP 403", tc.origin, err, resp)
			}
		})
	}
	// Without an allow-list every origin is accepted.
	ts2 := newTestServer(t, HubOptions{}, ServerOptions{})
	c, _, err := ts2.dialOpts("", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://anything.test"}}})
	if err != nil {
		t.Fatalf("dial without an allow-list: %v", err)
	}
	c.expect(protocol.TypeWelcome)
}

// ServerOptions.MaxConnections and MaxConnectionsPerIP: refused before the
// upgrade with 503 and 429.
func TestConformanceConnectionLimits(t *testing.T) {
	t.Run("total", func(t *testing.T) {
		ts := newTestServer(t, HubOptions{}, ServerOptions{MaxConnections: 2})
		a := ts.mustDial("", nil)
		ts.mustDial("", nil)
		_, resp, err := ts.dialOpts("", nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("third connection: err %v, response %v; want HTTP 503", err, resp)
		}
		// A closed connection frees its place.
		a.conn.Close(websocket.StatusNormalClosure, "")
		waitFor(t, "a place after a close", func() bool {
			c, _, err := ts.dialOpts("", nil)
			if err != nil {
				return false
			}
			c.expect(protocol.TypeWelcome)
			return true
		})
	})
	t.Run("per IP", func(t *testing.T) {
		ts := newTestServer(t, HubOptions{}, ServerOptions{MaxConnectionsPerIP: 1})
		ts.mustDial("", nil)
		_, resp, err := ts.dialOpts("", nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("second connection from 127.0.0.1: err %v, response %v; want HTTP 429", err, resp)
		}
		// Another address is counted on its own.
		local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
		probe, err := net.DialTCP("tcp", local, ts.hs.Listener.Addr().(*net.TCPAddr))
		if err != nil {
			t.Skipf("cannot dial from 127.0.0.2: %v", err)
		}
		probe.Close()
		tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: local}).DialContext}
		defer tr.CloseIdleConnections()
		c, resp, err := ts.dialOpts("", &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
		if err != nil {
			t.Fatalf("connection from 127.0.0.2: %v (response %v)", err, resp)
		}
		c.expect(protocol.TypeWelcome)
	})
}

// PROTOCOL.md, close codes: 1001 server shutting down.
func TestConformanceShutdown(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	a := ts.mustDial("", nil)
	b := ts.mustDial("", nil)
	b.subscribe("prices:ETH-USD")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.hub.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	a.expectClosed(websocket.StatusGoingAway)
	b.expectClosed(websocket.StatusGoingAway)
	if st := ts.hub.Stats(); st != (Stats{}) {
		t.Fatalf("stats after shutdown %+v, want zero", st)
	}
	// A connection after Shutdown is closed with 1001 at once.
	c, _, err := ts.dialOpts("", nil)
	if err != nil {
		return // refusing the upgrade is as good
	}
	c.expectClosed(websocket.StatusGoingAway)
}

// A client may send its first request in the same TCP segment as, or right
// after, its handshake: those bytes must not be lost (they reach net/http's
// buffer before the connection is hijacked).
func TestConformanceRequestRightAfterHandshake(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	addr := strings.TrimPrefix(ts.hs.URL, "http://")
	for i := 0; i < 50; i++ {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// Handshake and a masked ping frame in one write.
		frame := maskedText(`{"type":"ping","id":1}`)
		req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
		if _, err := conn.Write(append([]byte(req), frame...)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var got []byte
		buf := make([]byte, 4096)
		for !bytes.Contains(got, []byte(`"type":"pong"`)) {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("connection %d: no pong to a request sent with the handshake (read %q): %v", i, got, err)
			}
			got = append(got, buf[:n]...)
		}
		conn.Close()
	}
}

// maskedText encodes s as a client's masked text frame (payload < 126 bytes).
func maskedText(s string) []byte {
	key := []byte{1, 2, 3, 4}
	out := []byte{0x81, 0x80 | byte(len(s))}
	out = append(out, key...)
	for i := 0; i < len(s); i++ {
		out = append(out, s[i]^key[i%4])
	}
	return out
}
