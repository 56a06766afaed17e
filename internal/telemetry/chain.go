package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ChainState is what a chain reports to its gauges at each collection.
type ChainState struct {
	// Connected is true while an endpoint of the chain is connected.
	Connected bool
	// Head is the newest block (or slot) and HeadTime its time; both are
	// left out while HasHead is false.
	Head     uint64
	HeadTime time.Time
	HasHead  bool
}

// Chain holds the instruments every chain type reports, labelled with the
// chain's name (see the README's metric table): the counters feedd.chain.
// failovers and feedd.chain.gaps, and the gauges feedd.chain.head,
// feedd.chain.head.lag and feedd.chain.connected, read from state.
type Chain struct {
	// Attrs labels a measurement with the chain.
	Attrs     metric.MeasurementOption
	Failovers metric.Int64Counter
	Gaps      metric.Int64Counter
}

// NewChain makes the instruments of chain on m; now is the chain's clock.
func NewChain(m metric.Meter, chain string, now func() time.Time, state func() ChainState) (*Chain, error) {
	x := &Chain{Attrs: metric.WithAttributes(attribute.String("chain", chain))}
	var err error
	if x.Failovers, err = m.Int64Counter("feedd.chain.failovers", metric.WithUnit("{failover}"), metric.WithDescription("endpoints given up (failed to connect or dropped)")); err != nil {
		return nil, err
	}
	if x.Gaps, err = m.Int64Counter("feedd.chain.gaps", metric.WithUnit("{gap}"), metric.WithDescription("times the head jumped over more than max_backfill blocks")); err != nil {
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
		st := state()
		up := int64(0)
		if st.Connected {
			up = 1
		}
		o.ObserveInt64(connected, up, x.Attrs)
		if st.HasHead {
			o.ObserveInt64(head, int64(st.Head), x.Attrs)
			o.ObserveFloat64(lag, now().Sub(st.HeadTime).Seconds(), x.Attrs)
		}
		return nil
	}, head, lag, connected)
	return x, err
}
