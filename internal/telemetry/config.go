// Package telemetry sets up OpenTelemetry for the daemon: a tracer provider
// with the exporter chosen in YAML, a meter provider read by a Prometheus
// exporter served at /metrics, and a slog handler that stamps log records
// with the active trace and span ids.
package telemetry

import (
	"time"

	"github.com/feedd/feedd/internal/config"
)

// Config is the telemetry: section.
type Config struct {
	ServiceName string            `yaml:"service_name" default:"feedd" doc:"OTel service.name"`
	InstanceID  string            `yaml:"instance_id" doc:"OTel service.instance.id; default the host name and process id"`
	Resource    map[string]string `yaml:"resource" doc:"extra OTel resource attributes"`
	Traces      TracesConfig      `yaml:"traces" doc:"trace export"`
	Metrics     MetricsConfig     `yaml:"metrics" doc:"metric export"`
}

// TracesConfig is telemetry.traces.
type TracesConfig struct {
	Exporter    string            `yaml:"exporter" default:"none" enum:"none,stdout,otlp" doc:"where spans go"`
	Protocol    string            `yaml:"protocol" default:"grpc" enum:"grpc,http" doc:"OTLP transport"`
	Endpoint    string            `yaml:"endpoint" doc:"OTLP collector endpoint: host:port (e.g. 127.0.0.1:4317 for grpc, 127.0.0.1:4318 for http)"`
	Insecure    bool              `yaml:"insecure" doc:"OTLP without TLS"`
	Headers     map[string]string `yaml:"headers" doc:"OTLP request headers (e.g. an API key via ${VAR})"`
	SampleRatio float64           `yaml:"sample_ratio" default:"1" min:"0" max:"1" doc:"fraction of root traces kept (children follow their parent)"`
}

// Validate requires an endpoint for OTLP.
func (c *TracesConfig) Validate(v *config.Validation) {
	if c.Exporter == "otlp" && c.Endpoint == "" {
		v.Errorf("endpoint", "required when exporter is otlp")
	}
}

// MetricsConfig is telemetry.metrics.
type MetricsConfig struct {
	Prometheus bool       `yaml:"prometheus" default:"true" doc:"serve GET /metrics in Prometheus text format"`
	OTLP       OTLPMetric `yaml:"otlp" doc:"push metrics to an OTLP collector as well"`
}

// OTLPMetric is telemetry.metrics.otlp.
type OTLPMetric struct {
	Endpoint string            `yaml:"endpoint" doc:"OTLP collector endpoint host:port; empty pushes nothing"`
	Protocol string            `yaml:"protocol" default:"grpc" enum:"grpc,http" doc:"OTLP transport"`
	Insecure bool              `yaml:"insecure" doc:"OTLP without TLS"`
	Headers  map[string]string `yaml:"headers" doc:"OTLP request headers"`
	Interval time.Duration     `yaml:"interval" default:"30s" min:"1s" doc:"how often metrics are pushed"`
}
