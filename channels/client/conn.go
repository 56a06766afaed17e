package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/feedd/feedd/channels/protocol"
)

// maxChannelsPerRequest bounds the channels of one subscribe or
// unsubscribe request, to stay well under the daemon's frame limit.
const maxChannelsPerRequest = 50

var pongFrame = []byte(`{"type":"pong"}`)

// subState is a channel's state on one connection, as the daemon sees it.
type subState int

const (
	stSubscribing subState = iota // subscribe sent, no answer yet
	stSubscribed
	stUnsubscribing // unsubscribe sent, no answer yet
)

// serverSub is a channel subscribed (or being subscribed) on a connection.
type serverSub struct {
	sub   *Subscription
	state subState
	reqID uint64             // the request in flight, or the last one
	since *protocol.Position // the since of the subscribe request, nil when none
	gone  chan struct{}      // closed when the entry is dropped
}

// request is a request waiting for its answers.
type request struct {
	typ      string
	channels map[string]bool // channels not answered yet
}

// conn is one WebSocket connection.
type conn struct {
	c        *Client
	ws       *websocket.Conn
	kick     chan struct{}
	dead     atomic.Int64 // ns without a frame after which the connection is dead
	welcomed atomic.Bool  // the daemon's welcome arrived

	// guarded by c.mu
	server       map[string]*serverSub // by channel as written
	inflight     map[uint64]*request
	pongDue      bool
	exp          time.Time // the token's expiry, zero when unknown
	refreshAt    time.Time // when to refresh the token, zero for never
	authFrame    []byte    // an auth request waiting to be sent
	authInFlight bool
}

// wake makes the connection's writer look for work.
func (cn *conn) wake() {
	select {
	case cn.kick <- struct{}{}:
	default:
	}
}

// fatalError ends a connection from the reader.
type fatalError struct{ err error }

func (f *fatalError) Error() string { return f.err.Error() }

// closedError is a close by the daemon.
type closedError struct{ ce websocket.CloseError }

func (e *closedError) Error() string {
	if e.ce.Reason == "" {
		return fmt.Sprintf("closed by the daemon with code %d", int(e.ce.Code))
	}
	return fmt.Sprintf("closed by the daemon with code %d: %s", int(e.ce.Code), e.ce.Reason)
}

func (e *closedError) Unwrap() error { return e.ce }

var errConnDone = errors.New("connection done")

// serve runs a connection until it ends or the client closes: the reader
// runs in its own goroutine, the writer here. It reports whether the daemon
// welcomed the connection, and why it ended.
func (c *Client) serve(ws *websocket.Conn, exp time.Time) (welcomed bool, err error) {
	cn := &conn{c: c, ws: ws, kick: make(chan struct{}, 1), server: map[string]*serverSub{}, inflight: map[uint64]*request{}, exp: exp}
	if !exp.IsZero() {
		now := time.Now()
		cn.refreshAt = now.Add(refreshDelay(now, exp, c.opts.RefreshBefore))
	}
	cn.dead.Store(int64(c.opts.HandshakeTimeout))
	rctx, rcancel := context.WithCancelCause(context.Background())
	watchdog := time.AfterFunc(c.opts.HandshakeTimeout, func() {
		d := time.Duration(cn.dead.Load())
		if cn.welcomed.Load() {
			rcancel(fmt.Errorf("nothing from the daemon for %v (two heartbeats and a half): connection presumed dead", d))
		} else {
			rcancel(fmt.Errorf("no welcome from the daemon within %v", d))
		}
	})
	readDone := make(chan error, 1)
	go func() { readDone <- cn.readLoop(rctx, watchdog) }()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer func() {
		watchdog.Stop()
		timer.Stop()
		rcancel(errConnDone)
		_ = ws.CloseNow()
		if readDone != nil {
			<-readDone
		}
		c.mu.Lock()
		welcomed = cn.welcomed.Load()
		if c.cur == cn {
			c.cur = nil
		}
		for name, e := range cn.server {
			delete(cn.server, name)
			close(e.gone)
		}
		c.mu.Unlock()
	}()
	lim := newLimiter(c.opts.MaxRequestsPerSecond)
	for {
		select {
		case err = <-readDone:
			readDone = nil
			return welcomed, err
		case <-c.ctx.Done():
			// Close politely, but do not wait long for a daemon that
			// does not answer.
			t := time.AfterFunc(time.Second, func() { rcancel(ErrClosed) })
			_ = ws.Close(websocket.StatusNormalClosure, "client closed")
			t.Stop()
			return welcomed, ErrClosed
		case <-cn.kick:
		case <-timer.C:
		}
		c.maybeRefresh(cn)
		frames, wakeAt := c.outgoing(cn, time.Now())
		timer.Stop()
		if !wakeAt.IsZero() {
			timer.Reset(max(time.Until(wakeAt), time.Millisecond))
		}
	send:
		for _, f := range frames {
			if d := lim.take(time.Now()); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case err = <-readDone:
					t.Stop()
					readDone = nil
					return welcomed, err
				case <-c.ctx.Done():
					t.Stop()
					break send // closed at the top of the loop
				}
			}
			wctx, cancel := context.WithTimeout(c.ctx, c.opts.WriteTimeout)
			werr := ws.Write(wctx, websocket.MessageText, f)
			cancel()
			if werr != nil {
				if c.ctx.Err() != nil {
					break send
				}
				// Prefer the reader's account (a close by the daemon, say).
				_ = ws.CloseNow()
				rerr := <-readDone
				readDone = nil
				var ce *closedError
				if errors.As(rerr, &ce) {
					return welcomed, rerr
				}
				return welcomed, fmt.Errorf("write: %w", werr)
			}
		}
	}
}

// maybeRefresh fetches a fresh token and queues an auth request when the
// token is due for refresh.
func (c *Client) maybeRefresh(cn *conn) {
	if c.opts.TokenFunc == nil {
		return
	}
	now := time.Now()
	c.mu.Lock()
	due := cn.welcomed.Load() && !cn.authInFlight && !cn.refreshAt.IsZero() && !now.Before(cn.refreshAt)
	if due {
		cn.refreshAt = time.Time{}
	}
	c.mu.Unlock()
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.HandshakeTimeout)
	tok, err := c.opts.TokenFunc(ctx)
	cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.log.Warn("feedd client: cannot refresh the token", "error", err)
		cn.retryRefreshLocked(time.Now())
		return
	}
	id := c.newIDLocked()
	b, _ := json.Marshal(protocol.Request{Type: protocol.TypeAuth, ID: idJSON(id), Token: tok})
	cn.inflight[id] = &request{typ: protocol.TypeAuth}
	cn.authFrame = b
	cn.authInFlight = true
	if e, ok := tokenExpiry(tok); ok {
		cn.exp = e
	}
}

// retryRefreshLocked schedules another refresh after a failed one, while
// the token has not expired.
func (cn *conn) retryRefreshLocked(now time.Time) {
	left := cn.exp.Sub(now)
	if cn.exp.IsZero() || left <= 0 {
		return // the daemon closes with 4001 and the reconnect fetches a token
	}
	cn.refreshAt = now.Add(min(max(left/2, 100*time.Millisecond), 5*time.Second))
}

// outgoing returns the frames to send now, making the connection's
// subscriptions match the client's, and when to look again (zero: when
// woken).
func (c *Client) outgoing(cn *conn, now time.Time) (frames [][]byte, wakeAt time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	earliest := func(t time.Time) {
		if wakeAt.IsZero() || t.Before(wakeAt) {
			wakeAt = t
		}
	}
	if cn.pongDue {
		frames = append(frames, pongFrame)
		cn.pongDue = false
	}
	if !cn.welcomed.Load() {
		return frames, wakeAt
	}
	if cn.authFrame != nil {
		frames = append(frames, cn.authFrame)
		cn.authFrame = nil
	}
	if !cn.refreshAt.IsZero() {
		earliest(cn.refreshAt)
	}

	var names []string
	for name, s := range c.subs {
		if cn.server[name] != nil {
			continue // subscribed, or waiting for an answer
		}
		if !s.retryAt.IsZero() && now.Before(s.retryAt) {
			earliest(s.retryAt)
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for len(names) > 0 {
		n := min(len(names), maxChannelsPerRequest)
		batch := names[:n:n]
		names = names[n:]
		id := c.newIDLocked()
		req := protocol.Request{Type: protocol.TypeSubscribe, ID: idJSON(id), Channels: batch}
		pending := make(map[string]bool, n)
		for _, name := range batch {
			s := c.subs[name]
			s.retryAt = time.Time{}
			e := &serverSub{sub: s, state: stSubscribing, reqID: id, gone: make(chan struct{})}
			if s.hasPos {
				p := protocol.Position{Epoch: s.pos.Epoch, Offset: s.pos.Offset}
				e.since = &p
				if req.Since == nil {
					req.Since = map[string]protocol.Position{}
				}
				req.Since[name] = p
			}
			cn.server[name] = e
			pending[name] = true
		}
		cn.inflight[id] = &request{typ: protocol.TypeSubscribe, channels: pending}
		frames = append(frames, encodeRequest(req))
	}

	for name, e := range cn.server {
		if e.state == stSubscribed && c.subs[name] != e.sub {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for len(names) > 0 {
		n := min(len(names), maxChannelsPerRequest)
		batch := names[:n:n]
		names = names[n:]
		id := c.newIDLocked()
		pending := make(map[string]bool, n)
		for _, name := range batch {
			e := cn.server[name]
			e.state = stUnsubscribing
			e.reqID = id
			pending[name] = true
		}
		cn.inflight[id] = &request{typ: protocol.TypeUnsubscribe, channels: pending}
		frames = append(frames, encodeRequest(protocol.Request{Type: protocol.TypeUnsubscribe, ID: idJSON(id), Channels: batch}))
	}
	return frames, wakeAt
}

func idJSON(id uint64) json.RawMessage { return json.RawMessage(strconv.FormatUint(id, 10)) }

func parseID(raw json.RawMessage) (uint64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	id, err := strconv.ParseUint(string(raw), 10, 64)
	return id, err == nil
}

func encodeRequest(r protocol.Request) []byte {
	b, err := json.Marshal(r)
	if err != nil { // only strings, numbers and positions: cannot fail
		panic("feedd client: encode request: " + err.Error())
	}
	return b
}

// readLoop reads frames until the connection fails, the watchdog declares
// it dead or a message requires a reconnect.
func (cn *conn) readLoop(ctx context.Context, watchdog *time.Timer) error {
	for {
		typ, data, err := cn.ws.Read(ctx)
		if err != nil {
			if cause := context.Cause(ctx); cause != nil {
				return cause
			}
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return &closedError{ce}
			}
			return err
		}
		if typ != websocket.MessageText {
			cn.c.log.Warn("feedd client: binary frame from the daemon ignored")
		} else if err := protocol.Messages(data, cn.handle); err != nil {
			var fatal *fatalError
			if errors.As(err, &fatal) {
				return fatal.err
			}
			cn.c.log.Warn("feedd client: bad frame from the daemon ignored", "error", err)
		}
		watchdog.Reset(time.Duration(cn.dead.Load()))
	}
}

// handle serves one message from the daemon.
func (cn *conn) handle(raw []byte) error {
	c := cn.c
	var m protocol.Message
	if err := json.Unmarshal(raw, &m); err != nil {
		c.log.Warn("feedd client: bad message from the daemon ignored", "error", err)
		return nil
	}
	switch m.Type {
	case protocol.TypeUpdate:
		c.mu.Lock()
		cn.updateLocked(&m)
		c.mu.Unlock()
	case protocol.TypePing:
		c.mu.Lock()
		cn.pongDue = true
		c.mu.Unlock()
		cn.wake()
	case protocol.TypeWelcome:
		hb := time.Duration(m.HeartbeatMS) * time.Millisecond
		if hb <= 0 {
			hb = 25 * time.Second
		}
		// Two intervals without a frame mean two missed pings; half an
		// interval more absorbs a late ping on a busy machine or network
		// (the daemon itself checks pongs only at its beats).
		cn.dead.Store(int64(2*hb + hb/2))
		c.mu.Lock()
		if !cn.welcomed.Swap(true) {
			if !c.closed {
				c.cur = cn
				c.setStateLocked(Connected, nil)
			}
		}
		c.mu.Unlock()
		c.log.Debug("feedd client: connected", "url", c.opts.URL, "session", m.Session, "heartbeat", hb)
		cn.wake()
	case protocol.TypeSubscribed:
		c.mu.Lock()
		cn.subscribedLocked(&m)
		c.mu.Unlock()
		cn.wake()
	case protocol.TypeUnsubscribed:
		c.mu.Lock()
		if id, ok := parseID(m.ID); ok {
			cn.answeredLocked(id, m.Channel)
			if e := cn.server[m.Channel]; e != nil && e.state == stUnsubscribing && e.reqID == id {
				delete(cn.server, m.Channel)
				close(e.gone)
			}
		}
		c.mu.Unlock()
		cn.wake()
	case protocol.TypeAuthed:
		c.mu.Lock()
		if id, ok := parseID(m.ID); ok {
			delete(cn.inflight, id)
		}
		cn.authInFlight = false
		if m.Exp > 0 {
			now := time.Now()
			cn.exp = time.Unix(m.Exp, 0)
			cn.refreshAt = now.Add(refreshDelay(now, cn.exp, c.opts.RefreshBefore))
		} else {
			cn.exp, cn.refreshAt = time.Time{}, time.Time{}
		}
		c.mu.Unlock()
		cn.wake()
	case protocol.TypeError:
		c.mu.Lock()
		err := cn.errorLocked(&m)
		c.mu.Unlock()
		cn.wake()
		return err
	case protocol.TypePong:
	default:
		c.log.Debug("feedd client: message of unknown type ignored", "type", m.Type)
	}
	return nil
}

// answeredLocked notes the answer to id about channel.
func (cn *conn) answeredLocked(id uint64, channel string) {
	if req := cn.inflight[id]; req != nil {
		delete(req.channels, channel)
		if len(req.channels) == 0 {
			delete(cn.inflight, id)
		}
	}
}

// pushLocked queues a call of s's handler unless s has ended by then.
func (c *Client) pushLocked(s *Subscription, f func(Handler)) {
	h := s.h
	c.disp.push(func() {
		if !s.removed.Load() {
			f(h)
		}
	})
}

func (cn *conn) subscribedLocked(m *protocol.Message) {
	c := cn.c
	id, _ := parseID(m.ID)
	cn.answeredLocked(id, m.Channel)
	e := cn.server[m.Channel]
	if e == nil || e.reqID != id || e.state != stSubscribing {
		c.log.Debug("feedd client: unexpected subscribed ignored", "channel", m.Channel, "id", string(m.ID))
		return
	}
	e.state = stSubscribed
	s := e.sub
	if s.removed.Load() {
		return // given up meanwhile: the writer unsubscribes
	}
	s.retries = 0
	latest := Position{Epoch: m.Epoch, Offset: m.Offset}
	if e.since != nil {
		since := Position{Epoch: e.since.Epoch, Offset: e.since.Offset}
		rec := m.Recovered != nil && *m.Recovered && m.Epoch == since.Epoch && m.Offset >= since.Offset
		r := Recovery{Channel: s.channel, Recovered: rec, Since: since, Latest: latest}
		if rec {
			r.Missed = m.Offset - since.Offset
		} else {
			s.pos = latest
		}
		c.log.Debug("feedd client: subscribed again", "channel", s.channel, "recovered", rec, "since", since, "latest", latest)
		c.pushLocked(s, func(h Handler) { h.OnRecovered(r) })
		if !rec && m.Snapshot != nil {
			snap := Snapshot{Channel: s.channel, Epoch: m.Epoch, Offset: m.Offset, Data: m.Snapshot, Reset: true, log: c.log}
			c.pushLocked(s, func(h Handler) { h.OnSnapshot(snap) })
		}
	} else {
		s.pos, s.hasPos = latest, true
		if m.Snapshot != nil {
			snap := Snapshot{Channel: s.channel, Epoch: m.Epoch, Offset: m.Offset, Data: m.Snapshot, log: c.log}
			c.pushLocked(s, func(h Handler) { h.OnSnapshot(snap) })
		}
	}
	s.readyLocked()
}

func (cn *conn) updateLocked(m *protocol.Message) {
	c := cn.c
	e := cn.server[m.Channel]
	if e == nil || e.state != stSubscribed || e.sub.removed.Load() {
		return
	}
	s := e.sub
	if m.Offset <= s.pos.Offset {
		c.log.Debug("feedd client: duplicate update dropped", "channel", s.channel, "offset", m.Offset, "seen", s.pos.Offset)
		return
	}
	u := Update{Channel: s.channel, Epoch: s.pos.Epoch, Offset: m.Offset, TS: m.TS, Data: m.Data,
		Skipped: m.Offset - s.pos.Offset - 1, log: c.log}
	s.pos.Offset = m.Offset
	c.pushLocked(s, func(h Handler) { h.OnUpdate(u) })
}

// transient reports whether a subscribe refused with code may succeed later.
func transient(code string) bool {
	switch code {
	case protocol.ErrUnavailable, protocol.ErrInternal, protocol.ErrRateLimited:
		return true
	}
	return false
}

// errorLocked serves an error message; a non-nil result ends the connection.
func (cn *conn) errorLocked(m *protocol.Message) error {
	c := cn.c
	serr := &ServerError{Code: m.Code, Message: m.Message, Channel: m.Channel}
	id, ok := parseID(m.ID)
	if !ok {
		if !cn.welcomed.Load() {
			return &fatalError{serr} // e.g. a refused token, before the 4001 close
		}
		// The daemon dropped a frame it cannot name (rate limited, or
		// unreadable): which request is lost is unknown, so start over.
		c.log.Warn("feedd client: daemon error not tied to a request; reconnecting", "code", m.Code, "message", m.Message)
		return &fatalError{fmt.Errorf("daemon error not tied to a request, reconnecting to resynchronise: %w", serr)}
	}
	req := cn.inflight[id]
	if req == nil {
		c.log.Debug("feedd client: error for an unknown request ignored", "id", id, "code", m.Code, "message", m.Message)
		return nil
	}
	if req.typ == protocol.TypeAuth {
		delete(cn.inflight, id)
		cn.authInFlight = false
		c.log.Warn("feedd client: token refresh refused", "code", m.Code, "message", m.Message)
		cn.retryRefreshLocked(time.Now())
		return nil
	}
	channels := []string{m.Channel}
	if m.Channel == "" { // the whole request failed
		channels = channels[:0]
		for ch := range req.channels {
			channels = append(channels, ch)
		}
	}
	for _, ch := range channels {
		cn.answeredLocked(id, ch)
		e := cn.server[ch]
		if e == nil || e.reqID != id {
			continue
		}
		delete(cn.server, ch)
		close(e.gone)
		s := e.sub
		if req.typ != protocol.TypeSubscribe || s.removed.Load() {
			continue
		}
		err := &ServerError{Code: m.Code, Message: m.Message, Channel: ch}
		switch {
		case !s.hasPos:
			c.endLocked(s, err) // the first subscribe: Subscribe returns err
		case transient(m.Code):
			d := c.opts.Backoff.Delay(s.retries, nil)
			s.retries++
			s.retryAt = time.Now().Add(d)
			c.log.Warn("feedd client: subscribing again failed; retrying", "channel", ch, "error", err, "delay", d)
		default:
			c.log.Warn("feedd client: subscribing again refused; subscription ended", "channel", ch, "error", err)
			c.endLocked(s, err)
		}
	}
	return nil
}

// limiter paces frames: a token bucket of rate per second, burst 2*rate.
type limiter struct {
	rate, burst, tokens float64
	last                time.Time
}

func newLimiter(rate float64) *limiter {
	if rate <= 0 {
		return nil
	}
	burst := max(1, 2*rate)
	return &limiter{rate: rate, burst: burst, tokens: burst, last: time.Now()}
}

// take takes a token and returns how long to wait before using it.
func (l *limiter) take(now time.Time) time.Duration {
	if l == nil {
		return 0
	}
	l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.tokens--
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(-l.tokens / l.rate * float64(time.Second))
}
