package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds of the load command: it is a benchmark tool for a daemon on this
// machine, not a way to flood anything.
const (
	maxLoadDuration = 5 * time.Minute
	maxLoadConns    = 200_000
	maxLoadChannels = 10_000
	maxLoadSize     = 60_000
)

const loadUsage = `usage: feedctl load [flags]

Opens --conns WebSocket connections to the daemon (loopback only), subscribes
them in turn to --channels channels <ns>:load-0 … <ns>:load-<C-1>, publishes
through POST /api/v1/publish for --duration and reports deliveries, latency
(publish to receipt), lost messages and CPU. With --idle it publishes nothing
and reports the daemon's memory per idle connection (needs --pid).

flags:
`

// loadReport is the result of a load run (--json prints it).
type loadReport struct {
	Mode              string         `json:"mode"` // "load" or "idle"
	URL               string         `json:"url"`
	Conns             int            `json:"conns"`
	Channels          int            `json:"channels"`
	Namespace         string         `json:"namespace"`
	RatePerChannel    float64        `json:"rate_per_channel"` // 0: as fast as possible
	PayloadBytes      int            `json:"payload_bytes"`
	Processes         int            `json:"processes"`
	Established       int            `json:"established"`
	Subscribed        int            `json:"subscribed"`
	DialErrors        int            `json:"dial_errors"`
	SubscribeErrors   int            `json:"subscribe_errors"`
	FirstError        string         `json:"first_error,omitempty"`
	ConnectSeconds    float64        `json:"connect_seconds"`
	DurationSeconds   float64        `json:"duration_seconds"`
	Publications      uint64         `json:"publications"`
	PublishErrors     uint64         `json:"publish_errors"`
	PublishError      string         `json:"publish_error,omitempty"`
	PublishRate       float64        `json:"publish_rate"`
	Requests          uint64         `json:"publish_requests"`
	Expected          uint64         `json:"expected_deliveries"`
	Received          uint64         `json:"received"`
	DeliveriesPerSec  float64        `json:"deliveries_per_second"`
	Lost              uint64         `json:"lost"`
	Gaps              uint64         `json:"gaps"`
	Duplicates        uint64         `json:"duplicates"`
	Unexpected        uint64         `json:"unexpected,omitempty"`
	Malformed         uint64         `json:"malformed_frames,omitempty"`
	Disconnected      int            `json:"disconnected"`
	CloseCodes        map[string]int `json:"close_codes,omitempty"`
	Latency           latMs          `json:"latency_ms"`
	GeneratorCPU      float64        `json:"generator_cpu_seconds"`
	GeneratorCPUSelf  float64        `json:"generator_cpu_self_seconds"`
	GeneratorCPUChild float64        `json:"generator_cpu_workers_seconds"`
	Daemon            *daemonR       `json:"daemon,omitempty"`
	Interrupted       bool           `json:"interrupted,omitempty"`
}

type latMs struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
	N   uint64  `json:"samples"`
}

type daemonR struct {
	PID                int     `json:"pid"`
	CPUSeconds         float64 `json:"cpu_seconds"`         // during publishing and draining
	CPUConnectSeconds  float64 `json:"cpu_connect_seconds"` // while connecting
	CPUMicrosPerDeliv  float64 `json:"cpu_us_per_delivery,omitempty"`
	RSSBeforeKiB       uint64  `json:"rss_before_kib"`
	RSSConnectedKiB    uint64  `json:"rss_connected_kib"`
	RSSAfterKiB        uint64  `json:"rss_after_kib"`
	IdleBytesPerConn   float64 `json:"idle_bytes_per_conn,omitempty"`
	SampleErrorMessage string  `json:"sample_error,omitempty"`
}

type loadFlags struct {
	url, api, key, ns                  string
	conns, channels, size, batch, pubs int
	rate, connectRate                  float64
	duration, connectTimeout, drain    time.Duration
	settle                             time.Duration
	pid, maxPerProc, first, dialPar    int
	idle, jsonOut, worker              bool
	cpuProfile                         string
	reader                             string
	readers                            int
	wsURL                              *url.URL
	apiURL                             *url.URL
}

func cmdLoad(args []string, stdout, stderr io.Writer) int {
	var f loadFlags
	fs := flag.NewFlagSet("feedctl load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.url, "url", "ws://127.0.0.1:8080/ws", "WebSocket URL of the daemon's /ws (a loopback address)")
	fs.StringVar(&f.api, "api", "", "HTTP base URL for publishing (default: from --url)")
	fs.StringVar(&f.key, "key", os.Getenv("FEEDD_API_KEY"), "API key for POST /api/v1/publish (default $FEEDD_API_KEY)")
	fs.StringVar(&f.ns, "ns", "load", "namespace of the load channels (needs publish: api)")
	fs.IntVar(&f.conns, "conns", 100, "connections")
	fs.IntVar(&f.channels, "channels", 1, "channels; connection i follows channel i mod C")
	fs.Float64Var(&f.rate, "rate", 10, "publications per second to each channel (0: as fast as possible)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long to publish (at most 5m)")
	fs.IntVar(&f.size, "size", 100, "bytes of data per publication")
	fs.IntVar(&f.batch, "batch", 50, "publications per publish request at most")
	fs.IntVar(&f.pubs, "publishers", 2, "concurrent publish requests (keep-alive HTTP connections)")
	fs.Float64Var(&f.connectRate, "connect-rate", 3000, "new connections per second (0: no pacing)")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", 30*time.Second, "wait for subscriptions after the last dial")
	fs.DurationVar(&f.drain, "drain", 5*time.Second, "after publishing, wait this long without progress for missing messages")
	fs.DurationVar(&f.settle, "settle", 3*time.Second, "--idle: wait after subscribing before measuring memory")
	fs.IntVar(&f.pid, "pid", 0, "the daemon's pid: report its RSS and CPU from /proc")
	fs.IntVar(&f.maxPerProc, "max-conns-per-process", 15000, "connections per process; more run in worker processes")
	fs.BoolVar(&f.idle, "idle", false, "connect and subscribe, publish nothing, report memory per connection")
	fs.BoolVar(&f.jsonOut, "json", false, "print the result as JSON")
	fs.IntVar(&f.dialPar, "dial-parallel", 64, "dials in flight at most (per process)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write the generator's CPU profile of the publishing phase to this file")
	fs.StringVar(&f.reader, "reader", defaultReader, "how connections are read: epoll (--readers threads wait in epoll and read the sockets; Linux) or goroutine (a goroutine per connection)")
	fs.IntVar(&f.readers, "readers", 1, "--reader epoll: reader threads per process")
	// Worker processes only.
	fs.BoolVar(&f.worker, "worker", false, "")
	fs.IntVar(&f.first, "first", 0, "")
	fs.Usage = func() {
		fmt.Fprint(stderr, loadUsage)
		fs.VisitAll(func(fl *flag.Flag) {
			if fl.Usage == "" {
				return // hidden
			}
			name, usage := flag.UnquoteUsage(fl)
			if name != "" {
				name = " " + name
			}
			fmt.Fprintf(stderr, "  --%s%s\n    \t%s", fl.Name, name, usage)
			if fl.DefValue != "" && fl.DefValue != "0" && fl.DefValue != "false" && fl.Name != "key" {
				fmt.Fprintf(stderr, " (default %s)", fl.DefValue)
			}
			fmt.Fprintln(stderr)
		})
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "feedctl load: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if err := f.check(); err != nil {
		fmt.Fprintf(stderr, "feedctl load: %v\n", err)
		return 2
	}
	names := make([]string, f.channels)
	for i := range names {
		names[i] = f.ns + ":load-" + strconv.Itoa(i)
	}
	gcfg := groupConfig{
		wsURL: f.wsURL.String(), names: names, first: f.first, conns: f.conns,
		connectRate: f.connectRate, dialParallel: f.dialPar, connectTimeout: f.connectTimeout,
		reader: f.reader, readers: f.readers,
	}
	if f.worker {
		return runWorker(gcfg, os.Stdin, stdout)
	}
	return runLoad(&f, gcfg, stdout, stderr)
}

// check validates the flags and resolves the URLs.
func (f *loadFlags) check() error {
	switch {
	case f.conns < 1 || f.conns > maxLoadConns:
		return fmt.Errorf("--conns %d: want 1 to %d", f.conns, maxLoadConns)
	case f.channels < 1 || f.channels > maxLoadChannels:
		return fmt.Errorf("--channels %d: want 1 to %d", f.channels, maxLoadChannels)
	case f.duration <= 0 || f.duration > maxLoadDuration:
		return fmt.Errorf("--duration %s: want more than 0 and at most %s", f.duration, maxLoadDuration)
	case f.rate < 0:
		return fmt.Errorf("--rate %g: want 0 (as fast as possible) or more", f.rate)
	case f.size < 0 || f.size > maxLoadSize:
		return fmt.Errorf("--size %d: want 0 to %d", f.size, maxLoadSize)
	case f.batch < 1 || f.pubs < 1 || f.pubs > 64:
		return fmt.Errorf("--batch must be at least 1 and --publishers 1 to 64")
	case f.connectRate < 0:
		return fmt.Errorf("--connect-rate %g: want 0 or more", f.connectRate)
	case f.maxPerProc < 1:
		return fmt.Errorf("--max-conns-per-process %d: want at least 1", f.maxPerProc)
	case f.reader != "epoll" && f.reader != "goroutine":
		return fmt.Errorf("--reader %q: want epoll or goroutine", f.reader)
	case f.reader == "epoll" && !epollSupported:
		return fmt.Errorf("--reader epoll needs Linux: use --reader goroutine")
	case f.readers < 1 || f.readers > 64:
		return fmt.Errorf("--readers %d: want 1 to 64", f.readers)
	case f.connectTimeout <= 0 || f.connectTimeout > maxLoadDuration || f.drain < 0 || f.drain > time.Minute ||
		f.settle < 0 || f.settle > maxLoadDuration:
		return fmt.Errorf("--connect-timeout, --settle (up to 5m) and --drain (up to 1m) must be positive")
	case f.ns == "" || strings.ContainsAny(f.ns, ":\"\\* "):
		return fmt.Errorf("--ns %q: want a namespace name", f.ns)
	case f.idle && f.pid == 0 && !f.worker:
		return fmt.Errorf("--idle measures the daemon's memory: give its --pid")
	case !f.idle && !f.worker && f.key == "":
		return fmt.Errorf("publishing needs an API key: --key or $FEEDD_API_KEY")
	}
	if f.pid != 0 && !f.worker {
		if _, err := readProc(f.pid); err != nil {
			return fmt.Errorf("--pid %d: %v", f.pid, err)
		}
	}
	u, err := url.Parse(f.url)
	if err != nil {
		return fmt.Errorf("--url: %v", err)
	}
	switch u.Scheme {
	case "ws", "http":
		u.Scheme = "ws"
	default:
		return fmt.Errorf("--url %s: want ws://host:port/ws", f.url)
	}
	if err := checkLoopback(u); err != nil {
		return fmt.Errorf("--url: %v", err)
	}
	f.wsURL = u
	api := f.api
	if api == "" {
		api = "http://" + u.Host
	}
	a, err := url.Parse(api)
	if err != nil {
		return fmt.Errorf("--api: %v", err)
	}
	if a.Scheme != "http" {
		return fmt.Errorf("--api %s: want http://host:port", api)
	}
	if err := checkLoopback(a); err != nil {
		return fmt.Errorf("--api: %v", err)
	}
	f.apiURL = a
	return nil
}

// checkLoopback refuses a URL whose host is not a loopback address.
func checkLoopback(u *url.URL) error {
	h := u.Hostname()
	if h == "" {
		return fmt.Errorf("%s has no host", u)
	}
	if strings.EqualFold(h, "localhost") {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("host %q is not a loopback address: the load tool only connects to this machine (127.0.0.0/8, ::1, localhost)", h)
}

// runLoad is the parent's side: connect, publish, drain, report.
func runLoad(f *loadFlags, gcfg groupConfig, stdout, stderr io.Writer) int {
	limit := raiseFileLimit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the process at once
	}()

	procs := (f.conns + f.maxPerProc - 1) / f.maxPerProc
	if procs == 1 && limit > 0 && uint64(f.conns)+64 > limit {
		fmt.Fprintf(stderr, "feedctl load: warning: %d connections but the open-file limit is %d; lower --max-conns-per-process\n", f.conns, limit)
	}
	rep := &loadReport{
		Mode: "load", URL: f.wsURL.String(), Conns: f.conns, Channels: f.channels, Namespace: f.ns,
		RatePerChannel: f.rate, PayloadBytes: f.size, Processes: procs,
	}
	if f.idle {
		rep.Mode = "idle"
	}
	var d *daemonR
	sample := func(what string) procSample {
		if d == nil {
			return procSample{}
		}
		s, err := readProc(f.pid)
		if err != nil && d.SampleErrorMessage == "" {
			d.SampleErrorMessage = what + ": " + err.Error()
		}
		return s
	}
	if f.pid != 0 {
		d = &daemonR{PID: f.pid}
		rep.Daemon = d
	}
	s0 := sample("before")

	// Connect.
	var groups []connGroup
	if procs == 1 {
		groups = append(groups, startLocal(ctx, gcfg))
	} else {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "feedctl load: cannot find my executable for worker processes: %v\n", err)
			return 1
		}
		stderr = &syncWriter{w: stderr}
		for p := 0; p < procs; p++ {
			lo, hi := f.conns*p/procs, f.conns*(p+1)/procs
			args := []string{"load", "--worker",
				"--url", gcfg.wsURL, "--ns", f.ns, "--channels", strconv.Itoa(f.channels),
				"--conns", strconv.Itoa(hi - lo), "--first", strconv.Itoa(lo),
				"--connect-rate", strconv.FormatFloat(f.connectRate/float64(procs), 'f', -1, 64),
				"--connect-timeout", f.connectTimeout.String(),
				"--dial-parallel", strconv.Itoa(f.dialPar),
				"--reader", f.reader, "--readers", strconv.Itoa(f.readers),
				"--max-conns-per-process", strconv.Itoa(hi - lo + 1),
			}
			w, err := startWorker(exe, args, stderr)
			if err != nil {
				for _, g := range groups {
					g.kill()
				}
				fmt.Fprintf(stderr, "feedctl load: %v\n", err)
				return 1
			}
			groups = append(groups, w)
		}
	}
	failed := func(err error) int {
		for _, g := range groups {
			g.kill()
		}
		fmt.Fprintf(stderr, "feedctl load: %v\n", err)
		return 1
	}
	readies, err := forEach(groups, func(g connGroup) (readyInfo, error) { return g.ready(ctx) })
	if err != nil {
		return failed(err)
	}
	for _, r := range readies {
		rep.Established += r.Established
		rep.Subscribed += r.Subscribed
		rep.DialErrors += r.DialErrors
		rep.SubscribeErrors += r.SubscribeErrors
		rep.ConnectSeconds = max(rep.ConnectSeconds, r.ConnectSeconds)
		if rep.FirstError == "" {
			rep.FirstError = r.FirstError
		}
	}
	s1 := sample("connected")

	// Publish, or sit idle.
	var final []uint64
	var pub pubResult
	stopProfile := func() {}
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(pf)
		}
		if err != nil {
			fmt.Fprintf(stderr, "feedctl load: --cpuprofile: %v\n", err)
		} else {
			stopProfile = func() {
				pprof.StopCPUProfile()
				pf.Close()
				stopProfile = func() {}
			}
		}
	}
	defer func() { stopProfile() }()
	pubStart := time.Now()
	switch {
	case rep.Subscribed == 0:
		// Nothing to measure.
	case f.idle:
		select {
		case <-time.After(f.settle):
		case <-ctx.Done():
		}
		s1 = sample("connected")
	default:
		p := newPublisher(pubConfig{
			api: f.apiURL.String(), key: f.key, names: gcfg.names, rate: f.rate * float64(f.channels),
			duration: f.duration, size: f.size, batch: f.batch, workers: f.pubs,
		})
		pub = p.run(ctx)
		final = pub.Final
	}
	idle := f.drain
	if ctx.Err() != nil {
		idle = min(idle, time.Second)
	}
	if _, err := forEach(groups, func(g connGroup) (struct{}, error) {
		return struct{}{}, g.drain(context.Background(), final, idle)
	}); err != nil {
		return failed(err)
	}
	stopProfile()
	s2 := sample("after")
	results, err := forEach(groups, func(g connGroup) (groupResult, error) { return g.result(final) })
	if err != nil {
		return failed(err)
	}

	// Sum up.
	hs := newHistSum()
	subs := make([]int, f.channels)
	codes := map[string]int{}
	var lastRecv int64
	for _, r := range results {
		rep.Received += r.Received
		rep.Duplicates += r.Duplicates
		rep.Gaps += r.Gaps
		rep.Lost += r.Gaps + r.Missing
		rep.Unexpected += r.Unexpected
		rep.Malformed += r.Malformed
		rep.Disconnected += r.Disconnected
		for k, v := range r.CloseCodes {
			codes[k] += v
		}
		for i, n := range r.SubsPerChan {
			if i < len(subs) {
				subs[i] += n
			}
		}
		lastRecv = max(lastRecv, r.LastRecvNs)
		hs.merge(&r.hist)
	}
	if len(codes) > 0 {
		rep.CloseCodes = codes
	}
	rep.Publications, rep.PublishErrors, rep.PublishError, rep.Requests = pub.Sent, pub.Errors, pub.FirstError, pub.Requests
	if !f.idle {
		rep.DurationSeconds = pub.Elapsed.Seconds()
		if pub.Elapsed > 0 {
			rep.PublishRate = float64(pub.Sent) / pub.Elapsed.Seconds()
		}
		for i, n := range pub.PerChan {
			rep.Expected += n * uint64(subs[i])
		}
		if span := time.Duration(lastRecv - pubStart.UnixNano()); span > 0 {
			rep.DeliveriesPerSec = float64(rep.Received) / max(span, pub.Elapsed).Seconds()
		}
	} else {
		rep.DurationSeconds = f.settle.Seconds()
	}
	ms := func(us uint64) float64 { return float64(us) / 1000 }
	rep.Latency = latMs{P50: ms(hs.quantile(0.50)), P90: ms(hs.quantile(0.90)), P99: ms(hs.quantile(0.99)), Max: ms(hs.max), N: hs.n}
	self, children := selfCPU()
	rep.GeneratorCPU, rep.GeneratorCPUSelf, rep.GeneratorCPUChild = self+children, self, children
	if d != nil {
		d.RSSBeforeKiB, d.RSSConnectedKiB, d.RSSAfterKiB = s0.RSSKiB, s1.RSSKiB, s2.RSSKiB
		d.CPUConnectSeconds = s1.CPUSeconds - s0.CPUSeconds
		d.CPUSeconds = s2.CPUSeconds - s1.CPUSeconds
		if rep.Received > 0 && !f.idle {
			d.CPUMicrosPerDeliv = d.CPUSeconds * 1e6 / float64(rep.Received)
		}
		if f.idle && rep.Subscribed > 0 {
			d.IdleBytesPerConn = (float64(s1.RSSKiB) - float64(s0.RSSKiB)) * 1024 / float64(rep.Subscribed)
		}
	}
	rep.Interrupted = ctx.Err() != nil
	if f.jsonOut {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		printReport(stdout, rep)
	}
	switch {
	case rep.Subscribed == 0:
		fmt.Fprintf(stderr, "feedctl load: no connection subscribed: %s\n", rep.FirstError)
		return 1
	case pub.Fatal:
		fmt.Fprintf(stderr, "feedctl load: publishing failed: %s\n", pub.FirstError)
		return 1
	}
	return 0
}

// forEach runs fn for every group at once and returns the answers in order
// and the first error.
func forEach[T any](groups []connGroup, fn func(connGroup) (T, error)) ([]T, error) {
	out := make([]T, len(groups))
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Go(func() { out[i], errs[i] = fn(g) })
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func printReport(w io.Writer, r *loadReport) {
	rate := "as fast as possible"
	if r.RatePerChannel > 0 {
		rate = strconv.FormatFloat(r.RatePerChannel, 'g', -1, 64) + "/s per channel"
	}
	chans := r.Namespace + ":load-0"
	if r.Channels > 1 {
		chans += "…" + strconv.Itoa(r.Channels-1)
	}
	fmt.Fprintf(w, "feedctl load (%s): %d connections in %d process(es), %d channel(s) %s\n", r.Mode, r.Conns, r.Processes, r.Channels, chans)
	fmt.Fprintf(w, "  connections   established %d, subscribed %d, dial errors %d, subscribe errors %d, in %.1f s; disconnected by the server %d",
		r.Established, r.Subscribed, r.DialErrors, r.SubscribeErrors, r.ConnectSeconds, r.Disconnected)
	if r.CloseCodes != nil {
		fmt.Fprintf(w, " %v", r.CloseCodes)
	}
	fmt.Fprintln(w)
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first error   %s\n", r.FirstError)
	}
	if r.Mode == "load" {
		fmt.Fprintf(w, "  published     %d in %.1f s = %.0f/s (%s, %d-byte data, %d requests), errors %d\n",
			r.Publications, r.DurationSeconds, r.PublishRate, rate, r.PayloadBytes, r.Requests, r.PublishErrors)
		if r.PublishError != "" {
			fmt.Fprintf(w, "  publish error %s\n", r.PublishError)
		}
		fmt.Fprintf(w, "  deliveries    expected %d, received %d = %.0f/s; lost %d, duplicates %d\n",
			r.Expected, r.Received, r.DeliveriesPerSec, r.Lost, r.Duplicates)
		fmt.Fprintf(w, "  latency ms    p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  (%d samples)\n",
			r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max, r.Latency.N)
	}
	if r.Unexpected > 0 || r.Malformed > 0 {
		fmt.Fprintf(w, "  oddities      %d unexpected messages, %d malformed frames\n", r.Unexpected, r.Malformed)
	}
	fmt.Fprintf(w, "  generator CPU %.2f s (this process %.2f, workers %.2f)\n", r.GeneratorCPU, r.GeneratorCPUSelf, r.GeneratorCPUChild)
	if d := r.Daemon; d != nil {
		fmt.Fprintf(w, "  daemon        pid %d: CPU %.2f s connecting", d.PID, d.CPUConnectSeconds)
		if r.Mode == "load" {
			fmt.Fprintf(w, ", %.2f s publishing", d.CPUSeconds)
			if d.CPUMicrosPerDeliv > 0 {
				fmt.Fprintf(w, " = %.2f µs per delivery", d.CPUMicrosPerDeliv)
			}
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  daemon RSS    %s before, %s connected, %s after",
			kib(d.RSSBeforeKiB), kib(d.RSSConnectedKiB), kib(d.RSSAfterKiB))
		if r.Mode == "idle" {
			fmt.Fprintf(w, "; %.1f KiB per idle connection", d.IdleBytesPerConn/1024)
		}
		fmt.Fprintln(w)
		if d.SampleErrorMessage != "" {
			fmt.Fprintf(w, "  daemon sample %s\n", d.SampleErrorMessage)
		}
	}
	if r.Interrupted {
		fmt.Fprintln(w, "  (interrupted: the figures cover the run up to then)")
	}
}

func kib(v uint64) string { return fmt.Sprintf("%.1f MiB", float64(v)/1024) }
