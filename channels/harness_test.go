package channels

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/feedd/feedd/channels/protocol"
)

// Closing handshakes may take coder/websocket up to 5 s against peers that
// stopped reading, so the leak check waits up to 10 s for goroutines to end.
func TestMain(m *testing.M) {
	code := m.Run()
	deadline := time.Now().Add(10 * time.Second)
	for err := goleak.Find(); code == 0 && err != nil; err = goleak.Find() {
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "goleak: goroutines still running 10 s after the tests:", err)
			code = 1
		}
		time.Sleep(100 * time.Millisecond)
	}
	os.Exit(code)
}

// testNamespaces are the namespaces of the test hub: a state namespace, an
// event namespace, one behind tokens and one behind claims.
func testNamespaces() []*Namespace {
	return []*Namespace{
		{Name: "prices", Read: ReadPublic, Coalesce: true, HistorySize: 100, HistoryTTL: time.Minute},
		{Name: "wallet", Read: ReadPublic, HistorySize: 100, HistoryTTL: time.Minute, Interest: true,
			Canon: func(rest string) (string, error) { return strings.ToLower(rest), nil }},
		{Name: "ops", Read: ReadPublic, PublishAPI: true, HistorySize: 1000, HistoryTTL: time.Minute},
		{Name: "private", Read: ReadToken, PublishAPI: true, HistorySize: 10},
		{Name: "claimed", Read: ReadClaims, PublishAPI: true, HistorySize: 10},
	}
}

type testServer struct {
	t   *testing.T
	hub *Hub
	srv *Server
	hs  *httptest.Server
	url string
}

func newTestServer(t *testing.T, hopts HubOptions, sopts ServerOptions) *testServer {
	t.Helper()
	if hopts.Namespaces == nil {
		hopts.Namespaces = testNamespaces()
	}
	if hopts.Logger == nil {
		hopts.Logger = slog.New(slog.DiscardHandler)
	}
	hub, err := NewHub(hopts)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(hub, sopts)
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	ts := &testServer{t: t, hub: hub, srv: srv, hs: hs, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hub.Shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
		hs.Close()
		hub.Close()
	})
	return ts
}

// testClient is a raw protocol client.
type testClient struct {
	t      *testing.T
	conn   *websocket.Conn
	msgs   chan protocol.Message
	msgRaw chan []byte // the JSON of each message of msgs, in the same order
	raw    chan []byte
	done   chan struct{}
	err    error
	last   []byte // the JSON of the message next, nextAny or expect returned last
}

func (ts *testServer) dial(query string, hdr http.Header) *testClient {
	ts.t.Helper()
	c, err := ts.tryDial(query, hdr)
	if err != nil {
		ts.t.Fatalf("dial: %v", err)
	}
	return c
}

func (ts *testServer) tryDial(query string, hdr http.Header) (*testClient, error) {
	c, _, err := ts.dialOpts(query, &websocket.DialOptions{HTTPHeader: hdr})
	return c, err
}

// dialOpts dials with opts and returns the handshake response too (also
// when the dial fails, when the server answered at all).
func (ts *testServer) dialOpts(query string, opts *websocket.DialOptions) (*testClient, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := ts.url
	if query != "" {
		u += "?" + query
	}
	conn, resp, err := websocket.Dial(ctx, u, opts)
	if err != nil {
		return nil, resp, err
	}
	conn.SetReadLimit(16 << 20)
	c := &testClient{t: ts.t, conn: conn, msgs: make(chan protocol.Message, 10000), msgRaw: make(chan []byte, 10000),
		raw: make(chan []byte, 10000), done: make(chan struct{})}
	go c.read()
	ts.t.Cleanup(func() { c.conn.CloseNow(); <-c.done })
	return c, resp, nil
}

func (c *testClient) read() {
	defer close(c.done)
	for {
		_, frame, err := c.conn.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		c.raw <- frame
		protocol.Messages(frame, func(m []byte) error {
			var msg protocol.Message
			if err := json.Unmarshal(m, &msg); err != nil {
				c.t.Errorf("bad message %s: %v", m, err)
			}
			c.msgRaw <- append([]byte(nil), m...)
			c.msgs <- msg
			return nil
		})
	}
}

func (c *testClient) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
}

func (c *testClient) sendRaw(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next message, skipping pings.
func (c *testClient) next() protocol.Message {
	c.t.Helper()
	for {
		m := c.nextAny()
		if m.Type == "ping" {
			continue
		}
		return m
	}
}

// nextAny returns the next message, pings included.
func (c *testClient) nextAny() protocol.Message {
	c.t.Helper()
	m, ok := c.nextWithin(5 * time.Second)
	if !ok {
		select {
		case <-c.done:
			c.t.Fatalf("connection ended: %v", c.err)
		default:
			c.t.Fatal("no message within 5s")
		}
	}
	return m
}

// nextWithin returns the next message (pings included) if one comes within
// d; ok is false when none came or the connection ended with nothing left.
func (c *testClient) nextWithin(d time.Duration) (m protocol.Message, ok bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case m := <-c.msgs:
		c.last = <-c.msgRaw
		return m, true
	case <-c.done:
		// drain what was read before the end
		select {
		case m := <-c.msgs:
			c.last = <-c.msgRaw
			return m, true
		default:
		}
		return protocol.Message{}, false
	case <-timer.C:
		return protocol.Message{}, false
	}
}

// expect returns the next message, which must be of type typ.
func (c *testClient) expect(typ string) protocol.Message {
	c.t.Helper()
	m := c.next()
	if m.Type != typ {
		c.t.Fatalf("got %s message %+v, want %s", m.Type, m, typ)
	}
	return m
}

// closed waits for the connection to end and returns the close status.
func (c *testClient) closed() websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.t.Fatal("connection still open after 5s")
	}
	return websocket.CloseStatus(c.err)
}

func (ts *testServer) publish(channel string, data string) *Publication {
	ts.t.Helper()
	p, err := ts.hub.Publish(context.Background(), channel, json.RawMessage(data), nil)
	if err != nil {
		ts.t.Fatalf("publish: %v", err)
	}
	return p
}

func (ts *testServer) httpDo(method, path, auth, body string) (int, string) {
	ts.t.Helper()
	req, _ := http.NewRequest(method, ts.hs.URL+path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}
