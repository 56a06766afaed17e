package telemetry

import (
	"context"
	"errors"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestRPCInstrumentsCalls(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	reader := sdkmetric.NewManualReader()
	tel, err := New(context.Background(), testConfig(), Options{SpanExporter: exp, MetricReader: reader})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	rpc, err := NewRPC(tel.Tracer("chains/evm"), tel.Meter("chains/evm"), "jsonrpc", "ethereum", "127.0.0.1:8545")
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tel.Tracer("test").Start(context.Background(), "source.receive")
	var inner trace.SpanContext
	if err := rpc.Call(ctx, "eth_blockNumber", func(ctx context.Context) error {
		inner = trace.SpanContextFromContext(ctx)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("connection refused")
	if err := rpc.Call(ctx, "eth_getLogs", func(context.Context) error { return boom }); err != boom {
		t.Fatalf("Call returned %v", err)
	}
	parent.End()
	tel.ForceFlush(context.Background())
	var ok, failed bool
	for _, s := range exp.GetSpans().Snapshots() {
		switch s.Name() {
		case "jsonrpc/eth_blockNumber":
			ok = s.SpanKind() == trace.SpanKindClient && s.Parent().SpanID() == parent.SpanContext().SpanID() && s.SpanContext().SpanID() == inner.SpanID()
		case "jsonrpc/eth_getLogs":
			failed = s.Status().Description == "connection refused"
		}
	}
	if !ok || !failed {
		t.Fatalf("rpc spans: ok %v failed %v", ok, failed)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var calls uint64
	var errs int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				if m.Name == "feedd.rpc.duration" {
					for _, p := range d.DataPoints {
						calls += p.Count
					}
				}
			case metricdata.Sum[int64]:
				if m.Name == "feedd.rpc.errors" {
					for _, p := range d.DataPoints {
						errs += p.Value
					}
				}
			}
		}
	}
	if calls != 2 || errs != 1 {
		t.Fatalf("rpc metrics: %d calls, %d errors", calls, errs)
	}
}
