package evm

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// StartSpan starts the span a consumer wraps its handling of one head event
// in (name e.g. "evm.wallets.block"), so that the RPC calls it makes and the
// events it emits (plugins.Host.EmitContext) share one trace per block.
func StartSpan(ctx context.Context, tracer trace.Tracer, name, chain string, ev HeadEvent) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{attribute.String("feedd.chain", chain)}
	switch {
	case ev.Block != nil:
		attrs = append(attrs, attribute.Int64("feedd.block.number", int64(ev.Block.Number)), attribute.String("feedd.block.hash", ev.Block.Hash.Hex()),
			attribute.Int("feedd.block.txs", len(ev.Block.Transactions)))
	case ev.Reorg != nil:
		attrs = append(attrs, attribute.Int("feedd.reorg.depth", ev.Reorg.Depth), attribute.Int64("feedd.reorg.from", int64(ev.Reorg.From)))
	case ev.Gap != nil:
		attrs = append(attrs, attribute.Int64("feedd.gap.from", int64(ev.Gap.From)), attribute.Int64("feedd.gap.to", int64(ev.Gap.To)))
	}
	return tracer.Start(ctx, name, trace.WithAttributes(attrs...))
}
