package devchain

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Proxy is a TCP proxy listening on 127.0.0.1 in front of one target address
// (typically Chain.Addr()), used to cut a client's connection to the node
// and restore it later. Its methods are safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener

	mu     sync.Mutex
	cut    bool
	closed bool
	conns  map[net.Conn]struct{} // both ends of every proxied connection

	wg sync.WaitGroup // accept loop and connection goroutines
}

// dialTimeout bounds the proxy's connection to its target.
const dialTimeout = 5 * time.Second

// NewProxy listens on a random port of 127.0.0.1 and forwards every
// connection it accepts to target (host:port), byte for byte in both
// directions, until Cut or Close.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, ln: ln, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the host:port the proxy listens on; it does not change for
// the proxy's lifetime, Cut and Restore included.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL returns scheme://Addr(), for example URL("http").
func (p *Proxy) URL(scheme string) string { return scheme + "://" + p.Addr() }

// WSURL returns ws://Addr(): the chain's WebSocket endpoint through the proxy
// when the target is Chain.Addr().
func (p *Proxy) WSURL() string { return p.URL("ws") }

// Cut closes every live proxied connection, both ends, and from then until
// Restore resets every new connection as soon as it is accepted (the client
// sees its connect or handshake fail with a reset or EOF). Data already
// accepted from one end may be lost, as on a real broken link.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
}

// Restore lets new connections through again after Cut. Connections closed
// by Cut stay closed: clients must reconnect.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Active returns the number of live proxied connections.
func (p *Proxy) Active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}

// Close stops listening, closes every connection and returns once every
// goroutine of the proxy has ended. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// accept runs until the listener is closed.
func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// Other accept errors (e.g. too many open files) are
			// transient; back off briefly unless closing.
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if closed {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.mu.Lock()
		if p.cut || p.closed {
			p.mu.Unlock()
			reset(conn)
			continue
		}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(conn)
	}
}

// reset closes conn with an RST rather than a FIN where the OS allows.
func reset(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// serve connects client to the target and copies both ways until either
// side ends or the proxy cuts them.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.target, dialTimeout)
	if err != nil {
		reset(client)
		return
	}
	p.mu.Lock()
	if p.cut || p.closed {
		p.mu.Unlock()
		reset(client)
		server.Close()
		return
	}
	p.conns[client] = struct{}{}
	p.conns[server] = struct{}{}
	p.mu.Unlock()

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Either direction ending ends the connection: RPC over HTTP and
		// WebSocket never half-closes.
		client.Close()
		server.Close()
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done

	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}
