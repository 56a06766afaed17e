// Package evm is the evm chain type: one shared connection per configured
// EVM chain (endpoint failover, chain id check, WebSocket subscriptions with
// HTTP polling as the fallback, batched requests) and a canonical head stream
// without gaps that reports reorgs, for the evm.* source plugins.
package evm

import (
	_ "embed"
	"fmt"
	"net/url"
	"time"

	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
)

// Config is an evm chain's configuration.
type Config struct {
	ChainID        uint64        `yaml:"chain_id" required:"true" min:"1" doc:"the chain id every endpoint must report (eth_chainId); a mismatch is an error naming both"`
	Endpoints      []string      `yaml:"endpoints" required:"true" doc:"JSON-RPC URLs (ws://, wss://, http://, https://); WebSocket ones are used first, the rest in order on failure"`
	PollInterval   time.Duration `yaml:"poll_interval" default:"2s" min:"10ms" doc:"how often to ask for the head over HTTP, and over WebSocket when no notification came for this long"`
	Confirmations  uint64        `yaml:"confirmations" default:"12" min:"1" doc:"blocks (the including one counts) after which wallet and transaction events are confirmed"`
	ReorgDepth     int           `yaml:"reorg_depth" default:"64" min:"1" max:"100000" doc:"how many recent block hashes are kept to detect and unwind reorgs"`
	MaxBackfill    int           `yaml:"max_backfill" default:"256" min:"1" max:"10000" doc:"most blocks fetched to fill a gap after a disconnect; beyond it the head jumps and a gap event says so"`
	RequestTimeout time.Duration `yaml:"request_timeout" default:"10s" min:"1ms" doc:"bound on one RPC request (or batch)"`
	BatchSize      int           `yaml:"batch_size" default:"100" min:"1" max:"1000" doc:"most requests in one JSON-RPC batch; 1 turns batching off"`
	MaxHeadAge     time.Duration `yaml:"max_head_age" doc:"fail over when the head has not advanced for this long (a stalled or lagging endpoint); 0 turns the check off (set it to several block times)"`
	PendingTxs     bool          `yaml:"pending_transactions" default:"true" doc:"over WebSocket, subscribe to the node's pending transaction hashes so that watched transactions show as pending the moment the node sees them"`
	BackoffInitial time.Duration `yaml:"backoff_initial" default:"500ms" min:"1ms" doc:"first wait before reconnecting once every endpoint failed; doubles up to backoff_max"`
	BackoffMax     time.Duration `yaml:"backoff_max" default:"30s" min:"1ms" doc:"longest wait between reconnect rounds"`
}

// Validate checks the endpoints.
func (c *Config) Validate(v *config.Validation) {
	for i, e := range c.Endpoints {
		key := fmt.Sprintf("endpoints[%d]", i)
		u, err := url.Parse(e)
		if err != nil {
			v.Errorf(key, "%q is not a URL: %v", e, err)
			continue
		}
		switch u.Scheme {
		case "ws", "wss", "http", "https":
		default:
			v.Errorf(key, "%q: want a ws://, wss://, http:// or https:// URL", e)
			continue
		}
		if u.Host == "" {
			v.Errorf(key, "%q has no host", e)
		}
	}
	if c.ReorgDepth > 0 && c.Confirmations > uint64(c.ReorgDepth) {
		v.Errorf("confirmations", "%d is more than reorg_depth %d: events older than the held blocks could not be removed by a reorg", c.Confirmations, c.ReorgDepth)
	}
	if c.MaxHeadAge > 0 && c.MaxHeadAge <= c.PollInterval {
		v.Errorf("max_head_age", "%v must be longer than poll_interval %v", c.MaxHeadAge, c.PollInterval)
	}
	if c.BackoffMax < c.BackoffInitial {
		v.Errorf("backoff_max", "%v is less than backoff_initial %v", c.BackoffMax, c.BackoffInitial)
	}
}

//go:embed example.yaml
var example string

func init() {
	plugins.Register(plugins.Type{
		Name:    "evm",
		Kind:    plugins.KindChain,
		Doc:     "an EVM chain through JSON-RPC (go-ethereum): head tracking with backfill and reorgs, shared by the evm.* feeds",
		Config:  func() any { return &Config{} },
		Example: example,
		NewChain: func(name string, cfg any, env plugins.Env) (plugins.Chain, error) {
			return New(name, *cfg.(*Config), env)
		},
	})
}
