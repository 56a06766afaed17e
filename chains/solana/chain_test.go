package solana_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/coder/websocket"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/feedd/feedd/chains/solana"
	"github.com/feedd/feedd/internal/solanatest"
	"github.com/feedd/feedd/plugins"
)

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newServer(t *testing.T) *solanatest.Server {
	t.Helper()
	srv, err := solanatest.New(solanatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func config(srv *solanatest.Server) solana.Config {
	return solana.Config{RPC: []string{srv.RPCURL()}, WS: []string{srv.WSURL()}, Commitment: "confirmed",
		RequestTimeout: 2 * time.Second, BackoffInitial: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond}
}

// start runs a chain of cfg until the test ends.
func start(t *testing.T, cfg solana.Config) (*solana.Chain, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	c, err := solana.New("sol", cfg, plugins.Env{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return c, logs
}

// next waits for the inbox's next notification.
func next(t *testing.T, in *solana.Inbox) solana.Notification {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case <-in.Ready():
		case <-deadline:
			t.Fatalf("no notification within 5s (line %s)", caller())
		}
		ns, lost := in.Take()
		if lost {
			t.Fatal("notifications lost")
		}
		if len(ns) > 0 {
			if len(ns) > 1 {
				t.Fatalf("%d notifications at once, want 1: %+v", len(ns), ns)
			}
			return ns[0]
		}
	}
}

// quiet checks that no notification comes for a while.
func quiet(t *testing.T, in *solana.Inbox, d time.Duration) {
	t.Helper()
	select {
	case <-in.Ready():
		ns, _ := in.Take()
		if len(ns) > 0 {
			t.Fatalf("unexpected notifications: %+v", ns)
		}
	case <-time.After(d):
	}
}

func lamports(t *testing.T, n solana.Notification) uint64 {
	t.Helper()
	var r struct {
		Value struct {
			Lamports uint64 `json:"lamports"`
		} `json:"value"`
	}
	if err := json.Unmarshal(n.Result, &r); err != nil {
		t.Fatalf("account notification %s: %v", n.Result, err)
	}
	return r.Value.Lamports
}

func accountSub(c *solana.Chain, a sol.PublicKey, in *solana.Inbox) *solana.Sub {
	return c.Subscribe(solana.SubRequest{Method: "accountSubscribe", Key: a.String(),
		Params: []any{a.String(), map[string]any{"encoding": "base64", "commitment": "confirmed"}}}, in)
}

func TestSubscriptionSurvivesReconnect(t *testing.T) {
	srv := newServer(t)
	c, _ := start(t, config(srv))
	a := sol.NewWallet().PublicKey()
	in := solana.NewInbox(100)
	sub := accountSub(c, a, in)
	defer sub.Close()
	if n := next(t, in); n.Kind != solana.NoteSubscribed || n.Again || n.Sub.Key != a.String() {
		t.Fatalf("first: %+v, want subscribed, not again", n)
	}
	srv.Airdrop(a, 5_000_000)
	srv.Produce(2) // landed, then confirmed
	if n := next(t, in); n.Kind != solana.NoteData || lamports(t, n) != 5_000_000 || n.Slot == 0 {
		t.Fatalf("after airdrop: %+v", n)
	}
	srv.DropConnections()
	if n := next(t, in); n.Kind != solana.NoteSubscribed || !n.Again {
		t.Fatalf("after drop: %+v, want subscribed again", n)
	}
	b := sol.NewWallet().PublicKey()
	srv.Transfer(a, b, 1_000_000)
	srv.Produce(2)
	if n := next(t, in); n.Kind != solana.NoteData || lamports(t, n) != 5_000_000-1_000_000-5000 {
		t.Fatalf("after transfer: %+v (%s)", n, n.Result)
	}
	quiet(t, in, 200*time.Millisecond) // one notification per change, no duplicate
	if got := c.Subscriptions(); got != 3 {
		t.Errorf("Subscriptions = %d, want 3 (account, and the chain's slot and root)", got)
	}
	sub.Close()
	waitFor(t, func() bool { return srv.Subscriptions() == 2 }, "the account subscription to end on the server")
}

func TestMalformedMessagesSkipped(t *testing.T) {
	srv := newServer(t)
	c, logs := start(t, config(srv))
	a := sol.NewWallet().PublicKey()
	in := solana.NewInbox(100)
	defer accountSub(c, a, in).Close()
	next(t, in)
	for _, raw := range []string{
		`not json`,
		`{"jsonrpc":"2.0","method":"accountNotification","params":{"subscription":"x","result":{}}}`,
		`{"jsonrpc":"2.0","method":"accountNotification","params":{"subscription":1}}`,
		`{"jsonrpc":"2.0","id":"abc","result":7}`,
		`{"jsonrpc":"2.0"}`,
		`[1,2,3]`,
		`{"jsonrpc":"2.0","method":"accountNotification","params":{"subscription":99999,"result":{"context":{"slot":1},"value":null}}}`,
	} {
		srv.Inject([]byte(raw))
	}
	srv.Airdrop(a, 42_000_000)
	srv.Produce(2)
	if n := next(t, in); n.Kind != solana.NoteData || lamports(t, n) != 42_000_000 {
		t.Fatalf("after malformed messages: %+v", n)
	}
	if got := strings.Count(logs.String(), "malformed pubsub message skipped"); got != 6 {
		t.Errorf("%d malformed messages logged, want 6:\n%s", got, logs)
	}
	if strings.Contains(logs.String(), "pubsub endpoint failed") {
		t.Errorf("the connection was dropped over malformed messages:\n%s", logs)
	}
}

func TestRefusedSubscription(t *testing.T) {
	srv := newServer(t)
	c, _ := start(t, config(srv))
	in := solana.NewInbox(10)
	a, b := sol.NewWallet().PublicKey(), sol.NewWallet().PublicKey()
	sub := c.Subscribe(solana.SubRequest{Method: "logsSubscribe", Params: []any{map[string]any{"mentions": []string{a.String(), b.String()}}}}, in)
	defer sub.Close()
	n := next(t, in)
	var re *solana.RPCError
	if n.Kind != solana.NoteRefused || !errors.As(n.Err, &re) || re.Code != -32602 {
		t.Fatalf("got %+v (%v), want refused with -32602", n, n.Err)
	}
}

// deadURL returns an http URL on a port nothing listens on.
func deadURL(t *testing.T, scheme string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return scheme + "://user:pw@" + addr + "/secret-path?api-key=SECRET"
}

func TestRPCFailover(t *testing.T) {
	srv := newServer(t)
	tests := []struct {
		name    string
		rpc     []string
		prepare func()
		method  string
		wantErr string
		check   func(t *testing.T, err error)
	}{
		{name: "dead endpoint first", rpc: []string{deadURL(t, "http"), srv.RPCURL()}, method: "getSlot"},
		{name: "node behind", rpc: []string{srv.RPCURL(), srv.RPCURL()}, prepare: func() { srv.FailRPC("getSlot", 1) }, method: "getSlot"},
		{name: "every endpoint dead", rpc: []string{deadURL(t, "http"), deadURL(t, "https")}, method: "getSlot", wantErr: "getSlot on "},
		{name: "node error returned at once", rpc: []string{srv.RPCURL()}, method: "getBlock", check: func(t *testing.T, err error) {
			if !solana.IsSkipped(err) {
				t.Errorf("getBlock of a skipped slot: %v, want a skipped-slot error", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(srv)
			cfg.RPC = tt.rpc
			c, err := solana.New("sol", cfg, plugins.Env{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.prepare != nil {
				tt.prepare()
			}
			ctx := context.Background()
			if tt.method == "getBlock" {
				skipped := srv.Skip(1)
				srv.Produce(3)
				err = c.Do(ctx, "getBlock", func(ctx context.Context, cl *rpc.Client) error {
					_, err := cl.GetBlock(ctx, skipped)
					return err
				})
				tt.check(t, err)
				return
			}
			var slot uint64
			err = c.Do(ctx, tt.method, func(ctx context.Context, cl *rpc.Client) (err error) {
				slot, err = cl.GetSlot(ctx, rpc.CommitmentProcessed)
				return err
			})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				for _, secret := range []string{"SECRET", "secret-path", "pw"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q shows %q of the endpoint URL", err, secret)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if slot != srv.Slot() {
				t.Errorf("slot %d, want %d", slot, srv.Slot())
			}
		})
	}
}

func TestRateLimitBackoff(t *testing.T) {
	srv := newServer(t)
	cfg := config(srv)
	cfg.BackoffMax = 2 * time.Second // a call waits at most this at a time
	c, err := solana.New("sol", cfg, plugins.Env{})
	if err != nil {
		t.Fatal(err)
	}
	srv.RateLimit(2) // two 429 answers with Retry-After: 1
	calls := srv.Calls("getSlot")
	begin := time.Now()
	err = c.Do(context.Background(), "getSlot", func(ctx context.Context, cl *rpc.Client) error {
		_, err := cl.GetSlot(ctx, rpc.CommitmentProcessed)
		return err
	})
	if err != nil {
		t.Fatalf("Do after 429s: %v", err)
	}
	if took := time.Since(begin); took < 2*time.Second {
		t.Errorf("served after %v: the Retry-After of 1 s was not honoured twice", took)
	}
	if got := srv.Calls("getSlot") - calls; got != 1 {
		t.Errorf("getSlot served %d times, want 1", got)
	}

	// With a deadline shorter than the wait, Do gives up with ctx's error.
	srv.RateLimit(1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = c.Do(ctx, "getSlot", func(ctx context.Context, cl *rpc.Client) error {
		_, err := cl.GetSlot(ctx, rpc.CommitmentProcessed)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("rate limited past the deadline: %v, want deadline exceeded", err)
	}
}

func TestWSFailoverAndStall(t *testing.T) {
	srv := newServer(t)
	cfg := config(srv)
	cfg.WS = []string{deadURL(t, "ws"), srv.WSURL()}
	cfg.MaxSlotAge = 300 * time.Millisecond
	c, logs := start(t, cfg)
	waitFor(t, func() bool { return c.Connected() != "" }, "a pubsub connection")
	if strings.Contains(logs.String(), "SECRET") || strings.Contains(logs.String(), "secret-path") {
		t.Errorf("logs show the endpoint's secrets:\n%s", logs)
	}
	// No slots are produced: the stall watch gives the endpoint up.
	waitFor(t, func() bool { return strings.Contains(logs.String(), "no slot notification for") }, "the stall watch")
	// Slots again: the connection holds, and the status follows them.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				srv.Produce(1)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	waitFor(t, func() bool {
		st := c.ChainStatus()
		return st.Head >= 3 && st.Endpoint == "ws://"+strings.TrimPrefix(srv.WSURL(), "ws://")
	}, "the head to follow slots")
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConfigValidate(t *testing.T) {
	_ = fmt.Sprint()
}

func caller() string {
	_, file, line, _ := runtime.Caller(2)
	return fmt.Sprintf("%s:%d", file, line)
}

// An endpoint that accepts the WebSocket and drops it at once is retried
// with backoff, not in a loop.
func TestDroppingEndpointBacksOff(t *testing.T) {
	var accepts atomic.Int64
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		accepts.Add(1)
		c.CloseNow()
	}))
	defer ws.Close()
	srv := newServer(t)
	cfg := config(srv)
	cfg.WS = []string{"ws" + strings.TrimPrefix(ws.URL, "http")}
	cfg.BackoffInitial, cfg.BackoffMax = 100*time.Millisecond, 200*time.Millisecond
	start(t, cfg)
	time.Sleep(time.Second)
	if n := accepts.Load(); n < 2 || n > 15 {
		t.Errorf("%d connections in 1 s, want a few (backoff 100-200 ms)", n)
	}
}
