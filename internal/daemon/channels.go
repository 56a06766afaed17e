package daemon

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/feedd/feedd/channels"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/config"
)

// LimitsConfig is server.limits.
type LimitsConfig struct {
	MaxConnections       int     `yaml:"max_connections" default:"0" min:"0" doc:"open WebSocket connections at most (0: no limit but the open-file limit)"`
	MaxConnectionsPerIP  int     `yaml:"max_connections_per_ip" default:"0" min:"0" doc:"open connections per client address at most (0: no limit)"`
	MaxSubscriptions     int     `yaml:"max_subscriptions" default:"256" min:"1" doc:"subscriptions per connection at most"`
	MaxMessageBytes      int     `yaml:"max_message_bytes" default:"65536" min:"256" doc:"largest frame a client may send; larger closes with 1009"`
	MaxRequestsPerSecond float64 `yaml:"max_requests_per_second" default:"20" min:"0" doc:"requests per connection per second (bursts of twice that); 0: no limit"`
	MaxQueue             int     `yaml:"max_queue" default:"1024" min:"1" max:"1000000" doc:"publications of one channel a connection may fall behind: state channels are coalesced, event channels close with 4008 beyond it"`
}

// ChannelsConfig is the channels: section.
type ChannelsConfig struct {
	Namespaces []NamespaceConfig `yaml:"namespaces" doc:"operator-defined namespaces (channels named <name>:<anything>), or overrides of a built-in one's read, publish and history"`
	APIKeys    []string          `yaml:"api_keys" doc:"keys accepted by POST /api/v1/publish (write ${VAR})"`
}

// NamespaceConfig is one entry of channels.namespaces.
type NamespaceConfig struct {
	Name     string        `yaml:"name" required:"true" doc:"the namespace: lower-case letters, digits, - and _"`
	Read     string        `yaml:"read" default:"public" enum:"public,token,claims" doc:"who may subscribe: anyone, any valid token, or a token whose channels claim lists the channel"`
	Publish  string        `yaml:"publish" default:"none" enum:"api,none" doc:"api: POST /api/v1/publish may write to it; none: plugins only"`
	Coalesce bool          `yaml:"coalesce" doc:"a state channel (slow clients get the newest value) rather than an event channel (never coalesced); ignored for built-in namespaces"`
	History  HistoryConfig `yaml:"history" doc:"history kept per channel for recovery"`
}

var nsName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// Validate checks namespace names and API keys.
func (c *ChannelsConfig) Validate(v *config.Validation) {
	seen := map[string]int{}
	for i, n := range c.Namespaces {
		p := fmt.Sprintf("namespaces[%d].name", i)
		if n.Name == "" {
			continue
		}
		if !nsName.MatchString(n.Name) {
			v.Errorf(p, "%q is not a valid namespace: want lower-case letters, digits, - and _, starting with a letter", n.Name)
		} else if j, dup := seen[n.Name]; dup {
			v.Errorf(p, "duplicate namespace %q: namespaces[%d] already declares it", n.Name, j)
		} else {
			seen[n.Name] = i
		}
	}
	for i, k := range c.APIKeys {
		if len(k) < 16 {
			v.Errorf(fmt.Sprintf("api_keys[%d]", i), "an API key needs at least 16 characters, got %d", len(k))
		}
	}
}

// namespaces builds the hub's channel rules from the configuration: the
// built-in namespaces, checked against the configured symbols and chains, and
// the operator's.
func namespaces(c *Config) []*channels.Namespace {
	hist := func(h HistoryConfig) (int, time.Duration) { return h.Size, h.TTL }
	size, ttl := hist(c.History)
	symbols := map[string]bool{}
	for _, s := range c.Prices.Symbols {
		symbols[s.Symbol] = true
	}
	chains := map[string]bool{}
	chainType := map[string]string{}
	for _, ch := range c.Chains {
		if name, ok := ch["name"].(string); ok {
			chains[name] = true
			chainType[name], _ = ch["type"].(string)
		}
	}
	known := func(m map[string]bool) string {
		var names []string
		for k := range m {
			names = append(names, k)
		}
		slices.Sort(names)
		if len(names) == 0 {
			return "none is configured"
		}
		return "configured: " + strings.Join(names, ", ")
	}
	chainName := func(name string) error {
		if !chains[name] {
			return fmt.Errorf("unknown chain %q (%s)", name, known(chains))
		}
		return nil
	}
	out := []*channels.Namespace{
		{Name: "prices", Coalesce: true, Canon: func(rest string) (string, error) {
			if _, _, err := feeds.ParseSymbol(rest); err != nil {
				return "", err
			}
			if !symbols[rest] {
				return "", fmt.Errorf("unknown symbol %q (%s)", rest, known(symbols))
			}
			return rest, nil
		}},
		{Name: "market", Coalesce: true, Canon: func(rest string) (string, error) {
			if rest != "overview" {
				return "", fmt.Errorf("the market namespace has one channel, market:overview")
			}
			return rest, nil
		}},
		{Name: "blocks", Canon: func(rest string) (string, error) { return rest, chainName(rest) }},
		{Name: "wallet", Interest: true, Canon: func(rest string) (string, error) {
			a, _, err := feeds.CanonAddress(rest)
			return a, err
		}},
		{Name: "tx", Interest: true, Canon: func(rest string) (string, error) {
			chain, hash, ok := strings.Cut(rest, ":")
			if !ok {
				return "", fmt.Errorf("want tx:<chain>:<hash>")
			}
			if err := chainName(chain); err != nil {
				return "", err
			}
			h, kind, err := feeds.CanonTxHash(hash)
			if err != nil {
				return "", err
			}
			switch typ := chainType[chain]; {
			case kind == feeds.AddressSolana && typ != "solana":
				return "", fmt.Errorf("%q is a Solana signature, but chain %q is of type %s", hash, chain, typ)
			case kind == feeds.AddressEVM && typ == "solana":
				return "", fmt.Errorf("%q is an EVM transaction hash, but chain %q is a Solana chain: want a base58 signature", hash, chain)
			}
			return chain + ":" + h, nil
		}},
	}
	for _, n := range out {
		n.Read = channels.ReadPublic
		n.HistorySize, n.HistoryTTL = size, ttl
	}
	for _, nc := range c.Channels.Namespaces {
		var n *channels.Namespace
		for _, b := range out {
			if b.Name == nc.Name {
				n = b
			}
		}
		if n == nil {
			n = &channels.Namespace{Name: nc.Name, Coalesce: nc.Coalesce}
			out = append(out, n)
		}
		n.Read = channels.ReadPolicy(nc.Read)
		n.PublishAPI = nc.Publish == "api"
		n.HistorySize, n.HistoryTTL = hist(nc.History)
	}
	return out
}

// builtinNamespace reports whether name is one of the namespaces the daemon
// defines itself.
func builtinNamespace(name string) bool {
	switch name {
	case "prices", "market", "blocks", "wallet", "tx":
		return true
	}
	return false
}
