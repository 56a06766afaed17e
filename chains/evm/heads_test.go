package evm_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/feedd/feedd/chains/evm"
	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/plugins"
)

// syncBuf is a log sink safe for concurrent writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startDev(t *testing.T, opts devchain.Options) *devchain.Chain {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dev, err := devchain.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dev.Close() })
	return dev
}

// config returns a chain config for the endpoints with fast test timings.
func config(chainID uint64, endpoints ...string) evm.Config {
	return evm.Config{ChainID: chainID, Endpoints: endpoints, PollInterval: 50 * time.Millisecond, Confirmations: 3,
		ReorgDepth: 64, MaxBackfill: 256, RequestTimeout: 2 * time.Second, BatchSize: 100,
		BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, PendingTxs: true}
}

// runChain runs a chain until the test ends and returns it with its logs.
func runChain(t *testing.T, cfg evm.Config) (*evm.Chain, *syncBuf) {
	t.Helper()
	logs := &syncBuf{}
	c, err := evm.New("devnet", cfg, plugins.Env{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return c, logs
}

// next returns the next head event or fails after d.
func next(t *testing.T, sub *evm.Subscription, d time.Duration) evm.HeadEvent {
	t.Helper()
	select {
	case ev := <-sub.Events():
		return ev
	case <-time.After(d):
		t.Fatalf("no head event within %v", d)
	}
	return evm.HeadEvent{}
}

// waitHead waits until the chain's head is hash.
func waitHead(t *testing.T, c *evm.Chain, hash common.Hash) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, ok := c.Head(); ok && b.Hash == hash {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	b, _ := c.Head()
	t.Fatalf("head did not reach %s (at %+v)", hash, b)
}

func commit(t *testing.T, dev *devchain.Chain, n int) []common.Hash {
	t.Helper()
	var out []common.Hash
	for i := 0; i < n; i++ {
		h, err := dev.Commit()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

// stream records every event of a subscription.
type stream struct {
	mu  sync.Mutex
	evs []evm.HeadEvent
}

func record(t *testing.T, c *evm.Chain) *stream {
	s := &stream{}
	sub := c.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-sub.Events():
				s.mu.Lock()
				s.evs = append(s.evs, ev)
				s.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait(); sub.Close() })
	return s
}

func (s *stream) events() []evm.HeadEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]evm.HeadEvent(nil), s.evs...)
}

// checkCanonical asserts that the Block events form one chain without gap
// or repeat from the first one on, ending at the dev chain's head, and that
// every block is canonical on the node.
func checkCanonical(t *testing.T, dev *devchain.Chain, evs []evm.HeadEvent) {
	t.Helper()
	var prev *evm.Block
	seen := map[common.Hash]bool{}
	for _, ev := range evs {
		b := ev.Block
		if b == nil {
			t.Fatalf("unexpected non-block event %+v", ev)
		}
		if seen[b.Hash] {
			t.Fatalf("block %d %s delivered twice", b.Number, b.Hash)
		}
		seen[b.Hash] = true
		if prev != nil && (b.Number != prev.Number+1 || b.ParentHash != prev.Hash) {
			t.Fatalf("block %d (parent %s) does not follow %d %s", b.Number, b.ParentHash, prev.Number, prev.Hash)
		}
		h, err := dev.Client().HeaderByNumber(context.Background(), new(big.Int).SetUint64(b.Number))
		if err != nil {
			t.Fatal(err)
		}
		if h.Hash() != b.Hash {
			t.Fatalf("block %d: got %s, canonical is %s", b.Number, b.Hash, h.Hash())
		}
		prev = b
	}
	if prev == nil || prev.Hash != dev.Head().Hash() {
		t.Fatalf("stream ends at %+v, node head is %s", prev, dev.Head().Hash())
	}
}

func waitEvents(t *testing.T, s *stream, cond func([]evm.HeadEvent) bool) []evm.HeadEvent {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if evs := s.events(); cond(evs) {
			return evs
		}
		time.Sleep(5 * time.Millisecond)
	}
	evs := s.events()
	t.Fatalf("condition not met; %d events: %s", len(evs), describe(evs))
	return nil
}

func describe(evs []evm.HeadEvent) string {
	var parts []string
	for _, ev := range evs {
		switch {
		case ev.Block != nil:
			parts = append(parts, fmt.Sprintf("block %d", ev.Block.Number))
		case ev.Reorg != nil:
			parts = append(parts, fmt.Sprintf("reorg from %d depth %d", ev.Reorg.From, ev.Reorg.Depth))
		case ev.Gap != nil:
			parts = append(parts, fmt.Sprintf("gap %d-%d", ev.Gap.From, ev.Gap.To))
		}
	}
	return strings.Join(parts, ", ")
}

func lastBlock(evs []evm.HeadEvent) *evm.Block {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Block != nil {
			return evs[i].Block
		}
	}
	return nil
}

func TestFollowsHeads(t *testing.T) {
	for _, mode := range []string{"websocket", "http"} {
		t.Run(mode, func(t *testing.T) {
			dev := startDev(t, devchain.Options{Manual: true})
			url := dev.WSURL()
			if mode == "http" {
				url = dev.HTTPURL()
			}
			c, _ := runChain(t, config(1337, url))
			base := commit(t, dev, 1)[0]
			waitHead(t, c, base)
			s := record(t, c)
			hashes := commit(t, dev, 5)
			evs := waitEvents(t, s, func(evs []evm.HeadEvent) bool {
				b := lastBlock(evs)
				return b != nil && b.Hash == hashes[4]
			})
			checkCanonical(t, dev, evs)
			if len(evs) != 5 {
				t.Fatalf("want 5 blocks, got %s", describe(evs))
			}
		})
	}
}

func TestBackfillAfterTheWebSocketIsCut(t *testing.T) {
	dev := startDev(t, devchain.Options{Manual: true})
	proxy, err := devchain.NewProxy(dev.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	cfg := config(1337, proxy.WSURL())
	cfg.PollInterval = time.Hour // only notifications and reconnects move the head
	c, logs := runChain(t, cfg)
	waitHead(t, c, commit(t, dev, 1)[0])
	s := record(t, c)
	commit(t, dev, 3)
	proxy.Cut()
	commit(t, dev, 20) // while disconnected
	proxy.Restore()
	last := commit(t, dev, 1)[0]
	evs := waitEvents(t, s, func(evs []evm.HeadEvent) bool {
		b := lastBlock(evs)
		return b != nil && b.Hash == last
	})
	checkCanonical(t, dev, evs)
	if len(evs) != 24 {
		t.Fatalf("want 24 blocks, got %d: %s", len(evs), describe(evs))
	}
	if !strings.Contains(logs.String(), "backfilled missed blocks") {
		t.Errorf("no backfill logged:\n%s", logs)
	}
}

func TestGapBeyondMaxBackfill(t *testing.T) {
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
	first := commit(t, dev, 1)[0]
	waitHead(t, c, first)
	head, _ := c.Head()
	s := record(t, c)
	proxy.Cut()
	missed := commit(t, dev, 20)
	proxy.Restore()
	last := missed[19]
	evs := waitEvents(t, s, func(evs []evm.HeadEvent) bool {
		b := lastBlock(evs)
		return b != nil && b.Hash == last
	})
	if len(evs) == 0 || evs[0].Gap == nil {
		t.Fatalf("want a gap first, got %s", describe(evs))
	}
	g := evs[0].Gap
	// 20 blocks arrived: the 5 before the new head are backfilled, the
	// 14 before them skipped.
	if g.From != head.Number+1 || g.To != head.Number+14 {
		t.Errorf("gap %d-%d, want %d-%d", g.From, g.To, head.Number+1, head.Number+14)
	}
	checkCanonical(t, dev, evs[1:])
	if len(evs[1:]) != 6 {
		t.Errorf("want max_backfill (5) blocks and the head after the gap, got %s", describe(evs))
	}
}

func TestReorg(t *testing.T) {
	dev := startDev(t, devchain.Options{Manual: true})
	c, logs := runChain(t, config(1337, dev.WSURL()))
	base := commit(t, dev, 2)[1]
	waitHead(t, c, base)
	s := record(t, c)
	old := commit(t, dev, 3)
	waitHead(t, c, old[2])
	if err := dev.Fork(base); err != nil {
		t.Fatal(err)
	}
	replacement := commit(t, dev, 5)
	evs := waitEvents(t, s, func(evs []evm.HeadEvent) bool {
		b := lastBlock(evs)
		return b != nil && b.Hash == replacement[4]
	})
	// 3 old blocks, the reorg, 5 new blocks.
	if len(evs) != 9 || evs[3].Reorg == nil {
		t.Fatalf("want 3 blocks, a reorg and 5 blocks; got %s", describe(evs))
	}
	r := evs[3].Reorg
	if r.Depth != 3 || r.From != evs[0].Block.Number {
		t.Errorf("reorg depth %d from %d, want 3 from %d", r.Depth, r.From, evs[0].Block.Number)
	}
	for i, ref := range r.Old {
		if ref.Hash != old[i] {
			t.Errorf("old[%d] = %s, want %s", i, ref.Hash, old[i])
		}
	}
	if len(r.New) == 0 || r.New[0].Hash != replacement[0] {
		t.Errorf("new = %v, want it to start with %s", r.New, replacement[0])
	}
	if evs[4].Block.ParentHash != base {
		t.Errorf("first new block's parent %s, want the common ancestor %s", evs[4].Block.ParentHash, base)
	}
	checkCanonical(t, dev, evs[4:])
	if !strings.Contains(logs.String(), "msg=reorg") {
		t.Errorf("reorg not logged:\n%s", logs)
	}
}

func TestChainIDMismatch(t *testing.T) {
	dev := startDev(t, devchain.Options{Manual: true})
	c, logs := runChain(t, config(1, dev.WSURL()))
	deadline := time.Now().Add(10 * time.Second)
	want := "serves chain id 1337, but chain devnet is configured with chain_id 1"
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("mismatch not reported; logs:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ep := c.Connected(); ep != "" {
		t.Errorf("connected to %s despite the mismatch", ep)
	}
}

func TestFailoverToTheNextEndpoint(t *testing.T) {
	dev := startDev(t, devchain.Options{Manual: true})
	proxy, err := devchain.NewProxy(dev.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	// The WebSocket through the proxy is preferred; the HTTP endpoint takes over.
	c, logs := runChain(t, config(1337, dev.HTTPURL(), proxy.WSURL()))
	waitHead(t, c, commit(t, dev, 1)[0])
	if got := c.Connected(); !strings.HasPrefix(got, "ws://") {
		t.Fatalf("connected to %q, want the WebSocket endpoint first", got)
	}
	s := record(t, c)
	commit(t, dev, 2)
	proxy.Cut()
	last := commit(t, dev, 4)[3]
	evs := waitEvents(t, s, func(evs []evm.HeadEvent) bool {
		b := lastBlock(evs)
		return b != nil && b.Hash == last
	})
	checkCanonical(t, dev, evs)
	if got := c.Connected(); !strings.HasPrefix(got, "http://") {
		t.Errorf("connected to %q after the cut, want the HTTP endpoint", got)
	}
	if !strings.Contains(logs.String(), "failing over") {
		t.Errorf("failover not logged:\n%s", logs)
	}
}

func TestBatchedReads(t *testing.T) {
	dev := startDev(t, devchain.Options{Manual: true})
	cfg := config(1337, dev.WSURL())
	cfg.BatchSize = 7
	c, _ := runChain(t, cfg)
	head := commit(t, dev, 1)[0]
	waitHead(t, c, head)
	accts := dev.Accounts()
	var addrs []common.Address
	for i := 0; i < 25; i++ {
		addrs = append(addrs, accts[i%len(accts)].Address)
	}
	bals, err := c.Balances(context.Background(), addrs, head)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range addrs {
		want, err := dev.Client().BalanceAt(context.Background(), a, nil)
		if err != nil {
			t.Fatal(err)
		}
		if bals[i].Cmp(want) != 0 {
			t.Errorf("%s: %s, want %s", a, bals[i], want)
		}
	}
}
