package solana

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/feedd/feedd/internal/endpoint"
)

// Sub is one pubsub subscription of a consumer. It is kept across
// reconnects: on every new connection it is sent again and its inbox hears
// NoteSubscribed with Again set. Close ends it.
type Sub struct {
	c       *Chain
	method  string // e.g. "accountSubscribe"
	unsub   string // e.g. "accountUnsubscribe"
	params  []any
	oneShot bool
	inbox   *Inbox
	fn      func(Notification) // instead of inbox, for the chain's own subscriptions
	// Key is the consumer's tag for the subscription (an address, say).
	Key any

	// under c.ps.mu
	conn     *wsConn // the connection it is active or pending on
	subID    uint64
	active   bool
	once     bool // was active on an earlier connection
	done     bool // a one-shot subscription that fired
	closed   bool
	closeReq bool // closed while its subscribe request was in flight
}

// SubRequest describes a subscription.
type SubRequest struct {
	// Method is the subscribe method: accountSubscribe, logsSubscribe,
	// signatureSubscribe, slotSubscribe, rootSubscribe, …
	Method string
	// Params are its parameters, as the JSON-RPC request carries them.
	Params []any
	// OneShot marks a subscription the node ends after its first
	// notification (signatureSubscribe): it is not sent again after that.
	OneShot bool
	// Key tags the subscription for the consumer (Notification.Sub.Key).
	Key any
}

// Subscribe adds a subscription whose notifications go to in. It is sent at
// once when a connection is up, else when one comes up.
func (c *Chain) Subscribe(req SubRequest, in *Inbox) *Sub {
	return c.subscribe(req, in, nil)
}

func (c *Chain) subscribe(req SubRequest, in *Inbox, fn func(Notification)) *Sub {
	unsub := req.Method
	if n := len(unsub) - len("Subscribe"); n > 0 && unsub[n:] == "Subscribe" {
		unsub = unsub[:n] + "Unsubscribe"
	}
	s := &Sub{c: c, method: req.Method, unsub: unsub, params: req.Params, oneShot: req.OneShot, inbox: in, fn: fn, Key: req.Key}
	ps := &c.ps
	ps.mu.Lock()
	ps.subs[s] = struct{}{}
	if ps.conn != nil {
		ps.conn.send(s)
	}
	ps.mu.Unlock()
	return s
}

// Close ends the subscription: it is unsubscribed on the connection and no
// longer delivered. Closing twice does nothing.
func (s *Sub) Close() {
	ps := &s.c.ps
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	delete(ps.subs, s)
	if s.conn == nil || s.conn != ps.conn {
		return
	}
	if !s.active {
		s.closeReq = true // unsubscribed when the reply comes
		return
	}
	s.conn.unsubscribe(s)
}

func (s *Sub) deliver(n Notification) {
	n.Sub = s
	if s.fn != nil {
		s.fn(n)
		return
	}
	s.inbox.put(n)
}

// pubsub is the chain's subscription state.
type pubsub struct {
	mu   sync.Mutex
	subs map[*Sub]struct{}
	conn *wsConn
}

// Subscriptions returns how many subscriptions are active on the current
// connection.
func (c *Chain) Subscriptions() int {
	c.ps.mu.Lock()
	defer c.ps.mu.Unlock()
	if c.ps.conn == nil {
		return 0
	}
	return len(c.ps.conn.bySubID)
}

// wsConn is one pubsub connection; its maps are guarded by pubsub.mu.
type wsConn struct {
	c       *Chain
	ws      *websocket.Conn
	name    string
	qmu     sync.Mutex
	queue   [][]byte      // requests waiting for the writer
	signal  chan struct{} // a request was queued
	full    chan struct{} // closed when the queue overflowed
	nextID  uint64
	pending map[uint64]*Sub // subscribe requests awaiting their reply
	bySubID map[uint64]*Sub
}

// maxQueue bounds the requests waiting to be written: every subscription
// is sent again at once on a new connection, so it must hold them all; an
// endpoint that leaves this many unread does not read.
const maxQueue = 1 << 20

// send writes s's subscribe request; under pubsub.mu.
func (w *wsConn) send(s *Sub) {
	w.nextID++
	id := w.nextID
	s.conn, s.active, s.subID = w, false, 0
	w.pending[id] = s
	w.write(id, s.method, s.params)
}

// unsubscribe writes s's unsubscribe request; under pubsub.mu.
func (w *wsConn) unsubscribe(s *Sub) {
	delete(w.bySubID, s.subID)
	s.active = false
	if s.done {
		return // the node ended it
	}
	w.nextID++
	w.write(w.nextID, s.unsub, []any{s.subID})
}

func (w *wsConn) write(id uint64, method string, params []any) {
	if params == nil {
		params = []any{}
	}
	b, err := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		ID      uint64 `json:"id"`
		Method  string `json:"method"`
		Params  []any  `json:"params"`
	}{"2.0", id, method, params})
	if err != nil {
		w.c.log.Error("pubsub request not encodable", "method", method, "error", err)
		return
	}
	w.qmu.Lock()
	over := len(w.queue) >= maxQueue
	if !over {
		w.queue = append(w.queue, b)
	}
	w.qmu.Unlock()
	if over {
		select {
		case <-w.full:
		default:
			close(w.full)
		}
		return
	}
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// dialWS connects to one pubsub endpoint.
func (c *Chain) dialWS(ctx context.Context, raw string) (*wsConn, error) {
	name := endpoint.Redact(raw)
	dctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, raw, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", name, endpoint.RedactError(err, raw))
	}
	ws.SetReadLimit(64 << 20)
	return &wsConn{c: c, ws: ws, name: name, signal: make(chan struct{}, 1), full: make(chan struct{}),
		pending: map[uint64]*Sub{}, bySubID: map[uint64]*Sub{}}, nil
}

// serve runs one connection until it fails or ctx ends: it sends every
// subscription, routes replies and notifications, and watches for a
// stalled slot stream.
func (c *Chain) serve(ctx context.Context, w *wsConn) error {
	ctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel(nil)
		w.ws.CloseNow()
		wg.Wait()
	}()

	wg.Add(1)
	go func() { // writer
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.full:
				cancel(errors.New("write queue full: the endpoint does not read"))
				return
			case <-w.signal:
				w.qmu.Lock()
				batch := w.queue
				w.queue = nil
				w.qmu.Unlock()
				for _, b := range batch {
					wctx, wcancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
					err := w.ws.Write(wctx, websocket.MessageText, b)
					wcancel()
					if err != nil {
						cancel(fmt.Errorf("write: %w", err))
						return
					}
				}
			}
		}
	}()
	if c.cfg.MaxSlotAge > 0 {
		wg.Add(1)
		go func() { // stall watch
			defer wg.Done()
			every := c.cfg.MaxSlotAge / 4
			for {
				t := c.clk.NewTimer(every)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C():
				}
				if age := c.clk.Now().Sub(time.Unix(0, c.slotSeen.Load())); age > c.cfg.MaxSlotAge {
					cancel(fmt.Errorf("no slot notification for %v (max_slot_age %v)", age.Round(time.Millisecond), c.cfg.MaxSlotAge))
					return
				}
			}
		}()
	}

	c.slotSeen.Store(c.clk.Now().UnixNano())
	c.ps.mu.Lock()
	c.ps.conn = w
	for s := range c.ps.subs {
		if !s.done {
			w.send(s)
		}
	}
	c.ps.mu.Unlock()
	defer c.detach(w)

	for {
		_, msg, err := w.ws.Read(ctx)
		if err != nil {
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
				return cause
			}
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read: %w", err)
		}
		c.route(ctx, w, msg)
	}
}

// detach forgets the connection: every subscription waits for the next.
func (c *Chain) detach(w *wsConn) {
	c.ps.mu.Lock()
	defer c.ps.mu.Unlock()
	if c.ps.conn == w {
		c.ps.conn = nil
	}
	for s := range c.ps.subs {
		if s.conn == w {
			if s.active {
				s.once = true
			}
			s.conn, s.active, s.subID = nil, false, 0
		}
	}
}

// message is a pubsub message: a reply or a notification.
type message struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Method string `json:"method"`
	Params *struct {
		Subscription json.RawMessage `json:"subscription"`
		Result       json.RawMessage `json:"result"`
	} `json:"params"`
}

// route hands one message to its subscription; malformed ones are logged,
// counted and skipped.
func (c *Chain) route(ctx context.Context, w *wsConn, raw []byte) {
	var m message
	if err := json.Unmarshal(raw, &m); err != nil {
		c.malformed(ctx, w, "not JSON-RPC", err, raw)
		return
	}
	switch {
	case m.Params != nil && m.Method != "":
		id, err := strconv.ParseUint(string(m.Params.Subscription), 10, 64)
		if err != nil {
			c.malformed(ctx, w, "notification without a subscription id", err, raw)
			return
		}
		if len(m.Params.Result) == 0 || string(m.Params.Result) == "null" {
			c.malformed(ctx, w, "notification without a result", nil, raw)
			return
		}
		c.ps.mu.Lock()
		s := w.bySubID[id]
		if s != nil && s.oneShot && fired(m.Params.Result) {
			s.done = true
			delete(w.bySubID, id)
		}
		c.ps.mu.Unlock()
		if s == nil {
			c.log.Debug("notification for no subscription", "endpoint", w.name, "subscription", id, "method", m.Method)
			return
		}
		s.deliver(Notification{Kind: NoteData, Slot: contextSlot(m.Params.Result), Result: m.Params.Result})
	case len(m.ID) > 0:
		id, err := strconv.ParseUint(string(m.ID), 10, 64)
		if err != nil {
			c.malformed(ctx, w, "reply with a foreign id", err, raw)
			return
		}
		c.ps.mu.Lock()
		s := w.pending[id]
		delete(w.pending, id)
		if s == nil || s.conn != w {
			c.ps.mu.Unlock()
			if m.Error != nil {
				c.log.Debug("pubsub request refused", "endpoint", w.name, "code", m.Error.Code, "message", m.Error.Message)
			}
			return // an unsubscribe's reply
		}
		if m.Error != nil {
			c.ps.mu.Unlock()
			s.deliver(Notification{Kind: NoteRefused, Err: &RPCError{Method: s.method, Code: m.Error.Code, Message: m.Error.Message}})
			return
		}
		subID, err := strconv.ParseUint(string(m.Result), 10, 64)
		if err != nil {
			c.ps.mu.Unlock()
			c.malformed(ctx, w, "subscribe reply without a subscription id", err, raw)
			s.deliver(Notification{Kind: NoteRefused, Err: fmt.Errorf("%s: reply without a subscription id: %s", s.method, m.Result)})
			return
		}
		s.subID, s.active = subID, true
		w.bySubID[subID] = s
		again := s.once
		if s.closed {
			if s.closeReq {
				w.unsubscribe(s)
			}
			c.ps.mu.Unlock()
			return
		}
		c.ps.mu.Unlock()
		if again {
			c.m.resubscribes.Add(ctx, 1, c.m.Attrs)
		}
		s.deliver(Notification{Kind: NoteSubscribed, Again: again})
	default:
		c.malformed(ctx, w, "neither a reply nor a notification", nil, raw)
	}
}

func (c *Chain) malformed(ctx context.Context, w *wsConn, what string, err error, raw []byte) {
	c.m.malformed.Add(ctx, 1, c.m.Attrs)
	if len(raw) > 200 {
		raw = raw[:200]
	}
	c.log.Warn("malformed pubsub message skipped", "endpoint", w.name, "problem", what, "error", err, "message", string(raw))
}

// fired reports whether a one-shot subscription's notification is the one
// that ends it: a value that is an object ({"err": …}), not a
// "receivedSignature" or something unreadable.
func fired(result json.RawMessage) bool {
	var r struct {
		Value json.RawMessage `json:"value"`
	}
	return json.Unmarshal(result, &r) == nil && len(r.Value) > 0 && r.Value[0] == '{'
}

// contextSlot returns result.context.slot, or 0.
func contextSlot(result json.RawMessage) uint64 {
	var r struct {
		Context struct {
			Slot uint64 `json:"slot"`
		} `json:"context"`
	}
	if json.Unmarshal(result, &r) != nil {
		return 0
	}
	return r.Context.Slot
}
