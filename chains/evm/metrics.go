package evm

import (
	"go.opentelemetry.io/otel/metric"

	"github.com/feedd/feedd/internal/telemetry"
)

// metrics are a chain's instruments (see the README's metric table): the
// feedd.chain.* ones every chain type reports, and the head tracker's.
type metrics struct {
	*telemetry.Chain
	reorgs     metric.Int64Counter
	reorgDepth metric.Int64Histogram
	backfilled metric.Int64Counter
}

func newMetrics(m metric.Meter, c *Chain) (*metrics, error) {
	common, err := telemetry.NewChain(m, c.name, c.clk.Now, func() telemetry.ChainState {
		st := telemetry.ChainState{Connected: c.Connected() != ""}
		if b, ok := c.Head(); ok {
			st.Head, st.HeadTime, st.HasHead = b.Number, unixTime(b.Time), true
		}
		return st
	})
	if err != nil {
		return nil, err
	}
	x := &metrics{Chain: common}
	if x.reorgs, err = m.Int64Counter("feedd.chain.reorgs", metric.WithUnit("{reorg}"), metric.WithDescription("reorgs seen on the chain")); err != nil {
		return nil, err
	}
	if x.reorgDepth, err = m.Int64Histogram("feedd.chain.reorg.depth", metric.WithUnit("{block}"), metric.WithDescription("blocks replaced per reorg"),
		metric.WithExplicitBucketBoundaries(1, 2, 3, 5, 10, 20, 64, 128)); err != nil {
		return nil, err
	}
	if x.backfilled, err = m.Int64Counter("feedd.chain.backfilled", metric.WithUnit("{block}"), metric.WithDescription("missed blocks fetched to fill a gap in the head stream")); err != nil {
		return nil, err
	}
	return x, nil
}
