package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Telemetry holds the daemon's providers. Its zero value is not usable; use
// New. Providers are not installed globally: components get them from here.
type Telemetry struct {
	tp       *sdktrace.TracerProvider // nil when no span is exported
	tracers  trace.TracerProvider
	mp       *sdkmetric.MeterProvider
	registry *prometheus.Registry
	// Propagator carries trace context in headers (W3C trace context).
	Propagator propagation.TextMapPropagator
}

// Options are what New needs besides the configuration.
type Options struct {
	// Version is the service.version resource attribute.
	Version string
	// Stdout receives spans when the exporter is stdout; default os.Stdout.
	Stdout io.Writer
	// SpanExporter, when set, replaces the configured exporter (tests use
	// the SDK's in-memory exporter).
	SpanExporter sdktrace.SpanExporter
	// MetricReader, when set, is added to the meter provider (tests use a
	// manual reader).
	MetricReader sdkmetric.Reader
}

// New builds the providers for cfg. Exporters connect lazily: an OTLP
// collector that is down does not stop the daemon.
func New(ctx context.Context, cfg Config, opts Options) (*Telemetry, error) {
	res, err := newResource(cfg, opts.Version)
	if err != nil {
		return nil, err
	}
	t := &Telemetry{Propagator: propagation.TraceContext{}}
	exp := opts.SpanExporter
	if exp == nil {
		exp, err = newSpanExporter(ctx, cfg.Traces, opts.Stdout)
		if err != nil {
			return nil, err
		}
	}
	if exp == nil {
		// No exporter: spans would go nowhere, so none is made (the hot
		// path pays nothing for tracing that is off).
		t.tracers = noop.NewTracerProvider()
	} else {
		t.tp = sdktrace.NewTracerProvider(
			sdktrace.WithResource(res),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.Traces.SampleRatio))),
			sdktrace.WithBatcher(exp),
		)
		t.tracers = t.tp
	}

	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	if cfg.Metrics.Prometheus {
		t.registry = prometheus.NewRegistry()
		pe, err := otelprom.New(otelprom.WithRegisterer(t.registry))
		if err != nil {
			return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
		}
		mpOpts = append(mpOpts, sdkmetric.WithReader(pe))
	}
	if opts.MetricReader != nil {
		mpOpts = append(mpOpts, sdkmetric.WithReader(opts.MetricReader))
	}
	if o := cfg.Metrics.OTLP; o.Endpoint != "" {
		me, err := newMetricExporter(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp metric exporter: %w", err)
		}
		mpOpts = append(mpOpts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me, sdkmetric.WithInterval(o.Interval))))
	}
	t.mp = sdkmetric.NewMeterProvider(mpOpts...)
	return t, nil
}

func newResource(cfg Config, version string) (*resource.Resource, error) {
	id := cfg.InstanceID
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	attrs := []attribute.KeyValue{
		semconv.ServiceName(cfg.ServiceName),
		semconv.ServiceVersion(version),
		semconv.ServiceInstanceID(id),
	}
	keys := make([]string, 0, len(cfg.Resource))
	for k := range cfg.Resource {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		attrs = append(attrs, attribute.String(k, cfg.Resource[k]))
	}
	return resource.NewWithAttributes(semconv.SchemaURL, attrs...), nil
}

func newSpanExporter(ctx context.Context, c TracesConfig, stdout io.Writer) (sdktrace.SpanExporter, error) {
	switch c.Exporter {
	case "stdout":
		if stdout == nil {
			stdout = os.Stdout
		}
		return stdouttrace.New(stdouttrace.WithWriter(stdout))
	case "otlp":
		if c.Protocol == "http" {
			o := []otlptracehttp.Option{otlptracehttp.WithEndpoint(c.Endpoint), otlptracehttp.WithHeaders(c.Headers)}
			if c.Insecure {
				o = append(o, otlptracehttp.WithInsecure())
			}
			return otlptracehttp.New(ctx, o...)
		}
		o := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(c.Endpoint), otlptracegrpc.WithHeaders(c.Headers)}
		if c.Insecure {
			o = append(o, otlptracegrpc.WithInsecure())
		}
		return otlptracegrpc.New(ctx, o...)
	}
	return nil, nil
}

func newMetricExporter(ctx context.Context, o OTLPMetric) (sdkmetric.Exporter, error) {
	if o.Protocol == "http" {
		opts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpoint(o.Endpoint), otlpmetrichttp.WithHeaders(o.Headers)}
		if o.Insecure {
			opts = append(opts, otlpmetrichttp.WithInsecure())
		}
		return otlpmetrichttp.New(ctx, opts...)
	}
	opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(o.Endpoint), otlpmetricgrpc.WithHeaders(o.Headers)}
	if o.Insecure {
		opts = append(opts, otlpmetricgrpc.WithInsecure())
	}
	return otlpmetricgrpc.New(ctx, opts...)
}

// Tracer returns a tracer for the named component (e.g. "feedd/channels").
func (t *Telemetry) Tracer(name string) trace.Tracer { return t.tracers.Tracer(name) }

// MeterProvider returns the meter provider.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// Meter returns a meter for the named component.
func (t *Telemetry) Meter(name string) metric.Meter { return t.mp.Meter(name) }

// TracerProvider returns the tracer provider.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tracers }

// MetricsHandler serves the Prometheus text format, or nil when the
// Prometheus exporter is off.
func (t *Telemetry) MetricsHandler() http.Handler {
	if t.registry == nil {
		return nil
	}
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// ForceFlush exports the spans ended so far, within ctx.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	if t.tp == nil {
		return nil
	}
	return t.tp.ForceFlush(ctx)
}

// Shutdown flushes and stops both providers, within ctx.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var err error
	if t.tp != nil {
		err = t.tp.Shutdown(ctx)
	}
	return errors.Join(err, t.mp.Shutdown(ctx))
}
