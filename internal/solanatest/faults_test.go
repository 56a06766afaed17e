package solanatest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go/rpc"
)

func TestDropConnections(t *testing.T) {
	s := newServer(t, Options{})
	c := wsClient(t, s)
	ctx := testCtx(t)
	slots, err := c.SlotSubscribe()
	if err != nil {
		t.Fatalf("SlotSubscribe: %v", err)
	}
	waitSubs(t, s, 1)
	s.DropConnections()
	if _, err := slots.Recv(ctx); err == nil {
		t.Fatal("subscription survived DropConnections")
	}
	waitSubs(t, s, 0)

	c2 := wsClient(t, s)
	slots2, err := c2.SlotSubscribe()
	if err != nil {
		t.Fatalf("SlotSubscribe after drop: %v", err)
	}
	waitSubs(t, s, 1)
	s.Produce(1)
	if got, err := slots2.Recv(ctx); err != nil || got.Slot != 1 {
		t.Fatalf("slot after reconnect %+v, %v", got, err)
	}
}

func TestInject(t *testing.T) {
	s := newServer(t, Options{})
	r1, r2 := dialRaw(t, s), dialRaw(t, s)
	// A round trip makes sure both connections are registered.
	r1.call(`{"jsonrpc":"2.0","id":1,"method":"getHealth"}`)
	r2.call(`{"jsonrpc":"2.0","id":1,"method":"getHealth"}`)
	const junk = `{"jsonrpc":"2.0","method":"slotNotification","params":{"result":"garbage`
	s.Inject([]byte(junk))
	for _, r := range []*rawWS{r1, r2} {
		if got := r.recv(); got != junk {
			t.Fatalf("injected %q, got %q", junk, got)
		}
	}
}

func TestRateLimit(t *testing.T) {
	s := newServer(t, Options{})
	c := rpcClient(t, s)
	ctx := testCtx(t)
	s.RateLimit(2)
	resp, body := post(t, s, `{"jsonrpc":"2.0","id":7,"method":"getSlot"}`)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || !json.Valid(body) || !strings.Contains(string(body), `"id":7`) {
		t.Fatalf("rate limited: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if _, err := c.GetSlot(ctx, rpc.CommitmentProcessed); rpcCode(err) != codeRateLimited {
		t.Fatalf("second call: %v, want a 429 error", err)
	}
	if _, err := c.GetSlot(ctx, rpc.CommitmentProcessed); err != nil {
		t.Fatalf("third call: %v", err)
	}
	if got := s.Calls("getSlot"); got != 1 {
		t.Fatalf("Calls(getSlot) = %d, want 1 (rate-limited requests are not served)", got)
	}
}

func TestFailRPC(t *testing.T) {
	s := newServer(t, Options{})
	c := rpcClient(t, s)
	ctx := testCtx(t)
	s.FailRPC("getSlot", 2)
	for i := range 2 {
		if _, err := c.GetSlot(ctx, ""); rpcCode(err) != codeNodeUnhealthy || !strings.Contains(err.Error(), "Node is behind") {
			t.Fatalf("call %d: %v, want -32005", i, err)
		}
	}
	if _, err := c.GetSlot(ctx, ""); err != nil {
		t.Fatalf("third call: %v", err)
	}
	if _, err := c.GetHealth(ctx); err != nil {
		t.Fatalf("other method: %v", err)
	}
	s.FailRPC("slotSubscribe", 1)
	r := dialRaw(t, s)
	if got := r.call(`{"jsonrpc":"2.0","id":1,"method":"slotSubscribe"}`); got != `{"jsonrpc":"2.0","error":{"code":-32005,"message":"Node is behind"},"id":1}` {
		t.Fatalf("failed subscribe %s", got)
	}
	if got := s.Calls("getSlot"); got != 3 {
		t.Fatalf("Calls(getSlot) = %d, want 3", got)
	}
}

func TestSlowReaderIsCut(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &wsConn{out: make(chan []byte, 2), ctx: ctx, cancel: cancel}
	c.enqueue([]byte("a"))
	c.enqueue([]byte("b"))
	if ctx.Err() != nil {
		t.Fatal("cut before the queue was full")
	}
	c.enqueue([]byte("c"))
	if ctx.Err() == nil {
		t.Fatal("a full queue did not cut the connection")
	}
}

func TestSlotInterval(t *testing.T) {
	s := newServer(t, Options{SlotInterval: 2 * time.Millisecond})
	waitFor(t, "slots", func() bool { return s.Slot() >= 5 })
	s.Close()
	after := s.Slot()
	time.Sleep(10 * time.Millisecond)
	if s.Slot() != after {
		t.Fatal("slots advance after Close")
	}
}

func TestOptions(t *testing.T) {
	if _, err := New(Options{ConfirmDepth: 5, FinalizeDepth: 2}); err == nil {
		t.Fatal("FinalizeDepth below ConfirmDepth accepted")
	}
	if _, err := New(Options{Addr: "256.0.0.1:0"}); err == nil {
		t.Fatal("bad address accepted")
	}
}
