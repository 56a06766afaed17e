package client_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/feedd/feedd/channels"
	"github.com/feedd/feedd/channels/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

func testNamespaces() []*channels.Namespace {
	return []*channels.Namespace{
		{Name: "prices", Read: channels.ReadPublic, Coalesce: true, HistorySize: 100, HistoryTTL: time.Minute},
		{Name: "ops", Read: channels.ReadPublic, HistorySize: 100000, HistoryTTL: time.Minute},
		{Name: "private", Read: channels.ReadToken, HistorySize: 100, HistoryTTL: time.Minute},
	}
}

// testHub is a real hub with its memory broker; stop shuts it down (also
// done at the end of the test).
type testHub struct {
	*channels.Hub
	t    *testing.T
	once sync.Once
}

func newHub(t *testing.T, opts channels.HubOptions) *testHub {
	t.Helper()
	if opts.Namespaces == nil {
		opts.Namespaces = testNamespaces()
	}
	opts.Logger = quiet
	h, err := channels.NewHub(opts)
	if err != nil {
		t.Fatal(err)
	}
	th := &testHub{Hub: h, t: t}
	t.Cleanup(th.stop)
	return th
}

func (h *testHub) stop() {
	h.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			h.t.Errorf("hub shutdown: %v", err)
		}
		h.Close()
	})
}

func (h *testHub) publish(channel, data string) *channels.Publication {
	h.t.Helper()
	p, err := h.Publish(context.Background(), channel, json.RawMessage(data), nil)
	if err != nil {
		h.t.Fatalf("publish %s: %v", channel, err)
	}
	return p
}

// trackListener remembers every accepted connection, so that kill can cut
// them all, WebSocket connections (hijacked from net/http) included.
type trackListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
}

// testServer is the daemon's HTTP side for a hub, on a fixed address so
// that it can be killed and started again where clients expect it.
type testServer struct {
	t      *testing.T
	addr   string
	hs     *http.Server
	ln     *trackListener
	served chan struct{}
	once   sync.Once
}

// startServer serves hub on addr ("" for a free port on 127.0.0.1).
func startServer(t *testing.T, hub *testHub, addr string, opts channels.ServerOptions) *testServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		ln, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	srv := channels.NewServer(hub.Hub, opts)
	mux := http.NewServeMux()
	srv.Register(mux)
	s := &testServer{t: t, addr: ln.Addr().String(), hs: &http.Server{Handler: mux}, ln: &trackListener{Listener: ln}, served: make(chan struct{})}
	go func() {
		defer close(s.served)
		s.hs.Serve(s.ln)
	}()
	t.Cleanup(s.kill)
	return s
}

func (s *testServer) url() string { return "ws://" + s.addr + "/ws" }

// kill stops the server abruptly, like a crash: the listener and every
// connection are closed without a close handshake.
func (s *testServer) kill() {
	s.once.Do(func() {
		s.hs.Close()
		s.ln.closeAll()
		<-s.served
	})
}

// freeAddr returns an address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// recorder is a Handler that keeps everything it hears.
type recorder struct {
	mu        sync.Mutex
	updates   []client.Update
	snapshots []client.Snapshot
	recovered []client.Recovery
	at        []time.Time // when each Recovery arrived
}

func (r *recorder) OnUpdate(u client.Update) {
	r.mu.Lock()
	r.updates = append(r.updates, u)
	r.mu.Unlock()
}

func (r *recorder) OnSnapshot(s client.Snapshot) {
	r.mu.Lock()
	r.snapshots = append(r.snapshots, s)
	r.mu.Unlock()
}

func (r *recorder) OnRecovered(rc client.Recovery) {
	r.mu.Lock()
	r.recovered = append(r.recovered, rc)
	r.at = append(r.at, time.Now())
	r.mu.Unlock()
}

func (r *recorder) nUpdates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.updates)
}

func (r *recorder) lastOffset() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.updates) == 0 {
		return 0
	}
	return r.updates[len(r.updates)-1].Offset
}

func (r *recorder) nRecovered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.recovered)
}

func (r *recorder) nSnapshots() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.snapshots)
}

// states records OnState calls.
type states struct {
	mu   sync.Mutex
	list []client.State
	errs []error
}

func (s *states) record(st client.State, err error) {
	s.mu.Lock()
	s.list = append(s.list, st)
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

func (s *states) count(st client.State) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, x := range s.list {
		if x == st {
			n++
		}
	}
	return n
}

func (s *states) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for i, st := range s.list {
		fmt.Fprintf(&b, "%v", st)
		if s.errs[i] != nil {
			fmt.Fprintf(&b, "(%v)", s.errs[i])
		}
		b.WriteString(" ")
	}
	return b.String()
}

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dial starts a client that is closed at the end of the test.
func dial(t *testing.T, opts client.Options) *client.Client {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	c, err := client.Dial(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func subscribe(t *testing.T, c *client.Client, channel string, h client.Handler) *client.Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.Subscribe(ctx, channel, h)
	if err != nil {
		t.Fatalf("subscribe %s: %v", channel, err)
	}
	return s
}

// testVerifier accepts unsigned JWT-shaped tokens "x.<payload>.x" whose
// payload has sub and exp (seconds, fractions allowed).
type testVerifier struct{}

func makeToken(sub string, exp time.Time) string {
	payload, _ := json.Marshal(map[string]any{"sub": sub, "exp": float64(exp.UnixMilli()) / 1000})
	return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(payload) + ".x"
}

func (testVerifier) Verify(token string) (channels.Identity, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return channels.Identity{}, errors.New("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return channels.Identity{}, err
	}
	var claims struct {
		Sub string  `json:"sub"`
		Exp float64 `json:"exp"`
	}
	if err := json.Unmarshal(b, &claims); err != nil {
		return channels.Identity{}, err
	}
	sec, frac := math.Modf(claims.Exp)
	exp := time.Unix(int64(sec), int64(frac*1e9))
	if time.Now().After(exp) {
		return channels.Identity{}, errors.New("token expired")
	}
	return channels.Identity{Subject: claims.Sub, Expires: exp}, nil
}
