// Package tx is the solana.tx plugin: the lifecycle of transactions whose
// tx:<chain>:<signature> channel has subscribers: pending (not landed yet),
// included (processed), confirmed (at confirmed, then again at finalized,
// the commitment in the payload), failed (with its error, at each of those
// commitments) and dropped (its blockhash expired without it landing).
// Signature subscriptions report each step at once; a poll of the
// signatures' statuses catches what a reconnect lost.
package tx

import (
	"context"
	_ "embed"
	"strings"
	"time"

	"github.com/gagliardetto/solana-go"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	chain "github.com/feedd/feedd/chains/solana"
	"github.com/feedd/feedd/plugins"
)

// Config is solana.tx's configuration.
type Config struct {
	Chain           string        `yaml:"chain" required:"true" ref:"chain" doc:"the solana chain (its name under chains:) whose tx:<chain>:<signature> channels this instance serves"`
	PollInterval    time.Duration `yaml:"poll_interval" default:"2s" min:"10ms" doc:"how often the statuses of unfinished transactions are read (getSignatureStatuses), besides their signature subscriptions"`
	DropAfterBlocks uint64        `yaml:"drop_after_blocks" default:"300" min:"151" doc:"a transaction not landed when the block height has grown this much since its watch began is dropped: a blockhash expires after 150 blocks, and the rest allows for subscribing before the sender fetched its blockhash"`
	MaxWatched      int           `yaml:"max_watched" default:"10000" min:"1" doc:"most unfinished transactions followed at once; beyond it new subscriptions are not served (logged)"`
}

//go:embed example.yaml
var example string

func init() {
	plugins.Register(plugins.Type{
		Name:    "solana.tx",
		Kind:    plugins.KindSource,
		Doc:     "lifecycle of Solana transactions with tx:<chain>:<signature> subscribers: pending, included, confirmed (confirmed and finalized), failed, dropped",
		Config:  func() any { return &Config{} },
		Example: example,
		NewSource: func(cfg any, env plugins.Env) (plugins.Instance, error) {
			c, err := chain.Lookup(env, cfg.(*Config).Chain)
			if err != nil {
				return nil, err
			}
			return New(*cfg.(*Config), c, env), nil
		},
	})
}

// Tx is a running solana.tx instance. It is the hub's Watcher of tx:
// channels (its embedded Interest queues them for the run loop).
type Tx struct {
	*plugins.Interest[solana.Signature]
	cfg    Config
	chain  *chain.Chain
	env    plugins.Env
	tracer trace.Tracer
}

// New returns an instance of cfg on c.
func New(cfg Config, c *chain.Chain, env plugins.Env) *Tx {
	tracer := env.Tracer
	if tracer == nil {
		tracer = noop.NewTracerProvider().Tracer("")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.DropAfterBlocks == 0 {
		cfg.DropAfterBlocks = 300
	}
	if cfg.MaxWatched <= 0 {
		cfg.MaxWatched = 10000
	}
	t := &Tx{cfg: cfg, chain: c, env: env, tracer: tracer}
	t.Interest = plugins.NewInterest(func(channel string) (solana.Signature, bool) {
		name, sig, ok := strings.Cut(strings.TrimPrefix(channel, "tx:"), ":")
		if !ok || name != c.Name() {
			return solana.Signature{}, false // another chain's
		}
		s, err := solana.SignatureFromBase58(sig)
		return s, err == nil
	})
	return t
}

// Run follows the watched transactions until ctx ends.
func (t *Tx) Run(ctx context.Context, h *plugins.Host) error {
	in := chain.NewInbox(100000)
	w := newWatcher(t.cfg, t.chain, h, in, t.tracer)
	defer w.closeAll()
	if t.env.Interest != nil {
		cancel := t.env.Interest("tx", t)
		defer cancel()
	}
	h.Ready()
	clk := h.Clock()
	tick := clk.NewTimer(t.cfg.PollInterval)
	defer func() { tick.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.Ready():
			for _, c := range t.Take() {
				if c.Watch {
					w.add(ctx, c.Key)
				} else {
					w.remove(c.Key)
				}
			}
		case <-in.Ready():
			notes, lost := in.Take()
			for _, n := range notes {
				w.handle(ctx, n)
			}
			if lost {
				w.poll(ctx)
			}
			w.catchUp(ctx)
		case <-tick.C():
			w.poll(ctx)
			h.Alive()
			tick = clk.NewTimer(t.cfg.PollInterval)
		}
	}
}
