package plugins

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/feedd/feedd/internal/config"
)

// Chain is a shared connection to one blockchain, made by a chain type from
// a chains: entry. Every source that names the chain uses the same value.
type Chain interface {
	// Run keeps the chain connected until ctx ends, reconnecting and failing
	// over on its own; it returns nil once ctx ends, or an error only when
	// the chain can never work (its configuration cannot be served).
	Run(ctx context.Context) error
}

// ChainStatus is what a chain reports at GET /api/v1/chains.
type ChainStatus struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Endpoint is the endpoint in use (scheme and host), "" while
	// disconnected.
	Endpoint string `json:"endpoint"`
	// Head is the newest block (or slot) followed; HeadTime its timestamp
	// in Unix milliseconds; both 0 before the first.
	Head     uint64 `json:"head"`
	HeadHash string `json:"head_hash,omitempty"`
	HeadTime int64  `json:"head_time"`
}

// StatusReporter is implemented by chains that report their state.
type StatusReporter interface {
	ChainStatus() ChainStatus
}

// ChainSpec is one chains: entry, validated.
type ChainSpec struct {
	// Name is the chain's name in channels and in the feeds' chain key.
	Name string
	// Type is the chain type's name.
	Type string
	// Config is the decoded configuration of the type (nil when it has none).
	Config any

	fingerprint string
	newChain    func(name string, cfg any, env Env) (Chain, error)
}

// Same reports whether s and o declare the same chain with the same
// configuration.
func (s ChainSpec) Same(o ChainSpec) bool { return s.Name == o.Name && s.fingerprint == o.fingerprint }

// New makes the chain (no I/O: that happens in Run).
func (s ChainSpec) New(env Env) (Chain, error) {
	if s.newChain == nil {
		return nil, fmt.Errorf("chain %s: type %s cannot be created", s.Name, s.Type)
	}
	return s.newChain(s.Name, s.Config, env)
}

// Watcher hears when a channel of an interest namespace (wallet:, tx:) gets
// its first subscriber and loses its last; see Env.Interest. Calls for one
// channel come in order, Watch before Unwatch, and must return quickly.
type Watcher interface {
	// Watch starts work for channel (its canonical name, with namespace).
	Watch(channel string)
	// Unwatch stops it.
	Unwatch(channel string)
}

// ChainLookup returns the running chain called name, or an error naming it
// when there is none (not declared, or declared after the daemon started:
// chains change only with a restart).
type ChainLookup func(name string) (Chain, error)

// InterestFunc registers w for the channels of namespace ns: w is told at
// once about every channel that has subscribers now, then about changes,
// until cancel is called. After cancel returns, w is not called again.
type InterestFunc func(ns string, w Watcher) (cancel func())

func chainSpec(t Type, common ChainCommon, cfg any, entry config.Raw) (ChainSpec, error) {
	fp, err := json.Marshal(entry)
	if err != nil {
		return ChainSpec{}, err
	}
	return ChainSpec{Name: common.Name, Type: t.Name, Config: cfg, fingerprint: string(fp), newChain: t.NewChain}, nil
}

// LookupChain returns the running chain called name from env as the chain
// type's own type T, or an error naming it: no chains in env, none of that
// name, or one of another family (family names it in the error, "evm").
func LookupChain[T Chain](env Env, name, family string) (T, error) {
	var zero T
	if env.Chain == nil {
		return zero, fmt.Errorf("chain %q: the daemon runs no chains", name)
	}
	ch, err := env.Chain(name)
	if err != nil {
		return zero, err
	}
	c, ok := ch.(T)
	if !ok {
		return zero, fmt.Errorf("chain %q is a %T, not a %s chain", name, ch, family)
	}
	return c, nil
}
