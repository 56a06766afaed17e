package devchain

import (
	"net"
	"strings"
	"testing"
)

// Options.Addr sets where the JSON-RPC server listens; a taken port or a
// malformed address fails Start.
func TestOptionsAddr(t *testing.T) {
	verifyNoLeaks(t)
	// A free port: listen, note it, close; another process may take it
	// before Start does, so try a few.
	var (
		addr string
		c    *Chain
	)
	for try := 0; c == nil; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		l.Close()
		c, err = Start(testCtx(t), Options{Addr: addr, Manual: true})
		if err != nil && (try == 2 || !strings.Contains(err.Error(), "in use")) {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { c.Close() })
	if c.Addr() != addr || c.WSURL() != "ws://"+addr || c.HTTPURL() != "http://"+addr {
		t.Fatalf("Addr %s, WSURL %s, HTTPURL %s; want %s", c.Addr(), c.WSURL(), c.HTTPURL(), addr)
	}
	ws := dialWS(t, c.WSURL())
	if id, err := ws.ChainID(testCtx(t)); err != nil || id.Int64() != DefaultChainID {
		t.Fatalf("chain id over %s: %v, %v", c.WSURL(), id, err)
	}
	if _, err := Start(testCtx(t), Options{Addr: addr}); err == nil {
		t.Fatal("second chain on a taken port started")
	}
	for _, bad := range []string{"8545", "127.0.0.1:x", "127.0.0.1:70000", "127.0.0.1"} {
		if c2, err := Start(testCtx(t), Options{Addr: bad}); err == nil || !strings.Contains(err.Error(), "Addr") {
			if c2 != nil {
				c2.Close()
			}
			t.Errorf("Addr %q: err %v", bad, err)
		}
	}
	// The default: loopback, a random port.
	c3 := startChain(t, Options{Manual: true})
	if host, _, _ := net.SplitHostPort(c3.Addr()); host != "127.0.0.1" || c3.Addr() == addr {
		t.Errorf("default Addr %s", c3.Addr())
	}
	if !c.Manual() || c.Period() != 0 {
		t.Errorf("Manual %v Period %v", c.Manual(), c.Period())
	}
}

// DeriveAccount gives the chain's accounts without a chain.
func TestDeriveAccount(t *testing.T) {
	c := startChain(t, Options{Accounts: 2, Manual: true})
	for i, a := range c.Accounts() {
		if d := DeriveAccount("", i); d.Address != a.Address || !d.Key.Equal(a.Key) {
			t.Errorf("account %d: %s, chain has %s", i, d.Address, a.Address)
		}
	}
	if DeriveAccount("other", 1).Address == c.Accounts()[1].Address {
		t.Error("seed ignored")
	}
}
