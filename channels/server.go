package channels

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"

	"github.com/coder/websocket"

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
	return &Server{hub: hub, opts: opts, verifier: opts.Verifier, log: opts.Logger, metrics: &Counters{}, perIP: map[string]int{}}
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
	defer s.release(ip)
	mode := websocket.CompressionDisabled
	if s.opts.Compression {
		mode = websocket.CompressionNoContextTakeover
	}
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
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
		hub: s.hub, srv: s, conn: conn, id: newSessionID(), ip: ip,
		done: make(chan struct{}), subs: map[string]*subscription{},
		limiter: newTokenBucket(s.opts.MaxRequestsPerSecond, max(1, int(2*s.opts.MaxRequestsPerSecond)), now),
	}
	sess.lastPongNs.Store(now.UnixNano())

	token := bearer(r)
	if token == "" {
		token = r.URL.Query().Get("token")
	}
	if token != "" {
		if s.verifier == nil {
			s.refuse(conn, "this server accepts no tokens")
			return
		}
		ident, err := s.verifier.Verify(token)
		if err != nil {
			s.metrics.authFailure(err)
			s.refuse(conn, "token refused: "+err.Error())
			return
		}
		sess.setIdentity(&ident)
	}
	if !s.hub.addSession(sess) {
		conn.Close(protocol.CloseGoingAway, "server shutting down")
		return
	}
	s.metrics.Connections.Add(1)
	s.metrics.Accepted.Add(1)
	defer s.metrics.Connections.Add(-1)
	sess.enqueue(message{Type: protocol.TypeWelcome, Session: sess.id, ServerTime: now.UnixMilli(),
		HeartbeatMS: s.hub.opts.Heartbeat.Milliseconds(), Protocol: protocol.Version}.encode())
	s.readLoop(sess, conn)
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
		if !sess.limiter.allow(s.hub.clk.Now()) {
			s.metrics.RateLimited.Add(1)
			violations++
			if violations > int(max(2, 2*s.opts.MaxRequestsPerSecond)) {
				sess.closeWith(protocol.CloseRateLimited, "rate limited")
				return
			}
			sess.replyError(nil, "", protocol.ErrRateLimited, "too many requests; slow down")
			continue
		}
		violations = 0
		if typ != websocket.MessageText {
			sess.replyError(nil, "", protocol.ErrBadRequest, "send text frames of JSON")
			continue
		}
		sess.handle(ctx, data)
	}
}
