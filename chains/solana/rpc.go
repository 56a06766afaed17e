package solana

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"

	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/internal/endpoint"
	"github.com/feedd/feedd/internal/telemetry"
)

// RPCError is a JSON-RPC error answer of a node: the request reached a
// working node, which refused it (a skipped slot, a bad parameter).
type RPCError struct {
	Method  string
	Code    int
	Message string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("%s: node error %d: %s", e.Method, e.Code, e.Message)
}

// The JSON-RPC error codes of Solana nodes that callers act on.
const (
	// CodeBlockNotAvailable: the block is not (yet) available at the
	// requested commitment.
	CodeBlockNotAvailable = -32004
	// CodeNodeUnhealthy: the node is behind; the request goes to the next
	// endpoint.
	CodeNodeUnhealthy = -32005
	// CodeSlotSkipped: no block was produced in the slot.
	CodeSlotSkipped = -32007
	// CodeLongTermStorageSlotSkipped is CodeSlotSkipped from long-term storage.
	CodeLongTermStorageSlotSkipped = -32009
)

// IsSkipped reports whether err says that a slot has no block.
func IsSkipped(err error) bool {
	var re *RPCError
	return errors.As(err, &re) && (re.Code == CodeSlotSkipped || re.Code == CodeLongTermStorageSlotSkipped)
}

// IsNotAvailable reports whether err says that a block is not available
// yet at the requested commitment.
func IsNotAvailable(err error) bool {
	var re *RPCError
	return errors.As(err, &re) && re.Code == CodeBlockNotAvailable
}

// statusError is an HTTP answer other than 200: 429 (rate limited, with the
// wait the server asked for) or another failure status.
type statusError struct {
	code       int
	retryAfter time.Duration
}

func (e *statusError) Error() string {
	if e.code == http.StatusTooManyRequests {
		return "HTTP 429 Too Many Requests"
	}
	return fmt.Sprintf("HTTP %d %s", e.code, http.StatusText(e.code))
}

// doer is the HTTP client of one endpoint: answers with a failure status
// become statusErrors whatever their body says, so that rate limits and
// server errors are told apart from node errors.
type doer struct{ c *http.Client }

func (d doer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.c.Do(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	se := &statusError{code: resp.StatusCode}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n >= 0 {
			se.retryAfter = time.Duration(n) * time.Second
		} else if t, err := http.ParseTime(s); err == nil {
			se.retryAfter = time.Until(t)
		}
	}
	return nil, se
}

func (d doer) CloseIdleConnections() { d.c.CloseIdleConnections() }

// rpcEndpoint is one HTTP endpoint.
type rpcEndpoint struct {
	raw, name string
	client    *rpc.Client
	http      *http.Client
	inst      *telemetry.RPC
	// under Chain.mu:
	limitedUntil time.Time
	limits       int // 429 answers in a row
}

func newRPCEndpoint(c *Chain, raw string) (*rpcEndpoint, error) {
	name := endpoint.Redact(raw)
	inst, err := telemetry.NewRPC(c.env.Tracer, c.env.Meter, "jsonrpc", c.name, name)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: c.cfg.RequestTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: c.cfg.RequestTimeout,
	}}
	cl := rpc.NewWithCustomRPCClient(jsonrpc.NewClientWithOpts(raw, &jsonrpc.RPCClientOpts{HTTPClient: doer{hc}}))
	return &rpcEndpoint{raw: raw, name: name, client: cl, http: hc, inst: inst}, nil
}

// failure is how a failed attempt is handled.
type failure int

const (
	failNode     failure = iota // the node answered with an error: return it
	failOver                    // the endpoint is unusable now: try the next
	failLimited                 // rate limited: wait, or try another endpoint
	failCanceled                // the caller's context ended
)

// classify decides what a failed attempt means; it returns the error to
// report (node errors as *RPCError).
func classify(ctx context.Context, method string, err error) (failure, error, time.Duration) {
	if ctx.Err() != nil {
		return failCanceled, ctx.Err(), 0
	}
	var se *statusError
	if errors.As(err, &se) {
		if se.code == http.StatusTooManyRequests {
			return failLimited, se, se.retryAfter
		}
		return failOver, se, 0
	}
	var je *jsonrpc.RPCError
	if errors.As(err, &je) {
		re := &RPCError{Method: method, Code: je.Code, Message: je.Message}
		switch {
		case je.Code == http.StatusTooManyRequests:
			return failLimited, re, 0
		case je.Code == CodeNodeUnhealthy, je.Code == -32603: // behind; internal error
			return failOver, re, 0
		}
		return failNode, re, 0
	}
	if errors.Is(err, rpc.ErrNotFound) {
		return failNode, err, 0
	}
	var ue interface{ Timeout() bool }
	if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return failOver, err, 0
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &ne) || errors.As(err, &oe) || strings.Contains(err.Error(), "connection refused") {
		return failOver, err, 0
	}
	// A body that is not JSON-RPC (a proxy's error page) or a transport
	// failure without a type: the endpoint is not serving.
	return failOver, err, 0
}

// Do runs fn, one JSON-RPC call named method (for spans, metrics and
// errors), with a client of an rpc endpoint: the one that served last, or
// the next in order when it fails (transport error, timeout, HTTP 5xx, node
// behind). An HTTP 429 answer makes the endpoint rest for its Retry-After
// (else a growing backoff) while the others serve; when every endpoint
// rests, Do waits for the first to be ready. Each attempt is bounded by
// request_timeout; Do gives up after trying every endpoint, or after a few
// rate-limited waits, or when ctx ends. A node's error answer is returned at
// once as an *RPCError. Errors never contain an endpoint's path or query.
func (c *Chain) Do(ctx context.Context, method string, fn func(ctx context.Context, cl *rpc.Client) error) error {
	if len(c.rpcs) == 0 {
		return errors.New("no rpc endpoint configured")
	}
	failovers, waits := 0, 0
	var last error
	for {
		ep, wait := c.pickRPC()
		if wait > 0 {
			if waits >= 4 {
				if last == nil {
					return fmt.Errorf("%s: every rpc endpoint is rate limited", method)
				}
				return fmt.Errorf("%s: every rpc endpoint is rate limited: %w", method, last)
			}
			waits++
			// A caller waits at most backoff_max at a time, whatever rest
			// the endpoint asked for: its loop has other work.
			if err := c.sleep(ctx, min(wait, c.cfg.BackoffMax)); err != nil {
				return err
			}
			continue
		}
		if c.limiter != nil {
			if err := c.limiter.Wait(ctx); err != nil {
				return fmt.Errorf("%s: %w", method, err)
			}
		}
		actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		err := ep.inst.Call(actx, method, func(ctx context.Context) error { return fn(ctx, ep.client) })
		cancel()
		if err == nil {
			c.rpcServed(ep)
			return nil
		}
		kind, err, retryAfter := classify(ctx, method, err)
		err = endpoint.RedactError(err, ep.raw)
		last = err
		switch kind {
		case failCanceled:
			return err
		case failNode:
			c.rpcServed(ep)
			return err
		case failLimited:
			d := c.rpcLimited(ep, retryAfter)
			c.m.rateLimited.Add(ctx, 1, c.m.Attrs)
			c.log.Warn("rpc endpoint rate limited", "endpoint", ep.name, "method", method, "rest", d)
		case failOver:
			failovers++
			c.m.Failovers.Add(ctx, 1, c.m.Attrs)
			if failovers >= len(c.rpcs) {
				return fmt.Errorf("%s on %s: %w", method, ep.name, err)
			}
			c.log.Warn("rpc endpoint failed; trying the next", "endpoint", ep.name, "method", method, "error", err)
			c.rpcFailed(ep)
		}
	}
}

// pickRPC returns the endpoint to use now, or how long until one is ready.
func (c *Chain) pickRPC() (*rpcEndpoint, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clk.Now()
	var soonest time.Duration = -1
	for i := range c.rpcs {
		ep := c.rpcs[(c.rpcCur+i)%len(c.rpcs)]
		if !ep.limitedUntil.After(now) {
			c.rpcCur = (c.rpcCur + i) % len(c.rpcs)
			return ep, 0
		}
		if d := ep.limitedUntil.Sub(now); soonest < 0 || d < soonest {
			soonest = d
		}
	}
	return nil, soonest
}

func (c *Chain) rpcServed(ep *rpcEndpoint) {
	c.mu.Lock()
	ep.limits = 0
	c.mu.Unlock()
}

// maxRetryAfter bounds the rest a Retry-After header asks for.
const maxRetryAfter = 10 * time.Minute

// rpcLimited makes ep rest and returns for how long.
func (c *Chain) rpcLimited(ep *rpcEndpoint, retryAfter time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := min(retryAfter, maxRetryAfter) // the server's word, within reason
	if d <= 0 {
		d = backoff.Policy{Initial: c.cfg.BackoffInitial, Max: c.cfg.BackoffMax, Jitter: -1}.Delay(ep.limits, nil)
	}
	ep.limits++
	ep.limitedUntil = c.clk.Now().Add(d)
	return d
}

// rpcFailed moves on from ep to the next endpoint.
func (c *Chain) rpcFailed(ep *rpcEndpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rpcs[c.rpcCur] == ep {
		c.rpcCur = (c.rpcCur + 1) % len(c.rpcs)
	}
}

// sleep waits d on the chain's clock, or until ctx ends.
func (c *Chain) sleep(ctx context.Context, d time.Duration) error {
	t := c.clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// closeRPC releases the endpoints' idle connections.
func (c *Chain) closeRPC() {
	for _, ep := range c.rpcs {
		ep.http.CloseIdleConnections()
	}
}

// ErrorText renders a transaction error as a node reports it (null, a
// string or an object such as {"InstructionError":[0,{"Custom":1}]}): ""
// for none, the string itself, or the JSON text.
func ErrorText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
