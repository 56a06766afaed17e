// Package tx is the evm.tx plugin: the lifecycle of transactions whose
// tx:<chain>:<hash> channel has subscribers (pending, included, confirmed,
// failed, replaced, dropped, reorged), also sent to the sender's
// wallet:<address> channel.
package tx

import (
	"context"
	_ "embed"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/feedd/feedd/chains/evm"
	"github.com/feedd/feedd/plugins"
)

// Config is evm.tx's configuration.
type Config struct {
	Chain         string        `yaml:"chain" required:"true" ref:"chain" doc:"the evm chain (its name under chains:) whose tx:<chain>:<hash> channels this instance serves"`
	Confirmations uint64        `yaml:"confirmations" doc:"blocks (the including one counts) after which a transaction is confirmed; 0: the chain's confirmations"`
	DropAfter     time.Duration `yaml:"drop_after" default:"10m" min:"1s" doc:"a transaction neither in the node's pool nor mined for this long is dropped"`
	MaxWatched    int           `yaml:"max_watched" default:"10000" min:"1" doc:"most transactions followed at once (confirmed, replaced and dropped ones do not count); beyond it new subscriptions are not served (logged)"`
	RevertReason  bool          `yaml:"revert_reason" default:"true" doc:"replay a failed transaction with eth_call at its parent block to report the revert reason"`
	WalletEvents  bool          `yaml:"wallet_events" default:"true" doc:"also publish every transition to the sender's wallet:<address> channel"`
}

//go:embed example.yaml
var example string

func init() {
	plugins.Register(plugins.Type{
		Name:    "evm.tx",
		Kind:    plugins.KindSource,
		Doc:     "lifecycle of transactions with tx:<chain>:<hash> subscribers: pending, included, confirmed, failed, replaced, dropped, reorged",
		Config:  func() any { return &Config{} },
		Example: example,
		NewSource: func(cfg any, env plugins.Env) (plugins.Instance, error) {
			c, err := evm.Lookup(env, cfg.(*Config).Chain)
			if err != nil {
				return nil, err
			}
			return New(*cfg.(*Config), c, env), nil
		},
	})
}

// Tx is a running evm.tx instance.
type Tx struct {
	cfg   Config
	chain *evm.Chain
	env   plugins.Env

	mu      sync.Mutex
	changes []change
	watched map[common.Hash]bool // what the hub asked for, for OnPending
	seen    []common.Hash        // watched hashes the node announced as pooled
	notify  chan struct{}
}

type change struct {
	hash  common.Hash
	watch bool
}

// New returns an instance of cfg on chain.
func New(cfg Config, chain *evm.Chain, env plugins.Env) *Tx {
	if env.Tracer == nil {
		env.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if cfg.Confirmations == 0 {
		cfg.Confirmations = chain.Confirmations()
	}
	return &Tx{cfg: cfg, chain: chain, env: env, notify: make(chan struct{}, 1), watched: map[common.Hash]bool{}}
}

// Watch is called by the hub for a tx: channel's first subscriber.
func (t *Tx) Watch(channel string) { t.queue(channel, true) }

// Unwatch is called when its last subscriber leaves.
func (t *Tx) Unwatch(channel string) { t.queue(channel, false) }

func (t *Tx) queue(channel string, watch bool) {
	rest := strings.TrimPrefix(channel, "tx:")
	chain, hash, ok := strings.Cut(rest, ":")
	if !ok || chain != t.chain.Name() || len(hash) != 66 || !strings.HasPrefix(hash, "0x") {
		return // another chain's
	}
	h := common.HexToHash(hash)
	t.mu.Lock()
	t.changes = append(t.changes, change{hash: h, watch: watch})
	if watch {
		t.watched[h] = true
	} else {
		delete(t.watched, h)
	}
	t.mu.Unlock()
	t.wake()
}

func (t *Tx) wake() {
	select {
	case t.notify <- struct{}{}:
	default:
	}
}

// pooled hears the node announce a transaction entering its pool.
func (t *Tx) pooled(h common.Hash) {
	t.mu.Lock()
	hit := t.watched[h]
	if hit {
		t.seen = append(t.seen, h)
	}
	t.mu.Unlock()
	if hit {
		t.wake()
	}
}

func (t *Tx) take() ([]change, []common.Hash) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, s := t.changes, t.seen
	t.changes, t.seen = nil, nil
	return c, s
}

// apply takes the queued watch changes and pool announcements.
func (t *Tx) apply(ctx context.Context, w *watcher) {
	changes, seen := t.take()
	for _, c := range changes {
		if c.watch {
			w.add(ctx, c.hash)
		} else {
			w.remove(c.hash)
		}
	}
	w.pooled(ctx, seen)
}

// Run follows the watched transactions until ctx ends.
func (t *Tx) Run(ctx context.Context, h *plugins.Host) error {
	sub := t.chain.Subscribe()
	defer sub.Close()
	w := newWatcher(t.cfg, t.chain, h)
	defer t.chain.OnPending(t.pooled)()
	if t.env.Interest != nil {
		cancel := t.env.Interest("tx", t)
		defer cancel()
	}
	if b, ok := t.chain.Head(); ok {
		w.start(b)
		h.Ready()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.notify:
			t.apply(ctx, w)
		case ev := <-sub.Events():
			// Watches made before this block was announced apply to it.
			t.apply(ctx, w)
			h.Ready()
			sctx, span := evm.StartSpan(ctx, t.env.Tracer, "evm.tx.block", t.chain.Name(), ev)
			w.handle(sctx, ev)
			span.End()
		}
	}
}
