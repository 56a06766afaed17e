package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// RPC instruments the remote calls of a chain client: each call is a client
// span named "<system>/<method>" (e.g. "jsonrpc/eth_getBlockByNumber") and a
// sample of the feedd.rpc.duration histogram; failures also count in
// feedd.rpc.errors. Chain packages make one per connection pool.
type RPC struct {
	tracer   trace.Tracer
	duration metric.Float64Histogram
	errors   metric.Int64Counter
	system   string
	attrs    []attribute.KeyValue
}

// NewRPC returns the instruments for calls of system (e.g. "jsonrpc") to
// chain (its name in the configuration) through endpoint.
func NewRPC(tracer trace.Tracer, meter metric.Meter, system, chain, endpoint string) (*RPC, error) {
	d, err := meter.Float64Histogram("feedd.rpc.duration", metric.WithUnit("s"),
		metric.WithDescription("duration of RPC calls to chain nodes"),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err != nil {
		return nil, err
	}
	e, err := meter.Int64Counter("feedd.rpc.errors", metric.WithUnit("{call}"), metric.WithDescription("RPC calls to chain nodes that failed"))
	if err != nil {
		return nil, err
	}
	return &RPC{tracer: tracer, duration: d, errors: e, system: system, attrs: []attribute.KeyValue{
		attribute.String("rpc.system", system), attribute.String("feedd.chain", chain), attribute.String("server.address", endpoint),
	}}, nil
}

// Call runs fn as the call method, inside its span, and records its
// duration and outcome.
func (r *RPC) Call(ctx context.Context, method string, fn func(ctx context.Context) error) error {
	attrs := append(r.attrs[:len(r.attrs):len(r.attrs)], attribute.String("rpc.method", method))
	ctx, span := r.tracer.Start(ctx, r.system+"/"+method, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	start := time.Now()
	err := fn(ctx)
	set := metric.WithAttributes(attrs...)
	r.duration.Record(ctx, time.Since(start).Seconds(), set)
	if err != nil {
		r.errors.Add(ctx, 1, set)
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	return err
}
