package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/feedd/feedd/channels"
)

// tailHub is a real hub (memory broker) for tail tests.
func tailHub(t *testing.T) *channels.Hub {
	t.Helper()
	hub, err := channels.NewHub(channels.HubOptions{
		Logger: slog.New(slog.DiscardHandler),
		Namespaces: []*channels.Namespace{
			{Name: "prices", Read: channels.ReadPublic, Coalesce: true, HistorySize: 100, HistoryTTL: time.Minute},
			{Name: "ops", Read: channels.ReadPublic, HistorySize: 10000, HistoryTTL: time.Minute},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hub.Shutdown(ctx)
		hub.Close()
	})
	return hub
}

// tailServer serves hub's WebSocket endpoint on addr ("" for any port);
// kill cuts it and every connection, like a crash.
type tailServer struct {
	addr   string
	hs     *http.Server
	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	served chan struct{}
	once   sync.Once
}

func startTailServer(t *testing.T, hub *channels.Hub, addr string) *tailServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	channels.NewServer(hub, channels.ServerOptions{}).Register(mux)
	s := &tailServer{addr: ln.Addr().String(), ln: ln, served: make(chan struct{})}
	s.hs = &http.Server{Handler: mux, ConnState: func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
		}
	}}
	go func() {
		defer close(s.served)
		s.hs.Serve(ln)
	}()
	t.Cleanup(s.kill)
	return s
}

func (s *tailServer) url() string { return "ws://" + s.addr + "/ws" }

func (s *tailServer) kill() {
	s.once.Do(func() {
		s.hs.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-s.served
	})
}

// tailBuffer is a goroutine-safe output buffer.
type tailBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (b *tailBuffer) lines() []string {
	s := strings.TrimSuffix(b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// tailRun runs tail in the background; stop cancels it and returns its
// exit code.
type tailRun struct {
	out, errb tailBuffer
	cancel    context.CancelFunc
	code      chan int
}

func startTail(t *testing.T, args ...string) *tailRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &tailRun{cancel: cancel, code: make(chan int, 1)}
	go func() { r.code <- tail(ctx, args, &r.out, &r.errb) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *tailRun) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.code:
		r.code <- code
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not stop within 10s of its context ending")
		return -1
	}
}

func (r *tailRun) waitLines(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		lines := r.out.lines()
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d lines, have %d:\n%s\nstderr:\n%s", n, len(lines), r.out.String(), r.errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func tailPublish(t *testing.T, hub *channels.Hub, channel, data string) *channels.Publication {
	t.Helper()
	p, err := hub.Publish(context.Background(), channel, json.RawMessage(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTailJSONLines(t *testing.T) {
	hub := tailHub(t)
	srv := startTailServer(t, hub, "")
	tailPublish(t, hub, "prices:ETH-USD", `{"symbol":"ETH-USD", "price":3012.55}`)
	r := startTail(t, "--url", srv.url(), "prices:ETH-USD", "ops:events")
	r.waitLines(t, 1)
	var pubs []*channels.Publication
	for i := 1; i <= 3; i++ {
		// Pretty-printed data and HTML characters come out compact and as is.
		pubs = append(pubs, tailPublish(t, hub, "ops:events", fmt.Sprintf("{\n  \"n\": %d, \"html\": \"<a&b>\"\n}", i)))
	}
	lines := r.waitLines(t, 4)
	if code := r.stop(t); code != 0 {
		t.Errorf("exit code %d, stderr:\n%s", code, r.errb.String())
	}
	want := []string{`{"channel":"prices:ETH-USD","offset":1,"snapshot":{"symbol":"ETH-USD","price":3012.55}}`}
	for i, p := range pubs {
		want = append(want, fmt.Sprintf(`{"channel":"ops:events","offset":%d,"ts":%d,"data":{"n":%d,"html":"<a&b>"}}`, i+1, p.Time.UnixMilli(), i+1))
	}
	if got := strings.Join(lines, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("output:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if !strings.Contains(r.errb.String(), "connected to "+srv.url()) {
		t.Errorf("stderr: %s", r.errb.String())
	}
}

func TestTailPretty(t *testing.T) {
	hub := tailHub(t)
	srv := startTailServer(t, hub, "")
	tailPublish(t, hub, "prices:BTC-USD", `{"symbol":"BTC-USD","price":100000.5,"stale":false}`)
	r := startTail(t, "prices:BTC-USD", "--pretty", "ops:x", "--url", srv.url())
	r.waitLines(t, 1)
	p1 := tailPublish(t, hub, "prices:BTC-USD", `{"symbol":"BTC-USD","price":100001,"stale":true}`)
	r.waitLines(t, 2)
	p2 := tailPublish(t, hub, "ops:x", `{"a": [1, 2]}`)
	lines := r.waitLines(t, 3)
	r.stop(t)
	clock := func(p *channels.Publication) string { return time.UnixMilli(p.Time.UnixMilli()).Format("15:04:05.000") }
	want := []string{
		"snapshot      prices:BTC-USD         1  100000.5",
		clock(p1) + "  prices:BTC-USD         2  100001 (stale)",
		clock(p2) + "  ops:x                  1  {\"a\":[1,2]}",
	}
	if got := strings.Join(lines, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("output:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestTailUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{nil, 2, "want at least one CHANNEL"},
		{[]string{"--url", "ws://127.0.0.1:1/ws"}, 2, "usage: feedctl tail"},
		{[]string{"--bogus", "ops:x"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"noColon"}, 2, `bad channel "noColon"`},
		{[]string{"ops:x", ":y"}, 2, `bad channel ":y"`},
		{[]string{"ops:x", "ops:x"}, 2, `channel "ops:x" given twice`},
		{[]string{"--url", "http//nohost", "ops:x"}, 2, `--url "http//nohost"`},
		{[]string{"--url", "ftp://h/ws", "ops:x"}, 2, `--url "ftp://h/ws"`},
		{[]string{"--help"}, 0, "--pretty"},
		{[]string{"--", "--pretty"}, 2, `bad channel "--pretty"`},
	} {
		var out, errb tailBuffer
		code := tail(context.Background(), tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.err) || out.String() != "" {
			t.Errorf("tail %q = %d\nstdout: %s\nstderr: %s\nwant %d and stderr with %q", tc.args, code, out.String(), errb.String(), tc.code, tc.err)
		}
	}
	// Through the command dispatcher too.
	var out, errb bytes.Buffer
	if code := run([]string{"tail"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "CHANNEL") {
		t.Errorf("feedctl tail = %d, stderr %s", code, errb.String())
	}
}

func TestTailRefusedChannel(t *testing.T) {
	hub := tailHub(t)
	srv := startTailServer(t, hub, "")
	var out, errb tailBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := tail(ctx, []string{"--url", srv.url(), "ops:fine", "nope:x"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), `subscribe nope:x: bad_channel: bad channel: unknown namespace "nope"`) {
		t.Errorf("exit %d, stderr:\n%s", code, errb.String())
	}
}

// TestTailReconnects kills the daemon's connections mid-stream and serves
// the same hub again on the same address: tail prints every offset once.
func TestTailReconnects(t *testing.T) {
	hub := tailHub(t)
	srv := startTailServer(t, hub, "")
	r := startTail(t, "--url", srv.url(), "ops:stream")
	time.Sleep(100 * time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(r.errb.String(), "connected") {
		if time.Now().After(deadline) {
			t.Fatalf("not connected: %s", r.errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Wait for the subscription: the hub counts it.
	for hub.Stats().Subscriptions != 1 {
		if time.Now().After(deadline) {
			t.Fatal("not subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	const total = 200
	for i := 1; i <= total; i++ {
		tailPublish(t, hub, "ops:stream", fmt.Sprintf(`{"i":%d}`, i))
		switch i {
		case 50:
			r.waitLines(t, 50)
			srv.kill()
		case 150:
			srv = startTailServer(t, hub, srv.addr)
		}
	}
	lines := r.waitLines(t, total)
	if code := r.stop(t); code != 0 {
		t.Errorf("exit %d", code)
	}
	if len(lines) != total {
		t.Errorf("%d lines, want %d", len(lines), total)
	}
	for i, l := range lines {
		var u struct {
			Channel string
			Offset  int
			Data    struct{ I int }
		}
		if err := json.Unmarshal([]byte(l), &u); err != nil || u.Channel != "ops:stream" || u.Offset != i+1 || u.Data.I != i+1 {
			t.Fatalf("line %d: %s", i+1, l)
		}
	}
	if e := r.errb.String(); !strings.Contains(e, "disconnected: ") || strings.Count(e, "connected to") != 2 {
		t.Errorf("stderr:\n%s", e)
	}
}

// TestTailInterruptedWhileWaiting: no daemon; tail waits, reporting why,
// and an interrupt ends it with 0.
func TestTailInterruptedWhileWaiting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := startTail(t, "--url", "ws://"+addr+"/ws", "ops:x")
	time.Sleep(500 * time.Millisecond)
	if code := r.stop(t); code != 0 {
		t.Errorf("exit %d", code)
	}
	if e := r.errb.String(); !strings.Contains(e, "disconnected: ") || !strings.Contains(e, "connection refused") || strings.Count(e, "\n") != 1 {
		t.Errorf("stderr (want one line naming the problem):\n%s", e)
	}
}

// TestCmdTailSignal: cmdTail stops on SIGINT with exit 0.
func TestCmdTailSignal(t *testing.T) {
	hub := tailHub(t)
	srv := startTailServer(t, hub, "")
	tailPublish(t, hub, "prices:ETH-USD", `{"price":1}`)
	var out, errb tailBuffer
	code := make(chan int, 1)
	go func() { code <- cmdTail([]string{"--url", srv.url(), "prices:ETH-USD"}, &out, &errb) }()
	// The snapshot line shows that cmdTail runs and catches signals.
	deadline := time.Now().Add(10 * time.Second)
	for out.String() == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no output; stderr: %s", errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cmdTail did not stop on SIGINT")
	}
}
