// Package solana is the solana chain type: one shared connection per
// configured Solana cluster through github.com/gagliardetto/solana-go's rpc
// client (HTTP endpoints with failover, request timeouts, HTTP 429 backoff,
// an optional client-side rate limit) and a pubsub connection (WebSocket
// endpoints with failover) whose subscriptions survive reconnects: each is
// sent again on the next connection and its consumer is told to catch up.
// The solana.* source plugins share it.
package solana

import (
	_ "embed"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gagliardetto/solana-go/rpc"

	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
)

// Config is a solana chain's configuration.
type Config struct {
	RPC            []string      `yaml:"rpc" required:"true" doc:"JSON-RPC URLs (http://, https://), used in order: a failing one (transport error, 5xx, timeout, node behind) hands the request to the next"`
	WS             []string      `yaml:"ws" doc:"pubsub URLs (ws://, wss://), used in order with failover; empty: each rpc URL with its scheme changed to ws:// or wss://"`
	Commitment     string        `yaml:"commitment" default:"confirmed" enum:"processed,confirmed,finalized" doc:"commitment of subscriptions and reads: processed (fastest, may be rolled back), confirmed (voted by a supermajority) or finalized (rooted)"`
	RequestTimeout time.Duration `yaml:"request_timeout" default:"10s" min:"1ms" doc:"bound on one RPC request, and on a pubsub dial"`
	RateLimit      float64       `yaml:"rate_limit" min:"0" doc:"most JSON-RPC requests per second over all rpc endpoints (public endpoints allow about 10); 0: no client-side limit (HTTP 429 answers are still honoured)"`
	MaxSlotAge     time.Duration `yaml:"max_slot_age" default:"30s" doc:"fail over to the next ws endpoint when no slot notification came for this long (a stalled endpoint); 0 turns the check off"`
	BackoffInitial time.Duration `yaml:"backoff_initial" default:"500ms" min:"1ms" doc:"first wait before reconnecting once every ws endpoint failed, and after an HTTP 429 without Retry-After; doubles up to backoff_max"`
	BackoffMax     time.Duration `yaml:"backoff_max" default:"30s" min:"1ms" doc:"longest wait between reconnect rounds or rate-limited retries"`
}

// Validate checks the endpoints.
func (c *Config) Validate(v *config.Validation) {
	check := func(key, e string, schemes ...string) {
		u, err := url.Parse(e)
		if err != nil {
			v.Errorf(key, "%q is not a URL: %v", e, err)
			return
		}
		ok := false
		for _, s := range schemes {
			ok = ok || u.Scheme == s
		}
		if !ok {
			v.Errorf(key, "%q: want a %s URL", e, strings.Join(schemes, ":// or ")+"://")
			return
		}
		if u.Host == "" {
			v.Errorf(key, "%q has no host", e)
		}
	}
	for i, e := range c.RPC {
		check(fmt.Sprintf("rpc[%d]", i), e, "http", "https")
	}
	for i, e := range c.WS {
		check(fmt.Sprintf("ws[%d]", i), e, "ws", "wss")
	}
	if c.MaxSlotAge < 0 {
		v.Errorf("max_slot_age", "%v is negative", c.MaxSlotAge)
	}
	if c.BackoffMax < c.BackoffInitial {
		v.Errorf("backoff_max", "%v is less than backoff_initial %v", c.BackoffMax, c.BackoffInitial)
	}
}

// wsEndpoints returns the configured ws endpoints, or the rpc ones with
// their schemes changed.
func (c *Config) wsEndpoints() []string {
	if len(c.WS) > 0 {
		return c.WS
	}
	out := make([]string, 0, len(c.RPC))
	for _, e := range c.RPC {
		switch {
		case strings.HasPrefix(e, "https://"):
			out = append(out, "wss://"+strings.TrimPrefix(e, "https://"))
		case strings.HasPrefix(e, "http://"):
			out = append(out, "ws://"+strings.TrimPrefix(e, "http://"))
		}
	}
	return out
}

// commitment returns the configured commitment as solana-go's type.
func (c *Config) commitment() rpc.CommitmentType { return rpc.CommitmentType(c.Commitment) }

//go:embed example.yaml
var example string

func init() {
	plugins.Register(plugins.Type{
		Name:    "solana",
		Kind:    plugins.KindChain,
		Doc:     "a Solana cluster through JSON-RPC and pubsub (solana-go): failover, rate-limit backoff, subscriptions kept across reconnects, shared by the solana.* feeds",
		Config:  func() any { return &Config{} },
		Example: example,
		NewChain: func(name string, cfg any, env plugins.Env) (plugins.Chain, error) {
			return New(name, *cfg.(*Config), env)
		},
	})
}
