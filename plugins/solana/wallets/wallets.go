// Package wallets is the solana.wallets plugin: activity of watched
// addresses on a Solana chain to wallet:<base58 address>: SOL balance
// changes (a subscription to the account), SPL token balance changes (the
// address's Token and Token-2022 accounts, each subscribed, new ones found
// as transactions create them), and the transactions that mention the
// address or its token accounts, with their SOL and token movements.
// Amounts are decimal strings of the smallest unit with their decimals.
// After a reconnect every subscription is sent again, balances are read
// again and transactions missed meanwhile are fetched, each published once.
// Addresses are watched while wallet:<address> has subscribers, plus the
// static ones of the configuration.
package wallets

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"time"

	"github.com/gagliardetto/solana-go"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	chain "github.com/feedd/feedd/chains/solana"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
)

// Config is solana.wallets' configuration.
type Config struct {
	Chain            string   `yaml:"chain" required:"true" ref:"chain" doc:"the solana chain (its name under chains:) to watch"`
	Addresses        []string `yaml:"addresses" doc:"addresses (base58) watched always, besides those with wallet:<address> subscribers"`
	Tokens           bool     `yaml:"tokens" default:"true" doc:"follow the addresses' SPL token accounts (Token and Token-2022 programs)"`
	Transactions     bool     `yaml:"transactions" default:"true" doc:"report transactions that mention an address or its token accounts (logsSubscribe, then getTransaction)"`
	MaxTokenAccounts int      `yaml:"max_token_accounts" default:"50" min:"0" max:"10000" doc:"most token accounts followed per address (each is a subscription, two with transactions); beyond it the rest are not followed (logged)"`
	Catchup          int      `yaml:"catchup" default:"100" min:"0" max:"1000" doc:"most transactions per address fetched after a reconnect (getSignaturesForAddress) to fill what the subscriptions missed"`
	Recent           int      `yaml:"recent" default:"20" min:"0" max:"1000" doc:"events kept per address for the channel's snapshot"`
	MaxWatched       int      `yaml:"max_watched" default:"10000" min:"1" doc:"most addresses watched at once; beyond it new subscriptions are not served (logged)"`
}

// Validate checks the addresses.
func (c *Config) Validate(v *config.Validation) {
	for i, a := range c.Addresses {
		if _, err := solana.PublicKeyFromBase58(a); err != nil {
			v.Errorf(fmt.Sprintf("addresses[%d]", i), "%q is not a Solana address (base58 of 32 bytes): %v", a, err)
		}
	}
}

//go:embed example.yaml
var example string

func init() {
	plugins.Register(plugins.Type{
		Name:    "solana.wallets",
		Kind:    plugins.KindSource,
		Doc:     "activity of watched Solana addresses (wallet:<base58> subscribers and static ones): SOL and SPL token balances, transactions and token transfers",
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

// Wallets is a running solana.wallets instance. It is the hub's Watcher of
// wallet: channels (its embedded Interest queues them for the run loop).
type Wallets struct {
	*plugins.Interest[solana.PublicKey]
	cfg    Config
	chain  *chain.Chain
	env    plugins.Env
	tracer trace.Tracer
}

// New returns an instance of cfg on c.
func New(cfg Config, c *chain.Chain, env plugins.Env) *Wallets {
	tracer := env.Tracer
	if tracer == nil {
		tracer = noop.NewTracerProvider().Tracer("")
	}
	w := &Wallets{cfg: cfg, chain: c, env: env, tracer: tracer}
	w.Interest = plugins.NewInterest(func(channel string) (solana.PublicKey, bool) {
		a, kind, err := feeds.CanonAddress(strings.TrimPrefix(channel, "wallet:"))
		if err != nil || kind != feeds.AddressSolana {
			return solana.PublicKey{}, false // another chain family's address
		}
		pk, err := solana.PublicKeyFromBase58(a)
		return pk, err == nil
	})
	return w
}

// Run watches until ctx ends.
func (w *Wallets) Run(ctx context.Context, h *plugins.Host) error {
	in := chain.NewInbox(100000)
	t := newTracker(w.cfg, w.chain, h, in, w.tracer)
	defer t.closeAll()
	for _, a := range w.cfg.Addresses {
		t.watch(solana.MustPublicKeyFromBase58(a), true)
	}
	if w.env.Interest != nil {
		cancel := w.env.Interest("wallet", w)
		defer cancel()
	}
	h.Ready()
	clk := h.Clock()
	for {
		var timer <-chan time.Time
		var stop func() bool
		if retry, ok := t.retryIn(clk.Now()); ok {
			tm := clk.NewTimer(retry)
			timer, stop = tm.C(), tm.Stop
		}
		select {
		case <-ctx.Done():
			if stop != nil {
				stop()
			}
			return nil
		case <-w.Ready():
			for _, ch := range w.Take() {
				if ch.Watch {
					t.watch(ch.Key, false)
				} else {
					t.unwatch(ch.Key)
				}
			}
		case <-in.Ready():
			notes, lost := in.Take()
			if lost {
				h.Logger().Warn("notifications were dropped (the feed fell behind); reading every watched address again")
				t.resyncAll(ctx)
			}
			for _, n := range notes {
				t.handle(ctx, n)
			}
		case <-timer:
		}
		if stop != nil {
			stop()
		}
		t.retryFetches(ctx)
	}
}
