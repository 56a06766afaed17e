package evm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/feedd/feedd/internal/endpoint"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
	"go.opentelemetry.io/otel/metric/noop"
	tnoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/internal/clock"
	"github.com/feedd/feedd/internal/telemetry"
	"github.com/feedd/feedd/plugins"
)

// ErrNotConnected is returned by calls made while no endpoint is connected.
var ErrNotConnected = errors.New("not connected to any endpoint")

// Chain is one configured EVM chain: a connection to one of its endpoints at
// a time and the canonical head stream. It is safe for concurrent use.
type Chain struct {
	name string
	cfg  Config
	env  plugins.Env
	log  *slog.Logger
	clk  clock.Clock
	m    *metrics

	mu   sync.RWMutex
	conn *conn // nil while disconnected

	heads    tracker
	decimals decimalsCache
	pending  pendingListeners
}

// conn is one dialled endpoint.
type conn struct {
	endpoint string // redacted: scheme://host
	raw      string // as configured (may hold an API key): never logged
	rpc      *rpc.Client
	ws       bool
	inst     *telemetry.RPC
	timeout  time.Duration
	noBatch  atomic.Bool // the endpoint refused a batch: one request at a time
}

// New returns the chain called name; nothing is dialled until Run.
func New(name string, cfg Config, env plugins.Env) (*Chain, error) {
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	if env.Clock == nil {
		env.Clock = clock.Real{}
	}
	if env.Tracer == nil {
		env.Tracer = tnoop.NewTracerProvider().Tracer("")
	}
	if env.Meter == nil {
		env.Meter = noop.NewMeterProvider().Meter("")
	}
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("no endpoints")
	}
	c := &Chain{name: name, cfg: cfg, env: env, log: env.Logger, clk: env.Clock}
	c.pending.added = make(chan struct{}, 1)
	c.heads.init(c)
	var err error
	if c.m, err = newMetrics(env.Meter, c); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return c, nil
}

// Lookup returns the evm chain called name from a plugin's environment, or
// an error naming it when there is none or it is not an evm chain.
func Lookup(env plugins.Env, name string) (*Chain, error) {
	return plugins.LookupChain[*Chain](env, name, "evm")
}

// Name returns the chain's name in the configuration.
func (c *Chain) Name() string { return c.name }

// ChainID returns the configured chain id.
func (c *Chain) ChainID() uint64 { return c.cfg.ChainID }

// Confirmations returns how many blocks confirm an event (the including
// block counts as one).
func (c *Chain) Confirmations() uint64 { return c.cfg.Confirmations }

// Config returns the chain's configuration.
func (c *Chain) Config() Config { return c.cfg }

// Connected returns the endpoint in use (scheme and host only), or "".
func (c *Chain) Connected() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.conn == nil {
		return ""
	}
	return c.conn.endpoint
}

// ChainStatus reports the endpoint in use and the head.
func (c *Chain) ChainStatus() plugins.ChainStatus {
	st := plugins.ChainStatus{Name: c.name, Type: "evm", Endpoint: c.Connected()}
	if b, ok := c.Head(); ok {
		st.Head, st.HeadHash, st.HeadTime = b.Number, b.Hash.Hex(), int64(b.Time)*1000
	}
	return st
}

// Run connects to the endpoints (WebSocket ones first, then the others in
// order), follows the head on the first that works, and fails over to the
// next when it fails, waiting with backoff after a round in which every
// endpoint failed. It returns nil once ctx ends.
func (c *Chain) Run(ctx context.Context) error {
	order := orderEndpoints(c.cfg.Endpoints)
	policy := backoff.Policy{Initial: c.cfg.BackoffInitial, Max: c.cfg.BackoffMax}
	for round := 0; ctx.Err() == nil; round++ {
		healthy := false
		for _, ep := range order {
			if ctx.Err() != nil {
				return nil
			}
			cn, err := c.dial(ctx, ep)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				c.log.Error("endpoint unusable", "endpoint", endpoint.Redact(ep), "error", err)
				c.m.Failovers.Add(ctx, 1, c.m.Attrs)
				continue
			}
			c.log.Info("connected", "endpoint", cn.endpoint, "websocket", cn.ws)
			start := c.clk.Now()
			c.setConn(cn)
			err = c.follow(ctx, cn)
			c.setConn(nil)
			cn.rpc.Close()
			if ctx.Err() != nil {
				return nil
			}
			if c.clk.Now().Sub(start) > time.Minute {
				healthy = true
			}
			c.log.Warn("endpoint failed; failing over", "endpoint", cn.endpoint, "error", err)
			c.m.Failovers.Add(ctx, 1, c.m.Attrs)
		}
		if healthy {
			round = 0
		}
		wait := policy.Delay(round, rand.Float64)
		c.log.Warn("every endpoint failed; waiting", "in", wait)
		t := c.clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
	return nil
}

// orderEndpoints puts WebSocket endpoints first, keeping the configured
// order otherwise.
func orderEndpoints(eps []string) []string {
	var ws, other []string
	for _, e := range eps {
		if strings.HasPrefix(e, "ws://") || strings.HasPrefix(e, "wss://") {
			ws = append(ws, e)
		} else {
			other = append(other, e)
		}
	}
	return append(ws, other...)
}

// dial connects to endpoint and checks its chain id.
func (c *Chain) dial(ctx context.Context, rawURL string) (*conn, error) {
	name := endpoint.Redact(rawURL)
	dctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	opts := []rpc.ClientOption{rpc.WithHTTPClient(&http.Client{Timeout: c.cfg.RequestTimeout})}
	client, err := rpc.DialOptions(dctx, rawURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", name, endpoint.RedactError(err, rawURL))
	}
	inst, err := telemetry.NewRPC(c.env.Tracer, c.env.Meter, "jsonrpc", c.name, name)
	if err != nil {
		client.Close()
		return nil, err
	}
	cn := &conn{endpoint: name, raw: rawURL, rpc: client, inst: inst, timeout: c.cfg.RequestTimeout,
		ws: strings.HasPrefix(rawURL, "ws://") || strings.HasPrefix(rawURL, "wss://")}
	var id hexutil.Big
	if err := cn.call(dctx, &id, "eth_chainId"); err != nil {
		client.Close()
		return nil, fmt.Errorf("eth_chainId on %s: %w", name, err)
	}
	if got := id.ToInt(); !got.IsUint64() || got.Uint64() != c.cfg.ChainID {
		client.Close()
		return nil, fmt.Errorf("endpoint %s serves chain id %s, but chain %s is configured with chain_id %d", name, got, c.name, c.cfg.ChainID)
	}
	return cn, nil
}

func (c *Chain) setConn(cn *conn) {
	c.mu.Lock()
	c.conn = cn
	c.mu.Unlock()
}

func (c *Chain) current() *conn {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.conn
}

// call makes one instrumented request bounded by the request timeout.
func (cn *conn) call(ctx context.Context, result any, method string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, cn.timeout)
	defer cancel()
	err := cn.inst.Call(ctx, method, func(ctx context.Context) error {
		return cn.rpc.CallContext(ctx, result, method, args...)
	})
	return endpoint.RedactError(err, cn.raw)
}

// Call makes one JSON-RPC request on the endpoint in use, bounded by the
// request timeout, with a client span and the RPC metrics.
func (c *Chain) Call(ctx context.Context, result any, method string, args ...any) error {
	cn := c.current()
	if cn == nil {
		return ErrNotConnected
	}
	return cn.call(ctx, result, method, args...)
}

// Batch sends elems in JSON-RPC batches of at most batch_size (one by one
// when batching is off or the endpoint refused a batch). The returned error
// is about the transport; each element's own error is in its Error field.
func (c *Chain) Batch(ctx context.Context, elems []rpc.BatchElem) error {
	cn := c.current()
	if cn == nil {
		return ErrNotConnected
	}
	return c.batch(ctx, cn, elems)
}

func (c *Chain) batch(ctx context.Context, cn *conn, elems []rpc.BatchElem) error {
	if cn.noBatch.Load() || c.cfg.BatchSize <= 1 || len(elems) == 1 {
		for i := range elems {
			e := &elems[i]
			e.Error = cn.call(ctx, e.Result, e.Method, e.Args...)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return nil
	}
	for lo := 0; lo < len(elems); lo += c.cfg.BatchSize {
		part := elems[lo:min(lo+c.cfg.BatchSize, len(elems))]
		bctx, cancel := context.WithTimeout(ctx, cn.timeout)
		err := cn.inst.Call(bctx, "batch", func(ctx context.Context) error { return cn.rpc.BatchCallContext(ctx, part) })
		cancel()
		if err == nil {
			continue
		}
		if ctx.Err() == nil && batchRefused(err) {
			c.log.Warn("endpoint refused a batch request; sending requests one by one to it", "endpoint", cn.endpoint, "error", endpoint.RedactError(err, cn.raw))
			cn.noBatch.Store(true)
			return c.batch(ctx, cn, elems[lo:])
		}
		return endpoint.RedactError(err, cn.raw)
	}
	return nil
}

// batchRefused tells an endpoint that does not take batches (a client
// error about the request's shape) from a transient failure (rate limits,
// server errors, timeouts), after which batching goes on.
func batchRefused(err error) bool {
	var httpErr rpc.HTTPError
	if errors.As(err, &httpErr) {
		switch httpErr.StatusCode {
		case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusRequestEntityTooLarge, http.StatusNotImplemented:
			return true
		}
		return false
	}
	var rpcErr rpc.Error
	if errors.As(err, &rpcErr) && rpcErr.ErrorCode() == -32600 {
		return true
	}
	m := strings.ToLower(err.Error())
	// A single error object answering a batch does not decode as a list.
	return strings.Contains(m, "batch") || strings.Contains(m, "cannot unmarshal object into")
}

// follow tracks the head on cn until it fails or ctx ends: newHeads
// notifications on a WebSocket, polling otherwise, and a poll whenever no
// notification came for poll_interval (missed notifications, silent nodes).
func (c *Chain) follow(ctx context.Context, cn *conn) error {
	// Subscriptions end when the caller closes the client: no
	// eth_unsubscribe round trip to a node that may be hanging.
	notes := make(chan json.RawMessage, 64)
	var subErr <-chan error
	if cn.ws {
		sctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		sub, err := cn.rpc.EthSubscribe(sctx, notes, "newHeads")
		cancel()
		if err != nil {
			c.log.Warn("newHeads subscription refused; polling", "endpoint", cn.endpoint, "error", endpoint.RedactError(err, cn.raw))
		} else {
			subErr = sub.Err()
		}
	}
	pendErr := make(chan error, 1)
	pendDone := make(chan struct{})
	defer close(pendDone)
	pendingSubscribed := false
	// subscribePending asks for pool announcements once someone listens
	// (evm.tx): a busy node announces hundreds a second, which costs on
	// metered endpoints.
	subscribePending := func() {
		if pendingSubscribed || !cn.ws || !c.cfg.PendingTxs || !c.pending.any() {
			return
		}
		pendingSubscribed = true
		// Drained on a goroutine of its own, so that a slow consumer of the
		// head stream cannot overflow go-ethereum's notification buffer.
		pending := make(chan common.Hash, 1024)
		sctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		sub, err := cn.rpc.EthSubscribe(sctx, pending, "newPendingTransactions")
		cancel()
		if err != nil {
			c.log.Info("pending transaction subscription refused; watched transactions show as pending at the next block", "endpoint", cn.endpoint, "error", endpoint.RedactError(err, cn.raw))
			return
		}
		go func() {
			for {
				select {
				case <-pendDone:
					return
				case err := <-sub.Err():
					if err == nil {
						err = errors.New("subscription ended")
					}
					pendErr <- err
					return
				case h := <-pending:
					c.pending.dispatch(h)
				}
			}
		}()
	}
	subscribePending()
	if err := c.pollHead(ctx, cn); err != nil {
		return err
	}
	lastHead, since := c.headNumber(), c.clk.Now()
	t := c.clk.NewTimer(c.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-subErr:
			if err == nil {
				err = errors.New("subscription ended")
			}
			return fmt.Errorf("newHeads subscription: %w", endpoint.RedactError(err, cn.raw))
		case <-c.pending.added:
			subscribePending()
			continue
		case err := <-pendErr:
			return fmt.Errorf("newPendingTransactions subscription: %w", endpoint.RedactError(err, cn.raw))
		case raw := <-notes:
			h, err := decodeHeader(raw)
			if err != nil {
				c.log.Warn("malformed newHeads notification skipped", "endpoint", cn.endpoint, "error", err)
				continue
			}
			if err := c.onHead(ctx, cn, h, c.clk.Now()); err != nil {
				return err
			}
			t.Reset(c.cfg.PollInterval)
		case <-t.C():
			if err := c.pollHead(ctx, cn); err != nil {
				return err
			}
			t.Reset(c.cfg.PollInterval)
		}
		if n := c.headNumber(); n != lastHead {
			lastHead, since = n, c.clk.Now()
		} else if c.cfg.MaxHeadAge > 0 && c.clk.Now().Sub(since) > c.cfg.MaxHeadAge {
			return fmt.Errorf("head stuck at block %d for more than max_head_age (%v): the endpoint is stalled or behind", n, c.cfg.MaxHeadAge)
		}
	}
}

// headNumber returns the followed head's number, 0 before the first.
func (c *Chain) headNumber() uint64 {
	if b, ok := c.Head(); ok {
		return b.Number
	}
	return 0
}

// pollHead asks for the latest block and follows it.
func (c *Chain) pollHead(ctx context.Context, cn *conn) error {
	var raw json.RawMessage
	if err := cn.call(ctx, &raw, "eth_getBlockByNumber", "latest", false); err != nil {
		return fmt.Errorf("eth_getBlockByNumber latest: %w", err)
	}
	h, err := decodeHeader(raw)
	if err != nil {
		return fmt.Errorf("eth_getBlockByNumber latest: %w", err)
	}
	return c.onHead(ctx, cn, h, c.clk.Now())
}

// onHead follows a head the node announced: unless it is known, the block
// is fetched and the tracker advances to it. A block the node no longer has
// (a race with a reorg) is skipped: the next head or poll catches up.
func (c *Chain) onHead(ctx context.Context, cn *conn, h header, received time.Time) error {
	if c.heads.known(uint64(h.Number), h.Hash) {
		return nil
	}
	b, err := c.blockByHash(ctx, cn, h.Hash)
	if IsNotFound(err) {
		c.log.Debug("announced block not found; waiting for the next head", "number", uint64(h.Number), "hash", h.Hash)
		return nil
	}
	if err != nil {
		return err
	}
	err = c.heads.advance(ctx, cn, b, received)
	if IsNotFound(err) {
		c.log.Debug("block vanished while following the head; waiting for the next one", "error", err)
		return nil
	}
	return err
}

func (c *Chain) blockByHash(ctx context.Context, cn *conn, hash interface{ Hex() string }) (*Block, error) {
	var raw json.RawMessage
	if err := cn.call(ctx, &raw, "eth_getBlockByHash", hash.Hex(), true); err != nil {
		return nil, fmt.Errorf("eth_getBlockByHash %s: %w", hash.Hex(), err)
	}
	b, err := decodeBlock(raw)
	if err != nil {
		return nil, fmt.Errorf("eth_getBlockByHash %s: %w", hash.Hex(), err)
	}
	return b, nil
}

// fullBlocksPerBatch bounds the blocks with transactions fetched in one
// batch: their answers are large (nodes cap a batch's response size, and a
// WebSocket message's).
const fullBlocksPerBatch = 16

// blocksByNumber fetches blocks lo..hi (inclusive) in small batches; an
// item that fails inside a batch (rate limit, response cap) is asked again
// on its own once. Blocks the node does not have are left out.
func (c *Chain) blocksByNumber(ctx context.Context, cn *conn, lo, hi uint64) (map[uint64]*Block, error) {
	out := map[uint64]*Block{}
	for start := lo; start <= hi && hi >= lo; start += fullBlocksPerBatch {
		end := min(start+fullBlocksPerBatch-1, hi)
		raws := make([]json.RawMessage, end-start+1)
		elems := make([]rpc.BatchElem, len(raws))
		for i := range elems {
			elems[i] = rpc.BatchElem{Method: "eth_getBlockByNumber", Args: []any{hexutil.Uint64(start + uint64(i)), true}, Result: &raws[i]}
		}
		if err := c.batch(ctx, cn, elems); err != nil {
			return nil, fmt.Errorf("fetch blocks %d..%d: %w", start, end, err)
		}
		for i, e := range elems {
			n := start + uint64(i)
			if e.Error != nil {
				if err := cn.call(ctx, &raws[i], "eth_getBlockByNumber", hexutil.Uint64(n), true); err != nil {
					return nil, fmt.Errorf("fetch block %d: %w", n, err)
				}
			}
			b, err := decodeBlock(raws[i])
			if IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("fetch block %d: %w", n, err)
			}
			out[b.Number] = b
		}
		if end == hi {
			break
		}
	}
	return out, nil
}
