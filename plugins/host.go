package plugins

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/clock"
)

// Source identifies the instance an event came from.
type Source struct {
	// ID is the instance id.
	ID string
	// Type is the plugin type.
	Type string
}

// Sink receives every event the running instances report.
type Sink interface {
	// Handle takes one event. It is called from the reporting instance's
	// goroutine, in the order the instance reported, and may block to push
	// back on it; it must return once ctx ends.
	Handle(ctx context.Context, src Source, ev feeds.Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, src Source, ev feeds.Event)

// Handle calls f.
func (f SinkFunc) Handle(ctx context.Context, src Source, ev feeds.Event) { f(ctx, src, ev) }

// Host is an instance's line to the supervisor during one run. Its methods
// are safe for concurrent use; after the run ends they do nothing.
type Host struct {
	ctx    context.Context
	u      *unit
	ready  atomic.Bool
	logger *slog.Logger
}

// Ready tells the supervisor the instance is connected and working. Calling
// it again does nothing.
func (h *Host) Ready() {
	if h.ctx.Err() != nil || h.ready.Swap(true) {
		return
	}
	h.u.markReady()
}

// Emit reports an event. It counts as a sign of life for the stall watch and,
// the first time, as Ready. It blocks while the daemon pushes back and
// returns early, dropping ev, once the run is over.
func (h *Host) Emit(ev feeds.Event) { h.EmitContext(h.ctx, ev) }

// EmitContext is Emit for an event whose handling began in a span of the
// instance's own (ctx, derived from Run's): the source.receive span is its
// child, so RPC calls made for the event and the event's path through the
// daemon share one trace.
func (h *Host) EmitContext(ctx context.Context, ev feeds.Event) {
	if h.ctx.Err() != nil || ctx.Err() != nil {
		return
	}
	h.Ready()
	h.u.markEvent()
	ctx, span := h.u.sup.opts.Tracer.Start(ctx, "source.receive", trace.WithAttributes(
		attribute.String("feedd.plugin.id", h.u.spec.ID),
		attribute.String("feedd.plugin.type", h.u.spec.Type),
		attribute.String("feedd.event.kind", ev.EventKind()),
	))
	if t, ok := ev.(feeds.Tick); ok && span.IsRecording() {
		span.SetAttributes(attribute.String("feedd.symbol", t.Symbol), attribute.String("feedd.source", t.Source))
	}
	h.u.sup.opts.Sink.Handle(ctx, Source{ID: h.u.spec.ID, Type: h.u.spec.Type}, ev)
	span.End()
}

// Alive tells the stall watch the instance is healthy though it has no event
// to report (a heartbeat from a quiet venue, say).
func (h *Host) Alive() {
	if h.ctx.Err() == nil {
		h.u.lastSign.Store(h.u.sup.opts.Clock.Now().UnixNano())
	}
}

// Logger returns the instance's logger.
func (h *Host) Logger() *slog.Logger { return h.logger }

// Clock returns the daemon's clock.
func (h *Host) Clock() clock.Clock { return h.u.sup.opts.Clock }

// ID returns the instance's id.
func (h *Host) ID() string { return h.u.spec.ID }
