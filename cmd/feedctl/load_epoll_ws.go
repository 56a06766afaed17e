package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/feedd/feedd/channels/protocol"
)

// The epoll reader (load_epoll_linux.go) does not use a WebSocket library:
// it performs the client handshake itself on a plain TCP connection, then
// reads the socket with read(2) and splits the byte stream into frames
// with wsParser. This file holds the handshake, the frame parser and
// writer, and a connection's side of dialing and frame handling, none of
// which depends on epoll itself.

// WebSocket opcodes (RFC 6455, 5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// wsTarget is the --url, resolved for raw dials.
type wsTarget struct {
	addr string // host:port to dial
	host string // the Host header
	uri  string // the request URI
}

func newWSTarget(raw string) (*wsTarget, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" && u.Scheme != "http" {
		return nil, fmt.Errorf("%s: want ws://host:port/path", raw)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return &wsTarget{addr: net.JoinHostPort(u.Hostname(), port), host: u.Host, uri: u.RequestURI()}, nil
}

// wsGUID is the handshake's magic string (RFC 6455, 1.3).
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// maxHandshake bounds the server's handshake response header.
const maxHandshake = 16 << 10

// dialWS connects to t with d (which refuses non-loopback addresses) and
// performs the client handshake: no compression offered, the feedd
// subprotocol. It returns the connection and the bytes the server sent
// after its response header (the welcome frame may come in the same
// segment). ctx bounds the dial and the handshake.
func dialWS(ctx context.Context, d *net.Dialer, t *wsTarget) (*net.TCPConn, []byte, error) {
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, nil, err
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return nil, nil, fmt.Errorf("dial %s: not a TCP connection", t.addr)
	}
	rest, err := handshakeWS(ctx, tc, t)
	if err != nil {
		tc.Close()
		return nil, nil, err
	}
	return tc, rest, nil
}

func handshakeWS(ctx context.Context, tc *net.TCPConn, t *wsTarget) ([]byte, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = tc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = tc.SetDeadline(time.Unix(1, 0)) })
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + t.uri + " HTTP/1.1\r\n" +
		"Host: " + t.host + "\r\n" +
		"User-Agent: feedctl-load\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + protocol.Subprotocol + "\r\n" +
		"\r\n"
	rest, err := func() ([]byte, error) {
		if _, err := tc.Write([]byte(req)); err != nil {
			return nil, fmt.Errorf("handshake: %w", err)
		}
		buf := make([]byte, 0, 1024)
		end := -1
		for end < 0 {
			if len(buf) == cap(buf) {
				if len(buf) >= maxHandshake {
					return nil, errors.New("handshake: response header too long")
				}
				buf = append(buf, make([]byte, len(buf))...)[:len(buf)]
			}
			n, err := tc.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
				end = i + 4
			} else if err != nil {
				return nil, fmt.Errorf("handshake: reading the response: %w", err)
			}
		}
		if err := checkHandshake(buf[:end], buf[end:], key); err != nil {
			return nil, err
		}
		return buf[end:], nil
	}()
	if !stop() && err == nil {
		err = fmt.Errorf("handshake: %w", context.Cause(ctx))
	}
	if err != nil {
		return nil, err
	}
	_ = tc.SetDeadline(time.Time{})
	return rest, nil
}

// checkHandshake checks the server's response header hdr to the key.
func checkHandshake(hdr, rest []byte, key string) error {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(hdr)), nil)
	if err != nil {
		return fmt.Errorf("handshake: bad response: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body := strings.TrimSpace(string(rest[:min(len(rest), 100)]))
		if body != "" {
			body = ": " + body
		}
		return fmt.Errorf("handshake: expected status 101, got %s%s", resp.Status, body)
	}
	switch h := resp.Header; {
	case !strings.EqualFold(h.Get("Upgrade"), "websocket"):
		return fmt.Errorf("handshake: Upgrade: %q", h.Get("Upgrade"))
	case !headerHasToken(h, "Connection", "upgrade"):
		return fmt.Errorf("handshake: Connection: %q", h.Get("Connection"))
	case h.Get("Sec-WebSocket-Accept") != wsAccept(key):
		return fmt.Errorf("handshake: wrong Sec-WebSocket-Accept %q", h.Get("Sec-WebSocket-Accept"))
	case h.Get("Sec-WebSocket-Extensions") != "":
		return fmt.Errorf("handshake: the server chose extensions %q, none were offered", h.Get("Sec-WebSocket-Extensions"))
	case h.Get("Sec-WebSocket-Protocol") != "" && h.Get("Sec-WebSocket-Protocol") != protocol.Subprotocol:
		return fmt.Errorf("handshake: unexpected subprotocol %q", h.Get("Sec-WebSocket-Protocol"))
	}
	return nil
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// appendClientFrame appends a final, masked frame (client to server).
func appendClientFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n <= 125:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], mrand.Uint32())
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= key[i&3]
	}
	return dst
}

// wsParser splits the byte stream of a server's frames into messages,
// incrementally: push hands it the bytes of one read, then next returns
// the complete messages in them one by one until it returns false (more
// bytes needed, or an error: see err). A frame that arrived whole is
// returned in place, pointing into the pushed bytes; only a frame split
// across reads is copied (into a pooled buffer held until it is complete),
// and so are the fragments of a fragmented message. Control frames come
// out as they arrive, also between the fragments of a message.
//
// A returned payload is valid until the next call of next or push. The
// parser never allocates in the steady state of whole frames.
type wsParser struct {
	in       []byte  // the unparsed rest of the pushed bytes (not owned)
	carry    *[]byte // an incomplete frame, header included
	frag     *[]byte // the payload of a fragmented message so far
	fragOp   byte
	fragging bool
	reset    uint8 // bits: carry (1) or frag (2) was returned and is to be emptied
	limit    int   // largest frame and message payload; 0: maxFrame
	err      error
}

const (
	resetCarry = 1 << iota
	resetFrag
)

// push sets the bytes to parse next. Bytes of the previous push must have
// been consumed (next returned false).
func (p *wsParser) push(b []byte) { p.in = b }

func (p *wsParser) fail(format string, args ...any) bool {
	p.err = fmt.Errorf("websocket: "+format, args...)
	p.in = nil
	p.dropCarry()
	p.dropFrag()
	return false
}

func getBuf() *[]byte { return framePool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 1<<20 {
		*b = (*b)[:0]
		framePool.Put(b)
	}
}

func (p *wsParser) dropCarry() {
	if p.carry != nil {
		putBuf(p.carry)
		p.carry = nil
	}
}

func (p *wsParser) dropFrag() {
	if p.frag != nil {
		putBuf(p.frag)
		p.frag = nil
	}
}

// release returns the parser's buffers (when its connection is done).
func (p *wsParser) release() {
	p.in = nil
	p.dropCarry()
	p.dropFrag()
	p.fragging = false
}

// header parses the frame header at the start of b. hl is its length, 0
// when b does not hold all of it yet.
func (p *wsParser) header(b []byte) (hl int, plen uint64, ok bool) {
	if len(b) < 2 {
		return 0, 0, true
	}
	b0, b1 := b[0], b[1]
	op := b0 & 0x0f
	switch {
	case b0&0x70 != 0:
		return 0, 0, p.fail("reserved bits set (%#x) without an extension", b0&0x70)
	case op > opBinary && op < opClose || op > opPong:
		return 0, 0, p.fail("reserved opcode %#x", op)
	case b1&0x80 != 0:
		return 0, 0, p.fail("masked frame from the server")
	case op >= opClose && (b0&0x80 == 0 || b1&0x7f > 125):
		return 0, 0, p.fail("fragmented or long control frame (opcode %#x)", op)
	}
	switch l := b1 & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return 0, 0, true
		}
		hl, plen = 4, uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		if len(b) < 10 {
			return 0, 0, true
		}
		hl, plen = 10, binary.BigEndian.Uint64(b[2:])
	default:
		hl, plen = 2, uint64(l)
	}
	if limit := p.limitOr(); plen > uint64(limit) {
		return 0, 0, p.fail("frame of %d bytes, more than %d", plen, limit)
	}
	return hl, plen, true
}

// headerNeed is how many bytes the header starting b needs, knowing b.
func headerNeed(b []byte) int {
	if len(b) < 2 {
		return 2
	}
	switch b[1] & 0x7f {
	case 126:
		return 4
	case 127:
		return 10
	}
	return 2
}

// next returns the next complete message: its opcode (opText or opBinary
// for data, whatever the fragments; opClose, opPing or opPong) and
// payload. It returns false when the pushed bytes are used up or on an
// error (p.err).
func (p *wsParser) next() (op byte, payload []byte, ok bool) {
	if p.reset&resetCarry != 0 {
		p.dropCarry()
	}
	if p.reset&resetFrag != 0 {
		p.dropFrag()
	}
	p.reset = 0
	for p.err == nil {
		var frame []byte
		var hl int
		var plen uint64
		fromCarry := p.carry != nil
		if fromCarry {
			// Complete the frame begun in an earlier read.
			c := *p.carry
			for {
				var ok bool
				if hl, plen, ok = p.header(c); !ok {
					return 0, nil, false
				}
				if hl > 0 || len(p.in) == 0 {
					break
				}
				take := min(headerNeed(c)-len(c), len(p.in))
				c = append(c, p.in[:take]...)
				p.in = p.in[take:]
			}
			if hl > 0 {
				take := min(hl+int(plen)-len(c), len(p.in))
				c = append(c, p.in[:take]...)
				p.in = p.in[take:]
			}
			*p.carry = c
			if hl == 0 || len(c) < hl+int(plen) {
				return 0, nil, false
			}
			frame = c
		} else {
			if len(p.in) == 0 {
				return 0, nil, false
			}
			var ok bool
			if hl, plen, ok = p.header(p.in); !ok {
				return 0, nil, false
			}
			if hl == 0 || uint64(len(p.in)-hl) < plen {
				// Incomplete: keep it for the next read.
				p.carry = getBuf()
				if n := hl + int(plen); hl > 0 && cap(*p.carry) < n {
					*p.carry = make([]byte, 0, n) // a large frame: grow once
				}
				*p.carry = append((*p.carry)[:0], p.in...)
				p.in = nil
				return 0, nil, false
			}
			frame = p.in[:hl+int(plen)]
			p.in = p.in[hl+int(plen):]
		}
		fin, fop := frame[0]&0x80 != 0, frame[0]&0x0f
		body := frame[hl:]
		switch {
		case fop >= opClose || fop != opContinuation && fin && !p.fragging:
			// A control frame, or a whole message.
			if fromCarry {
				p.reset |= resetCarry
			}
			return fop, body, true
		case fop == opContinuation:
			if !p.fragging {
				return 0, nil, p.fail("continuation frame without a message")
			}
			f := *p.frag
			if len(f)+len(body) > p.limitOr() {
				return 0, nil, p.fail("fragmented message of more than %d bytes", p.limitOr())
			}
			*p.frag = append(f, body...)
			if fromCarry {
				p.dropCarry()
			}
			if fin {
				p.fragging = false
				p.reset |= resetFrag
				return p.fragOp, *p.frag, true
			}
		case p.fragging:
			return 0, nil, p.fail("data frame (opcode %#x) inside a fragmented message", fop)
		default:
			// The first fragment of a message.
			p.fragging, p.fragOp = true, fop
			p.frag = getBuf()
			*p.frag = append((*p.frag)[:0], body...)
			if fromCarry {
				p.dropCarry()
			}
		}
	}
	return 0, nil, false
}

func (p *wsParser) limitOr() int {
	if p.limit > 0 {
		return p.limit
	}
	return maxFrame
}

// dialEpoll opens connection i for the epoll readers: handshake, then the
// socket is detached from Go's netpoller, the welcome (if it came with the
// handshake response) is handled here and the socket is handed to a
// reader, which sends the subscription once the welcome is in (see
// handle).
func (g *group) dialEpoll(ctx context.Context, i int) {
	if g.epErr != nil {
		g.dialErrs.Add(1)
		g.noteError(g.epErr.Error())
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tc, rest, err := dialWS(dctx, g.dialer, g.target)
	if err != nil {
		if ctx.Err() != nil {
			return // interrupted: not the daemon's doing
		}
		g.dialErrs.Add(1)
		g.noteError("dial: " + err.Error())
		return
	}
	fd, err := detach(tc)
	if err != nil {
		g.dialErrs.Add(1)
		g.noteError("dial: " + err.Error())
		return
	}
	ch := i % len(g.cfg.names)
	c := &loadConn{g: g, ep: &epConn{fd: fd, epfd: -1, slot: i - g.cfg.first},
		ch: ch, name: []byte(g.cfg.names[ch]), hist: newHist()}
	if len(rest) > 0 {
		var sc frameScanner
		var m msgInfo
		c.consume(rest, time.Now().UnixNano(), &sc, &m)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing.Load() {
		c.ep.close()
		return
	}
	g.conns = append(g.conns, c)
	if c.ep.done {
		return
	}
	if err := g.ep.add(c); err != nil {
		c.epEnd(-1, "epoll: "+err.Error())
	}
}

// consume parses bytes read from the connection at now and handles its
// messages. It returns false when the connection has ended.
func (c *loadConn) consume(b []byte, now int64, sc *frameScanner, m *msgInfo) bool {
	e := c.ep
	e.p.push(b)
	for {
		op, payload, ok := e.p.next()
		if !ok {
			break
		}
		switch op {
		case opText:
			c.handle(sc, m, payload, now)
		case opPing:
			_ = e.write(opPong, payload)
		case opClose:
			code, reason := 1005, []byte(nil) // 1005: no status received
			if len(payload) >= 2 {
				code, reason = int(binary.BigEndian.Uint16(payload)), payload[2:]
			}
			_ = e.write(opClose, payload[:min(len(payload), 2)])
			c.epEnd(code, fmt.Sprintf("closed by the server: status %d %q", code, reason))
			return false
		}
	}
	if err := e.p.err; err != nil {
		c.g.noteError(err.Error())
		c.epEnd(-1, err.Error())
		return false
	}
	return true
}

// epEnd ends an epoll connection: code is the server's close status (-1:
// none), why the cause.
func (c *loadConn) epEnd(code int, why string) {
	e := c.ep
	if e.done {
		return
	}
	c.endCode(code, why)
	c.ended.Store(true)
	if c.g.ep != nil {
		c.g.ep.remove(e)
	}
	e.close()
}
