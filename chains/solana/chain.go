package solana

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gagliardetto/solana-go/rpc"
	"go.opentelemetry.io/otel/metric/noop"
	tnoop "go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/time/rate"

	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/internal/clock"
	"github.com/feedd/feedd/internal/endpoint"
	"github.com/feedd/feedd/plugins"
)

// Chain is one configured Solana cluster. Its methods are safe for
// concurrent use; RPC calls work without Run (they are plain HTTP), while
// subscriptions are served only while Run keeps a pubsub connection.
type Chain struct {
	name string
	cfg  Config
	env  plugins.Env
	log  *slog.Logger
	clk  clock.Clock
	m    *metrics

	limiter *rate.Limiter
	mu      sync.Mutex
	rpcs    []*rpcEndpoint
	rpcCur  int
	wsName  string // pubsub endpoint in use, "" while disconnected

	ps pubsub

	slot     atomic.Uint64 // newest slot notified
	root     atomic.Uint64 // newest root notified
	slotSeen atomic.Int64  // when (clock, Unix ns) the newest slot notification came
	slotsRcv atomic.Uint64 // slot notifications received, over all connections
	slotTime atomic.Int64  // the same, for status: 0 before the first
}

// New returns the chain called name; nothing is dialled until Run or the
// first call.
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
	if cfg.Commitment == "" {
		cfg.Commitment = string(rpc.CommitmentConfirmed)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.BackoffInitial <= 0 {
		cfg.BackoffInitial = 500 * time.Millisecond
	}
	if cfg.BackoffMax < cfg.BackoffInitial {
		cfg.BackoffMax = cfg.BackoffInitial
	}
	c := &Chain{name: name, cfg: cfg, env: env, log: env.Logger.With("chain", name), clk: env.Clock}
	c.ps.subs = map[*Sub]struct{}{}
	if cfg.RateLimit > 0 {
		burst := int(cfg.RateLimit)
		if burst < 1 {
			burst = 1
		}
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), burst)
	}
	for _, raw := range cfg.RPC {
		ep, err := newRPCEndpoint(c, raw)
		if err != nil {
			return nil, fmt.Errorf("chain %s: %w", name, err)
		}
		c.rpcs = append(c.rpcs, ep)
	}
	m, err := newMetrics(env.Meter, c)
	if err != nil {
		return nil, fmt.Errorf("chain %s: metrics: %w", name, err)
	}
	c.m = m
	return c, nil
}

// Lookup returns the solana chain called name from a plugin's environment,
// or an error naming it.
func Lookup(env plugins.Env, name string) (*Chain, error) {
	return plugins.LookupChain[*Chain](env, name, "solana")
}

// Name returns the chain's name in the configuration.
func (c *Chain) Name() string { return c.name }

// Commitment returns the configured commitment.
func (c *Chain) Commitment() rpc.CommitmentType { return c.cfg.commitment() }

// Config returns the chain's configuration.
func (c *Chain) Config() Config { return c.cfg }

// Logger returns the chain's logger.
func (c *Chain) Logger() *slog.Logger { return c.log }

// Connected returns the pubsub endpoint in use (scheme and host only), or "".
func (c *Chain) Connected() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wsName
}

// Slot returns the newest slot and root notified, and whether any was.
func (c *Chain) Slot() (slot, root uint64, ok bool) {
	return c.slot.Load(), c.root.Load(), c.slotTime.Load() != 0
}

// ChainStatus reports the pubsub endpoint in use and the newest slot (its
// time is when the notification came: slot notifications carry none).
func (c *Chain) ChainStatus() plugins.ChainStatus {
	st := plugins.ChainStatus{Name: c.name, Type: "solana", Endpoint: c.Connected()}
	if t := c.slotTime.Load(); t != 0 {
		st.Head, st.HeadTime = c.slot.Load(), t/int64(time.Millisecond)
	}
	return st
}

// NoteGap counts a jump of a consumer over slots it could not fetch.
func (c *Chain) NoteGap(ctx context.Context) { c.m.Gaps.Add(ctx, 1, c.m.Attrs) }

// Run keeps a pubsub connection to one of the ws endpoints, in order,
// failing over to the next when it fails (dial error, drop, stalled slot
// stream), waiting with backoff after a round in which every endpoint
// failed; every subscription is sent again on each new connection. It
// returns nil once ctx ends.
func (c *Chain) Run(ctx context.Context) error {
	defer c.closeRPC()
	eps := c.cfg.wsEndpoints()
	if len(eps) == 0 {
		return fmt.Errorf("chain %s: no ws endpoint (set ws, or http(s) rpc URLs to derive them from)", c.name)
	}
	slots := c.subscribe(SubRequest{Method: "slotSubscribe"}, nil, c.onSlot)
	defer slots.Close()
	roots := c.subscribe(SubRequest{Method: "rootSubscribe"}, nil, c.onRoot)
	defer roots.Close()
	policy := backoff.Policy{Initial: c.cfg.BackoffInitial, Max: c.cfg.BackoffMax}
	for round := 0; ctx.Err() == nil; round++ {
		healthy := false
		for _, raw := range eps {
			if ctx.Err() != nil {
				return nil
			}
			w, err := c.dialWS(ctx, raw)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				c.log.Error("pubsub endpoint unusable", "endpoint", endpoint.Redact(raw), "error", err)
				c.m.Failovers.Add(ctx, 1, c.m.Attrs)
				continue
			}
			c.log.Info("pubsub connected", "endpoint", w.name)
			start, heard := c.clk.Now(), c.slotsRcv.Load()
			c.mu.Lock()
			c.wsName = w.name
			c.mu.Unlock()
			err = c.serve(ctx, w)
			c.mu.Lock()
			c.wsName = ""
			c.mu.Unlock()
			if ctx.Err() != nil {
				return nil
			}
			// It worked if it served slots for a while: an endpoint that
			// accepts and drops at once must not be redialled in a loop.
			if c.clk.Now().Sub(start) > time.Minute || c.slotsRcv.Load() > heard+1 {
				healthy = true
			}
			c.log.Warn("pubsub endpoint failed; failing over", "endpoint", w.name, "error", err)
			c.m.Failovers.Add(ctx, 1, c.m.Attrs)
		}
		if healthy {
			round = -1 // the next failure waits the first step
			continue   // a connection that worked for a while: try again at once
		}
		wait := policy.Delay(round, rand.Float64)
		c.log.Warn("every pubsub endpoint failed; waiting", "in", wait)
		if c.sleep(ctx, wait) != nil {
			return nil
		}
	}
	return nil
}

// onSlot takes the chain's own slot notifications.
func (c *Chain) onSlot(n Notification) {
	if n.Kind != NoteData {
		return
	}
	var s struct {
		Slot uint64 `json:"slot"`
		Root uint64 `json:"root"`
	}
	if err := json.Unmarshal(n.Result, &s); err != nil {
		c.log.Warn("malformed slot notification skipped", "error", err)
		return
	}
	cur := c.slot.Load()
	if cur > 0 && s.Slot > cur+implausible {
		c.log.Warn("slot notification far ahead of the chain skipped", "slot", s.Slot, "newest", cur)
		return
	}
	// The newest notified, not the highest ever: after a failover the next
	// node may be a slot or two behind, and a bogus value must not stick.
	now := c.clk.Now().UnixNano()
	c.slotsRcv.Add(1)
	c.slotSeen.Store(now)
	c.slot.Store(s.Slot)
	c.slotTime.Store(now)
	c.root.Store(min(s.Root, s.Slot))
}

// implausible is how far ahead of the newest slot a notification may be
// (about four days of slots); beyond it, it is taken for garbage.
const implausible = 1 << 20

// onRoot takes the chain's own root notifications.
func (c *Chain) onRoot(n Notification) {
	if n.Kind != NoteData {
		return
	}
	var r uint64
	if err := json.Unmarshal(n.Result, &r); err != nil {
		c.log.Warn("malformed root notification skipped", "error", err)
		return
	}
	if r <= c.slot.Load() {
		c.root.Store(r)
	}
}
