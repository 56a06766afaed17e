package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/feedd/feedd/channels"
	"github.com/feedd/feedd/channels/auth"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/internal/clock"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/internal/telemetry"
	"github.com/feedd/feedd/plugins"
)

// Options configure a Daemon. Zero fields take the defaults noted.
type Options struct {
	// ConfigPath is the configuration file; "" runs the embedded default.
	ConfigPath string
	// Registry holds the plugin types; default plugins.Default.
	Registry *plugins.Registry
	// Clock is handed to the supervisor and plugins; default the wall clock.
	Clock clock.Clock
	// LogOutput receives the logs; default os.Stderr.
	LogOutput io.Writer
	// Sink also receives every event plugins report (tests use it); the
	// daemon itself aggregates ticks into prices channels.
	Sink plugins.Sink
	// WatchSettle is how long the file watch waits for writes to settle;
	// default 250ms.
	WatchSettle time.Duration
	// Version is reported as the OTel service.version.
	Version string
	// Telemetry overrides parts of the telemetry set-up (tests pass the
	// SDK's in-memory exporters).
	Telemetry telemetry.Options
}

// Daemon is one feedd process: configuration, supervisor and HTTP listener.
type Daemon struct {
	opts   Options
	reg    *plugins.Registry
	level  *slog.LevelVar
	logger *slog.Logger
	sup    *plugins.Supervisor
	hub    *channels.Hub
	chsrv  *channels.Server
	prices *pricePublisher
	chains *chainSet
	tel    *telemetry.Telemetry
	// verifier checks JWTs; nil when server.auth configures no keys.
	verifier *auth.Verifier
	ln       net.Listener
	srv      *http.Server

	mu  sync.Mutex
	cur *Loaded

	reloadMu sync.Mutex // one reload at a time
}

// New loads and checks the configuration, sets up logging and binds the
// listener; nothing runs until Run. A configuration with problems returns
// them as a config.Problems error.
func New(opts Options) (*Daemon, error) {
	if opts.Registry == nil {
		opts.Registry = plugins.Default
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.LogOutput == nil {
		opts.LogOutput = os.Stderr
	}
	if opts.WatchSettle <= 0 {
		opts.WatchSettle = 250 * time.Millisecond
	}
	l, err := Load(opts.ConfigPath, opts.Registry)
	if err != nil {
		return nil, err
	}
	d := &Daemon{opts: opts, reg: opts.Registry, level: new(slog.LevelVar), cur: l}
	d.level.Set(parseLevel(l.Config.Log.Level))
	d.logger = newLogger(l.Config.Log.Format, opts.LogOutput, d.level)
	topts := opts.Telemetry
	if topts.Version == "" {
		topts.Version = opts.Version
	}
	d.tel, err = telemetry.New(context.Background(), l.Config.Telemetry, topts)
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	policy := backoff.Policy{Initial: l.Config.Supervisor.BackoffInitial, Max: l.Config.Supervisor.BackoffMax}
	d.chains, err = newChainSet(l.Chains, func(s plugins.ChainSpec) plugins.Env {
		scope := "github.com/feedd/feedd/chains/" + s.Type
		return plugins.Env{ID: s.Name, Logger: d.logger.With("chain", s.Name, "type", s.Type), Clock: opts.Clock, Files: l.Files,
			Tracer: d.tel.TracerProvider().Tracer(scope), Meter: d.tel.MeterProvider().Meter(scope)}
	}, d.logger, opts.Clock, policy)
	if err != nil {
		return nil, err
	}
	d.sup = plugins.New(plugins.Options{
		Logger:         d.logger,
		Clock:          opts.Clock,
		Sink:           plugins.SinkFunc(d.handleEvent),
		Backoff:        policy,
		Files:          l.Files,
		TracerProvider: d.tel.TracerProvider(),
		MeterProvider:  d.tel.MeterProvider(),
		Chain:          d.chains.lookup,
		Interest: func(ns string, w plugins.Watcher) func() {
			return d.hub.OnInterest(ns, w)
		},
	})
	sc := l.Config.Server
	d.hub, err = channels.NewHub(channels.HubOptions{
		Broker:           channels.NewMemoryBroker(opts.Clock),
		Clock:            opts.Clock,
		Logger:           d.logger,
		Namespaces:       namespaces(&l.Config),
		MaxQueue:         sc.Limits.MaxQueue,
		WriteDelay:       sc.WriteDelay,
		WriteTimeout:     sc.WriteTimeout,
		Heartbeat:        sc.Heartbeat,
		MaxSubscriptions: sc.Limits.MaxSubscriptions,
		Tracer:           d.tel.Tracer("github.com/feedd/feedd/channels"),
		Propagator:       d.tel.Propagator,
		Meter:            d.tel.Meter("github.com/feedd/feedd/channels"),
	})
	if err != nil {
		return nil, fmt.Errorf("channels: %w", err)
	}
	var verifier channels.TokenVerifier
	if sc.Auth.Enabled() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		v, err := auth.New(ctx, sc.Auth, opts.Clock.Now, &http.Client{Timeout: 30 * time.Second})
		cancel()
		if err != nil {
			d.hub.Close()
			return nil, fmt.Errorf("server.auth: %w", err)
		}
		d.verifier = v
		verifier = tokenVerifier{v: v, hub: d.hub}
	}
	rps := sc.Limits.MaxRequestsPerSecond
	if rps == 0 {
		rps = -1 // no limit
	}
	d.chsrv = channels.NewServer(d.hub, channels.ServerOptions{
		Verifier:             verifier,
		AllowedOrigins:       sc.AllowedOrigins,
		MaxConnections:       sc.Limits.MaxConnections,
		MaxConnectionsPerIP:  sc.Limits.MaxConnectionsPerIP,
		MaxMessageBytes:      int64(sc.Limits.MaxMessageBytes),
		MaxRequestsPerSecond: rps,
		Compression:          sc.Compression,
		APIKeys:              l.Config.Channels.APIKeys,
		Logger:               d.logger,
	})
	d.prices = newPricePublisher(d.hub, l.Config.Prices, opts.Clock, d.logger, d.tel.Tracer("github.com/feedd/feedd/feeds"))
	if err := d.registerMetrics(); err != nil {
		d.hub.Close()
		return nil, fmt.Errorf("metrics: %w", err)
	}
	d.ln, err = net.Listen("tcp", l.Config.Server.Listen)
	if err != nil {
		d.hub.Close()
		if d.verifier != nil {
			d.verifier.Close()
		}
		return nil, fmt.Errorf("listen on server.listen %s: %w", l.Config.Server.Listen, err)
	}
	d.srv = &http.Server{
		Handler:           d.routes(),
		ReadHeaderTimeout: l.Config.Server.ReadHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(d.logger.Handler(), slog.LevelWarn),
	}
	return d, nil
}

// handleEvent routes an event from a plugin instance: ticks to the price
// aggregator, and every event to the extra Sink of the options, if any.
func (d *Daemon) handleEvent(ctx context.Context, src plugins.Source, ev feeds.Event) {
	d.logger.LogAttrs(ctx, slog.LevelDebug, "event", slog.String("id", src.ID), slog.String("kind", ev.EventKind()), slog.Any("event", ev))
	switch ev := ev.(type) {
	case feeds.Tick:
		d.prices.Handle(ctx, src, ev)
	case feeds.Publication:
		d.publish(ctx, src, ev)
	}
	if d.opts.Sink != nil {
		d.opts.Sink.Handle(ctx, src, ev)
	}
}

// tokenVerifier adapts auth.Verifier to the hub: channel patterns in the
// channels claim are compared in canonical form.
type tokenVerifier struct {
	v   *auth.Verifier
	hub *channels.Hub
}

func (t tokenVerifier) Verify(token string) (channels.Identity, error) {
	c, err := t.v.Verify(token)
	if err != nil {
		return channels.Identity{}, err
	}
	canon := func(name string) string {
		if cn, _, err := t.hub.Resolve(name); err == nil {
			return cn
		}
		return name
	}
	return channels.Identity{Subject: c.Subject, Expires: c.Expires, Allows: func(ch string) bool { return c.Allows(ch, canon) }}, nil
}

// Addr returns the address the HTTP listener is bound to.
func (d *Daemon) Addr() net.Addr { return d.ln.Addr() }

// Logger returns the daemon's logger.
func (d *Daemon) Logger() *slog.Logger { return d.logger }

// Hub returns the channel hub.
func (d *Daemon) Hub() *channels.Hub { return d.hub }

// Channels returns the WebSocket server.
func (d *Daemon) Channels() *channels.Server { return d.chsrv }

// Supervisor returns the plugin supervisor.
func (d *Daemon) Supervisor() *plugins.Supervisor { return d.sup }

// Current returns the configuration in force.
func (d *Daemon) Current() *Loaded {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cur
}

// Run serves until ctx ends, then shuts down gracefully within
// server.shutdown_timeout: it stops accepting, stops the plugins and waits
// for them. A value on reload (SIGHUP), or a change to the configuration
// file, reloads the configuration. Run returns nil after a clean shutdown,
// or an error saying what did not stop in time or why serving failed.
func (d *Daemon) Run(ctx context.Context, reload <-chan struct{}) error {
	cur := d.Current()
	d.logger.Info("feedd starting", "config", cur.Name, "listen", d.ln.Addr().String(), "feeds", len(cur.Sources))
	serveErr := make(chan error, 1)
	go func() { serveErr <- d.srv.Serve(d.ln) }()
	d.chains.start(context.WithoutCancel(ctx))
	if err := d.sup.Apply(ctx, cur.Sources); err != nil {
		d.logger.Error("starting instances", "error", err)
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	watchers.Add(1)
	go func() {
		defer watchers.Done()
		d.prices.run(watchCtx)
	}()
	changed := make(chan struct{}, 1)
	if d.opts.ConfigPath != "" && cur.Config.Server.WatchConfig {
		watchers.Add(1)
		go func() {
			defer watchers.Done()
			err := config.Watch(watchCtx, d.opts.ConfigPath, d.opts.WatchSettle, func() {
				select {
				case changed <- struct{}{}:
				default:
				}
			})
			if err != nil {
				d.logger.Error("configuration file watch stopped; SIGHUP still reloads", "error", err)
			}
		}()
	}
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-reload:
			d.logger.Info("reload requested")
			_ = d.Reload(ctx)
		case <-changed:
			d.logger.Info("configuration file changed", "file", d.opts.ConfigPath)
			_ = d.Reload(ctx)
		case err := <-serveErr:
			runErr = fmt.Errorf("serve http: %w", err)
			break loop
		}
	}
	stopWatch()
	watchers.Wait()
	return errors.Join(runErr, d.shutdown())
}

func (d *Daemon) shutdown() error {
	timeout := d.Current().Config.Server.ShutdownTimeout
	d.logger.Info("shutting down", "timeout", timeout)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	// Stop accepting; WebSocket connections are hijacked, so the HTTP
	// server does not wait for them: the hub closes them with 1001.
	if err := d.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, fmt.Errorf("stop http: %w", err))
		d.srv.Close()
	}
	if err := d.hub.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close connections: %w", err))
	}
	if err := d.sup.Stop(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop plugins: %w", err))
	}
	d.chains.stop()
	d.hub.Close()
	if d.verifier != nil {
		d.verifier.Close()
	}
	if err := d.tel.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("flush telemetry: %w", err))
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		d.logger.Error("shutdown incomplete", "error", err, "took", time.Since(start))
		return err
	}
	d.logger.Info("stopped", "took", time.Since(start))
	return nil
}

// Reload reads the configuration again and applies it: an invalid one is
// refused whole (every problem logged, the running one untouched); a valid
// one replaces changed instances, starts new ones and stops removed ones.
// Settings that only take effect at start (server, broker, telemetry, log
// format) are logged as such. It returns the problems or the failed
// replacements.
func (d *Daemon) Reload(ctx context.Context) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	next, err := Load(d.opts.ConfigPath, d.reg)
	if err != nil {
		if ps, ok := Problems(err); ok {
			for _, p := range ps {
				d.logger.Error("configuration refused; still running the previous one", "problem", p.Error())
			}
		} else {
			d.logger.Error("configuration refused; still running the previous one", "error", err)
		}
		return err
	}
	prev := d.Current()
	for _, s := range restartOnly(prev.Config, next.Config) {
		d.logger.Warn("setting changed; it takes effect at the next start", "section", s)
	}
	d.level.Set(parseLevel(next.Config.Log.Level))
	d.mu.Lock()
	d.cur = next
	d.mu.Unlock()
	err = d.sup.Apply(ctx, next.Sources)
	if err != nil {
		d.logger.Error("reload applied with failures", "error", err)
	} else {
		d.logger.Info("reload applied", "config", next.Name, "feeds", len(next.Sources))
	}
	return err
}

// restartOnly names the sections that differ but apply only at start.
func restartOnly(a, b Config) []string {
	var out []string
	if !reflect.DeepEqual(a.Server, b.Server) {
		out = append(out, "server")
	}
	if a.Log.Format != b.Log.Format {
		out = append(out, "log.format")
	}
	if !reflect.DeepEqual(a.Telemetry, b.Telemetry) {
		out = append(out, "telemetry")
	}
	if !reflect.DeepEqual(a.Broker, b.Broker) {
		out = append(out, "broker")
	}
	if !reflect.DeepEqual(a.History, b.History) {
		out = append(out, "history")
	}
	if !reflect.DeepEqual(a.Supervisor, b.Supervisor) {
		out = append(out, "supervisor")
	}
	if !reflect.DeepEqual(a.Channels, b.Channels) || !reflect.DeepEqual(a.Prices, b.Prices) || !reflect.DeepEqual(a.Chains, b.Chains) {
		out = append(out, "channels (namespaces, symbols and chains of channel names)")
	}
	return out
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s)) // validated by the config spec
	return l
}

func newLogger(format string, w io.Writer, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(telemetry.LogHandler(slog.NewTextHandler(w, opts)))
	}
	return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, opts)))
}
