package venue

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// metrics are a session's instruments; the zero Options.Meter gives no-ops.
type metrics struct {
	attrs      metric.MeasurementOption
	connects   metric.Int64Counter
	drops      metric.Int64Counter
	connected  metric.Int64UpDownCounter
	msgErrors  metric.Int64Counter
	duplicates metric.Int64Counter
}

func newMetrics(m metric.Meter, attrs ...attribute.KeyValue) *metrics {
	if m == nil {
		m = noop.Meter{}
	}
	x := &metrics{attrs: metric.WithAttributeSet(attribute.NewSet(attrs...))}
	noopM := noop.Meter{}
	var err error
	if x.connects, err = m.Int64Counter("feedd.venue.connects", metric.WithUnit("{connection}"), metric.WithDescription("connections to the venue made and subscribed")); err != nil {
		x.connects, _ = noopM.Int64Counter("")
	}
	if x.drops, err = m.Int64Counter("feedd.venue.disconnects", metric.WithUnit("{connection}"), metric.WithDescription("connections lost or given up, by reason")); err != nil {
		x.drops, _ = noopM.Int64Counter("")
	}
	if x.connected, err = m.Int64UpDownCounter("feedd.venue.connected", metric.WithUnit("{connection}"), metric.WithDescription("1 while connected to the venue")); err != nil {
		x.connected, _ = noopM.Int64UpDownCounter("")
	}
	if x.msgErrors, err = m.Int64Counter("feedd.venue.message_errors", metric.WithUnit("{message}"), metric.WithDescription("venue messages that were errors, malformed, out of sequence or after a sequence gap")); err != nil {
		x.msgErrors, _ = noopM.Int64Counter("")
	}
	if x.duplicates, err = m.Int64Counter("feedd.venue.duplicates", metric.WithUnit("{tick}"), metric.WithDescription("ticks dropped because they were already emitted (replayed after a reconnect)")); err != nil {
		x.duplicates, _ = noopM.Int64Counter("")
	}
	return x
}

func (x *metrics) disconnect(reason string) {
	x.drops.Add(context.Background(), 1, x.attrs, metric.WithAttributes(attribute.String("reason", reason)))
}
