package daemon

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/feedd/feedd/plugins"
)

// registerMetrics publishes the hub's and the supervisor's counts through
// the OTel metrics API (and so at /metrics). The values are read when the
// metrics are collected: nothing is added to the hot path.
func (d *Daemon) registerMetrics() error {
	m := d.tel.Meter("github.com/feedd/feedd")
	c := d.chsrv.Counters()
	var errs []error
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		k, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return k
	}
	conns := gauge("feedd.connections", "{connection}", "open WebSocket connections")
	subs := gauge("feedd.subscriptions", "{subscription}", "open subscriptions, by channel namespace")
	chans := gauge("feedd.channels", "{channel}", "channels with subscribers on this node")
	accepted := counter("feedd.connections.accepted", "{connection}", "WebSocket connections accepted")
	refused := counter("feedd.connections.refused", "{connection}", "connections refused at or before the upgrade (limits, origin)")
	slow := counter("feedd.connections.slow_closed", "{connection}", "connections closed with 4008 for falling behind on an event channel")
	msgs := counter("feedd.messages.delivered", "{message}", "messages written to connections")
	frames := counter("feedd.frames.written", "{frame}", "frames written to connections (a frame carries one or more messages)")
	authFail := counter("feedd.auth.failures", "{token}", "tokens refused, by reason")
	limited := counter("feedd.requests.rate_limited", "{request}", "requests refused for exceeding the per-connection rate")
	reqErr := counter("feedd.requests.errors", "{request}", "error replies to requests, by code")
	events := counter("feedd.plugin.events", "{event}", "events reported by a plugin instance")
	restarts := counter("feedd.plugin.restarts", "{restart}", "restarts of a plugin instance")
	panics := counter("feedd.plugin.panics", "{panic}", "runs of a plugin instance that ended in a panic")
	stalls := counter("feedd.plugin.stalls", "{stall}", "runs of a plugin instance ended by the stall watch")
	state := gauge("feedd.plugin.state", "", "1 for the state a plugin instance is in, 0 for the others")
	published := counter("feedd.messages.published", "{message}", "publications accepted, by channel namespace")
	deliveredNS := counter("feedd.messages.delivered.updates", "{message}", "update messages written to connections, by channel namespace")
	writing := gauge("feedd.connections.writing", "{connection}", "connections with a write queued or in progress")
	queued := gauge("feedd.queue.depth", "{message}", "messages waiting to be written, over all connections")
	coalesced := counter("feedd.messages.coalesced", "{message}", "publications of state channels skipped for clients that were behind (they got a newer one)")
	age, err := m.Float64ObservableGauge("feedd.source.age", metric.WithUnit("s"), metric.WithDescription("age of a source's last tick for a symbol"))
	errs = append(errs, err)
	staleSources := gauge("feedd.source.stale", "", "1 when a source's last tick for a symbol is older than max_age")
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := d.hub.Stats()
		o.ObserveInt64(conns, c.Connections.Load())
		o.ObserveInt64(chans, int64(st.Channels))
		o.ObserveInt64(writing, int64(st.Writing))
		for ns, n := range d.hub.Counts() {
			attrs := metric.WithAttributes(attribute.String("namespace", ns))
			o.ObserveInt64(published, n.Published, attrs)
			o.ObserveInt64(deliveredNS, n.Delivered, attrs)
		}
		o.ObserveInt64(queued, int64(st.Queued))
		for ns, n := range c.Subscriptions() {
			o.ObserveInt64(subs, n, metric.WithAttributes(attribute.String("namespace", ns)))
		}
		o.ObserveInt64(accepted, c.Accepted.Load())
		o.ObserveInt64(refused, c.Refused.Load())
		o.ObserveInt64(slow, c.SlowCloses.Load())
		o.ObserveInt64(msgs, c.Messages.Load())
		o.ObserveInt64(frames, c.Frames.Load())
		for reason, n := range c.AuthFailuresByReason() {
			o.ObserveInt64(authFail, n, metric.WithAttributes(attribute.String("reason", reason)))
		}
		o.ObserveInt64(coalesced, c.Coalesced.Load())
		for _, a := range d.prices.ages() {
			attrs := metric.WithAttributes(attribute.String("symbol", a.Symbol), attribute.String("source", a.Source))
			o.ObserveFloat64(age, a.Age.Seconds(), attrs)
			stale := int64(0)
			if a.Stale {
				stale = 1
			}
			o.ObserveInt64(staleSources, stale, attrs)
		}
		o.ObserveInt64(limited, c.RateLimited.Load())
		for code, n := range c.Errors() {
			o.ObserveInt64(reqErr, n, metric.WithAttributes(attribute.String("code", code)))
		}
		for _, s := range d.sup.Status() {
			attrs := metric.WithAttributes(attribute.String("plugin", s.ID), attribute.String("type", s.Type))
			o.ObserveInt64(events, int64(s.Events), attrs)
			o.ObserveInt64(restarts, int64(s.Restarts), attrs)
			o.ObserveInt64(panics, int64(s.Panics), attrs)
			o.ObserveInt64(stalls, int64(s.Stalls), attrs)
			for _, name := range []plugins.State{plugins.StateStarting, plugins.StateRunning, plugins.StateBackoff, plugins.StateStopped} {
				v := int64(0)
				if s.State == name {
					v = 1
				}
				o.ObserveInt64(state, v, metric.WithAttributes(attribute.String("plugin", s.ID), attribute.String("type", s.Type), attribute.String("state", string(name))))
			}
		}
		return nil
	}, conns, subs, chans, accepted, refused, slow, msgs, frames, authFail, limited, reqErr, events, restarts, panics, stalls, state, coalesced, age, staleSources, writing, queued, published, deliveredNS)
	return err
}
