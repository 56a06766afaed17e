// Package wallets is the evm.wallets plugin: activity of watched addresses
// on an EVM chain to wallet:<address> (native balance changes with delta,
// transactions from and to the address, ERC-20 transfers and approvals,
// ERC-721 and ERC-1155 transfers), each published when its block arrives,
// again when it is confirmed and as removed when a reorg takes it away.
// Addresses are watched while wallet:<address> has subscribers, plus the
// static ones of the configuration.
package wallets

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/feedd/feedd/chains/evm"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
)

// Config is evm.wallets' configuration.
type Config struct {
	Chain      string   `yaml:"chain" required:"true" ref:"chain" doc:"the evm chain (its name under chains:) to watch"`
	Addresses  []string `yaml:"addresses" doc:"addresses watched always, besides those with wallet:<address> subscribers"`
	Tokens     []string `yaml:"tokens" doc:"token contracts whose events count; empty: any contract emitting the standard ERC-20/721/1155 events"`
	Native     bool     `yaml:"native" default:"true" doc:"report native balance changes (read at the block that changed them)"`
	Recent     int      `yaml:"recent" default:"20" min:"0" max:"1000" doc:"events kept per address for the channel's snapshot"`
	MaxWatched int      `yaml:"max_watched" default:"100000" min:"1" doc:"most addresses watched at once; beyond it new subscriptions are not served (logged)"`
}

// Validate checks the addresses.
func (c *Config) Validate(v *config.Validation) {
	for i, a := range c.Addresses {
		if !common.IsHexAddress(a) || !strings.HasPrefix(strings.ToLower(a), "0x") {
			v.Errorf(fmt.Sprintf("addresses[%d]", i), "%q is not an EVM address (0x and 40 hex digits)", a)
		}
	}
	for i, a := range c.Tokens {
		if !common.IsHexAddress(a) || !strings.HasPrefix(strings.ToLower(a), "0x") {
			v.Errorf(fmt.Sprintf("tokens[%d]", i), "%q is not an EVM address (0x and 40 hex digits)", a)
		}
	}
}

//go:embed example.yaml
var example string

func init() {
	plugins.Register(plugins.Type{
		Name:    "evm.wallets",
		Kind:    plugins.KindSource,
		Doc:     "activity of watched addresses (wallet:<address> subscribers and static ones): balances, transactions, token transfers and approvals, NFTs",
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

// Wallets is a running evm.wallets instance.
type Wallets struct {
	cfg   Config
	chain *evm.Chain
	env   plugins.Env

	mu      sync.Mutex
	changes []change // watch changes waiting for the run loop
	notify  chan struct{}
}

type change struct {
	addr  common.Address
	watch bool
}

// New returns an instance of cfg on chain.
func New(cfg Config, chain *evm.Chain, env plugins.Env) *Wallets {
	if env.Tracer == nil {
		env.Tracer = noop.NewTracerProvider().Tracer("")
	}
	return &Wallets{cfg: cfg, chain: chain, env: env, notify: make(chan struct{}, 1)}
}

// Watch is called by the hub for a wallet: channel's first subscriber.
func (w *Wallets) Watch(channel string) { w.queue(channel, true) }

// Unwatch is called when its last subscriber leaves.
func (w *Wallets) Unwatch(channel string) { w.queue(channel, false) }

func (w *Wallets) queue(channel string, watch bool) {
	a, kind, err := feeds.CanonAddress(strings.TrimPrefix(channel, "wallet:"))
	if err != nil || kind != feeds.AddressEVM {
		return // another chain family's address
	}
	w.mu.Lock()
	w.changes = append(w.changes, change{addr: common.HexToAddress(a), watch: watch})
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func (w *Wallets) takeChanges() []change {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.changes
	w.changes = nil
	return out
}

// apply takes the queued watch changes.
func (w *Wallets) apply(ctx context.Context, s *scanner) {
	changes := w.takeChanges()
	if len(changes) == 0 {
		return
	}
	for _, ch := range changes {
		if ch.watch {
			s.watch(ch.addr, false)
		} else {
			s.unwatch(ch.addr)
		}
	}
	s.baselines(ctx, s.last)
}

// Run watches until ctx ends.
func (w *Wallets) Run(ctx context.Context, h *plugins.Host) error {
	sub := w.chain.Subscribe()
	defer sub.Close()
	s := newScanner(w.cfg, w.chain, h)
	for _, a := range w.cfg.Addresses {
		s.watch(common.HexToAddress(a), true)
	}
	if w.env.Interest != nil {
		cancel := w.env.Interest("wallet", w)
		defer cancel()
	}
	if _, ok := w.chain.Head(); ok {
		h.Ready()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.notify:
			w.apply(ctx, s)
		case ev := <-sub.Events():
			// Watches made before this block was announced apply to it.
			w.apply(ctx, s)
			h.Ready()
			sctx, span := evm.StartSpan(ctx, w.env.Tracer, "evm.wallets.block", w.chain.Name(), ev)
			err := s.handle(sctx, ev)
			span.End()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}
