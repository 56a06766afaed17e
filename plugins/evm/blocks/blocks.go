// Package blocks is the evm.blocks plugin: every canonical block of an EVM
// chain, in order, to blocks:<chain>, with reorg and gap notices.
package blocks

import (
	"context"
	_ "embed"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/feedd/feedd/chains/evm"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/plugins"
)

// Config is evm.blocks' configuration.
type Config struct {
	Chain string `yaml:"chain" required:"true" ref:"chain" doc:"the evm chain (its name under chains:) whose blocks go to blocks:<chain>"`
}

//go:embed example.yaml
var example string

func init() {
	plugins.Register(plugins.Type{
		Name:    "evm.blocks",
		Kind:    plugins.KindSource,
		Doc:     "publishes every canonical block of an EVM chain to blocks:<chain>, in order, with reorg and gap notices",
		Config:  func() any { return &Config{} },
		Example: example,
		NewSource: func(cfg any, env plugins.Env) (plugins.Instance, error) {
			c, err := evm.Lookup(env, cfg.(*Config).Chain)
			if err != nil {
				return nil, err
			}
			tracer := env.Tracer
			if tracer == nil {
				tracer = noop.NewTracerProvider().Tracer("")
			}
			return &Blocks{chain: c, tracer: tracer}, nil
		},
	})
}

// Blocks is a running evm.blocks instance.
type Blocks struct {
	chain  *evm.Chain
	tracer trace.Tracer
}

// Run publishes the head stream until ctx ends. It is ready once the chain
// has a head.
//
// Every publication names the newest block as the channel's snapshot: once
// a publication has given one (a notice does), the channel's snapshot is
// the last one given, not the newest data.
func (b *Blocks) Run(ctx context.Context, h *plugins.Host) error {
	sub := b.chain.Subscribe()
	defer sub.Close()
	st := &blockState{channel: "blocks:" + b.chain.Name()}
	if head, ok := b.chain.Head(); ok {
		st.last = Payload(b.chain.Name(), head)
		h.Emit(feeds.Publication{Kind: "block", Channel: st.channel, Data: st.last, Snapshot: st.last})
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-sub.Events():
			ectx, span := evm.StartSpan(ctx, b.tracer, "evm.blocks.block", b.chain.Name(), ev)
			b.publish(ectx, h, st, ev)
			span.End()
		}
	}
}

// blockState is what Run remembers between events.
type blockState struct {
	channel string
	last    *feeds.Block
	// The head read at the start may be newer than events the subscription
	// already holds (it is read after subscribing): blocks are skipped
	// until the stream passes it. Only a reorg makes block numbers go back.
	reorged bool
}

func (b *Blocks) publish(ctx context.Context, h *plugins.Host, st *blockState, ev evm.HeadEvent) {
	switch {
	case ev.Block != nil:
		if st.last != nil && !st.reorged && ev.Block.Number <= st.last.Number {
			return
		}
		st.reorged = false
		st.last = Payload(b.chain.Name(), ev.Block)
		h.EmitContext(ctx, feeds.Publication{Kind: "block", Channel: st.channel, Data: st.last, Snapshot: st.last})
	case ev.Reorg != nil:
		st.reorged = true
		h.EmitContext(ctx, feeds.Publication{Kind: "reorg", Channel: st.channel, Data: ReorgPayload(b.chain.Name(), ev.Reorg), Snapshot: snapshot(st.last)})
	case ev.Gap != nil:
		h.EmitContext(ctx, feeds.Publication{Kind: "gap", Channel: st.channel, Data: feeds.Gap{Type: "gap", Chain: b.chain.Name(),
			From: ev.Gap.From, To: ev.Gap.To, Reason: ev.Gap.Reason}, Snapshot: snapshot(st.last)})
	}
}

// snapshot keeps the newest block as what new subscribers see while a
// notice is the newest update.
func snapshot(last *feeds.Block) any {
	if last == nil {
		return nil
	}
	return last
}

// Payload is the blocks:<chain> update for a block.
func Payload(chain string, b *evm.Block) *feeds.Block {
	return &feeds.Block{Type: "block", Chain: chain, Number: b.Number, Hash: b.Hash.Hex(), ParentHash: b.ParentHash.Hex(),
		Timestamp: int64(b.Time) * 1000, TxCount: len(b.Transactions)}
}

// ReorgPayload is the blocks:<chain> update for a reorg.
func ReorgPayload(chain string, r *evm.Reorg) feeds.Reorg {
	p := feeds.Reorg{Type: "reorg", Chain: chain, Depth: r.Depth, From: r.From}
	for _, o := range r.Old {
		p.OldHashes = append(p.OldHashes, o.Hash.Hex())
	}
	for _, n := range r.New {
		p.NewHashes = append(p.NewHashes, n.Hash.Hex())
	}
	return p
}
