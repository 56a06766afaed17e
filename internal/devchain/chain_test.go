package devchain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	gethlog "github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/params"
	"go.uber.org/goleak"
)

// leakOptions lists the only goroutines the leak checks ignore.
//
// core.(*txSenderCacher).cache: go-ethereum's process-wide sender cacher
// (core.SenderCacher), created once by a sync.Once on first use with
// GOMAXPROCS goroutines that wait on its task channel forever by design.
// It belongs to no Chain and is never stopped.
var leakOptions = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/ethereum/go-ethereum/core.(*txSenderCacher).cache"),
}

// leakWait bounds how long a leak check waits for goroutines to end. The
// p2p server's in-memory node database is a goleveldb DB whose mpoolDrain
// goroutine, on Close, waits up to one second for its pool before exiting;
// it is not ignored, only waited for.
const leakWait = 5 * time.Second

// findLeaks returns goroutines still running after leakWait, ignoring only
// leakOptions (and those running when opts' IgnoreCurrent was taken).
func findLeaks(extra ...goleak.Option) error {
	opts := append(append([]goleak.Option(nil), leakOptions...), extra...)
	deadline := time.Now().Add(leakWait)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := findLeaks(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: leaked goroutines after all tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testCtx returns a context that ends with the test or after 60 s.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startChain starts a chain closed at the end of the test.
func startChain(t *testing.T, opts Options) *Chain {
	t.Helper()
	c, err := Start(testCtx(t), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// dialWS connects an ethclient to url over WebSocket, closed at the end of
// the test.
func dialWS(t *testing.T, url string) *ethclient.Client {
	t.Helper()
	cl, err := ethclient.DialContext(testCtx(t), url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// pollReceipt polls cl every 5 ms until hash has a receipt.
func pollReceipt(ctx context.Context, cl *ethclient.Client, hash common.Hash) (*types.Receipt, error) {
	for {
		r, err := cl.TransactionReceipt(ctx, hash)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ethereum.NotFound) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func mustCommit(t *testing.T, c *Chain) common.Hash {
	t.Helper()
	h, err := c.Commit()
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return h
}

func ether(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(params.Ether)) }
func gwei(n int64) *big.Int  { return new(big.Int).Mul(big.NewInt(n), big.NewInt(params.GWei)) }
func u64(n uint64) *uint64   { return &n }

// A transfer from account 1 to account 2, sent with Transfer and observed
// through an ethclient over the WebSocket URL, in every sealing mode.
func TestTransferOverWebSocket(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		commit bool // the test seals the block itself
	}{
		{name: "instant", opts: Options{}},
		{name: "period", opts: Options{Period: 100 * time.Millisecond}},
		{name: "manual", opts: Options{Manual: true}, commit: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := startChain(t, tt.opts)
			ws := dialWS(t, c.WSURL())

			id, err := ws.ChainID(ctx)
			if err != nil || id.Cmp(big.NewInt(DefaultChainID)) != 0 {
				t.Fatalf("ChainID over WS = %v, %v; want %d", id, err, DefaultChainID)
			}
			accs := c.Accounts()
			from, to := accs[1], accs[2]
			value := ether(3)

			tx, err := c.Transfer(ctx, from, to.Address, value)
			if err != nil {
				t.Fatalf("Transfer: %v", err)
			}
			if tt.commit {
				mustCommit(t, c)
			}
			r, err := pollReceipt(ctx, ws, tx.Hash())
			if err != nil {
				t.Fatalf("receipt over WS: %v", err)
			}
			if r.Status != types.ReceiptStatusSuccessful || r.GasUsed != params.TxGas {
				t.Fatalf("receipt status %d gas %d; want success, %d", r.Status, r.GasUsed, params.TxGas)
			}
			before := new(big.Int).Sub(r.BlockNumber, big.NewInt(1))
			balance := func(a common.Address, at *big.Int) *big.Int {
				b, err := ws.BalanceAt(ctx, a, at)
				if err != nil {
					t.Fatalf("BalanceAt(%s, %v): %v", a, at, err)
				}
				return b
			}
			fee := new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice)
			spent := new(big.Int).Sub(balance(from.Address, before), balance(from.Address, r.BlockNumber))
			if want := new(big.Int).Add(value, fee); spent.Cmp(want) != 0 {
				t.Errorf("sender spent %v; want value+fee %v", spent, want)
			}
			got := new(big.Int).Sub(balance(to.Address, r.BlockNumber), balance(to.Address, before))
			if got.Cmp(value) != 0 {
				t.Errorf("recipient got %v; want %v", got, value)
			}
			if b := balance(to.Address, big.NewInt(0)); b.Cmp(DefaultBalance) != 0 {
				t.Errorf("genesis balance %v; want %v", b, DefaultBalance)
			}
		})
	}
}

// eth_subscribe newHeads over WebSocket delivers every block Commit seals, in
// order.
func TestNewHeadsFollowCommit(t *testing.T) {
	ctx := testCtx(t)
	c := startChain(t, Options{Manual: true})
	ws := dialWS(t, c.WSURL())
	heads := make(chan *types.Header, 16)
	sub, err := ws.SubscribeNewHead(ctx, heads)
	if err != nil {
		t.Fatalf("SubscribeNewHead: %v", err)
	}
	defer sub.Unsubscribe()

	var want []common.Hash
	for range 5 {
		want = append(want, mustCommit(t, c))
	}
	var last uint64
	for i, w := range want {
		select {
		case h := <-heads:
			if h.Hash() != w {
				t.Fatalf("head %d = %s; want %s", i, h.Hash(), w)
			}
			if i > 0 && h.Number.Uint64() != last+1 {
				t.Fatalf("head %d number %d after %d", i, h.Number, last)
			}
			last = h.Number.Uint64()
		case err := <-sub.Err():
			t.Fatalf("subscription: %v", err)
		case <-ctx.Done():
			t.Fatalf("head %d not delivered", i)
		}
	}
}

// With Period or Manual sealing a transaction stays pending until a block is
// sealed; a replacement with the same nonce and higher fees is mined instead
// of the original, which disappears.
func TestPendingAndReplacement(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{name: "manual", opts: Options{Manual: true}},
		{name: "period", opts: Options{Period: 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := startChain(t, tt.opts)
			cl := c.Client()
			accs := c.Accounts()
			from, to := accs[1], accs[2].Address

			if tt.opts.Period > 0 {
				// Send right after a block, so the next one is a
				// whole period away.
				heads := make(chan *types.Header, 1)
				sub, err := cl.SubscribeNewHead(ctx, heads)
				if err != nil {
					t.Fatal(err)
				}
				<-heads
				sub.Unsubscribe()
			}
			nonce, err := cl.PendingNonceAt(ctx, from.Address)
			if err != nil {
				t.Fatal(err)
			}
			orig, err := c.Send(ctx, from, TxRequest{To: &to, Value: ether(1), Nonce: u64(nonce), TipCap: gwei(1), FeeCap: gwei(10)})
			if err != nil {
				t.Fatalf("Send original: %v", err)
			}
			if _, pending, err := cl.TransactionByHash(ctx, orig.Hash()); err != nil || !pending {
				t.Fatalf("original: pending=%v err=%v; want pending", pending, err)
			}
			if _, err := cl.TransactionReceipt(ctx, orig.Hash()); !errors.Is(err, ethereum.NotFound) {
				t.Fatalf("original receipt before sealing: err=%v; want NotFound", err)
			}
			// Not enough of a bump: refused by the pool.
			if _, err := c.Send(ctx, from, TxRequest{To: &to, Value: ether(2), Nonce: u64(nonce), TipCap: gwei(1), FeeCap: gwei(10)}); err == nil {
				t.Fatal("same-fee replacement accepted")
			}
			repl, err := c.Send(ctx, from, TxRequest{To: &to, Value: ether(2), Nonce: u64(nonce), TipCap: gwei(2), FeeCap: gwei(20)})
			if err != nil {
				t.Fatalf("Send replacement: %v", err)
			}
			if pending, queued := c.PoolStats(); pending != 1 || queued != 0 {
				t.Fatalf("pool pending=%d queued=%d; want 1, 0", pending, queued)
			}
			if _, _, err := cl.TransactionByHash(ctx, orig.Hash()); !errors.Is(err, ethereum.NotFound) {
				t.Fatalf("replaced original still known: %v", err)
			}
			if tt.opts.Manual {
				mustCommit(t, c)
			}
			r, err := c.WaitReceipt(ctx, repl.Hash())
			if err != nil {
				t.Fatalf("replacement receipt: %v", err)
			}
			if r.Status != types.ReceiptStatusSuccessful {
				t.Fatalf("replacement failed")
			}
			if _, err := cl.TransactionReceipt(ctx, orig.Hash()); !errors.Is(err, ethereum.NotFound) {
				t.Fatalf("original receipt: err=%v; want NotFound", err)
			}
			if n, err := cl.NonceAt(ctx, from.Address, r.BlockNumber); err != nil || n != nonce+1 {
				t.Fatalf("nonce %d, %v; want %d", n, err, nonce+1)
			}
		})
	}
}

// Rollback drops pending transactions: they are never mined and the nonce
// is free again.
func TestRollbackDropsPending(t *testing.T) {
	ctx := testCtx(t)
	c := startChain(t, Options{Manual: true})
	cl := c.Client()
	accs := c.Accounts()
	tx, err := c.Transfer(ctx, accs[1], accs[2].Address, ether(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Rollback(); err != nil {
		t.Fatal(err)
	}
	if p, q := c.PoolStats(); p != 0 || q != 0 {
		t.Fatalf("pool after Rollback: %d pending, %d queued", p, q)
	}
	mustCommit(t, c)
	if _, _, err := cl.TransactionByHash(ctx, tx.Hash()); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("dropped tx: %v; want NotFound", err)
	}
	if n, err := cl.PendingNonceAt(ctx, accs[1].Address); err != nil || n != tx.Nonce() {
		t.Fatalf("pending nonce %d, %v; want %d", n, err, tx.Nonce())
	}
}

// logEmitterInit deploys a contract whose code, on any call, emits one log
// without topics or data: runtime PUSH1 0 PUSH1 0 LOG0 STOP.
var logEmitterInit = common.FromHex("0x6560006000a0006000526006601af3")

// Fork produces a reorg: the canonical block at a height changes hash,
// newHeads and logs subscribers over WebSocket see the new branch and the
// removed logs, and the transaction of the dropped branch goes back to the
// pool and is mined again on the new branch.
func TestForkReorg(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{name: "manual", opts: Options{Manual: true}},
		// Default mode: the automatic sealer re-mines the re-injected
		// transaction as soon as Fork returns.
		{name: "instant", opts: Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			c := startChain(t, tt.opts)
			cl := c.Client()
			ws := dialWS(t, c.WSURL())
			accs := c.Accounts()

			deploy, err := c.Send(ctx, accs[1], TxRequest{Data: logEmitterInit})
			if err != nil {
				t.Fatal(err)
			}
			if tt.opts.Manual {
				mustCommit(t, c)
			}
			dr, err := c.WaitReceipt(ctx, deploy.Hash())
			if err != nil || dr.Status != types.ReceiptStatusSuccessful {
				t.Fatalf("deploy: %v %+v", err, dr)
			}
			emitter := dr.ContractAddress

			heads := make(chan *types.Header, 64)
			hsub, err := ws.SubscribeNewHead(ctx, heads)
			if err != nil {
				t.Fatal(err)
			}
			defer hsub.Unsubscribe()
			logs := make(chan types.Log, 64)
			lsub, err := ws.SubscribeFilterLogs(ctx, ethereum.FilterQuery{Addresses: []common.Address{emitter}}, logs)
			if err != nil {
				t.Fatal(err)
			}
			defer lsub.Unsubscribe()

			// Old branch: A1 includes tx, then A2, A3.
			tx, err := c.Send(ctx, accs[2], TxRequest{To: &emitter})
			if err != nil {
				t.Fatal(err)
			}
			if tt.opts.Manual {
				mustCommit(t, c)
			}
			r1, err := c.WaitReceipt(ctx, tx.Hash())
			if err != nil {
				t.Fatal(err)
			}
			a1, err := cl.HeaderByHash(ctx, r1.BlockHash)
			if err != nil {
				t.Fatal(err)
			}
			mustCommit(t, c)
			a3 := mustCommit(t, c)

			if err := c.Fork(a1.ParentHash); err != nil {
				t.Fatalf("Fork: %v", err)
			}
			if tt.opts.Manual {
				// The canonical chain ends at A1's parent; tx is
				// pending again.
				if h := c.Head(); h.Hash() != a1.ParentHash {
					t.Fatalf("head after Fork = #%d %s; want A1's parent", h.Number, h.Hash())
				}
				if _, pending, err := cl.TransactionByHash(ctx, tx.Hash()); err != nil || !pending {
					t.Fatalf("tx after Fork: pending=%v err=%v; want pending", pending, err)
				}
				if p, _ := c.PoolStats(); p != 1 {
					t.Fatalf("pool pending %d after Fork; want 1", p)
				}
				if _, err := cl.TransactionReceipt(ctx, tx.Hash()); !errors.Is(err, ethereum.NotFound) {
					t.Fatalf("receipt after Fork: %v; want NotFound", err)
				}
			}
			// New branch, one block longer than the old one.
			var b []common.Hash
			for range 4 {
				b = append(b, mustCommit(t, c))
			}
			canon, err := cl.HeaderByNumber(ctx, a1.Number)
			if err != nil {
				t.Fatal(err)
			}
			if canon.Hash() == a1.Hash() {
				t.Fatalf("block #%d still A1 after the reorg", a1.Number)
			}
			r2, err := c.WaitReceipt(ctx, tx.Hash())
			if err != nil {
				t.Fatal(err)
			}
			if r2.BlockHash == r1.BlockHash {
				t.Fatal("tx receipt still points at A1")
			}
			if onNew, err := cl.HeaderByNumber(ctx, r2.BlockNumber); err != nil || onNew.Hash() != r2.BlockHash {
				t.Fatalf("tx's new block is not canonical: %v", err)
			}

			// newHeads: A1..A3, then (after Fork) A1's parent, then the
			// new branch ending at b[3]; the height goes down once.
			var seen []*types.Header
			for done := false; !done; {
				select {
				case h := <-heads:
					seen = append(seen, h)
					done = h.Hash() == b[len(b)-1]
				case err := <-hsub.Err():
					t.Fatalf("newHeads: %v", err)
				case <-ctx.Done():
					t.Fatalf("newHeads never reached the new branch's tip; saw %d heads", len(seen))
				}
			}
			sawA3, sawParent, wentDown := false, false, false
			for i, h := range seen {
				sawA3 = sawA3 || h.Hash() == a3
				sawParent = sawParent || h.Hash() == a1.ParentHash
				if i > 0 && h.Number.Cmp(seen[i-1].Number) <= 0 {
					wentDown = true
				}
			}
			if !sawA3 || !sawParent || !wentDown {
				t.Errorf("newHeads: sawA3=%v sawForkPoint=%v heightWentDown=%v", sawA3, sawParent, wentDown)
			}

			// logs: the log of A1, the same log removed, then the log
			// of tx's new block.
			wantLogs := []struct {
				block   common.Hash
				removed bool
			}{{r1.BlockHash, false}, {r1.BlockHash, true}, {r2.BlockHash, false}}
			for i, w := range wantLogs {
				select {
				case l := <-logs:
					if l.BlockHash != w.block || l.Removed != w.removed || l.TxHash != tx.Hash() {
						t.Errorf("log %d: block %s removed=%v tx %s; want block %s removed=%v", i, l.BlockHash, l.Removed, l.TxHash, w.block, w.removed)
					}
				case err := <-lsub.Err():
					t.Fatalf("logs: %v", err)
				case <-ctx.Done():
					t.Fatalf("log %d not delivered", i)
				}
			}
		})
	}
}

// AdjustTime moves chain time forward by at least the adjustment.
func TestAdjustTime(t *testing.T) {
	c := startChain(t, Options{Manual: true})
	before := c.Head().Time
	if err := c.AdjustTime(time.Hour); err != nil {
		t.Fatal(err)
	}
	if after := c.Head().Time; after < before+3600 {
		t.Fatalf("head time %d; want ≥ %d", after, before+3600)
	}
	if err := c.AdjustTime(-time.Second); err == nil {
		t.Fatal("negative adjustment accepted")
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		wantErr  bool
		accounts int
		chainID  int64
	}{
		{name: "defaults", opts: Options{}, accounts: 1 + DefaultAccounts, chainID: DefaultChainID},
		{name: "no extra accounts", opts: Options{Accounts: -1}, accounts: 1, chainID: DefaultChainID},
		{name: "three accounts and chain id", opts: Options{Accounts: 3, ChainID: big.NewInt(31337)}, accounts: 4, chainID: 31337},
		{name: "manual with period", opts: Options{Manual: true, Period: time.Second}, wantErr: true},
		{name: "negative period", opts: Options{Period: -time.Second}, wantErr: true},
		{name: "zero chain id", opts: Options{ChainID: big.NewInt(0)}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			c, err := Start(ctx, tt.opts)
			if tt.wantErr {
				if err == nil {
					c.Close()
					t.Fatal("Start succeeded; want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := len(c.Accounts()); got != tt.accounts {
				t.Errorf("%d accounts; want %d", got, tt.accounts)
			}
			if got, err := c.Client().ChainID(ctx); err != nil || got.Int64() != tt.chainID || c.ChainID().Int64() != tt.chainID {
				t.Errorf("chain id %v (%v), ChainID() %v; want %d", got, err, c.ChainID(), tt.chainID)
			}
			for i, a := range c.Accounts() {
				if b, err := c.Client().BalanceAt(ctx, a.Address, nil); err != nil || b.Cmp(DefaultBalance) != 0 {
					t.Errorf("account %d balance %v, %v", i, b, err)
				}
			}
		})
	}
}

// Accounts are derived from the seed: same seed, same accounts; another seed,
// other accounts.
func TestAccountsDeterministic(t *testing.T) {
	a := startChain(t, Options{Manual: true, Accounts: 2}).Accounts()
	b := startChain(t, Options{Manual: true, Accounts: 2}).Accounts()
	c := startChain(t, Options{Manual: true, Accounts: 2, Seed: "other"}).Accounts()
	for i := range a {
		if a[i].Address != b[i].Address {
			t.Errorf("account %d differs between runs with the same seed", i)
		}
		if a[i].Address == c[i].Address {
			t.Errorf("account %d equal under another seed", i)
		}
	}
}

// Methods of a closed chain fail with ErrClosed; Close is idempotent.
func TestClosed(t *testing.T) {
	c, err := Start(testCtx(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Commit(); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit: %v", err)
	}
	if err := c.Fork(common.Hash{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Fork: %v", err)
	}
	if err := c.AdjustTime(time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("AdjustTime: %v", err)
	}
	if err := c.Rollback(); !errors.Is(err, ErrClosed) {
		t.Errorf("Rollback: %v", err)
	}
}

// Start and Close 20 times (in every mode) without leaking goroutines or
// ports.
func TestStartCloseLoop(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	modes := []Options{{}, {Manual: true}, {Period: 10 * time.Millisecond}}
	var addrs []string
	var total time.Duration
	for i := range 20 {
		t0 := time.Now()
		c, err := Start(testCtx(t), modes[i%len(modes)])
		if err != nil {
			t.Fatalf("Start %d: %v", i, err)
		}
		total += time.Since(t0)
		// Close with a WebSocket subscriber still connected: its
		// subscription must end with an error.
		ws := dialWS(t, c.WSURL())
		if _, err := ws.BlockNumber(testCtx(t)); err != nil {
			t.Fatalf("BlockNumber %d: %v", i, err)
		}
		sub, err := ws.SubscribeNewHead(testCtx(t), make(chan *types.Header, 1024))
		if err != nil {
			t.Fatalf("SubscribeNewHead %d: %v", i, err)
		}
		addrs = append(addrs, c.Addr())
		if err := c.Close(); err != nil {
			t.Fatalf("Close %d: %v", i, err)
		}
		select {
		case <-sub.Err():
		case <-time.After(5 * time.Second):
			t.Fatalf("subscription %d survived Close", i)
		}
		ws.Close()
	}
	t.Logf("mean Start time over 20 runs: %v", total/20)
	for _, a := range addrs {
		if conn, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Close", a)
		}
	}
	if err := findLeaks(ignore); err != nil {
		t.Fatal(err)
	}
}

// TestMeasure reports (with -v) Start time, the empty-block Commit rate, the
// latency from Transfer to receipt in the default mode, and the memory a
// chain holds.
func TestMeasure(t *testing.T) {
	ctx := testCtx(t)
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	c := startChain(t, Options{})
	start := time.Since(t0)
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)

	const n = 200
	t0 = time.Now()
	for range n {
		mustCommit(t, c)
	}
	rate := float64(n) / time.Since(t0).Seconds()

	accs := c.Accounts()
	var worst, sum time.Duration
	const txs = 20
	for range txs {
		t0 = time.Now()
		tx, err := c.Transfer(ctx, accs[1], accs[2].Address, big.NewInt(1))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitReceipt(ctx, tx.Hash()); err != nil {
			t.Fatal(err)
		}
		d := time.Since(t0)
		sum += d
		worst = max(worst, d)
	}
	runtime.GC()
	var m2 runtime.MemStats
	runtime.ReadMemStats(&m2)
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	t.Logf("Start %v; %d empty Commits at %.0f blocks/s; Transfer→receipt mean %v, worst %v over %d; "+
		"heap held by a fresh chain %.1f MiB, after %d blocks %.1f MiB; Go runtime total %.1f MiB",
		start, n, rate, sum/txs, worst, txs,
		mib(m1.HeapAlloc-min(m0.HeapAlloc, m1.HeapAlloc)), n+txs, mib(m2.HeapAlloc-min(m0.HeapAlloc, m2.HeapAlloc)), mib(m2.Sys))
}

// eth_subscribe newHeads and logs are served by subscriptionAPI (which Close
// waits for), not by go-ethereum's FilterAPI.
func TestSubscriptionsTracked(t *testing.T) {
	ctx := testCtx(t)
	c := startChain(t, Options{Manual: true})
	ws := dialWS(t, c.WSURL())
	hsub, err := ws.SubscribeNewHead(ctx, make(chan *types.Header, 1))
	if err != nil {
		t.Fatal(err)
	}
	lsub, err := ws.SubscribeFilterLogs(ctx, ethereum.FilterQuery{}, make(chan types.Log, 1))
	if err != nil {
		t.Fatal(err)
	}
	running := func() int {
		c.subs.mu.Lock()
		defer c.subs.mu.Unlock()
		return c.subs.running
	}
	if n := running(); n != 2 {
		t.Fatalf("%d tracked subscriptions; want 2", n)
	}
	hsub.Unsubscribe()
	lsub.Unsubscribe()
	deadline := time.Now().Add(5 * time.Second)
	for running() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d tracked subscriptions after Unsubscribe", running())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Options.Logger receives the node's logs; go-ethereum's global logger is
// left alone.
func TestLogger(t *testing.T) {
	root := gethlog.Root()
	var buf bytes.Buffer
	var mu sync.Mutex
	h := slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug})
	c := startChain(t, Options{Manual: true, Logger: slog.New(h)})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "devchain started") || !strings.Contains(out, "peer-to-peer") {
		t.Errorf("logger output lacks the package's or the node's records:\n%s", out)
	}
	if gethlog.Root() != root {
		t.Error("go-ethereum's global logger was replaced")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
