// Package client is a Go client for feedd's WebSocket protocol, version 1
// (PROTOCOL.md). It keeps one connection to a daemon, reconnects with
// exponential backoff and jitter when the connection is lost, and on every
// reconnect subscribes again to each active subscription from the last
// position it saw, so that no update is missed and none is delivered twice:
// the daemon replays what happened meanwhile, or, when it no longer holds
// that history, sends a fresh snapshot.
//
//	c, err := client.Dial(ctx, client.Options{URL: "ws://127.0.0.1:8080/ws"})
//	if err != nil { ... }
//	defer c.Close()
//	sub, err := c.Subscribe(ctx, "prices:ETH-USD", client.Typed(func(p Price, u client.Update) {
//		fmt.Println(u.Offset, p.Price)
//	}))
//
// The daemon pings every heartbeat_ms (from its welcome); the client
// answers each ping, and when nothing at all arrives for two and a half
// intervals it takes the connection for dead and reconnects.
//
// Handlers run one at a time on one goroutine per Client, in the order the
// messages arrived; they may call Subscribe and Unsubscribe but not Close.
package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/feedd/feedd/channels/protocol"
	"github.com/feedd/feedd/internal/backoff"
)

// Backoff spaces reconnect attempts: the n-th waits Initial*Factor^n,
// capped at Max, less a random fraction up to Jitter. (An alias, so that
// programs outside this module can set it.)
type Backoff = backoff.Policy

// State is the state of a Client's connection.
type State int

// The connection states, in the order a connection goes through them.
const (
	// Connecting: dialling the daemon.
	Connecting State = iota + 1
	// Connected: the daemon welcomed the connection.
	Connected
	// Disconnected: the connection failed or was lost; a reconnect follows
	// after a backoff delay.
	Disconnected
	// Closed: Close was called; nothing follows.
	Closed
)

func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	case Closed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Options configure a Client. Only URL is required.
type Options struct {
	// URL is the daemon's WebSocket endpoint, e.g. ws://127.0.0.1:8080/ws
	// (http and https URLs are taken as ws and wss).
	URL string
	// Token, when set, is sent as "Authorization: Bearer <token>".
	Token string
	// TokenFunc, when set, is called for a fresh token before each connect
	// (it overrides Token). When the token is a JWT with an exp claim, it is
	// also called shortly before expiry and the new token sent in an auth
	// message, so the connection outlives its token.
	TokenFunc func(ctx context.Context) (string, error)
	// RefreshBefore is how long before a token's expiry it is refreshed
	// (at most a quarter of its remaining lifetime). Default 30s.
	RefreshBefore time.Duration
	// Backoff is the delay between connection attempts. Zero Initial and
	// Max mean 100ms and 5s; Factor and Jitter default as in backoff.Policy
	// (2 and 0.5). The first attempt after the loss of a connection that
	// lasted a second or more waits Backoff.Delay(0).
	Backoff Backoff
	// HandshakeTimeout bounds dialling and the wait for the daemon's welcome.
	// Default 10s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one write. Default 10s.
	WriteTimeout time.Duration
	// MaxRequestsPerSecond paces the frames the client sends (bursts of
	// twice as many), below the daemon's rate limit. Default 10; negative
	// means no pacing.
	MaxRequestsPerSecond float64
	// ReadLimit bounds an inbound frame; the daemon batches messages, so
	// frames can be large. Default 32 MiB.
	ReadLimit int64
	// Compression offers permessage-deflate.
	Compression bool
	// OnState hears every change of the connection state, with the reason
	// for Disconnected. It runs on the handler goroutine, in order with the
	// handlers (so it must not call Close either); Closed is reported last,
	// from Close.
	OnState func(State, error)
	// Logger; default slog.Default().
	Logger *slog.Logger
	// HTTPClient dials; default a client of the package's own, whose idle
	// connections Close releases.
	HTTPClient *http.Client
	// Header holds extra headers for the handshake request.
	Header http.Header
}

// ServerError is an error message from the daemon.
type ServerError struct {
	// Code is the protocol error code: bad_channel, forbidden, …
	Code string
	// Message is the daemon's explanation.
	Message string
	// Channel is the channel the error is about, when it is about one.
	Channel string
}

func (e *ServerError) Error() string { return e.Code + ": " + e.Message }

// ErrClosed is returned by a Client's methods after Close.
var ErrClosed = errors.New("feedd client closed")

// Client is a connection to a feedd daemon that survives reconnects.
type Client struct {
	opts Options
	log  *slog.Logger
	hc   *http.Client
	tr   *http.Transport // our own transport; nil when the caller gave HTTPClient

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the connection manager has stopped
	disp   *dispatcher

	closeOnce sync.Once

	mu      sync.Mutex
	state   State
	lastErr error                    // why the last connection attempt or connection ended
	subs    map[string]*Subscription // active and wanted subscriptions, by channel as written
	cur     *conn                    // the welcomed connection, nil while there is none
	nextID  uint64
	closed  bool
}

// Dial checks opts and starts the client's connection manager; it returns
// at once, without waiting for a connection: requests made before there
// is one wait for it. ctx's values are kept for TokenFunc; its
// cancellation does not stop the client, Close does.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("feedd client: bad URL: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return nil, fmt.Errorf("feedd client: bad URL %q: the scheme must be ws or wss", opts.URL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("feedd client: bad URL %q: no host", opts.URL)
	}
	if opts.Backoff.Initial <= 0 {
		opts.Backoff.Initial = 100 * time.Millisecond
	}
	if opts.Backoff.Max <= 0 {
		opts.Backoff.Max = 5 * time.Second
	}
	if opts.RefreshBefore <= 0 {
		opts.RefreshBefore = 30 * time.Second
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.MaxRequestsPerSecond == 0 {
		opts.MaxRequestsPerSecond = 10
	}
	if opts.ReadLimit == 0 {
		opts.ReadLimit = 32 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Client{
		opts: opts,
		log:  opts.Logger,
		hc:   opts.HTTPClient,
		done: make(chan struct{}),
		disp: newDispatcher(),
		subs: map[string]*Subscription{},
	}
	if c.hc == nil {
		c.tr = http.DefaultTransport.(*http.Transport).Clone()
		c.hc = &http.Client{Transport: c.tr}
	}
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go c.disp.run()
	go c.run()
	return c, nil
}

// State returns the connection's current state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Close closes the connection (politely, waiting a second at most for the
// daemon), ends every subscription and stops the client's goroutines. It
// waits for a running handler to return, so it must not be called from a
// handler. Calls after the first do nothing.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.cancel()
		<-c.done
		c.disp.stop()
		c.mu.Lock()
		c.state = Closed
		for _, s := range c.subs {
			c.endLocked(s, ErrClosed)
		}
		c.mu.Unlock()
		if c.tr != nil {
			c.tr.CloseIdleConnections()
		}
		if c.opts.OnState != nil {
			c.opts.OnState(Closed, nil)
		}
	})
	return nil
}

// setState records a state change and queues OnState; c.mu must be held.
func (c *Client) setStateLocked(st State, err error) {
	if c.state == st && st != Disconnected {
		return
	}
	c.state = st
	if err != nil {
		c.lastErr = err
	}
	if fn := c.opts.OnState; fn != nil {
		c.disp.push(func() { fn(st, err) })
	}
}

func (c *Client) setState(st State, err error) {
	c.mu.Lock()
	c.setStateLocked(st, err)
	c.mu.Unlock()
}

// run is the connection manager: it connects, serves the connection until
// it ends, waits the backoff delay and starts over, until Close.
func (c *Client) run() {
	defer close(c.done)
	attempt := 0
	for c.ctx.Err() == nil {
		c.setState(Connecting, nil)
		welcomed := false
		ws, exp, err := c.connect()
		if err == nil {
			start := time.Now()
			welcomed, err = c.serve(ws, exp)
			if welcomed && time.Since(start) >= time.Second {
				attempt = 0
			}
		}
		if c.ctx.Err() != nil {
			return
		}
		c.setState(Disconnected, err)
		d := c.opts.Backoff.Delay(attempt, nil)
		attempt++
		if welcomed {
			c.log.Info("feedd client: connection lost; reconnecting", "url", c.opts.URL, "error", err, "delay", d)
		} else {
			c.log.Debug("feedd client: cannot connect; retrying", "url", c.opts.URL, "error", err, "delay", d)
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return
		}
	}
}

// connect dials the daemon, with a fresh token when there is a TokenFunc,
// and returns the connection and the token's expiry (zero when unknown).
func (c *Client) connect() (*websocket.Conn, time.Time, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.opts.HandshakeTimeout)
	defer cancel()
	token := c.opts.Token
	if c.opts.TokenFunc != nil {
		t, err := c.opts.TokenFunc(ctx)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("get token: %w", err)
		}
		token = t
	}
	hdr := c.opts.Header.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	mode := websocket.CompressionDisabled
	if c.opts.Compression {
		mode = websocket.CompressionNoContextTakeover
	}
	ws, _, err := websocket.Dial(ctx, c.opts.URL, &websocket.DialOptions{
		HTTPClient:      c.hc,
		HTTPHeader:      hdr,
		Subprotocols:    []string{protocol.Subprotocol},
		CompressionMode: mode,
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	ws.SetReadLimit(c.opts.ReadLimit)
	var exp time.Time
	if c.opts.TokenFunc != nil {
		exp, _ = tokenExpiry(token)
	}
	return ws, exp, nil
}

// newIDLocked returns a fresh request id; c.mu must be held.
func (c *Client) newIDLocked() uint64 {
	c.nextID++
	return c.nextID
}

// endLocked ends s: it is no longer wanted, its Done channel closes and a
// Subscribe still waiting for it returns err (when err is not nil).
func (c *Client) endLocked(s *Subscription, err error) {
	if c.subs[s.channel] == s {
		delete(c.subs, s.channel)
	}
	if s.removed.Swap(true) {
		return
	}
	s.err = err
	s.readyLocked()
	close(s.done)
}

// Subscribe subscribes to channel and returns once the daemon has
// confirmed it; h then hears the channel's snapshot (when it has one) and
// its updates. While there is no connection Subscribe waits for one,
// bounded by ctx. A refusal by the daemon is a *ServerError (bad_channel,
// forbidden, …). One Client holds at most one subscription per channel
// name.
func (c *Client) Subscribe(ctx context.Context, channel string, h Handler) (*Subscription, error) {
	if channel == "" {
		return nil, errors.New("subscribe: empty channel name")
	}
	if h == nil {
		return nil, errors.New("subscribe: nil handler")
	}
	s := &Subscription{c: c, channel: channel, h: h, ready: make(chan struct{}), done: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if _, dup := c.subs[channel]; dup {
		c.mu.Unlock()
		return nil, fmt.Errorf("subscribe: already subscribed to %s", channel)
	}
	c.subs[channel] = s
	cn := c.cur
	c.mu.Unlock()
	if cn != nil {
		cn.wake()
	}
	select {
	case <-s.ready:
	case <-ctx.Done():
	case <-c.ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case s.readyClosed && s.err != nil:
		return nil, s.err // a *ServerError
	case s.readyClosed:
		return s, nil
	case c.ctx.Err() != nil:
		return nil, ErrClosed
	}
	// ctx ended first: give the subscription up.
	err := fmt.Errorf("subscribe %s: %w", channel, ctx.Err())
	if c.cur == nil && c.lastErr != nil {
		err = fmt.Errorf("subscribe %s: %w (not connected: %v)", channel, ctx.Err(), c.lastErr)
	}
	c.endLocked(s, err)
	if c.cur != nil {
		c.cur.wake()
	}
	return nil, err
}
