package evm_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/feedd/feedd/chains/evm"
	"github.com/feedd/feedd/internal/devchain"
)

// A reorg of the held blocks while the chain was cut off is reported before
// the gap, so consumers retract what those blocks held.
func TestReorgWhileAwayBeforeGap(t *testing.T) {
	dev := startDev(t, devchain.Options{Manual: true})
	proxy, err := devchain.NewProxy(dev.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	cfg := config(1337, proxy.WSURL())
	cfg.MaxBackfill = 5
	cfg.PollInterval = time.Hour
	c, _ := runChain(t, cfg)
	base := commit(t, dev, 1)[0]
	waitHead(t, c, base)
	s := record(t, c)
	old := commit(t, dev, 2)
	waitHead(t, c, old[1])
	proxy.Cut()
	if err := dev.Fork(base); err != nil {
		t.Fatal(err)
	}
	branch := commit(t, dev, 20)
	proxy.Restore()
	evs := waitEvents(t, s, func(evs []evm.HeadEvent) bool {
		b := lastBlock(evs)
		return b != nil && b.Hash == branch[19]
	})
	// old[0], old[1], reorg (with branch[0], branch[1]), gap, 6 blocks.
	got := describe(evs)
	if len(evs) < 5 || evs[2].Reorg == nil || evs[5].Gap == nil {
		t.Fatalf("want 2 blocks, a reorg, the 2 replacing blocks and a gap; got %s", got)
	}
	r := evs[2].Reorg
	if r.Depth != 2 || r.Old[0].Hash != old[0] || r.Old[1].Hash != old[1] {
		t.Errorf("reorg %+v, want the two old blocks", r)
	}
	if evs[3].Block.Hash != branch[0] || evs[4].Block.Hash != branch[1] {
		t.Errorf("after the reorg: %s", got)
	}
	checkCanonical(t, dev, evs[6:])
}

// A reorg replacing every held block reports the replaced blocks from the
// oldest held one, and the new blocks from the same number.
func TestReorgDeeperThanHeld(t *testing.T) {
	dev := startDev(t, devchain.Options{Manual: true})
	cfg := config(1337, dev.WSURL())
	cfg.ReorgDepth = 3
	cfg.Confirmations = 2
	c, _ := runChain(t, cfg)
	hs := commit(t, dev, 2)
	waitHead(t, c, hs[1])
	fork := hs[0]
	held := commit(t, dev, 4) // the ring holds the last 3
	waitHead(t, c, held[3])
	s := record(t, c)
	if err := dev.Fork(fork); err != nil {
		t.Fatal(err)
	}
	branch := commit(t, dev, 6)
	evs := waitEvents(t, s, func(evs []evm.HeadEvent) bool {
		b := lastBlock(evs)
		return b != nil && b.Hash == branch[5]
	})
	if evs[0].Reorg == nil {
		t.Fatalf("want a reorg first: %s", describe(evs))
	}
	r := evs[0].Reorg
	if r.Depth != 3 || r.Old[0].Hash != held[1] || len(r.New) == 0 || r.New[0].Number != r.From || evs[1].Block.Number != r.From {
		t.Errorf("reorg depth %d from %d old[0] %s new %v, first block %d; want depth 3 from the oldest held block (%s)",
			r.Depth, r.From, r.Old[0].Hash, r.New, evs[1].Block.Number, held[1])
	}
	checkCanonical(t, dev, evs[1:])
}

// An endpoint whose head stops advancing is given up after max_head_age.
func TestStalledEndpointFailsOver(t *testing.T) {
	stuck := startDev(t, devchain.Options{Manual: true})
	live := startDev(t, devchain.Options{Manual: true})
	cfg := config(1337, stuck.WSURL(), live.WSURL())
	cfg.MaxHeadAge = 300 * time.Millisecond
	c, logs := runChain(t, cfg)
	deadline := time.Now().Add(10 * time.Second)
	var head common.Hash
	for c.Connected() != strings.TrimSuffix(live.WSURL(), "/") {
		if time.Now().After(deadline) {
			t.Fatalf("still on %q; logs:\n%s", c.Connected(), logs)
		}
		head = commit(t, live, 1)[0]
		time.Sleep(20 * time.Millisecond)
	}
	head = commit(t, live, 1)[0]
	waitHead(t, c, head)
	if !strings.Contains(logs.String(), "max_head_age") {
		t.Errorf("no stuck-head message in the logs:\n%s", logs)
	}
}

// An endpoint that refuses batches is asked one request at a time; a
// transient server error does not turn batching off.
func TestBatchRefusedAndTransientErrors(t *testing.T) {
	dev := startDev(t, devchain.Options{Manual: true})
	target, _ := url.Parse(dev.HTTPURL())
	rp := httputil.NewSingleHostReverseProxy(target)
	var batches, transient atomic.Int64
	transient.Store(1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
			batches.Add(1)
			if transient.Add(-1) >= 0 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			http.Error(w, "batch requests are not supported", http.StatusBadRequest)
			return
		}
		r.URL.Path, r.URL.RawQuery = "/", ""
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		rp.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := config(1337, srv.URL+"/v3/SECRET-KEY")
	c, logs := runChain(t, cfg)
	head := commit(t, dev, 1)[0]
	waitHead(t, c, head)
	addrs := []common.Address{dev.Accounts()[1].Address, dev.Accounts()[2].Address, dev.Accounts()[3].Address}
	if _, err := c.Balances(context.Background(), addrs, head); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("the 503 should fail this read, without the key in the error: %v", err)
	}
	bals, err := c.Balances(context.Background(), addrs, head)
	if err != nil {
		t.Fatalf("after a refused batch the reads should go one by one: %v", err)
	}
	if len(bals) != 3 || bals[0].Sign() <= 0 {
		t.Errorf("balances %v", bals)
	}
	if _, err := c.Balances(context.Background(), addrs, head); err != nil {
		t.Fatal(err)
	}
	if n := batches.Load(); n != 2 {
		t.Errorf("%d batches sent; want the failed one, the refused one, then none", n)
	}
	if out := logs.String(); !strings.Contains(out, "refused a batch") || strings.Contains(out, "SECRET") {
		t.Errorf("logs:\n%s", out)
	}
}
