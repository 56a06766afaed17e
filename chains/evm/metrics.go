package evm

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// metrics are a chain's instruments (see the README's metric table).
type metrics struct {
	attrs      metric.MeasurementOption
	reorgs     metric.Int64Counter
	reorgDepth metric.Int64Histogram
	backfilled metric.Int64Counter
	gaps       metric.Int64Counter
	failovers  metric.Int64Counter
}

func newMetrics(m metric.Meter, c *Chain) (*metrics, error) {
	x := &metrics{attrs: metric.WithAttributes(attribute.String("chain", c.name))}
	var err error
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
	if x.gaps, err = m.Int64Counter("feedd.chain.gaps", metric.WithUnit("{gap}"), metric.WithDescription("times the head jumped over more than max_backfill blocks")); err != nil {
		return nil, err
	}
	if x.failovers, err = m.Int64Counter("feedd.chain.failovers", metric.WithUnit("{failover}"), metric.WithDescription("endpoints given up (failed to connect or dropped)")); err != nil {
		return nil, err
	}
	head, err := m.Int64ObservableGauge("feedd.chain.head", metric.WithUnit("{block}"), metric.WithDescription("number of the newest canonical block"))
	if err != nil {
		return nil, err
	}
	lag, err := m.Float64ObservableGauge("feedd.chain.head.lag", metric.WithUnit("s"), metric.WithDescription("age of the newest canonical block (now minus its timestamp)"))
	if err != nil {
		return nil, err
	}
	connected, err := m.Int64ObservableGauge("feedd.chain.connected", metric.WithDescription("1 while an endpoint of the chain is connected"))
	if err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		up := int64(0)
		if c.Connected() != "" {
			up = 1
		}
		o.ObserveInt64(connected, up, x.attrs)
		if b, ok := c.Head(); ok {
			o.ObserveInt64(head, int64(b.Number), x.attrs)
			o.ObserveFloat64(lag, c.clk.Now().Sub(unixTime(b.Time)).Seconds(), x.attrs)
		}
		return nil
	}, head, lag, connected)
	return x, err
}
