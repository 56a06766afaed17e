package channels

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A traced publication's publish, deliver and write spans form one trace,
// each the child of the one before.
func TestPublicationTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	ts := newTestServer(t, HubOptions{Tracer: tp.Tracer("test"), WriteSpanSample: 1}, ServerOptions{})
	c := ts.dial("", nil)
	c.expect("welcome")
	c.send(map[string]any{"type": "subscribe", "channels": []string{"ops:traced"}})
	c.expect("subscribed")
	ctx, root := tp.Tracer("test").Start(context.Background(), "tick")
	if _, err := ts.hub.Publish(ctx, "ops:traced", []byte(`{"n":1}`), nil); err != nil {
		t.Fatal(err)
	}
	root.End()
	c.expect("update")
	var names map[string]sdktrace.ReadOnlySpan
	waitFor(t, "publish, deliver and write spans", func() bool {
		names = map[string]sdktrace.ReadOnlySpan{}
		for _, s := range exp.GetSpans().Snapshots() {
			names[s.Name()] = s
		}
		return names["publish"] != nil && names["deliver"] != nil && names["write"] != nil
	})
	pub, del, wr := names["publish"], names["deliver"], names["write"]
	if pub.Parent().SpanID() != root.SpanContext().SpanID() || del.Parent().SpanID() != pub.SpanContext().SpanID() ||
		wr.Parent().SpanID() != pub.SpanContext().SpanID() {
		t.Fatalf("parents: publish<-%s deliver<-%s write<-%s", pub.Parent().SpanID(), del.Parent().SpanID(), wr.Parent().SpanID())
	}
	for _, s := range []sdktrace.ReadOnlySpan{pub, del, wr} {
		if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Fatalf("%s is in another trace", s.Name())
		}
	}
}
