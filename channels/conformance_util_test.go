package channels

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/feedd/feedd/channels/protocol"
	"github.com/feedd/feedd/internal/clock"
)

// Helpers shared by the conformance tests (conformance_*_test.go). Each of
// those files covers a part of PROTOCOL.md against a real hub and a real
// HTTP server on 127.0.0.1.

// with returns a copy of ts that reports to t (a subtest), so that
// clients dialled through it fail and are cleaned up with t.
func (ts *testServer) with(t *testing.T) *testServer {
	c := *ts
	c.t = t
	return &c
}

// keysOf returns the sorted keys of a JSON object.
func keysOf(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("message %s is not a JSON object: %v", raw, err)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// expectKeys checks that the message returned last has exactly the keys want.
func (c *testClient) expectKeys(want ...string) {
	c.t.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	if got := keysOf(c.t, c.last); !reflect.DeepEqual(got, want) {
		c.t.Fatalf("message %s has keys %v, want %v", c.last, got, want)
	}
}

// expectError reads the next message, which must be an error with code,
// the raw id (id "" means no id) and channel ("" means none), and a message.
func (c *testClient) expectError(code, id, channel string) protocol.Message {
	c.t.Helper()
	m := c.expect(protocol.TypeError)
	if m.Code != code || string(m.ID) != id || m.Channel != channel || m.Message == "" {
		c.t.Fatalf("error %s: want code %q, id %q, channel %q and a message", c.last, code, id, channel)
	}
	keys := []string{"type", "code", "message"}
	if id != "" {
		keys = append(keys, "id")
	}
	if channel != "" {
		keys = append(keys, "channel")
	}
	c.expectKeys(keys...)
	return m
}

var syncIDs atomic.Int64

// roundTrip sends a ping and checks that the next message (other than a
// server ping) is its pong: the connection is open and every reply to an
// earlier request has been read.
func (c *testClient) roundTrip() {
	c.t.Helper()
	id := fmt.Sprintf(`"sync-%d"`, syncIDs.Add(1))
	c.sendRaw(`{"type":"ping","id":` + id + `}`)
	m := c.next()
	if m.Type != protocol.TypePong || string(m.ID) != id {
		c.t.Fatalf("got %s while waiting for the pong of %s", c.last, id)
	}
}

// expectClosed waits for the end of the connection and checks the close code.
func (c *testClient) expectClosed(code websocket.StatusCode) {
	c.t.Helper()
	if got := c.closed(); got != code {
		c.t.Fatalf("connection ended with status %d (%v), want %d", got, c.err, code)
	}
}

// subscribe sends a subscribe request for one channel and returns the
// subscribed reply.
func (c *testClient) subscribe(channel string) protocol.Message {
	c.t.Helper()
	c.send(map[string]any{"type": "subscribe", "channels": []string{channel}})
	m := c.expect(protocol.TypeSubscribed)
	if m.Channel != channel {
		c.t.Fatalf("subscribed %s, want channel %q", c.last, channel)
	}
	return m
}

// expectUpdates reads updates of channel with offsets from..to, in order.
func (c *testClient) expectUpdates(channel string, from, to uint64) {
	c.t.Helper()
	for want := from; want <= to; want++ {
		m := c.next()
		if m.Type != protocol.TypeUpdate || m.Channel != channel || m.Offset != want {
			c.t.Fatalf("got %s, want update of %s at offset %d", c.last, channel, want)
		}
	}
}

// mustDial dials and checks the welcome.
func (ts *testServer) mustDial(query string, hdr http.Header) *testClient {
	ts.t.Helper()
	c := ts.dial(query, hdr)
	c.expect(protocol.TypeWelcome)
	return c
}

func (ts *testServer) publishN(channel string, n int) *Publication {
	ts.t.Helper()
	var p *Publication
	for i := 0; i < n; i++ {
		p = ts.publish(channel, fmt.Sprintf(`{"n":%d}`, i))
	}
	return p
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitTimers waits until the fake clock has at least n timers.
func waitTimers(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := clk.WaitTimers(ctx, n); err != nil {
		t.Fatalf("waiting for %d fake timers (have %d): %v", n, clk.Timers(), err)
	}
}

var fakeStart = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// mapVerifier is a TokenVerifier for the tests: a token is valid when it
// is a key of the map.
type mapVerifier map[string]Identity

func (m mapVerifier) Verify(token string) (Identity, error) {
	id, ok := m[token]
	if !ok {
		return Identity{}, errors.New("unknown token")
	}
	return id, nil
}

func bearerHeader(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// manualConn is a client that reads only when asked to, so that a test can
// make it stop reading (coder/websocket reads only inside Read).
type manualConn struct {
	t    *testing.T
	conn *websocket.Conn
}

func (ts *testServer) dialManual() *manualConn {
	ts.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, ts.url, nil)
	if err != nil {
		ts.t.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(256 << 20)
	ts.t.Cleanup(func() { conn.CloseNow() })
	return &manualConn{t: ts.t, conn: conn}
}

func (m *manualConn) send(v any) {
	m.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.conn.Write(ctx, websocket.MessageText, b); err != nil {
		m.t.Fatalf("write: %v", err)
	}
}

// read reads one frame and returns its messages; err is the read error.
func (m *manualConn) read(d time.Duration) ([]protocol.Message, error) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, frame, err := m.conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	var out []protocol.Message
	err = protocol.Messages(frame, func(b []byte) error {
		var msg protocol.Message
		if err := json.Unmarshal(b, &msg); err != nil {
			return err
		}
		out = append(out, msg)
		return nil
	})
	if err != nil {
		m.t.Fatalf("bad frame: %v", err)
	}
	return out, nil
}

// readUntil reads messages until one of type typ and returns it.
func (m *manualConn) readUntil(typ string) protocol.Message {
	m.t.Helper()
	for {
		msgs, err := m.read(5 * time.Second)
		if err != nil {
			m.t.Fatalf("reading until %s: %v", typ, err)
		}
		for _, msg := range msgs {
			if msg.Type == typ {
				return msg
			}
		}
	}
}

// interestRecorder is an InterestHandler that records its calls.
type interestRecorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *interestRecorder) Watch(ch string)   { r.add("watch " + ch) }
func (r *interestRecorder) Unwatch(ch string) { r.add("unwatch " + ch) }
func (r *interestRecorder) add(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

func (r *interestRecorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// gateBroker is a MemoryBroker whose Subscribe and Unsubscribe of one
// channel can be held, to stand in for a broker across a network.
type gateBroker struct {
	*MemoryBroker
	mu    sync.Mutex
	gates map[string]*gate // by "sub "/"unsub " + channel
}

type gate struct {
	entered chan struct{}
	release chan struct{}
}

func newGateBroker() *gateBroker {
	return &gateBroker{MemoryBroker: NewMemoryBroker(nil), gates: map[string]*gate{}}
}

// hold makes the next call op ("sub" or "unsub") for channel wait until
// release is called; entered is closed when that call has started.
func (b *gateBroker) hold(op, channel string) (entered <-chan struct{}, release func()) {
	g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
	b.mu.Lock()
	b.gates[op+" "+channel] = g
	b.mu.Unlock()
	var once sync.Once
	return g.entered, func() { once.Do(func() { close(g.release) }) }
}

func (b *gateBroker) wait(op, channel string) {
	b.mu.Lock()
	g := b.gates[op+" "+channel]
	delete(b.gates, op+" "+channel)
	b.mu.Unlock()
	if g != nil {
		close(g.entered)
		<-g.release
	}
}

func (b *gateBroker) Subscribe(ctx context.Context, channel string) error {
	b.wait("sub", channel)
	return b.MemoryBroker.Subscribe(ctx, channel)
}

func (b *gateBroker) Unsubscribe(ctx context.Context, channel string) error {
	b.wait("unsub", channel)
	return b.MemoryBroker.Unsubscribe(ctx, channel)
}

// waitClosed waits for a channel to be closed, for up to 5s.
func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }
