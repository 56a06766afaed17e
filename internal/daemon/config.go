// Package daemon wires feedd together: it loads and validates the
// configuration, runs the plugin supervisor and the HTTP listener, reloads on
// request and shuts down gracefully.
package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/feedd/feedd/channels/auth"
	"github.com/feedd/feedd/configs"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/internal/telemetry"
	"github.com/feedd/feedd/plugins"
)

// Config is the whole configuration file.
type Config struct {
	Server     ServerConfig       `yaml:"server" doc:"the HTTP and WebSocket listener"`
	Log        LogConfig          `yaml:"log" doc:"logging"`
	Telemetry  telemetry.Config   `yaml:"telemetry" doc:"OpenTelemetry traces and metrics"`
	Broker     BrokerConfig       `yaml:"broker" doc:"where publications go between nodes"`
	History    HistoryConfig      `yaml:"history" doc:"history kept per channel of the built-in namespaces, for recovery after a reconnect"`
	Supervisor SupervisorConfig   `yaml:"supervisor" doc:"how plugin instances are restarted"`
	Channels   ChannelsConfig     `yaml:"channels" doc:"channel namespaces and publishing"`
	Chains     []config.Raw       `yaml:"chains" doc:"blockchains, declared once and shared by the feeds that name them; keys per chain type (feedd plugins)"`
	Feeds      []config.Raw       `yaml:"feeds" doc:"source plugin instances; keys per plugin type (feedd plugins)"`
	Prices     feeds.PricesConfig `yaml:"prices" doc:"price aggregation: symbols (sources, quorum, staleness, outliers, median or vwap, TWAP windows, 24h change and volume, publish policy, derived pairs, supply) and market:overview"`
}

// ServerConfig is the server: section.
type ServerConfig struct {
	Listen            string        `yaml:"listen" default:"127.0.0.1:8080" doc:"host:port of the HTTP listener (API, /ws, health, metrics)"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout" default:"10s" min:"1ms" doc:"on SIGINT/SIGTERM, how long to drain before giving up"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout" default:"10s" min:"1ms" doc:"how long a client may take to send request headers"`
	WatchConfig       bool          `yaml:"watch_config" default:"true" doc:"reload when the configuration file changes on disk (SIGHUP always reloads)"`
	AllowedOrigins    []string      `yaml:"allowed_origins" doc:"browser origins allowed to open /ws: full origins (https://app.example.com) or host patterns (*.example.com); empty allows any"`
	Compression       bool          `yaml:"compression" default:"true" doc:"negotiate permessage-deflate when a client offers it"`
	Heartbeat         time.Duration `yaml:"heartbeat" default:"25s" min:"100ms" doc:"server ping interval; a client silent for two intervals is closed with 4000"`
	WriteDelay        time.Duration `yaml:"write_delay" default:"0s" max:"1s" doc:"how long a connection's writer waits to gather more messages into one frame (a throughput knob; adds up to this much latency)"`
	WriteTimeout      time.Duration `yaml:"write_timeout" default:"10s" min:"10ms" doc:"a write to a client that takes longer closes it"`
	Limits            LimitsConfig  `yaml:"limits" doc:"per-connection and global limits"`
	Pprof             bool          `yaml:"pprof" doc:"serve Go's profiler at /debug/pprof/ (keep the listener private when on)"`
	Auth              auth.Config   `yaml:"auth" doc:"JWT verification for token and claims namespaces (HS256 secret, or RS256/ES256 keys from a JWKS file or URL)"`
}

// Validate checks the listen address.
func (c *ServerConfig) Validate(v *config.Validation) {
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		v.Errorf("listen", "%q is not host:port (e.g. 127.0.0.1:8080, :8080, [::1]:8080)", c.Listen)
	}
}

// LogConfig is the log: section.
type LogConfig struct {
	Format string `yaml:"format" default:"json" enum:"json,text" doc:"log line format"`
	Level  string `yaml:"level" default:"info" enum:"debug,info,warn,error" doc:"least severe level logged"`
}

// BrokerConfig is the broker: section.
type BrokerConfig struct {
	Type string `yaml:"type" default:"memory" enum:"memory" doc:"publication broker: memory keeps every channel's history in this process"`
}

// HistoryConfig is the history: section.
type HistoryConfig struct {
	Size int           `yaml:"size" default:"1000" min:"0" max:"1000000" doc:"publications kept per channel"`
	TTL  time.Duration `yaml:"ttl" default:"10m" doc:"how long a publication is kept (0: until pushed out by size)"`
}

// SupervisorConfig is the supervisor: section.
type SupervisorConfig struct {
	BackoffInitial time.Duration `yaml:"backoff_initial" default:"1s" min:"1ms" doc:"wait before the first restart of a failed instance"`
	BackoffMax     time.Duration `yaml:"backoff_max" default:"1m" min:"1ms" doc:"longest wait between restarts (the wait doubles, with jitter, up to this)"`
}

// Validate checks the backoff bounds are ordered.
func (c *SupervisorConfig) Validate(v *config.Validation) {
	if c.BackoffMax < c.BackoffInitial {
		v.Errorf("backoff_max", "%s is less than backoff_initial %s", c.BackoffMax, c.BackoffInitial)
	}
}

// Loaded is a configuration read, validated and ready to apply.
type Loaded struct {
	// Name is the file's path or "embedded:default.yaml".
	Name string
	// Config is the decoded file.
	Config Config
	// Sources are the feeds: instances.
	Sources []plugins.Spec
	// Chains are the chains: entries.
	Chains []plugins.ChainSpec
	// Files resolves relative file names in the configuration.
	Files fs.FS
}

// EnvKeys lists the configuration keys environment variables override.
func EnvKeys() []string { return config.Leaves(config.FieldsOf(&Config{}), ".") }

// Load reads the configuration at path ("" for the embedded default) and
// checks all of it against reg. On failure the error is a config.Problems
// (or an I/O error).
func Load(path string, reg *plugins.Registry) (*Loaded, error) {
	var (
		data  []byte
		err   error
		name  = path
		files fs.FS
	)
	if path == "" {
		name = "embedded:" + configs.Default
		data, err = configs.FS.ReadFile(configs.Default)
		files = configs.FS
	} else {
		data, err = os.ReadFile(path)
		files = os.DirFS(filepath.Dir(path))
	}
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return Parse(name, data, files, reg)
}

// Parse checks the configuration data called name; see Load.
func Parse(name string, data []byte, files fs.FS, reg *plugins.Registry) (*Loaded, error) {
	doc, ps := config.Load(name, data, EnvKeys())
	if doc == nil {
		return nil, ps
	}
	l := &Loaded{Name: name, Files: files}
	feedIDs := plugins.IDs(rawList(doc.Values["feeds"]), "id")
	chainNames := plugins.IDs(rawList(doc.Values["chains"]), "name")
	refs := func(kind, n string) (bool, []string) {
		list := feedIDs
		if kind == "chain" {
			list = chainNames
		}
		for _, x := range list {
			if x == n {
				return true, list
			}
		}
		return false, list
	}
	dec := config.Decoder{Refs: refs}
	dec.Decode("", doc.Values, &l.Config, &ps)
	l.Chains = reg.Chains("chains", l.Config.Chains, &ps)
	l.Sources = reg.Sources("feeds", l.Config.Feeds, refs, &ps)
	checkPublishers(l, &ps)
	if len(ps) > 0 {
		doc.Locate(ps)
		return nil, ps
	}
	return l, nil
}

// Problems returns the configuration problems in err, if that is what it holds.
func Problems(err error) (config.Problems, bool) {
	var ps config.Problems
	ok := errors.As(err, &ps)
	return ps, ok
}

// rawList returns the mappings of a list value, skipping anything else (the
// full decode reports those).
func rawList(v any) []config.Raw {
	list, _ := v.([]any)
	var out []config.Raw
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// checkPublishers checks that feeds publishing to a namespace of their own
// choosing (evm.logs' channel template) name one declared under
// channels.namespaces, not a built-in one.
func checkPublishers(l *Loaded, ps *config.Problems) {
	declared := map[string]bool{}
	var names []string
	for _, n := range l.Config.Channels.Namespaces {
		declared[n.Name] = true
		names = append(names, n.Name)
	}
	for _, s := range l.Sources {
		p, ok := s.Config.(plugins.Publisher)
		if !ok {
			continue
		}
		ns, key := p.PublishNamespace()
		switch {
		case ns == "":
		case builtinNamespace(ns):
			ps.Add(config.Join(s.Path, key), "namespace %q is built in; declare a namespace of your own under channels.namespaces", ns)
		case !declared[ns]:
			list := "none are declared"
			if len(names) > 0 {
				list = "declared: " + strings.Join(names, ", ")
			}
			ps.Add(config.Join(s.Path, key), "namespace %q is not declared under channels.namespaces (%s)", ns, list)
		}
	}
}
