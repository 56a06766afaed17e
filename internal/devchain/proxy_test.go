package devchain

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"go.uber.org/goleak"
)

// echoServer echoes lines back until closed at the end of the test.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echo writes msg and reads the echoed line back.
func echo(conn net.Conn, msg string) (string, error) {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, msg+"\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSuffix(line, "\n"), err
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := NewProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// waitFor polls cond every 5 ms for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The proxy forwards bytes both ways; Cut breaks live connections and new
// ones until Restore; Close frees the port and ends every goroutine.
func TestProxyTCP(t *testing.T) {
	target := echoServer(t)
	ignore := goleak.IgnoreCurrent() // the echo server's accept loop
	p, err := NewProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Addr(), "127.0.0.1:") || p.URL("http") != "http://"+p.Addr() || p.WSURL() != "ws://"+p.Addr() {
		t.Fatalf("addresses: %s %s %s", p.Addr(), p.URL("http"), p.WSURL())
	}
	dial := func() net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
		if err != nil {
			t.Fatalf("dial proxy: %v", err)
		}
		return c
	}

	live := dial()
	defer live.Close()
	if got, err := echo(live, "hello"); err != nil || got != "hello" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	waitFor(t, "one active connection", func() bool { return p.Active() == 1 })

	p.Cut()
	if got, err := echo(live, "x"); err == nil {
		t.Fatalf("live connection after Cut: echo %q succeeded", got)
	}
	live.Close()
	// A new connection is reset as soon as the proxy accepts it: on
	// loopback the reset usually arrives before connect returns.
	for range 3 {
		if err := echoThrough(p.Addr()); err == nil {
			t.Fatal("new connection while cut: echo succeeded")
		}
	}
	waitFor(t, "no active connection", func() bool { return p.Active() == 0 })

	p.Restore()
	again := dial()
	if got, err := echo(again, "back"); err != nil || got != "back" {
		t.Fatalf("after Restore: echo = %q, %v", got, err)
	}

	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := echo(again, "gone"); err == nil {
		t.Fatal("connection survived Close")
	}
	again.Close()
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("proxy still listening after Close")
	}
	if err := findLeaks(ignore); err != nil {
		t.Fatal(err)
	}
}

// A target that refuses connections: the client's connection is reset.
func TestProxyTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	p := newProxy(t, dead)
	if err := echoThrough(p.Addr()); err == nil {
		t.Fatal("echo through a proxy to a dead target succeeded")
	}
}

// echoThrough connects to addr and echoes one line; the error is the
// connect's or the echo's.
func echoThrough(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = echo(c, "x")
	return err
}

// A WebSocket client through the proxy loses its subscription and calls on
// Cut, cannot connect until Restore, then reconnects.
func TestProxyWebSocket(t *testing.T) {
	ctx := testCtx(t)
	c := startChain(t, Options{Manual: true})
	p := newProxy(t, c.Addr())

	cl, err := ethclient.DialContext(ctx, p.WSURL())
	if err != nil {
		t.Fatalf("dial through proxy: %v", err)
	}
	defer cl.Close()
	heads := make(chan *types.Header, 4)
	sub, err := cl.SubscribeNewHead(ctx, heads)
	if err != nil {
		t.Fatal(err)
	}
	want := mustCommit(t, c)
	select {
	case h := <-heads:
		if h.Hash() != want {
			t.Fatalf("head %s; want %s", h.Hash(), want)
		}
	case <-ctx.Done():
		t.Fatal("no head through the proxy")
	}

	p.Cut()
	select {
	case err := <-sub.Err():
		if err == nil {
			t.Fatal("subscription ended without error")
		}
		t.Logf("subscription error after Cut: %v", err)
	case <-ctx.Done():
		t.Fatal("subscription survived Cut")
	}
	if _, err := cl.BlockNumber(ctx); err == nil {
		t.Fatal("call through a cut proxy succeeded")
	}
	if cl2, err := ethclient.DialContext(ctx, p.WSURL()); err == nil {
		cl2.Close()
		t.Fatal("new WebSocket connection succeeded while cut")
	}

	p.Restore()
	// A new client connects; the old one reconnects on its next call
	// (go-ethereum's rpc.Client redials WebSocket connections).
	cl3, err := ethclient.DialContext(ctx, p.WSURL())
	if err != nil {
		t.Fatalf("dial after Restore: %v", err)
	}
	defer cl3.Close()
	for name, client := range map[string]*ethclient.Client{"new client": cl3, "old client": cl} {
		if n, err := client.BlockNumber(ctx); err != nil || n != c.Head().Number.Uint64() {
			t.Fatalf("%s after Restore: block %d, %v", name, n, err)
		}
	}
	sub2, err := cl.SubscribeNewHead(ctx, heads)
	if err != nil {
		t.Fatalf("resubscribe: %v", err)
	}
	defer sub2.Unsubscribe()
	want = mustCommit(t, c)
	select {
	case h := <-heads:
		if h.Hash() != want {
			t.Fatalf("head after Restore %s; want %s", h.Hash(), want)
		}
	case err := <-sub2.Err():
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("no head after Restore")
	}
	if p.Active() == 0 {
		t.Fatal("no active connection after Restore")
	}
}
