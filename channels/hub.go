package channels

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/feedd/feedd/channels/protocol"
	"github.com/feedd/feedd/internal/clock"
)

// InterestHandler hears when a channel of an interest namespace (wallet:,
// tx:) gets its first subscriber on this node and loses its last. Calls for
// one channel come in order, Watch before Unwatch; they must return quickly
// (start or stop work in the background).
type InterestHandler interface {
	Watch(channel string)
	Unwatch(channel string)
}

// HubOptions configure a Hub. Zero fields take the defaults noted.
type HubOptions struct {
	// Broker stores streams; default a MemoryBroker.
	Broker Broker
	// Clock drives heartbeats, token expiry and sweeping; default wall clock.
	Clock clock.Clock
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Namespaces are the channel rules; a channel outside them is bad_channel.
	Namespaces []*Namespace
	// MaxQueue bounds how many publications of one channel a connection
	// may fall behind: beyond it a state channel is coalesced (it always
	// is when behind) and an event channel closes the connection with 4008.
	// Default 1024.
	MaxQueue int
	// WriteDelay is how long a connection's writer waits after being woken
	// before it writes, so that more messages share one frame. Default 0.
	WriteDelay time.Duration
	// WriteTimeout bounds one write to a connection; default 10s.
	WriteTimeout time.Duration
	// Heartbeat is the server ping interval; a client that has not answered
	// for two intervals is closed with 4000. Default 25s.
	Heartbeat time.Duration
	// MaxSubscriptions per connection; default 256.
	MaxSubscriptions int
	// SweepInterval is how often idle broker streams are dropped; default 1m.
	SweepInterval time.Duration
	// Tracer makes publish and deliver spans; default none.
	Tracer trace.Tracer
	// Propagator carries trace context in publication headers, across
	// brokers; default W3C trace context.
	Propagator propagation.TextMapPropagator
	// Meter records the frame histograms (messages per frame, publish to
	// write latency); default none.
	Meter metric.Meter
	// WriteSpanSample: a frame carrying a publication of a sampled trace
	// gets a write span when it is one in this many frames of its
	// connection. Default 64.
	WriteSpanSample uint64
}

// Hub routes publications to subscribed sessions.
type Hub struct {
	opts   HubOptions
	broker Broker
	clk    clock.Clock
	log    *slog.Logger

	mu       sync.RWMutex
	ns       map[string]*Namespace
	channels map[string]*channel
	interest map[string][]*interestReg
	sessions map[*session]struct{}
	closed   bool // Shutdown: no new sessions
	stopped  bool // Close: no more deliveries

	interestMu sync.Mutex      // orders Watch/Unwatch calls
	watched    map[string]bool // interest channels handlers were told to watch

	fanouts sync.WaitGroup // fan-out goroutines in flight

	nsCount map[string]*nsCounters // by namespace name; fixed at NewHub

	batch   metric.Int64Histogram   // messages per frame
	latency metric.Float64Histogram // publish to write, per frame's oldest

	stop chan struct{}
	done chan struct{}
}

// channel is the node-local state of a channel with subscribers here.
type channel struct {
	name  string
	ns    *Namespace
	count *nsCounters // the namespace's traffic counters

	ready    chan struct{} // closed once the broker subscription is settled
	readyErr error         // the broker's Subscribe error, read after ready

	mu      sync.Mutex
	epoch   string
	last    uint64         // newest delivered offset
	lastPub time.Time      // when the newest was published
	ring    []*Publication // the last MaxQueue deliveries, ring[offset % len]
	subs    []*subscription
}

// NewHub returns a running hub; Close stops it.
func NewHub(opts HubOptions) (*Hub, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Broker == nil {
		opts.Broker = NewMemoryBroker(opts.Clock)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxQueue <= 0 {
		opts.MaxQueue = 1024
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 25 * time.Second
	}
	if opts.MaxSubscriptions <= 0 {
		opts.MaxSubscriptions = 256
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.Tracer == nil {
		opts.Tracer = noop.NewTracerProvider().Tracer("")
	}
	if opts.Propagator == nil {
		opts.Propagator = propagation.TraceContext{}
	}
	if opts.WriteSpanSample == 0 {
		opts.WriteSpanSample = 64
	}
	if opts.Meter == nil {
		opts.Meter = metricnoop.NewMeterProvider().Meter("")
	}
	h := &Hub{
		opts: opts, broker: opts.Broker, clk: opts.Clock, log: opts.Logger,
		ns: map[string]*Namespace{}, channels: map[string]*channel{},
		interest: map[string][]*interestReg{}, sessions: map[*session]struct{}{}, watched: map[string]bool{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	for _, n := range opts.Namespaces {
		if _, dup := h.ns[n.Name]; dup {
			return nil, fmt.Errorf("namespace %q declared twice", n.Name)
		}
		h.ns[n.Name] = n
	}
	var err error
	if h.batch, err = opts.Meter.Int64Histogram("feedd.frame.messages", metric.WithUnit("{message}"),
		metric.WithDescription("messages per frame written to a connection (one frame in 16 is sampled)"),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128, 256, 512)); err != nil {
		return nil, err
	}
	if h.latency, err = opts.Meter.Float64Histogram("feedd.delivery.latency", metric.WithUnit("s"),
		metric.WithDescription("time from publication to the write of the frame carrying it (the frame's oldest publication; one frame in 16 is sampled)"),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)); err != nil {
		return nil, err
	}
	h.nsCount = make(map[string]*nsCounters, len(h.ns))
	for name := range h.ns {
		h.nsCount[name] = &nsCounters{}
	}
	h.broker.SetHandler(h.deliver)
	go h.loop()
	return h, nil
}

// OnInterest registers a handler for the channels of namespace ns. The
// handler is told at once (before OnInterest returns) to Watch every channel
// of ns that has subscribers now, then about every change, until cancel is
// called; after cancel returns it is not called again. Calling cancel twice
// does nothing.
func (h *Hub) OnInterest(ns string, handler InterestHandler) (cancel func()) {
	h.interestMu.Lock()
	h.mu.Lock()
	reg := &interestReg{handler}
	h.interest[ns] = append(h.interest[ns], reg)
	h.mu.Unlock()
	prefix := ns + ":"
	var now []string
	for name := range h.watched {
		if strings.HasPrefix(name, prefix) {
			now = append(now, name)
		}
	}
	sort.Strings(now)
	for _, name := range now {
		handler.Watch(name)
	}
	h.interestMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.interestMu.Lock()
			defer h.interestMu.Unlock()
			h.mu.Lock()
			defer h.mu.Unlock()
			list := h.interest[ns]
			for i, x := range list {
				if x == reg {
					h.interest[ns] = append(list[:i:i], list[i+1:]...)
					break
				}
			}
		})
	}
}

// Resolve checks a channel name and returns its canonical form and namespace.
func (h *Hub) Resolve(name string) (string, *Namespace, error) {
	nsName, rest, err := splitName(name)
	if err != nil {
		return "", nil, err
	}
	ns, ok := h.ns[nsName]
	if !ok {
		return "", nil, fmt.Errorf("%w: unknown namespace %q in %q", ErrBadChannel, nsName, name)
	}
	if ns.Canon != nil {
		c, err := ns.Canon(rest)
		if err != nil {
			return "", nil, fmt.Errorf("%w: %s: %v", ErrBadChannel, name, err)
		}
		rest = c
	}
	return nsName + ":" + rest, ns, nil
}

// Publish publishes data (a JSON value) to channel and returns its position.
// The name is checked and made canonical first.
func (h *Hub) Publish(ctx context.Context, channel string, data json.RawMessage, snapshot json.RawMessage) (*Publication, error) {
	name, ns, err := h.Resolve(channel)
	if err != nil {
		return nil, err
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("publish to %s: data is not valid JSON", name)
	}
	ctx, span := h.opts.Tracer.Start(ctx, "publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("feedd.channel", name)))
	defer span.End()
	var header map[string]string
	if span.SpanContext().IsSampled() { // unsampled publications carry nothing
		header = map[string]string{}
		h.opts.Propagator.Inject(ctx, propagation.MapCarrier(header))
	}
	p, err := h.broker.Publish(ctx, name, data, PublishOptions{
		StreamOptions: StreamOptions{HistorySize: ns.HistorySize, HistoryTTL: ns.HistoryTTL, Coalesce: ns.Coalesce},
		Snapshot:      snapshot,
		Header:        header,
	})
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	span.SetAttributes(attribute.Int64("feedd.offset", int64(p.Offset)), attribute.String("feedd.epoch", p.Epoch))
	h.nsCount[ns.Name].published.Add(1)
	return p, nil
}

// Latest returns channel's position and snapshot (see
// HistoryResult.Snapshot); found is false when the channel has no data.
func (h *Hub) Latest(ctx context.Context, channel string) (name string, pos Position, snapshot json.RawMessage, found bool, err error) {
	name, _, err = h.Resolve(channel)
	if err != nil {
		return "", Position{}, nil, false, err
	}
	res, err := h.broker.History(ctx, name, nil, 0)
	if err != nil {
		return name, Position{}, nil, false, err
	}
	return name, res.Latest, res.Snapshot, res.Latest.Offset > 0 || res.Snapshot != nil, nil
}

// deliver is the broker's handler: it caches p and wakes the writers of
// the channel's subscribers.
func (h *Hub) deliver(p *Publication) {
	h.mu.RLock()
	ch := h.channels[p.Channel]
	if ch == nil || h.stopped {
		h.mu.RUnlock()
		return
	}
	h.fanouts.Add(1) // under h.mu: Close cannot be waiting yet
	h.mu.RUnlock()
	defer h.fanouts.Done()
	if p.Header != nil {
		// A deliver span, in the publisher's trace (sampled with it), also
		// when the publication came from another node through the broker.
		ctx := h.opts.Propagator.Extract(context.Background(), propagation.MapCarrier(p.Header))
		_, span := h.opts.Tracer.Start(ctx, "deliver", trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("feedd.channel", p.Channel), attribute.Int64("feedd.offset", int64(p.Offset))))
		defer func() {
			ch.mu.Lock()
			n := len(ch.subs)
			ch.mu.Unlock()
			span.SetAttributes(attribute.Int("feedd.subscribers", n))
			span.End()
		}()
	}
	p.canonicalFrame() // encode once, outside the lock
	ch.mu.Lock()
	if ch.epoch != p.Epoch {
		// The broker lost the stream (new epoch): start over.
		ch.epoch = p.Epoch
		clear(ch.ring)
		for _, s := range ch.subs {
			s.sent = p.Offset - 1
		}
	}
	ch.ring[p.Offset%uint64(len(ch.ring))] = p
	ch.last = p.Offset
	// A channel publishing more often than hotInterval is written to by
	// writer goroutines, which batch what piles up; a quieter one is
	// written to inline, message by message, for the least latency.
	inline := p.Time.Sub(ch.lastPub) >= hotInterval
	ch.lastPub = p.Time
	subs := ch.subs
	var slow []*subscription
	if !ch.ns.Coalesce {
		limit := uint64(len(ch.ring))
		for _, s := range subs {
			if !s.pending.Load() && p.Offset-s.sent > limit {
				slow = append(slow, s)
			}
		}
	}
	ch.mu.Unlock()
	for _, s := range slow {
		// The connection fell more than MaxQueue behind on an event
		// channel: it must recover from history after a reconnect.
		if !s.s.closing.Load() {
			s.s.srv.metrics.slowClose()
			s.s.closeWith(protocol.CloseTooSlow, "too slow for "+truncate(s.name, 100))
		}
	}
	h.fanOut(subs, inline)
}

// observeFrame records a written frame of n messages whose oldest
// publication (zero when it carried none) was published at oldest.
func (h *Hub) observeFrame(n int, oldest time.Time) {
	ctx := context.Background()
	h.batch.Record(ctx, int64(n))
	if !oldest.IsZero() {
		h.latency.Record(ctx, h.clk.Now().Sub(oldest).Seconds())
	}
}

// hotInterval is the publication interval below which a channel's
// subscribers are written to by batching writer goroutines.
const hotInterval = 20 * time.Millisecond

// fanOutChunk is how many subscribers one fan-out goroutine wakes at most.
const fanOutChunk = 2048

// fanOut wakes the writers of subs from goroutines of its own, at most one
// per processor, and returns at once: the publisher goes on while clients
// are written to. A client that keeps up is written to by the fan-out
// goroutine itself (session.wake); one that is still being written to only
// gets its subscription marked, and its writer takes this publication with
// the others waiting, in one frame. Ordering holds because a writer always
// sends a subscription's publications from the channel's cache by offset.
func (h *Hub) fanOut(subs []*subscription, inline bool) {
	if len(subs) == 0 {
		return
	}
	parts := max(1, min(runtime.GOMAXPROCS(0), (len(subs)+fanOutChunk-1)/fanOutChunk))
	size := (len(subs) + parts - 1) / parts
	for i := 0; i < len(subs); i += size {
		part := subs[i:min(i+size, len(subs))]
		h.fanouts.Add(1)
		go func() {
			defer h.fanouts.Done()
			for _, s := range part {
				s.s.notify(s, inline)
			}
		}()
	}
}

// attach adds sub to its channel, creating the channel (and subscribing
// the broker, and telling interest handlers) for the first subscriber. It
// returns once the broker delivers the channel to this node, so that
// nothing published after the caller reads the channel's position is missed.
func (h *Hub) attach(ctx context.Context, sub *subscription, name string, ns *Namespace) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return errors.New("hub closed")
	}
	ch := h.channels[name]
	first := ch == nil
	if first {
		ch = &channel{name: name, ns: ns, count: h.nsCount[ns.Name], ring: make([]*Publication, h.opts.MaxQueue), ready: make(chan struct{})}
		h.channels[name] = ch
	}
	ch.mu.Lock()
	sub.ch = ch
	sub.pending.Store(true)
	ch.subs = append(ch.subs[:len(ch.subs):len(ch.subs)], sub)
	ch.mu.Unlock()
	h.mu.Unlock()
	if first {
		ch.readyErr = h.broker.Subscribe(ctx, name)
		close(ch.ready)
		if ch.readyErr == nil && ns.Interest {
			h.updateInterest(name, ns)
		}
	} else {
		select {
		case <-ch.ready:
		case <-ctx.Done():
			h.detach(sub)
			return ctx.Err()
		}
	}
	if ch.readyErr != nil {
		h.detach(sub)
		return ch.readyErr
	}
	return nil
}

// detach removes sub from its channel, dropping the channel after its
// last subscriber.
func (h *Hub) detach(sub *subscription) {
	sub.removed.Store(true)
	ch := sub.ch
	if ch == nil {
		return
	}
	h.mu.Lock()
	ch.mu.Lock()
	subs := make([]*subscription, 0, len(ch.subs))
	for _, s := range ch.subs {
		if s != sub {
			subs = append(subs, s)
		}
	}
	ch.subs = subs
	ch.mu.Unlock()
	last := len(subs) == 0 && h.channels[ch.name] == ch
	if last {
		delete(h.channels, ch.name)
	}
	h.mu.Unlock()
	if !last {
		return
	}
	<-ch.ready
	if ch.readyErr == nil {
		_ = h.broker.Unsubscribe(context.Background(), ch.name)
	}
	if ch.ns.Interest {
		h.updateInterest(ch.name, ch.ns)
	}
}

// interestReg is one OnInterest registration (handlers need not be
// comparable).
type interestReg struct{ InterestHandler }

// updateInterest tells interest handlers about name when whether it has
// subscribers here differs from what they were last told. Deciding from the
// current state under one lock keeps Watch and Unwatch of a channel in
// order however subscribes and unsubscribes interleave.
func (h *Hub) updateInterest(name string, ns *Namespace) {
	h.interestMu.Lock()
	defer h.interestMu.Unlock()
	h.mu.RLock()
	_, present := h.channels[name]
	handlers := h.interest[ns.Name]
	h.mu.RUnlock()
	if present == h.watched[name] {
		return
	}
	if present {
		h.watched[name] = true
	} else {
		delete(h.watched, name)
	}
	for _, reg := range handlers {
		ih := reg.InterestHandler
		if present {
			ih.Watch(name)
		} else {
			ih.Unwatch(name)
		}
	}
}

// nsCounters count one namespace's traffic.
type nsCounters struct {
	published atomic.Int64
	delivered atomic.Int64
}

// NamespaceCounts are one namespace's totals.
type NamespaceCounts struct {
	Published int64 // publications accepted
	Delivered int64 // update messages written to connections
}

// Counts returns the totals per namespace.
func (h *Hub) Counts() map[string]NamespaceCounts {
	out := make(map[string]NamespaceCounts, len(h.nsCount))
	for name, c := range h.nsCount {
		out[name] = NamespaceCounts{Published: c.published.Load(), Delivered: c.delivered.Load()}
	}
	return out
}

// Stats are the hub's current counts.
type Stats struct {
	Sessions      int
	Channels      int
	Subscriptions int
	// Writing is the number of sessions with a writer running (work queued
	// or a write in progress).
	Writing int
	// Queued is the number of messages waiting to be written, over all
	// sessions: replies and publications not yet handed to a writer.
	Queued int
}

// Stats counts sessions, channels with local subscribers and subscriptions.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	st := Stats{Sessions: len(h.sessions), Channels: len(h.channels)}
	chans := make([]*channel, 0, len(h.channels))
	for _, ch := range h.channels {
		chans = append(chans, ch)
	}
	sessions := h.sessionsLocked()
	h.mu.RUnlock()
	for _, ch := range chans {
		ch.mu.Lock()
		st.Subscriptions += len(ch.subs)
		for _, sub := range ch.subs {
			if sub.sent < ch.last {
				st.Queued += int(ch.last - sub.sent)
			}
		}
		ch.mu.Unlock()
	}
	for _, s := range sessions {
		s.mu.Lock()
		if s.flushing {
			st.Writing++
		}
		st.Queued += len(s.ctrl)
		s.mu.Unlock()
	}
	return st
}

func (h *Hub) addSession(s *session) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.sessions[s] = struct{}{}
	return true
}

func (h *Hub) removeSession(s *session) {
	h.mu.Lock()
	delete(h.sessions, s)
	h.mu.Unlock()
}

// loop sends heartbeats and sweeps the broker until Close.
func (h *Hub) loop() {
	defer close(h.done)
	beat := h.clk.NewTimer(h.opts.Heartbeat)
	sweep := h.clk.NewTimer(h.opts.SweepInterval)
	reapEvery := min(time.Second, h.opts.WriteTimeout/2)
	reap := h.clk.NewTimer(reapEvery)
	defer beat.Stop()
	defer sweep.Stop()
	defer reap.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-beat.C():
			h.heartbeat()
			beat.Reset(h.opts.Heartbeat)
		case <-reap.C():
			h.reapStalledWrites()
			reap.Reset(reapEvery)
		case <-sweep.C():
			if mb, ok := h.broker.(*MemoryBroker); ok {
				if n := mb.Sweep(); n > 0 {
					h.log.Debug("dropped idle channel streams", "count", n)
				}
			}
			sweep.Reset(h.opts.SweepInterval)
		}
	}
}

// sessionsLocked lists the sessions; h.mu is held.
func (h *Hub) sessionsLocked() []*session {
	out := make([]*session, 0, len(h.sessions))
	for s := range h.sessions {
		out = append(out, s)
	}
	return out
}

// reapStalledWrites closes connections whose current write has taken longer
// than WriteTimeout (a client that stopped reading with full buffers).
func (h *Hub) reapStalledWrites() {
	limit := h.clk.Now().Add(-h.opts.WriteTimeout).UnixNano()
	h.mu.RLock()
	var stalled []*session
	for s := range h.sessions {
		if w := s.writingNs.Load(); w != 0 && w < limit {
			stalled = append(stalled, s)
		}
	}
	h.mu.RUnlock()
	for _, s := range stalled {
		s.abort() // even when a graceful close waits behind the stuck write
	}
}

func (h *Hub) heartbeat() {
	now := h.clk.Now()
	h.mu.RLock()
	sessions := h.sessionsLocked()
	h.mu.RUnlock()
	ping := message{Type: "ping", TS: now.UnixMilli()}.encode()
	for _, s := range sessions {
		if now.Sub(s.lastPong()) > 2*h.opts.Heartbeat {
			s.closeWith(4000, "heartbeat missed")
			continue
		}
		s.enqueue(ping)
	}
}

// Shutdown closes every session with 1001 and waits for them to end or
// ctx to expire. New sessions are refused from then on.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	sessions := h.sessionsLocked()
	h.mu.Unlock()
	for _, s := range sessions {
		s.closeWith(1001, "server shutting down")
	}
	for _, s := range sessions {
		select {
		case <-s.done:
		case <-ctx.Done():
			return fmt.Errorf("sessions still open: %w", ctx.Err())
		}
	}
	return nil
}

// Close stops the hub's background work; call it after Shutdown.
func (h *Hub) Close() error {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
	h.mu.Lock()
	h.stopped = true
	h.mu.Unlock()
	h.fanouts.Wait()
	return h.broker.Close()
}
