package channels

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/feedd/feedd/channels/protocol"
	"github.com/feedd/feedd/internal/clock"
)

// session is one WebSocket connection. Its reading side runs in the HTTP
// handler's goroutine; its writing side runs in a goroutine started only
// while there is something to write, so an idle connection costs one
// goroutine and its buffers.
type session struct {
	hub  *Hub
	srv  *Server
	conn frameConn
	raw  *rawConn // data frames are written here directly when set
	id   string
	done chan struct{} // closed when the session has ended

	lastPongNs atomic.Int64
	writingNs  atomic.Int64 // when the write in progress started; 0 when none
	closing    atomic.Bool

	mu       sync.Mutex
	subs     map[string]*subscription // by canonical name
	ctrl     [][]byte                 // encoded non-update messages waiting
	dirty    []*subscription          // subscriptions with publications waiting
	spare    []*subscription
	flushing bool // a writer goroutine runs
	closed   bool
	// closeCode and closeReason are what the writer closes with after
	// draining; code 0 closes at once without a handshake.
	closeCode   int
	closeReason string
	ident       *Identity
	expiry      clock.Timer

	limiter *rate.Limiter // requests; used by the reading goroutine only

	reqs     [][]byte // requests waiting to be handled, in arrival order
	handling bool     // a request goroutine runs

	// writer state, touched only by the one writer goroutine
	frames uint64 // frames written, for sampling the frame histograms
	nmsg   int    // messages in the frame being assembled
	buf    []byte
	pubs   []*Publication
}

// frameConn is the writing side of a WebSocket connection, as a session
// uses it (*websocket.Conn).
type frameConn interface {
	Write(ctx context.Context, typ websocket.MessageType, p []byte) error
	Close(code websocket.StatusCode, reason string) error
	CloseNow() error
}

// subscription is one channel of one session.
type subscription struct {
	s       *session
	ch      *channel
	name    string // canonical
	alias   string // the name as the client wrote it, "" when canonical
	dirty   bool   // guarded by s.mu: queued in s.dirty
	sent    uint64 // guarded by ch.mu: newest offset handed to the writer
	pending atomic.Bool
	removed atomic.Bool
	// attached is set, under s.mu, once attach has completed and the
	// session still wanted the subscription.
	attached bool
}

func (s *session) lastPong() time.Time { return time.Unix(0, s.lastPongNs.Load()) }

// enqueue queues an encoded message and wakes the writer.
func (s *session) enqueue(msg []byte) {
	s.wake(s.queue([][]byte{msg}), true)
}

// queue appends encoded messages without waking the writer; it reports
// whether the caller must wake it (s.wake).
func (s *session) queue(msgs [][]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.ctrl = append(s.ctrl, msgs...)
	start := !s.flushing
	s.flushing = true
	return start
}

// notify marks sub as having publications waiting and wakes the writer,
// inline when allowed (see wake).
func (s *session) notify(sub *subscription, inline bool) {
	if sub.pending.Load() {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if !sub.dirty {
		sub.dirty = true
		s.dirty = append(s.dirty, sub)
	}
	start := !s.flushing
	s.flushing = true
	s.mu.Unlock()
	s.wake(start, inline)
}

var errTooSlow = errors.New("too slow")

// frameSample: one frame in this many is recorded in the frame histograms
// (messages per frame, delivery latency). Recording every frame from every
// writer contends on the histograms' locks and cost over a microsecond per
// delivery under load; a sample keeps the distributions at no visible cost.
const frameSample = 16

// writeSpan starts the span of a frame's write in p's trace. Only a sample
// of frames gets one (HubOptions.WriteSpanSample), so that a traced
// publication to thousands of subscribers yields a sample of their writes,
// not thousands of spans.
func (s *session) writeSpan(p *Publication, n int) trace.Span {
	ctx := s.hub.opts.Propagator.Extract(context.Background(), propagation.MapCarrier(p.Header))
	_, span := s.hub.opts.Tracer.Start(ctx, "write", trace.WithAttributes(
		attribute.String("feedd.session", s.id),
		attribute.String("feedd.channel", p.Channel),
		attribute.Int64("feedd.offset", int64(p.Offset)),
		attribute.Int("feedd.messages", n),
	))
	return span
}

// wake makes sure a writer runs for the session. The caller has just queued
// something and set s.flushing (start is true) or found a writer running.
// With a raw connection and no write delay, the waking goroutine writes
// itself, without blocking (see run); otherwise a writer goroutine starts.
func (s *session) wake(start, inline bool) {
	if !start {
		return
	}
	if inline && s.raw != nil && s.hub.opts.WriteDelay <= 0 {
		s.run(true)
		return
	}
	go s.run(false)
}

// flush is a writer goroutine's body.
func (s *session) flush() { s.run(false) }

// run writes everything queued, one frame per round, until nothing is left.
// Inline, it runs in the goroutine that queued the messages (a publisher
// fanning out, a request handler, the heartbeat) and never blocks: a frame
// that the socket cannot take at once is handed, with the rest of the work,
// to a writer goroutine. That saves a goroutine start, a park and a wake-up
// for every delivery to a client that keeps up.
func (s *session) run(inline bool) {
	for {
		if d := s.hub.opts.WriteDelay; d > 0 && !inline {
			time.Sleep(d)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			if inline {
				go s.run(false) // closing blocks on the handshake
				return
			}
			s.finishClose()
			return
		}
		if len(s.ctrl) == 0 && len(s.dirty) == 0 {
			s.flushing = false
			s.mu.Unlock()
			return
		}
		ctrl := s.ctrl
		s.ctrl = nil
		dirty := s.dirty
		s.dirty = s.spare[:0]
		for _, sub := range dirty {
			sub.dirty = false
		}
		s.mu.Unlock()

		s.beginFrame()
		for _, m := range ctrl {
			s.addMessage(m)
		}
		slow := ""
		var oldest time.Time    // the earliest publication in the frame
		var traced *Publication // a publication of a sampled trace in the frame
		for _, sub := range dirty {
			if sub.removed.Load() {
				continue
			}
			s.pubs = s.pubs[:0]
			if err := sub.collect(&s.pubs); err != nil {
				slow = sub.name
				break
			}
			if len(s.pubs) > 0 {
				sub.ch.count.delivered.Add(int64(len(s.pubs)))
			}
			for _, p := range s.pubs {
				s.addMessage(p.updateFrame(sub.alias))
				if oldest.IsZero() || p.Time.Before(oldest) {
					oldest = p.Time
				}
				if p.Header != nil && traced == nil {
					traced = p
				}
			}
		}
		clear(dirty)
		s.mu.Lock()
		s.spare = dirty[:0]
		s.mu.Unlock()
		clear(s.pubs)
		if slow != "" {
			if !s.closing.Load() {
				s.srv.metrics.slowClose()
				s.closeWith(protocol.CloseTooSlow, "too slow for "+truncate(slow, 100))
			}
			continue // the closed branch sends the close frame
		}
		n := s.nmsg
		if n == 0 {
			continue
		}
		frame := s.endFrame()
		s.srv.metrics.frame(n)
		if s.frames++; s.frames%frameSample == 0 {
			s.hub.observeFrame(n, oldest)
		}
		var span trace.Span
		if traced != nil && s.frames%s.hub.opts.WriteSpanSample == 0 {
			span = s.writeSpan(traced, n)
		}
		if inline {
			if !s.raw.mu.TryLock() {
				// coder/websocket is writing a control frame: let a writer
				// goroutine wait for it.
				if span != nil {
					span.End()
				}
				go s.finishFrame(frame, 0, false)
				return
			}
			done, sent, err := s.raw.tryWriteText(frame)
			if span != nil {
				span.End()
			}
			if err != nil {
				s.raw.mu.Unlock()
				s.abort()
				return
			}
			if !done {
				// The socket took only part: a writer goroutine, still
				// holding the connection's write lock, sends the rest.
				go s.finishFrame(frame, sent, true)
				return
			}
			s.raw.mu.Unlock()
			s.shrinkBuf()
			// One frame inline; if more arrived meanwhile the client is busy:
			// a writer goroutine takes over and batches what follows.
			s.mu.Lock()
			more := s.closed || len(s.ctrl) > 0 || len(s.dirty) > 0
			if !more {
				s.flushing = false
			}
			s.mu.Unlock()
			if more {
				go s.run(false)
			}
			return
		}
		err := s.write(frame)
		if span != nil {
			span.End()
		}
		s.shrinkBuf()
		if err != nil {
			s.abort()
			return
		}
	}
}

// finishFrame writes what is left of frame (from payload byte skip on, or
// the whole frame when locked is false) blocking, then goes on as the
// session's writer goroutine.
func (s *session) finishFrame(frame []byte, sent int, locked bool) {
	var err error
	if locked {
		s.writingNs.Store(s.hub.clk.Now().UnixNano())
		_, err = s.raw.Conn.Write(s.raw.pending[sent:])
		s.writingNs.Store(0)
		s.raw.pending = nil
		s.raw.mu.Unlock()
	} else {
		err = s.write(frame)
	}
	s.shrinkBuf()
	if err != nil {
		s.abort()
		return
	}
	s.run(false)
}

// abort ends the session after a failed or stuck write: the socket is
// closed at once, whatever close was under way.
func (s *session) abort() {
	s.closeWith(0, "")
	go s.conn.CloseNow()
}

// finishClose sends the messages queued before a close (errors saying why)
// and the close frame; code 0 closed the socket already.
func (s *session) finishClose() {
	s.mu.Lock()
	ctrl, code, reason := s.ctrl, s.closeCode, s.closeReason
	s.ctrl = nil
	s.mu.Unlock()
	if code == 0 {
		return
	}
	if len(ctrl) > 0 {
		s.beginFrame()
		for _, m := range ctrl {
			s.addMessage(m)
		}
		s.write(s.endFrame())
	}
	s.conn.Close(websocket.StatusCode(code), reason)
}

// beginFrame starts assembling a frame in s.buf: room for the header
// (frameHeadroom), then the payload.
func (s *session) beginFrame() {
	s.buf = append(s.buf[:0], make([]byte, frameHeadroom)...)
	s.buf = append(s.buf, '[')
	s.nmsg = 0
}

// addMessage appends one encoded message to the frame.
func (s *session) addMessage(m []byte) {
	if s.nmsg > 0 {
		s.buf = append(s.buf, ',')
	}
	s.buf = append(s.buf, m...)
	s.nmsg++
}

// endFrame returns the frame (headroom, then payload): a lone message as
// itself, several as a JSON array.
func (s *session) endFrame() []byte {
	if s.nmsg == 1 {
		copy(s.buf[1:], s.buf[:frameHeadroom]) // drop the '[' by moving the headroom up
		return s.buf[1:]
	}
	s.buf = append(s.buf, ']')
	return s.buf
}

func (s *session) shrinkBuf() {
	if cap(s.buf) > 64<<10 {
		s.buf = nil // do not keep a large buffer on an idle connection
	}
}

// write sends frame[frameHeadroom:] as one text frame. There is no
// per-write context timer: the hub's reaper closes a connection whose write
// has taken longer than WriteTimeout.
func (s *session) write(frame []byte) error {
	s.writingNs.Store(s.hub.clk.Now().UnixNano())
	defer s.writingNs.Store(0)
	if s.raw != nil {
		return s.raw.writeText(frame)
	}
	return s.conn.Write(context.Background(), websocket.MessageText, frame[frameHeadroom:])
}

// collect appends the publications the subscriber has not been handed yet.
// A state channel gives only its newest; an event channel more than MaxQueue
// behind fails with errTooSlow.
func (sub *subscription) collect(out *[]*Publication) error {
	ch := sub.ch
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if sub.sent >= ch.last {
		return nil
	}
	n := uint64(len(ch.ring))
	lag := ch.last - sub.sent
	switch {
	case ch.ns.Coalesce:
		if p := ch.ring[ch.last%n]; p != nil && p.Offset == ch.last {
			*out = append(*out, p)
		}
		if lag > 1 {
			sub.s.srv.metrics.Coalesced.Add(int64(lag - 1))
		}
	case lag > n:
		return errTooSlow
	default:
		for off := sub.sent + 1; off <= ch.last; off++ {
			p := ch.ring[off%n]
			if p == nil || p.Offset != off {
				return errTooSlow
			}
			*out = append(*out, p)
		}
	}
	sub.sent = ch.last
	return nil
}

// closeWith ends the session: code 0 closes the socket at once, any other
// code with a close handshake carrying code and reason. It does not block.
func (s *session) closeWith(code int, reason string) {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return
	}
	// Decided under s.mu with the code, so that handleQueued, which acts on
	// closing under s.mu, always sees the code too.
	s.closing.Store(true)
	s.closeCode, s.closeReason = code, reason
	if s.expiry != nil {
		s.expiry.Stop()
	}
	if code != 0 && s.handling {
		// The request goroutine answers what was read before the close,
		// then finishes it (handleQueued).
		s.mu.Unlock()
		return
	}
	start := s.finishLocked()
	s.mu.Unlock()
	if code == 0 {
		go s.conn.CloseNow()
		return
	}
	if start {
		go s.flush() // sends what is queued, then the close frame
	}
}

// finishLocked stops the session taking messages and reports whether a
// writer must be started to send the queued ones and the close frame.
func (s *session) finishLocked() bool {
	s.closed = true
	start := !s.flushing
	s.flushing = true
	return start
}

// reply queues a message answering a request.
func (s *session) reply(m message) { s.enqueue(m.encode()) }

func (s *session) replyError(id json.RawMessage, channel, code, msg string) {
	s.srv.metrics.requestError(code)
	s.reply(message{Type: protocol.TypeError, ID: id, Channel: channel, Code: code, Message: msg})
}

// request queues a request frame and makes sure a goroutine handles the
// queue. Requests are handled one at a time in arrival order, off the
// reading goroutine, whose stack therefore stays small while it waits.
func (s *session) request(frame []byte) {
	s.mu.Lock()
	if s.closed || s.closing.Load() {
		s.mu.Unlock()
		return
	}
	s.reqs = append(s.reqs, frame)
	start := !s.handling
	s.handling = true
	s.mu.Unlock()
	if start {
		go s.handleQueued()
	}
}

func (s *session) handleQueued() {
	ctx := context.Background()
	for {
		s.mu.Lock()
		if len(s.reqs) == 0 || s.closed {
			s.reqs = nil
			s.handling = false
			start := false
			if s.closing.Load() && !s.closed {
				start = s.finishLocked() // a close waited for these answers
			}
			s.mu.Unlock()
			if start {
				go s.flush()
			}
			return
		}
		frame := s.reqs[0]
		s.reqs[0] = nil
		s.reqs = s.reqs[1:]
		s.mu.Unlock()
		s.handle(ctx, frame)
	}
}

// handle serves one request frame.
func (s *session) handle(ctx context.Context, frame []byte) {
	req, err := protocol.DecodeRequest(frame)
	if err != nil {
		var re *protocol.RequestError
		if errors.As(err, &re) {
			s.replyError(re.ID, "", re.Code, re.Msg)
		}
		return
	}
	switch req.Type {
	case protocol.TypeSubscribe:
		for _, name := range req.Channels {
			if s.closing.Load() {
				return
			}
			var since *protocol.Position
			if p, ok := req.Since[name]; ok {
				since = &p
			}
			s.subscribe(ctx, req.ID, name, since)
		}
	case protocol.TypeUnsubscribe:
		for _, name := range req.Channels {
			s.unsubscribe(req.ID, name)
		}
	case protocol.TypePing:
		s.reply(message{Type: protocol.TypePong, ID: req.ID, TS: s.hub.clk.Now().UnixMilli()})
	case protocol.TypePong:
		s.lastPongNs.Store(s.hub.clk.Now().UnixNano())
	case protocol.TypeAuth:
		s.auth(req.ID, req.Token)
	}
}

func (s *session) identity() *Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ident
}

func (s *session) subscribe(ctx context.Context, id json.RawMessage, name string, since *protocol.Position) {
	canon, ns, err := s.hub.Resolve(name)
	if err != nil {
		s.replyError(id, name, protocol.ErrBadChannel, err.Error())
		return
	}
	ident := s.identity()
	if ns.needsToken() && ident == nil {
		s.replyError(id, name, protocol.ErrForbidden, fmt.Sprintf("channel %s needs a token", name))
		return
	}
	if !ns.claimsAllow(ident, canon) {
		s.replyError(id, name, protocol.ErrForbidden, fmt.Sprintf("the token's channels claim does not allow %s", name))
		return
	}
	alias := ""
	if name != canon {
		alias = name
	}
	s.mu.Lock()
	if s.closed || s.subs == nil {
		s.mu.Unlock()
		return // the session ended while this request waited
	}
	if _, dup := s.subs[canon]; dup {
		s.mu.Unlock()
		s.replyError(id, name, protocol.ErrBadRequest, "already subscribed to "+name)
		return
	}
	if len(s.subs) >= s.hub.opts.MaxSubscriptions {
		s.mu.Unlock()
		s.replyError(id, name, protocol.ErrTooManySubscriptions, fmt.Sprintf("at most %d subscriptions per connection", s.hub.opts.MaxSubscriptions))
		return
	}
	sub := &subscription{s: s, name: canon, alias: alias}
	s.subs[canon] = sub
	s.mu.Unlock()

	fail := func(err error) {
		s.mu.Lock()
		if s.subs != nil {
			delete(s.subs, canon)
		}
		s.mu.Unlock()
		s.hub.detach(sub)
		s.replyError(id, name, protocol.ErrUnavailable, "subscribe: "+err.Error())
	}
	if err := s.hub.attach(ctx, sub, canon, ns); err != nil {
		s.mu.Lock()
		if s.subs != nil {
			delete(s.subs, canon)
		}
		s.mu.Unlock()
		s.replyError(id, name, protocol.ErrUnavailable, "subscribe: "+err.Error())
		return
	}
	s.mu.Lock()
	gone := s.subs == nil || s.subs[canon] != sub
	if !gone {
		// From here on end() and unsubscribe own the detaching.
		sub.attached = true
		s.srv.metrics.subscribed(ns.Name, 1)
	}
	s.mu.Unlock()
	if gone {
		// end() ran meanwhile and left this subscription to us.
		s.hub.detach(sub)
		return
	}
	var bsince *Position
	if since != nil {
		bsince = &Position{Epoch: since.Epoch, Offset: since.Offset}
	}
	res, err := s.hub.broker.History(ctx, canon, bsince, -1)
	if err != nil {
		fail(err)
		return
	}
	epoch, offset := res.Latest.Epoch, res.Latest.Offset
	m := message{Type: protocol.TypeSubscribed, ID: id, Channel: name, Epoch: &epoch, Offset: &offset}
	recovered := since != nil && res.Complete
	if since != nil {
		m.Recovered = &recovered
	}
	if !recovered {
		m.Snapshot = res.Snapshot
	}
	ch := sub.ch
	ch.mu.Lock()

	// Order: the reply, then recovered publications, then live ones from
	// the channel's cache (those delivered after History was read). They
	// are queued under ch.mu, so no live update can be written before them,
	// but written only after it is released (a writer takes other
	// channels' locks).
	msgs := [][]byte{m.encode()}
	if recovered {
		for _, p := range res.Publications {
			msgs = append(msgs, p.updateFrame(alias))
		}
	}
	start := s.queue(msgs)
	sub.sent = offset
	ch.epoch = epoch // the broker's, which deliveries to the cache follow
	behind := ch.last > sub.sent
	sub.pending.Store(false)
	ch.mu.Unlock()
	s.wake(start, true)
	if behind {
		s.notify(sub, true)
	}
}

func (s *session) unsubscribe(id json.RawMessage, name string) {
	canon, ns, err := s.hub.Resolve(name)
	if err != nil {
		s.replyError(id, name, protocol.ErrBadChannel, err.Error())
		return
	}
	s.mu.Lock()
	sub, ok := s.subs[canon]
	ok = ok && sub.attached
	if ok {
		delete(s.subs, canon)
	}
	s.mu.Unlock()
	if ok {
		s.hub.detach(sub)
		s.srv.metrics.subscribed(ns.Name, -1)
	}
	// Unsubscribing from a channel one is not subscribed to is not an
	// error: the end state is what the client asked for.
	s.reply(message{Type: protocol.TypeUnsubscribed, ID: id, Channel: name})
}

// auth replaces the connection's identity with the token's.
func (s *session) auth(id json.RawMessage, token string) {
	ident, err := s.srv.verify(token)
	if err != nil {
		s.replyError(id, "", protocol.ErrUnauthorized, err.Error())
		return
	}
	s.setIdentity(&ident)
	m := message{Type: protocol.TypeAuthed, ID: id}
	if !ident.Expires.IsZero() {
		m.Exp = ident.Expires.Unix()
	}
	s.reply(m)
}

// setIdentity installs ident and arms the expiry close.
func (s *session) setIdentity(ident *Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ident = ident
	if s.expiry != nil {
		s.expiry.Stop()
		s.expiry = nil
	}
	if !ident.Expires.IsZero() && !s.closed {
		d := ident.Expires.Sub(s.hub.clk.Now())
		s.expiry = s.hub.clk.AfterFunc(d, func() {
			s.srv.metrics.add(s.srv.metrics.authByReason, "expired", 1)
			s.closeWith(protocol.CloseUnauthorized, "token expired")
		})
	}
}

// end releases everything the session holds; the read loop calls it last.
func (s *session) end() {
	s.abort()
	s.mu.Lock()
	var attached []*subscription
	for _, sub := range s.subs {
		// A subscription still being attached is detached by its
		// subscribe, which finds the session ended.
		if sub.attached {
			attached = append(attached, sub)
		}
	}
	s.subs = nil
	s.mu.Unlock()
	for _, sub := range attached {
		s.hub.detach(sub)
		s.srv.metrics.subscribed(sub.ch.ns.Name, -1)
	}
	s.hub.removeSession(s)
	close(s.done)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
