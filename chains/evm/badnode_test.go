package evm_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hangingServer accepts connections and never answers.
type hangingServer struct {
	ln    net.Listener
	open  atomic.Int64
	peak  atomic.Int64
	total atomic.Int64
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newHangingServer(t *testing.T) *hangingServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &hangingServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.total.Add(1)
			n := s.open.Add(1)
			for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				io.Copy(io.Discard, c) // until the client gives up
				c.Close()
				s.open.Add(-1)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// rpcServer answers JSON-RPC over HTTP with answer(method) as the raw
// result, or the raw body when the answer starts with "!".
func rpcServer(t *testing.T, answer func(method string) string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, "batch or garbage", http.StatusBadRequest)
			return
		}
		a := answer(req.Method)
		if strings.HasPrefix(a, "!") {
			w.Write([]byte(a[1:]))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":` + a + `}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBadNodes(t *testing.T) {
	hang := newHangingServer(t)
	html := rpcServer(t, func(string) string { return "!<html>502 Bad Gateway</html>" })
	// Answers the chain id, then garbage for blocks.
	partial := rpcServer(t, func(m string) string {
		if m == "eth_chainId" {
			return `"0x539"`
		}
		return `{"number":"zebra"}`
	})
	cfg := config(1337, "http://"+hang.ln.Addr().String()+"/v3/SECRET-KEY?token=SECRET2", "ws://"+hang.ln.Addr().String(), html.URL, partial.URL,
		"http://127.0.0.1:1/v3/SECRET-KEY")
	cfg.RequestTimeout = 100 * time.Millisecond
	cfg.BackoffMax = 20 * time.Millisecond
	before := runtime.NumGoroutine()
	c, logs := runChain(t, cfg)
	time.Sleep(700 * time.Millisecond)
	mid := runtime.NumGoroutine()
	time.Sleep(1500 * time.Millisecond)
	after := runtime.NumGoroutine()
	if c.Connected() != "" && c.Connected() != strings.TrimSuffix(partial.URL, "/") {
		t.Errorf("connected to %q", c.Connected())
	}
	if _, ok := c.Head(); ok {
		t.Errorf("a head came from garbage")
	}
	if after > mid+10 {
		t.Errorf("goroutines grew from %d to %d while the nodes misbehaved (%d before)", mid, after, before)
	}
	if p := hang.peak.Load(); p > 3 {
		t.Errorf("%d connections to the hanging node open at once; want each given up before the next", p)
	}
	if hang.total.Load() < 4 {
		t.Errorf("only %d attempts on the hanging node in 2 s; timeouts not applied?", hang.total.Load())
	}
	out := logs.String()
	if strings.Contains(out, "SECRET") {
		t.Errorf("an endpoint's secret path or query leaked into the logs:\n%.3000s", out)
	}
	for _, want := range []string{"context deadline exceeded", "eth_chainId", "decode header", "every endpoint failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%.3000s", want, out)
		}
	}
}
