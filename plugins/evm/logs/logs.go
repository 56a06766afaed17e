// Package logs is the evm.logs plugin: operators turn any contract event
// into a channel feed in YAML (contract addresses, the event in Solidity
// syntax or from an ABI file, topic filters, a channel template), with the
// arguments decoded into named JSON fields and the same confirmation model
// as wallet events (included, confirmed, removed on reorg).
package logs

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/feedd/feedd/chains/evm"
	"github.com/feedd/feedd/chains/evm/events"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
)

// Config is evm.logs' configuration.
type Config struct {
	Chain         string              `yaml:"chain" required:"true" ref:"chain" doc:"the evm chain (its name under chains:) to read logs from"`
	Addresses     []string            `yaml:"addresses" doc:"contracts whose events count; empty: any contract"`
	Event         string              `yaml:"event" required:"true" doc:"the event in Solidity syntax, e.g. 'Transfer(address indexed from, address indexed to, uint256 value)'; with abi: the event's name (or full signature when overloaded)"`
	ABI           string              `yaml:"abi" doc:"ABI JSON file to take the event from, relative to the configuration file's folder"`
	Filters       map[string][]string `yaml:"filters" doc:"indexed argument name to the values any of which must match (addresses, numbers, bools, bytes32)"`
	Channel       string              `yaml:"channel" required:"true" doc:"channel template: {arg} is an argument's value, {address} the contract, {event} the event's name, {chain} the chain; its namespace must be declared under channels.namespaces"`
	Confirmations uint64              `yaml:"confirmations" doc:"blocks after which an event is confirmed; 0: the chain's"`

	event abi.Event
}

var placeholder = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Validate parses the event, the filters and the channel template.
func (c *Config) Validate(v *config.Validation) {
	for i, a := range c.Addresses {
		if !common.IsHexAddress(a) || !strings.HasPrefix(strings.ToLower(a), "0x") {
			v.Errorf(fmt.Sprintf("addresses[%d]", i), "%q is not an EVM address (0x and 40 hex digits)", a)
		}
	}
	if c.Event == "" {
		return
	}
	var err error
	if c.ABI == "" {
		c.event, err = events.ParseSignature(c.Event)
		if err != nil {
			v.Errorf("event", "%v", err)
			return
		}
	} else if !filepath.IsAbs(c.ABI) && !fs.ValidPath(filepath.ToSlash(filepath.Clean(c.ABI))) {
		v.Errorf("abi", "%q leaves the configuration file's folder; use an absolute path", c.ABI)
		return
	}
	if c.ABI == "" {
		c.checkEvent(v.Errorf)
	}
}

// checkEvent checks the filters and the template against the parsed event,
// reporting each problem with the key it is about.
func (c *Config) checkEvent(report func(key, format string, args ...any)) {
	if len(c.Filters) > 0 {
		if _, err := events.TopicFilter(c.event, c.Filters); err != nil {
			report("filters", "%v", err)
		}
	}
	ns, _, ok := strings.Cut(c.Channel, ":")
	if !ok || ns == "" || strings.ContainsAny(ns, "{}") {
		report("channel", "%q: want <namespace>:<rest>, the namespace declared under channels.namespaces", c.Channel)
	}
	names := map[string]bool{"address": true, "event": true, "chain": true}
	for _, in := range c.event.Inputs {
		names[in.Name] = true
	}
	for _, m := range placeholder.FindAllStringSubmatch(c.Channel, -1) {
		if !names[m[1]] {
			var list []string
			for _, in := range c.event.Inputs {
				list = append(list, in.Name)
			}
			report("channel", "{%s} is not an argument of %s (arguments: %s; also {address}, {event}, {chain})", m[1], c.event.Name, strings.Join(list, ", "))
		}
	}
}

// PublishNamespace returns the channel template's namespace.
func (c *Config) PublishNamespace() (ns, key string) {
	ns, _, _ = strings.Cut(c.Channel, ":")
	return ns, "channel"
}

//go:embed example.yaml
var example string

func init() {
	plugins.Register(plugins.Type{
		Name:    "evm.logs",
		Kind:    plugins.KindSource,
		Doc:     "any contract event as a channel feed: event signature or ABI file, topic filters, channel template; decoded arguments; reorg-aware",
		Config:  func() any { return &Config{} },
		Example: example,
		NewSource: func(cfg any, env plugins.Env) (plugins.Instance, error) {
			c := *cfg.(*Config)
			ch, err := evm.Lookup(env, c.Chain)
			if err != nil {
				return nil, err
			}
			return New(c, ch, env)
		},
	})
}

// Logs is a running evm.logs instance.
type Logs struct {
	cfg       Config
	chain     *evm.Chain
	event     abi.Event
	addresses []common.Address
	topics    [][]common.Hash
	bits      []evm.BloomBits // any must hit: the addresses, else topic 0
	// nTopics is how many topics the event's logs have: its ID (unless
	// anonymous) and one per indexed argument.
	nTopics int
	tracer  trace.Tracer
}

// New returns an instance of cfg on chain, reading the ABI file if any.
func New(cfg Config, chain *evm.Chain, env plugins.Env) (*Logs, error) {
	if cfg.ABI != "" {
		var data []byte
		var err error
		if filepath.IsAbs(cfg.ABI) {
			data, err = os.ReadFile(cfg.ABI)
		} else if env.Files != nil {
			data, err = fs.ReadFile(env.Files, filepath.ToSlash(filepath.Clean(cfg.ABI)))
		} else {
			err = fmt.Errorf("no folder to read it from")
		}
		if err != nil {
			return nil, fmt.Errorf("abi %s: %w", cfg.ABI, err)
		}
		if cfg.event, err = events.FromABI(data, cfg.Event); err != nil {
			return nil, fmt.Errorf("abi %s: %w", cfg.ABI, err)
		}
		var errs []error
		cfg.checkEvent(func(key, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
		})
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("event %s from abi %s: %w", cfg.Event, cfg.ABI, err)
		}
	}
	if cfg.Confirmations == 0 {
		cfg.Confirmations = chain.Confirmations()
	}
	tracer := env.Tracer
	if tracer == nil {
		tracer = noop.NewTracerProvider().Tracer("")
	}
	l := &Logs{cfg: cfg, chain: chain, event: cfg.event, tracer: tracer}
	if !cfg.event.Anonymous {
		l.nTopics = 1
	}
	for _, in := range cfg.event.Inputs {
		if in.Indexed {
			l.nTopics++
		}
	}
	for _, a := range cfg.Addresses {
		addr := common.HexToAddress(a)
		l.addresses = append(l.addresses, addr)
		l.bits = append(l.bits, evm.BloomBitsOf(addr.Bytes()))
	}
	if len(l.bits) == 0 && !cfg.event.Anonymous {
		l.bits = append(l.bits, evm.BloomBitsOf(cfg.event.ID.Bytes()))
	}
	var err error
	if l.topics, err = events.TopicFilter(cfg.event, cfg.Filters); err != nil {
		return nil, fmt.Errorf("filters: %w", err)
	}
	return l, nil
}

// Payload is one decoded event on the configured channel.
type Payload struct {
	Chain         string         `json:"chain"`
	Address       string         `json:"address"`
	Event         string         `json:"event"`
	Args          map[string]any `json:"args"`
	TxHash        string         `json:"txHash"`
	LogIndex      uint           `json:"logIndex"`
	Block         uint64         `json:"block"`
	BlockHash     string         `json:"blockHash"`
	Status        string         `json:"status"`
	Confirmations uint64         `json:"confirmations"`
	TS            int64          `json:"ts"`
	channel       string
}

// Run follows the chain until ctx ends.
func (l *Logs) Run(ctx context.Context, h *plugins.Host) error {
	sub := l.chain.Subscribe()
	defer sub.Close()
	conf := evm.NewConfirmer[*Payload](l.cfg.Confirmations)
	if _, ok := l.chain.Head(); ok {
		h.Ready()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-sub.Events():
			h.Ready()
			ectx, span := evm.StartSpan(ctx, l.tracer, "evm.logs.block", l.chain.Name(), ev)
			err := l.handle(ectx, h, ev, conf)
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

// handle applies one head event.
func (l *Logs) handle(ctx context.Context, h *plugins.Host, ev evm.HeadEvent, conf *evm.Confirmer[*Payload]) error {
	switch {
	case ev.Reorg != nil:
		removed := conf.Removed(ev.Reorg.Old)
		for i := len(removed) - 1; i >= 0; i-- {
			for j := len(removed[i].Items) - 1; j >= 0; j-- {
				p := *removed[i].Items[j]
				p.Status, p.Confirmations = "removed", 0
				l.emit(ctx, h, &p)
			}
		}
	case ev.Block != nil:
		return l.block(ctx, h, ev.Block, conf)
	}
	return nil
}

// block publishes the matching logs of b, retrying the node for a while so
// that no block is skipped, then the events b confirms.
func (l *Logs) block(ctx context.Context, h *plugins.Host, b *evm.Block, conf *evm.Confirmer[*Payload]) error {
	hit := false
	for _, bits := range l.bits {
		if bits.In(&b.Bloom) {
			hit = true
			break
		}
	}
	if hit || len(l.bits) == 0 {
		var logs []types.Log
		read := func() error {
			var err error
			logs, err = l.chain.Logs(ctx, b.Hash, l.addresses, l.topics0())
			return err
		}
		if !evm.Retry(ctx, h, "reading logs", b.Number, read) {
			return nil
		}
		for _, lg := range logs {
			if lg.Removed || lg.BlockHash != b.Hash || !l.matches(lg.Topics) {
				continue
			}
			if len(lg.Topics) != l.nTopics {
				// Another event with the same ID but other indexed
				// arguments, as ERC-721's Transfer is to ERC-20's: common
				// when no addresses are configured, so not worth a warning.
				h.Logger().Debug("log has the event's ID but not its indexed arguments; skipped", "tx", lg.TxHash.Hex(),
					"log_index", lg.Index, "topics", len(lg.Topics), "want", l.nTopics)
				continue
			}
			args, err := events.Decode(l.event, lg.Topics, lg.Data)
			if err != nil {
				h.Logger().Warn("log does not decode as the configured event; skipped", "tx", lg.TxHash.Hex(), "log_index", lg.Index, "error", err)
				continue
			}
			p := &Payload{Chain: l.chain.Name(), Address: strings.ToLower(lg.Address.Hex()), Event: l.event.Name, Args: args,
				TxHash: lg.TxHash.Hex(), LogIndex: lg.Index, Block: b.Number, BlockHash: b.Hash.Hex(), Status: "included", Confirmations: 1,
				TS: int64(b.Time) * 1000}
			p.channel = l.channelFor(p)
			conf.Include(b.Ref(), p)
			l.emit(ctx, h, p)
		}
	}
	for _, inc := range conf.Confirmed(b.Number) {
		for _, it := range inc.Items {
			p := *it
			p.Status, p.Confirmations = "confirmed", evm.Depth(b.Number, p.Block)
			l.emit(ctx, h, &p)
		}
	}
	h.Alive()
	return nil
}

// topics0 is the node-side filter: topic 0 and the indexed filters.
func (l *Logs) topics0() []common.Hash {
	if len(l.topics) > 0 {
		return l.topics[0]
	}
	return nil
}

// matches applies the indexed-argument filters beyond topic 0.
func (l *Logs) matches(topics []common.Hash) bool {
	for i, want := range l.topics {
		if len(want) == 0 {
			continue
		}
		if i >= len(topics) {
			return false
		}
		ok := false
		for _, w := range want {
			if topics[i] == w {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// channelFor fills the channel template.
func (l *Logs) channelFor(p *Payload) string {
	return placeholder.ReplaceAllStringFunc(l.cfg.Channel, func(m string) string {
		name := m[1 : len(m)-1]
		switch name {
		case "address":
			if _, isArg := p.Args["address"]; !isArg {
				return p.Address
			}
		case "event":
			if _, isArg := p.Args["event"]; !isArg {
				return p.Event
			}
		case "chain":
			if _, isArg := p.Args["chain"]; !isArg {
				return p.Chain
			}
		}
		return fmt.Sprint(p.Args[name])
	})
}

func (l *Logs) emit(ctx context.Context, h *plugins.Host, p *Payload) {
	h.EmitContext(ctx, feeds.Publication{Kind: "log", Channel: p.channel, Data: p})
}
