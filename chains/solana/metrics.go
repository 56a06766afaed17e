package solana

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/feedd/feedd/internal/telemetry"
)

// metrics are a chain's instruments (see the README's metric table): the
// feedd.chain.* ones every chain type reports, and the pubsub ones.
type metrics struct {
	*telemetry.Chain
	rateLimited  metric.Int64Counter
	resubscribes metric.Int64Counter
	malformed    metric.Int64Counter
}

func newMetrics(m metric.Meter, c *Chain) (*metrics, error) {
	common, err := telemetry.NewChain(m, c.name, c.clk.Now, func() telemetry.ChainState {
		t := c.slotTime.Load()
		return telemetry.ChainState{Connected: c.Connected() != "", Head: c.slot.Load(), HeadTime: time.Unix(0, t), HasHead: t != 0}
	})
	if err != nil {
		return nil, err
	}
	x := &metrics{Chain: common}
	if x.rateLimited, err = m.Int64Counter("feedd.chain.rate_limited", metric.WithUnit("{answer}"), metric.WithDescription("HTTP 429 answers of rpc endpoints")); err != nil {
		return nil, err
	}
	if x.resubscribes, err = m.Int64Counter("feedd.chain.resubscribes", metric.WithUnit("{subscription}"), metric.WithDescription("subscriptions sent again on a new pubsub connection")); err != nil {
		return nil, err
	}
	if x.malformed, err = m.Int64Counter("feedd.chain.malformed", metric.WithUnit("{message}"), metric.WithDescription("pubsub messages that could not be read, skipped")); err != nil {
		return nil, err
	}
	subs, err := m.Int64ObservableGauge("feedd.chain.subscriptions", metric.WithUnit("{subscription}"), metric.WithDescription("pubsub subscriptions active on the chain's connection"))
	if err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(subs, int64(c.Subscriptions()), x.Attrs)
		return nil
	}, subs)
	return x, err
}
