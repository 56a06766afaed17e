package channels

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"syscall"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/feedd/feedd/channels/protocol"
)

// ServerOptions configure the WebSocket endpoint and HTTP API.
type ServerOptions struct {
	// Verifier checks tokens; nil accepts none (token and claims namespaces
	// are then closed to everyone).
	Verifier TokenVerifier
	// AllowedOrigins, when set, are the browser origins allowed to connect:
	// full origins ("https://app.example.com") or host patterns
	// ("*.example.com"). A request with another Origin is refused with 403.
	// Requests without Origin (non-browser clients) are allowed.
	AllowedOrigins []string
	// MaxConnections and MaxConnectionsPerIP bound open connections; 0
	// means no bound.
	MaxConnections      int
	MaxConnectionsPerIP int
	// MaxMessageBytes bounds an inbound frame; larger closes with 1009.
	// Default 65536.
	MaxMessageBytes int64
	// MaxRequestsPerSecond bounds a connection's requests (burst: twice as
	// many). Default 20; negative means no bound.
	MaxRequestsPerSecond float64
	// Compression negotiates permessage-deflate when the client offers it.
	Compression bool
	// APIKeys are the keys accepted by POST /api/v1/publish.
	APIKeys []string
	// Logger; default the hub's.
	Logger *slog.Logger
}

// Server serves the WebSocket endpoint and the channel HTTP API of a Hub.
type Server struct {
	hub      *Hub
	opts     ServerOptions
	verifier TokenVerifier
	log      *slog.Logger
	metrics  *Counters

	mu    sync.Mutex
	open  int
	perIP map[string]int
}

// NewServer returns a server for hub.
func NewServer(hub *Hub, opts ServerOptions) *Server {
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 65536
	}
	if opts.MaxRequestsPerSecond == 0 {
		opts.MaxRequestsPerSecond = 20
	}
	if opts.Logger == nil {
		opts.Logger = hub.log
	}
	return &Server{hub: hub, opts: opts, verifier: opts.Verifier, log: opts.Logger, metrics: newCounters(), perIP: map[string]int{}}
}

// Counters returns the server's running totals.
func (s *Server) Counters() *Counters { return s.metrics }

// Register adds the server's routes to mux: GET /ws and the channel API.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /ws", s.ServeWS)
	mux.HandleFunc("GET /api/v1/channels/{channel}", s.handleChannel)
	mux.HandleFunc("POST /api/v1/publish", s.handlePublish)
}

func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// originAllowed reports whether a browser origin may connect.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(s.opts.AllowedOrigins) == 0 {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	for _, pat := range s.opts.AllowedOrigins {
		if strings.Contains(pat, "://") {
			if strings.EqualFold(strings.TrimRight(pat, "/"), origin) {
				return true
			}
			continue
		}
		if ok, _ := path.Match(strings.ToLower(pat), strings.ToLower(u.Host)); ok {
			return true
		}
	}
	return false
}

// admit counts a new connection from ip, or says why it cannot be.
func (s *Server) admit(ip string) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.MaxConnections > 0 && s.open >= s.opts.MaxConnections {
		return http.StatusServiceUnavailable, "too many connections"
	}
	if s.opts.MaxConnectionsPerIP > 0 && s.perIP[ip] >= s.opts.MaxConnectionsPerIP {
		return http.StatusTooManyRequests, "too many connections from this address"
	}
	s.open++
	s.perIP[ip]++
	return 0, ""
}

func (s *Server) release(ip string) {
	s.mu.Lock()
	s.open--
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	s.mu.Unlock()
}

func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// ServeWS upgrades the request and runs the session until it ends.
func (s *Server) ServeWS(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		s.metrics.Refused.Add(1)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	if code, why := s.admit(ip); code != 0 {
		s.metrics.Refused.Add(1)
		http.Error(w, why, code)
		return
	}
	released := false
	defer func() {
		if !released {
			s.release(ip)
		}
	}()
	mode := websocket.CompressionDisabled
	if s.opts.Compression {
		mode = websocket.CompressionNoContextTakeover
	}
	lw := &leanWriter{ResponseWriter: w}
	conn, err := websocket.Accept(lw, r, &websocket.AcceptOptions{
		Subprotocols:       []string{protocol.Subprotocol},
		InsecureSkipVerify: true, // the origin was checked above
		CompressionMode:    mode,
	})
	if err != nil {
		s.metrics.Refused.Add(1)
		return
	}
	conn.SetReadLimit(s.opts.MaxMessageBytes)
	now := s.hub.clk.Now()
	sess := &session{
		hub: s.hub, srv: s, conn: conn, raw: lw.raw, id: newSessionID(),
		done: make(chan struct{}), subs: map[string]*subscription{},
		limiter: newLimiter(s.opts.MaxRequestsPerSecond),
	}
	sess.lastPongNs.Store(now.UnixNano())

	if token := requestToken(r); token != "" {
		ident, err := s.verify(token)
		if err != nil {
			s.refuse(conn, err.Error())
			return
		}
		sess.setIdentity(&ident)
	}
	// welcome goes first: it is queued before the hub (and its heartbeat)
	// knows the session.
	sess.enqueue(message{Type: protocol.TypeWelcome, Session: sess.id, ServerTime: now.UnixMilli(),
		HeartbeatMS: s.hub.opts.Heartbeat.Milliseconds(), Protocol: protocol.Version}.encode())
	if !s.hub.addSession(sess) {
		sess.closeWith(protocol.CloseGoingAway, "server shutting down")
		return
	}
	s.metrics.Connections.Add(1)
	s.metrics.Accepted.Add(1)
	// The session reads in a goroutine of its own, so that net/http's
	// connection goroutine, its deep stack and the request end here: an
	// idle connection keeps only a small stack and its buffers.
	released = true
	go func() {
		defer s.release(ip)
		defer s.metrics.Connections.Add(-1)
		s.readLoop(sess, conn)
	}()
}

// newLimiter allows perSecond requests on average, in bursts of twice as
// many; zero or less allows everything.
func newLimiter(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(perSecond), max(1, int(2*perSecond)))
}

// refuse tells a client why its token was refused and closes with 4001.
func (s *Server) refuse(conn *websocket.Conn, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.hub.opts.WriteTimeout)
	defer cancel()
	_ = conn.Write(ctx, websocket.MessageText, message{Type: protocol.TypeError, Code: protocol.ErrUnauthorized, Message: why}.encode())
	conn.Close(protocol.CloseUnauthorized, "unauthorized")
}

func (s *Server) readLoop(sess *session, conn *websocket.Conn) {
	defer sess.end()
	ctx := context.Background()
	violations := 0
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) && !sess.closing.Load() {
				s.log.Debug("connection read ended", "session", sess.id, "error", err)
			}
			return
		}
		if sess.closing.Load() {
			continue // closing: requests are no longer served
		}
		if !sess.limiter.AllowN(s.hub.clk.Now(), 1) {
			s.metrics.RateLimited.Add(1)
			violations++
			if violations > int(max(2, 2*s.opts.MaxRequestsPerSecond)) {
				// Keep reading, and dropping, until the close handshake
				// ends the connection.
				sess.closeWith(protocol.CloseRateLimited, "rate limited")
				continue
			}
			sess.replyError(nil, "", protocol.ErrRateLimited, "too many requests; slow down")
			continue
		}
		violations = 0
		if typ != websocket.MessageText {
			sess.replyError(nil, "", protocol.ErrBadRequest, "send text frames of JSON")
			continue
		}
		sess.request(data)
	}
}

// leanWriter hijacks the connection for coder/websocket with small buffers:
// a 512-byte read buffer (clients send small requests; larger frames are
// read past it) and, unless permessage-deflate was negotiated, a write
// buffer sized for control frames only, because data frames bypass
// coder/websocket's writer (see rawConn). An idle connection then holds
// about 1 KiB of buffers instead of net/http's 8 KiB.
type leanWriter struct {
	http.ResponseWriter
	raw *rawConn // set by Hijack
}

// readBufferSize is the read buffer of a WebSocket connection.
const readBufferSize = 512

// controlWriteBuffer fits the largest control frame (2 + 125 bytes).
const controlWriteBuffer = 128

func (lw *leanWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := lw.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("response writer cannot hijack")
	}
	deflate := lw.Header().Get("Sec-WebSocket-Extensions") != ""
	conn, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(conn, readBufferSize)
	if n := brw.Reader.Buffered(); n > 0 {
		// Keep what the client sent right after its handshake, buffered in
		// the new reader: coder/websocket keeps only what is buffered.
		b, _ := brw.Reader.Peek(n)
		saved := append([]byte(nil), b...)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(saved), conn), max(readBufferSize, n))
		if _, err := br.Peek(n); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("keep early client bytes: %w", err)
		}
	}
	rc := &rawConn{Conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		rc.sc, _ = sc.SyscallConn()
	}
	w := brw.Writer // net/http's fresh 4 KiB writer, for compressed frames
	if !deflate {
		lw.raw = rc
		w = bufio.NewWriterSize(rc, controlWriteBuffer)
	} else {
		w.Reset(rc)
	}
	return rc, bufio.NewReadWriter(br, w), nil
}

func (lw *leanWriter) Unwrap() http.ResponseWriter { return lw.ResponseWriter }

// rawConn serialises writes to a hijacked connection, so that the session
// can write whole data frames itself (header and payload in one write
// system call) between the control frames coder/websocket writes.
type rawConn struct {
	net.Conn
	sc syscall.RawConn // for writes that must not block; nil when unavailable
	mu sync.Mutex      // held while a frame is being written
	// pending is the frame a partial non-blocking write left, for the
	// writer goroutine that finishes it (guarded by mu).
	pending []byte
}

func (c *rawConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(p)
}

// tryWriteText writes frame like writeText, but never blocks: it writes what
// the socket takes now. done reports the whole frame went; otherwise sent
// bytes of c.pending (the frame with its header) went, and the caller, still
// holding c.mu, must write the rest. The caller holds c.mu.
func (c *rawConn) tryWriteText(buf []byte) (done bool, sent int, err error) {
	frame := textFrame(buf)
	if c.sc == nil {
		c.pending = frame
		return false, 0, nil
	}
	var n int
	var werr error
	err = c.sc.Write(func(fd uintptr) bool {
		for sent < len(frame) {
			n, werr = syscall.Write(int(fd), frame[sent:])
			if werr == syscall.EINTR {
				continue
			}
			if n <= 0 || werr != nil {
				break
			}
			sent += n
		}
		return true // never wait for the socket here
	})
	if err == nil && werr != nil && werr != syscall.EAGAIN {
		err = werr
	}
	if err != nil {
		return false, sent, err
	}
	if sent == len(frame) {
		return true, sent, nil
	}
	c.pending = frame
	return false, sent, nil
}

// frameHeadroom is the room a session leaves before a frame's payload for
// the header rawConn writes there.
const frameHeadroom = 10

// writeText writes buf[frameHeadroom:] as one unmasked, final text frame,
// putting the header in the headroom.
func (c *rawConn) writeText(buf []byte) error {
	_, err := c.Write(textFrame(buf))
	return err
}

// textFrame puts the header of a final, unmasked text frame carrying
// buf[frameHeadroom:] into the headroom and returns header and payload.
func textFrame(buf []byte) []byte {
	n := len(buf) - frameHeadroom
	var h []byte
	switch {
	case n <= 125:
		h = buf[frameHeadroom-2 : frameHeadroom]
		h[1] = byte(n)
	case n <= 0xffff:
		h = buf[frameHeadroom-4 : frameHeadroom]
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
	default:
		h = buf[:frameHeadroom]
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
	}
	h[0] = 0x81 // FIN, text
	return buf[frameHeadroom-len(h):]
}
