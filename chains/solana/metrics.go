package solana

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// metrics are a chain's instruments (see the README's metric table): the
// feedd.chain.* ones every chain type reports, and the pubsub ones.
type metrics struct {
	attrs        metric.MeasurementOption
	failovers    metric.Int64Counter
	gaps         metric.Int64Counter
	rateLimited  metric.Int64Counter
	resubscribes metric.Int64Counter
	malformed    metric.Int64Counter
}

func newMetrics(m metric.Meter, c *Chain) (*metrics, error) {
	x := &metrics{attrs: metric.WithAttributes(attribute.String("chain", c.name))}
	var err error
	if x.failovers, err = m.Int64Counter("feedd.chain.failovers", metric.WithUnit("{failover}"), metric.WithDescription("endpoints given up (failed to connect or dropped)")); err != nil {
		return nil, err
	}
	if x.gaps, err = m.Int64Counter("feedd.chain.gaps", metric.WithUnit("{gap}"), metric.WithDescription("times the head jumped over more than max_backfill blocks")); err != nil {
		return nil, err
	}
	if x.rateLimited, err = m.Int64Counter("feedd.chain.rate_limited", metric.WithUnit("{answer}"), metric.WithDescription("HTTP 429 answers of rpc endpoints")); err != nil {
		return nil, err
	}
	if x.resubscribes, err = m.Int64Counter("feedd.chain.resubscribes", metric.WithUnit("{subscription}"), metric.WithDescription("subscriptions sent again on a new pubsub connection")); err != nil {
		return nil, err
	}
	if x.malformed, err = m.Int64Counter("feedd.chain.malformed", metric.WithUnit("{message}"), metric.WithDescription("pubsub messages that could not be read, skipped")); err != nil {
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
	subs, err := m.Int64ObservableGauge("feedd.chain.subscriptions", metric.WithUnit("{subscription}"), metric.WithDescription("pubsub subscriptions active on the chain's connection"))
	if err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		up := int64(0)
		if c.Connected() != "" {
			up = 1
		}
		o.ObserveInt64(connected, up, x.attrs)
		o.ObserveInt64(subs, int64(c.Subscriptions()), x.attrs)
		if t := c.slotTime.Load(); t != 0 {
			o.ObserveInt64(head, int64(c.slot.Load()), x.attrs)
			o.ObserveFloat64(lag, c.clk.Now().Sub(time.Unix(0, t)).Seconds(), x.attrs)
		}
		return nil
	}, head, lag, connected, subs)
	return x, err
}
