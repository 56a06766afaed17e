package solanatest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"
	"github.com/gagliardetto/solana-go/rpc/ws"
)

// newServer starts a Server closed at the end of the test.
func newServer(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// rpcClient returns a solana-go HTTP client of s.
func rpcClient(t *testing.T, s *Server) *rpc.Client {
	t.Helper()
	c := rpc.New(s.RPCURL())
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// wsClient returns a connected solana-go pubsub client of s.
func wsClient(t *testing.T, s *Server) *ws.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ws.Connect(ctx, s.WSURL())
	if err != nil {
		t.Fatalf("ws.Connect: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// testCtx returns a context that ends with the test or after 10 s.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds, failing the test after 5 s.
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

// waitSubs waits until s has n active subscriptions.
func waitSubs(t *testing.T, s *Server, n int) {
	t.Helper()
	waitFor(t, "subscriptions", func() bool { return s.Subscriptions() == n })
}

// post sends a raw JSON-RPC body and returns the response.
func post(t *testing.T, s *Server, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodPost, s.RPCURL(), bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
	return resp, b
}

// rpcCode returns the JSON-RPC error code of err, 0 when it is none.
func rpcCode(err error) int {
	var re *jsonrpc.RPCError
	if errors.As(err, &re) {
		return re.Code
	}
	return 0
}

// newKey returns a random public key.
func newKey() solana.PublicKey { return solana.NewWallet().PublicKey() }

// sol is lamports per SOL.
const sol = 1_000_000_000
