package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testConfig() Config {
	return Config{ServiceName: "feedd-test", InstanceID: "i-1", Resource: map[string]string{"deployment.environment": "test"},
		Traces: TracesConfig{Exporter: "none", SampleRatio: 1}, Metrics: MetricsConfig{Prometheus: true}}
}

func TestSpansReachTheExporter(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tel, err := New(context.Background(), testConfig(), Options{Version: "v1.2.3", SpanExporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tel.Tracer("test").Start(context.Background(), "parent")
	_, child := tel.Tracer("test").Start(ctx, "child")
	child.End()
	parent.End()
	if err := tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	defer tel.Shutdown(context.Background())
	if len(spans) != 2 || spans[0].Name != "child" || spans[0].Parent.SpanID() != spans[1].SpanContext.SpanID() {
		t.Fatalf("spans: %+v", spans)
	}
	attrs := map[string]string{}
	for _, kv := range spans[0].Resource.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	if attrs["service.name"] != "feedd-test" || attrs["service.version"] != "v1.2.3" || attrs["service.instance.id"] != "i-1" || attrs["deployment.environment"] != "test" {
		t.Fatalf("resource: %v", attrs)
	}
}

func TestSampleRatioZeroKeepsNoRootSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	cfg := testConfig()
	cfg.Traces.SampleRatio = 0
	tel, err := New(context.Background(), cfg, Options{SpanExporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	_, s := tel.Tracer("test").Start(context.Background(), "dropped")
	s.End()
	tel.ForceFlush(context.Background())
	defer tel.Shutdown(context.Background())
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("%d spans exported at ratio 0", n)
	}
}

func TestStdoutExporter(t *testing.T) {
	var out bytes.Buffer
	cfg := testConfig()
	cfg.Traces.Exporter = "stdout"
	tel, err := New(context.Background(), cfg, Options{Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	_, s := tel.Tracer("test").Start(context.Background(), "to-stdout")
	s.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"Name":"to-stdout"`) {
		t.Fatalf("stdout exporter wrote %q", out.String())
	}
}

func TestMetricsHandlerServesPrometheusText(t *testing.T) {
	tel, err := New(context.Background(), testConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	c, _ := tel.Meter("test").Int64Counter("feedd.test.things")
	c.Add(context.Background(), 3)
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if !strings.Contains(string(body), "feedd_test_things_total") || !strings.Contains(string(body), "} 3") {
		t.Fatalf("/metrics:\n%s", body)
	}
	cfg := testConfig()
	cfg.Metrics.Prometheus = false
	off, _ := New(context.Background(), cfg, Options{})
	defer off.Shutdown(context.Background())
	if off.MetricsHandler() != nil {
		t.Fatal("a metrics handler with prometheus off")
	}
}

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tel, _ := New(context.Background(), testConfig(), Options{SpanExporter: exp})
	defer tel.Shutdown(context.Background())
	var out bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&out, nil))).With("component", "test")
	ctx, span := tel.Tracer("test").Start(context.Background(), "work")
	log.InfoContext(ctx, "inside")
	span.End()
	log.InfoContext(context.Background(), "outside")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var in, outside map[string]any
	json.Unmarshal([]byte(lines[0]), &in)
	json.Unmarshal([]byte(lines[1]), &outside)
	if in["trace_id"] != span.SpanContext().TraceID().String() || in["span_id"] != span.SpanContext().SpanID().String() || in["component"] != "test" {
		t.Fatalf("record inside a span: %v", in)
	}
	if _, ok := outside["trace_id"]; ok {
		t.Fatalf("record outside a span has a trace id: %v", outside)
	}
}

func TestNoExporterMakesNoSpans(t *testing.T) {
	tel, err := New(context.Background(), testConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	_, s := tel.Tracer("test").Start(context.Background(), "nothing")
	if s.IsRecording() || s.SpanContext().IsValid() {
		t.Fatal("exporter none still records spans")
	}
	s.End()
}

// TestOTLPHTTPExport points the OTLP/HTTP trace and metric exporters at a
// local receiver and checks both arrive as protobuf, with the headers.
func TestOTLPHTTPExport(t *testing.T) {
	got := make(chan string, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Header.Get("Content-Type") == "application/x-protobuf" && r.Header.Get("X-Token") == "t0k" {
			select {
			case got <- r.URL.Path:
			default:
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer recv.Close()
	endpoint := strings.TrimPrefix(recv.URL, "http://")
	cfg := testConfig()
	cfg.Traces = TracesConfig{Exporter: "otlp", Protocol: "http", Endpoint: endpoint, Insecure: true, Headers: map[string]string{"X-Token": "t0k"}, SampleRatio: 1}
	cfg.Metrics.OTLP = OTLPMetric{Endpoint: endpoint, Protocol: "http", Insecure: true, Headers: map[string]string{"X-Token": "t0k"}, Interval: time.Hour}
	tel, err := New(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, s := tel.Tracer("test").Start(context.Background(), "exported")
	s.End()
	c, _ := tel.Meter("test").Int64Counter("feedd.test.pushed")
	c.Add(context.Background(), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil { // flushes both
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for len(paths) < 2 {
		select {
		case p := <-got:
			paths[p] = true
		case <-ctx.Done():
			t.Fatalf("receiver got %v, want /v1/traces and /v1/metrics", paths)
		}
	}
	if !paths["/v1/traces"] || !paths["/v1/metrics"] {
		t.Fatalf("receiver got %v", paths)
	}
}
