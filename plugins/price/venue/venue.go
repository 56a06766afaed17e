// Package venue holds what the exchange price sources (price.coinbase,
// price.binance, price.kraken) share: the WebSocket session loop (connect,
// subscribe, read with a deadline, client pings, reconnect with backoff and
// jitter, resubscribe), de-duplication of ticks across reconnects, and the
// mapping between venue symbol names and BASE-QUOTE. An adapter supplies
// only what differs: its URL, its subscribe messages and its decoder.
package venue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/backoff"
	"github.com/feedd/feedd/plugins"
)

// Item is one tick a decoder found, with what de-duplication needs.
type Item struct {
	// Tick is the observation; the session fills in Source and ReceiveTime.
	Tick feeds.Tick
	// ID is the venue's increasing id of the trade or book update, 0 when
	// it has none. A tick whose ID is not above the last one emitted for its
	// symbol is dropped (a replayed snapshot after a reconnect, say).
	ID int64
	// Snapshot marks a tick from the snapshot a venue sends on
	// subscription; it is dropped when it repeats the last tick emitted for
	// its symbol.
	Snapshot bool
}

// Result is what a decoder made of one message.
type Result struct {
	// Items are the ticks the message carried, in order.
	Items []Item
	// Alive says the message was a sign of life without a tick (a
	// heartbeat, a status or an acknowledgement).
	Alive bool
	// Subscribed says the venue acknowledged a subscription: the instance
	// is ready.
	Subscribed bool
}

// Error kinds a decoder returns. Any other error is logged as a warning and
// the session goes on (the Result returned with it is still used).
type (
	// FatalError ends the instance's run: the venue says the configuration
	// is wrong (an unknown symbol), so reconnecting cannot help. The
	// supervisor reports it and restarts the instance with its backoff.
	FatalError struct{ Err error }
	// ReconnectError ends the connection: the session reconnects after a
	// backoff and subscribes again.
	ReconnectError struct{ Err error }
)

func (e *FatalError) Error() string     { return e.Err.Error() }
func (e *FatalError) Unwrap() error     { return e.Err }
func (e *ReconnectError) Error() string { return e.Err.Error() }
func (e *ReconnectError) Unwrap() error { return e.Err }

// Fatal wraps err as a FatalError.
func Fatal(err error) error { return &FatalError{err} }

// Reconnect wraps err as a ReconnectError.
func Reconnect(err error) error { return &ReconnectError{err} }

// Adapter is one venue's protocol.
type Adapter interface {
	// URL returns the address to dial.
	URL() string
	// Subscribe returns the messages to send once connected, in order
	// (none for venues subscribed through the URL).
	Subscribe() ([][]byte, error)
	// Reset clears per-connection state (sequence numbers); it is called
	// before each connection's first message.
	Reset()
	// Decode interprets one message. It reads outside input and must not
	// panic on any.
	Decode(msg []byte) (Result, error)
}

// Options tune a session; zero values take the defaults noted.
type Options struct {
	// Source is the tick's source id.
	Source string
	// ReadTimeout is how long the connection may stay silent (no message,
	// no answered ping) before it is dropped and redialled. Default 30s.
	ReadTimeout time.Duration
	// PingInterval, when set, makes the client ping a connection that has
	// been quiet that long; an answered ping counts as a sign of life.
	PingInterval time.Duration
	// MaxConnAge, when set, reconnects (without backoff) before the venue's
	// own connection limit.
	MaxConnAge time.Duration
	// DialTimeout bounds connecting and sending the subscription. Default 10s.
	DialTimeout time.Duration
	// ReadyOnConnect marks the instance ready once connected, for venues
	// that do not acknowledge subscriptions.
	ReadyOnConnect bool
	// Backoff spaces reconnects; Rand is its jitter source (nil: random).
	Backoff backoff.Policy
	Rand    func() float64
	// ReadLimit bounds one message. Default 1 MiB.
	ReadLimit int64
	// Meter records the session's metrics (feedd.venue.*), labelled with
	// Plugin and Type; nil records nothing.
	Meter        metric.Meter
	Plugin, Type string
}

func (o Options) withDefaults() Options {
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 30 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = 1 << 20
	}
	return o
}

var (
	errReadTimeout = errors.New("no message from the venue within the read timeout")
	errMaxAge      = errors.New("connection reached its maximum age")
)

// Run keeps a session with the venue until ctx ends: it connects,
// subscribes, reads and decodes, emits ticks through h, and reconnects with
// backoff when the connection fails. It returns nil once ctx ends and an
// error only for a FatalError from the adapter.
func Run(ctx context.Context, h *plugins.Host, a Adapter, o Options) error {
	o = o.withDefaults()
	log := h.Logger()
	clk := h.Clock()
	dd := &dedup{last: map[string]lastTick{}}
	m := newMetrics(o.Meter, attribute.String("plugin", o.Plugin), attribute.String("type", o.Type))
	failures := 0
	for {
		got, err := session(ctx, h, a, o, dd, m)
		if ctx.Err() != nil {
			return nil
		}
		var fatal *FatalError
		if errors.As(err, &fatal) {
			m.disconnect("fatal")
			return fmt.Errorf("venue: %w", fatal.Err)
		}
		switch {
		case errors.Is(err, errMaxAge):
			m.disconnect("max_age")
		case errors.Is(err, errReadTimeout):
			m.disconnect("read_timeout")
		default:
			m.disconnect("error")
		}
		if errors.Is(err, errMaxAge) {
			log.Info("reconnecting before the venue's connection limit", "max_age", o.MaxConnAge)
			failures = 0
			continue
		}
		if got {
			failures = 0
		}
		delay := o.Backoff.Delay(failures, o.Rand)
		failures++
		log.Warn("venue connection lost; reconnecting", "error", err, "in", delay, "attempt", failures)
		t := clk.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// session runs one connection; got reports whether any message arrived.
func session(ctx context.Context, h *plugins.Host, a Adapter, o Options, dd *dedup, m *metrics) (got bool, err error) {
	clk := h.Clock()
	log := h.Logger()
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	dctx, dcancel := context.WithTimeout(sctx, o.DialTimeout)
	defer dcancel()
	url := a.URL()
	conn, _, err := websocket.Dial(dctx, url, nil)
	if err != nil {
		return false, fmt.Errorf("dial %s: %w", url, err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(o.ReadLimit)
	a.Reset()
	msgs, err := a.Subscribe()
	if err != nil {
		return false, Fatal(fmt.Errorf("subscribe message: %w", err))
	}
	for _, m := range msgs {
		if err := conn.Write(dctx, websocket.MessageText, m); err != nil {
			return false, fmt.Errorf("send subscription: %w", err)
		}
	}
	dcancel()
	m.connects.Add(ctx, 1, m.attrs)
	m.connected.Add(ctx, 1, m.attrs)
	defer m.connected.Add(context.Background(), -1, m.attrs)
	log.Debug("connected to venue", "url", url, "subscriptions", len(msgs))
	if o.ReadyOnConnect {
		h.Ready()
	}

	watchdog := clk.AfterFunc(o.ReadTimeout, func() { cancel(errReadTimeout) })
	defer watchdog.Stop()
	if o.MaxConnAge > 0 {
		age := clk.AfterFunc(o.MaxConnAge, func() { cancel(errMaxAge) })
		defer age.Stop()
	}
	var wg sync.WaitGroup
	defer func() { cancel(nil); wg.Wait() }()
	if o.PingInterval > 0 {
		wg.Go(func() { pinger(sctx, cancel, conn, h, o, watchdog) })
	}

	for {
		_, data, err := conn.Read(sctx)
		if err != nil {
			if cause := context.Cause(sctx); sctx.Err() != nil && ctx.Err() == nil && cause != nil {
				err = cause
			}
			return got, err
		}
		watchdog.Reset(o.ReadTimeout)
		res, derr := a.Decode(data)
		if derr != nil {
			var fatal *FatalError
			var rec *ReconnectError
			switch {
			case errors.As(derr, &fatal):
				log.Error("venue reported a fatal error", "error", fatal.Err)
				return got, derr
			case errors.As(derr, &rec):
				return got, derr
			default:
				m.msgErrors.Add(ctx, 1, m.attrs)
				log.Warn("venue message", "error", derr)
			}
		}
		if res.Alive {
			h.Alive()
		}
		if res.Subscribed {
			h.Ready()
		}
		// Only a session that got as far as a subscription or data resets
		// the reconnect backoff: a venue that greets and then refuses
		// (rate limits) is retried ever more slowly.
		if res.Subscribed || len(res.Items) > 0 {
			got = true
		}
		if len(res.Items) == 0 {
			continue
		}
		recv := clk.Now()
		for _, it := range res.Items {
			if !dd.keep(it) {
				m.duplicates.Add(ctx, 1, m.attrs)
				continue
			}
			it.Tick.Source = o.Source
			it.Tick.ReceiveTime = recv
			h.Emit(it.Tick)
		}
	}
}

// pinger pings the venue every PingInterval; a failed ping ends the session.
type resetter interface{ Reset(time.Duration) bool }

func pinger(ctx context.Context, cancel context.CancelCauseFunc, conn *websocket.Conn, h *plugins.Host, o Options, watchdog resetter) {
	t := h.Clock().NewTimer(o.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		pctx, pcancel := context.WithTimeout(ctx, o.ReadTimeout)
		err := conn.Ping(pctx)
		pcancel()
		if err != nil {
			if ctx.Err() == nil {
				cancel(fmt.Errorf("ping: %w", err))
			}
			return
		}
		watchdog.Reset(o.ReadTimeout)
		h.Alive()
		t.Reset(o.PingInterval)
	}
}

// lastTick is what dedup remembers of the last tick emitted for a symbol.
type lastTick struct {
	id          int64
	venueTime   time.Time
	price, size float64
	side        feeds.Side
}

// dedup drops ticks already emitted, across reconnects: by venue id when
// the venue numbers them, by venue time otherwise, and repeated snapshots.
type dedup struct{ last map[string]lastTick }

func (d *dedup) keep(it Item) bool {
	t := it.Tick
	l, seen := d.last[t.Symbol]
	if seen {
		same := t.Price == l.price && t.Size == l.size && t.Side == l.side
		switch {
		case it.ID != 0 && l.id != 0:
			if it.ID <= l.id {
				return false
			}
		case !t.VenueTime.IsZero() && !l.venueTime.IsZero():
			if t.VenueTime.Before(l.venueTime) || t.VenueTime.Equal(l.venueTime) && same {
				return false
			}
		}
		if it.Snapshot && it.ID == 0 && same {
			return false
		}
	}
	d.last[t.Symbol] = lastTick{id: it.ID, venueTime: t.VenueTime, price: t.Price, size: t.Size, side: t.Side}
	return true
}
