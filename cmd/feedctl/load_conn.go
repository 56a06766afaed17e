package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/feedd/feedd/channels/protocol"
)

// A group is a set of load connections run by one process: the load
// command's own process, or one worker process when there are more
// connections than one process may open.

// groupConfig says which connections a group opens.
type groupConfig struct {
	wsURL          string
	names          []string // every channel; connection i follows names[i%len]
	first          int      // global index of the group's first connection
	conns          int
	connectRate    float64 // connections per second; 0: no pacing
	dialParallel   int     // dials in flight at most
	connectTimeout time.Duration
	reader         string // "epoll" or "goroutine" (also ""): how connections are read
	readers        int    // epoll: reader goroutines
}

// readyInfo is the state of a group once its connections are open and
// subscribed (or the connect phase gave up).
type readyInfo struct {
	Established     int     `json:"established"`
	Subscribed      int     `json:"subscribed"`
	DialErrors      int     `json:"dial_errors"`
	SubscribeErrors int     `json:"subscribe_errors"`
	FirstError      string  `json:"first_error,omitempty"`
	ConnectSeconds  float64 `json:"connect_seconds"`
}

// groupResult is what a group measured, after the publisher stopped and the
// connections drained.
type groupResult struct {
	readyInfo
	Received     uint64         `json:"received"`
	Duplicates   uint64         `json:"duplicates"`
	Gaps         uint64         `json:"gaps"`    // messages skipped within the stream
	Missing      uint64         `json:"missing"` // messages never received at the end
	Unexpected   uint64         `json:"unexpected"`
	Malformed    uint64         `json:"malformed"`
	Disconnected int            `json:"disconnected"`
	CloseCodes   map[string]int `json:"close_codes,omitempty"`
	SubsPerChan  []int          `json:"subs_per_channel"`
	LastRecvNs   int64          `json:"last_recv_ns"`
	Hist         [][2]uint64    `json:"hist"`
	HistMax      uint64         `json:"hist_max"`

	hist histSum
}

// maxFrame bounds one frame the daemon may send (a batch of queued messages).
const maxFrame = 64 << 20

var (
	pongMsg = []byte(`{"type":"pong"}`)
	// framePool holds read buffers; a connection takes one only while a
	// frame is being read, so idle connections hold none.
	framePool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
)

type group struct {
	cfg    groupConfig
	client *http.Client // goroutine reader: dials through coder/websocket

	// The epoll reader (load_epoll*.go).
	dialer *net.Dialer
	target *wsTarget
	ep     *epollSet
	epErr  error // the epoll readers could not start

	mu      sync.Mutex
	conns   []*loadConn
	firstEr string

	dialErrs   atomic.Int64
	subscribed atomic.Int64
	subErrs    atomic.Int64
	closing    atomic.Bool
	readers    sync.WaitGroup
	connectDur time.Duration
}

// loadConn is one connection. Fields without atomics are touched only by the
// connection's reader goroutine until it has ended (or, with the epoll
// reader, by the one reader goroutine its socket is registered with, until
// the readers stopped).
type loadConn struct {
	g    *group
	ws   *websocket.Conn // the goroutine reader's connection
	ep   *epConn         // or the epoll reader's
	ch   int
	name []byte

	last       atomic.Uint64 // newest offset received (or the subscribed one)
	ready      atomic.Bool   // subscribed
	ended      atomic.Bool   // the reader stopped
	endedEarly bool          // the reader stopped before the group closed it
	closeCode  int

	welcomed   bool
	subscribed bool
	failed     bool
	lastOff    uint64
	received   uint64
	dups       uint64
	gaps       uint64
	unexpected uint64
	malformed  uint64
	lastRecv   int64
	hist       hist
}

func newGroup(cfg groupConfig) *group {
	if cfg.dialParallel <= 0 {
		cfg.dialParallel = 64
	}
	if cfg.connectTimeout <= 0 {
		cfg.connectTimeout = 30 * time.Second
	}
	d := loopbackDialer()
	tr := &http.Transport{
		DialContext:         d.DialContext,
		DisableCompression:  true,
		MaxIdleConnsPerHost: -1,
		ForceAttemptHTTP2:   false,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	g := &group{cfg: cfg, client: &http.Client{Transport: tr}, dialer: d}
	if cfg.reader == "epoll" {
		g.target, g.epErr = newWSTarget(cfg.wsURL)
		if g.epErr == nil {
			g.ep, g.epErr = newEpollSet(cfg.readers, cfg.conns, g.noteError)
		}
	}
	return g
}

// loopbackDialer refuses to connect anywhere but a loopback address, whatever
// a host name resolved to.
func loopbackDialer() *net.Dialer {
	return &net.Dialer{
		Timeout: 10 * time.Second,
		ControlContext: func(_ context.Context, network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip := net.ParseIP(host)
			if ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("refusing to connect to %s: not a loopback address", address)
			}
			return nil
		},
	}
}

func (g *group) noteError(err string) {
	g.mu.Lock()
	if g.firstEr == "" {
		g.firstEr = err
	}
	g.mu.Unlock()
}

// connect opens the group's connections, paced by connectRate, subscribes
// each to its channel and waits until every open connection is subscribed
// (or refused), ctx ends, or connectTimeout passes after the last dial.
func (g *group) connect(ctx context.Context) readyInfo {
	start := time.Now()
	sem := make(chan struct{}, g.cfg.dialParallel)
	var dials sync.WaitGroup
	var tick *time.Ticker
	perTick := 1
	if r := g.cfg.connectRate; r > 0 {
		// Pace in ticks of at least 5 ms.
		iv := time.Duration(float64(time.Second) / r)
		if iv < 5*time.Millisecond {
			perTick = int(r*0.005 + 0.5)
			iv = 5 * time.Millisecond
		}
		tick = time.NewTicker(iv)
		defer tick.Stop()
	}
dialing:
	for i := 0; i < g.cfg.conns; i++ {
		if tick != nil && i > 0 && i%perTick == 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				break dialing
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break dialing
		}
		dials.Add(1)
		go func(i int) {
			defer dials.Done()
			defer func() { <-sem }()
			if g.cfg.reader == "epoll" {
				g.dialEpoll(ctx, g.cfg.first+i)
			} else {
				g.dial(ctx, g.cfg.first+i)
			}
		}(i)
	}
	dials.Wait()
	// Wait for the subscriptions.
	deadline := time.Now().Add(g.cfg.connectTimeout)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if g.settled() {
			break
		}
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	g.connectDur = time.Since(start)
	return g.readyInfo()
}

// settled reports whether every open connection is subscribed or refused.
func (g *group) settled() bool {
	g.mu.Lock()
	n := 0
	for _, c := range g.conns {
		if !c.ended.Load() {
			n++
		}
	}
	g.mu.Unlock()
	return int(g.subscribed.Load()+g.subErrs.Load()) >= n
}

func (g *group) readyInfo() readyInfo {
	g.mu.Lock()
	defer g.mu.Unlock()
	return readyInfo{
		Established:     len(g.conns),
		Subscribed:      int(g.subscribed.Load()),
		DialErrors:      int(g.dialErrs.Load()),
		SubscribeErrors: int(g.subErrs.Load()),
		FirstError:      g.firstEr,
		ConnectSeconds:  g.connectDur.Seconds(),
	}
}

// dial opens connection i and subscribes it.
func (g *group) dial(ctx context.Context, i int) {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, g.cfg.wsURL, &websocket.DialOptions{
		HTTPClient:   g.client,
		Subprotocols: []string{protocol.Subprotocol},
	})
	if err != nil {
		if ctx.Err() != nil {
			return // interrupted: not the daemon's doing
		}
		g.dialErrs.Add(1)
		g.noteError("dial: " + err.Error())
		return
	}
	ws.SetReadLimit(maxFrame)
	ch := i % len(g.cfg.names)
	c := &loadConn{g: g, ws: ws, ch: ch, name: []byte(g.cfg.names[ch]), hist: newHist()}
	g.mu.Lock()
	if g.closing.Load() {
		g.mu.Unlock()
		ws.CloseNow()
		return
	}
	g.conns = append(g.conns, c)
	g.readers.Add(1)
	g.mu.Unlock()
	go c.read()
}

// subscribe asks for the connection's channel. It is sent once the welcome
// has arrived rather than right after the handshake: a frame sent at once
// can race with the server's hijacking of the connection (see the report).
func (c *loadConn) subscribe() {
	sub := `{"type":"subscribe","id":1,"channels":[` + strconv.Quote(string(c.name)) + `]}`
	if err := c.writeText([]byte(sub)); err != nil {
		c.g.noteError("subscribe: " + err.Error())
	}
}

// writeText sends a text message.
func (c *loadConn) writeText(p []byte) error {
	if c.ep != nil {
		return c.ep.write(opText, p)
	}
	return c.ws.Write(context.Background(), websocket.MessageText, p)
}

// read is the connection's reader: it reads each frame into a pooled buffer
// and scans it without decoding.
func (c *loadConn) read() {
	defer c.g.readers.Done()
	defer c.ended.Store(true)
	var sc frameScanner
	var m msgInfo
	for {
		typ, r, err := c.ws.Reader(context.Background())
		if err != nil {
			c.end(err)
			return
		}
		bp := framePool.Get().(*[]byte)
		buf, err := readFrame(r, (*bp)[:0])
		now := time.Now().UnixNano()
		if err != nil {
			*bp = buf[:0]
			framePool.Put(bp)
			c.end(err)
			return
		}
		if typ == websocket.MessageText {
			c.handle(&sc, &m, buf, now)
		}
		if cap(buf) <= 1<<20 {
			*bp = buf[:0]
			framePool.Put(bp)
		}
	}
}

// readFrame reads r to its end into buf, growing it as needed.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (c *loadConn) end(err error) {
	if c.g.closing.Load() {
		return
	}
	c.endCode(int(websocket.CloseStatus(err)), err.Error())
}

// endCode records that the connection ended before the group closed it:
// code is the server's close status (-1: none), why the cause.
func (c *loadConn) endCode(code int, why string) {
	if c.g.closing.Load() {
		return
	}
	c.endedEarly = true
	c.closeCode = code
	if c.subscribed {
		return
	}
	if !c.failed {
		c.failed = true
		c.g.subErrs.Add(1)
		c.g.noteError("connection ended before subscribed: " + why)
	}
}

// handle accounts for one frame received at now (unix nanoseconds).
func (c *loadConn) handle(sc *frameScanner, m *msgInfo, frame []byte, now int64) {
	sc.reset(frame)
	for sc.next(m) {
		switch m.kind {
		case kindUpdate:
			if !c.subscribed || !bytes.Equal(m.channel, c.name) {
				c.unexpected++
				continue
			}
			if m.hasOffset {
				switch last := c.lastOff; {
				case m.offset <= last:
					c.dups++
					continue
				case m.offset > last+1:
					c.gaps += m.offset - last - 1
				}
				c.lastOff = m.offset
				c.last.Store(m.offset)
			}
			c.received++
			c.lastRecv = now
			if m.hasT {
				d := now - m.t
				if d < 0 {
					d = 0
				}
				c.hist.record(uint64(d) / 1000)
			}
		case kindSubscribed:
			if !c.subscribed && !c.failed && bytes.Equal(m.channel, c.name) {
				c.subscribed = true
				c.lastOff = m.offset
				c.last.Store(m.offset)
				c.ready.Store(true)
				c.g.subscribed.Add(1)
			}
		case kindWelcome:
			if !c.welcomed {
				c.welcomed = true
				c.subscribe()
			}
		case kindPing:
			// Rare (every heartbeat interval): answering from the reader
			// is fine.
			_ = c.writeText(pongMsg)
		case kindError:
			if !c.subscribed && !c.failed {
				c.failed = true
				c.g.subErrs.Add(1)
				c.g.noteError("subscribe refused: " + string(m.code))
			} else {
				c.unexpected++
			}
		}
	}
	if sc.bad {
		c.malformed++
	}
}

// drain waits until every subscribed connection has received the final
// offset of its channel, or nothing has arrived for idle, or ctx ends.
func (g *group) drain(ctx context.Context, final []uint64, idle time.Duration) {
	if final == nil {
		return
	}
	g.mu.Lock()
	conns := append([]*loadConn(nil), g.conns...)
	g.mu.Unlock()
	var progress uint64
	lastChange := time.Now()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		done := true
		var sum uint64
		for _, c := range conns {
			if !c.ready.Load() || c.ch >= len(final) {
				continue
			}
			last := c.last.Load()
			sum += last
			if last < final[c.ch] && !c.ended.Load() {
				done = false
			}
		}
		if done {
			return
		}
		if sum != progress {
			progress, lastChange = sum, time.Now()
		} else if time.Since(lastChange) > idle {
			return
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// close closes every connection and waits for the readers. The epoll
// readers stop first, then the sockets close (so no reader reads a socket
// being closed).
func (g *group) close() {
	g.mu.Lock()
	g.closing.Store(true)
	conns := g.conns
	g.mu.Unlock()
	if g.ep != nil {
		g.ep.stop()
	}
	for _, c := range conns {
		switch {
		case c.ws != nil:
			c.ws.CloseNow()
		case c.ep != nil && !c.ep.done:
			c.ep.close()
		}
	}
	g.readers.Wait()
	g.client.CloseIdleConnections()
}

// result closes the group and sums what its connections measured. final
// holds each channel's newest published offset (nil: nothing published).
func (g *group) result(final []uint64) groupResult {
	g.close()
	res := groupResult{readyInfo: g.readyInfo(), SubsPerChan: make([]int, len(g.cfg.names)), hist: newHistSum()}
	for _, c := range g.conns {
		res.Received += c.received
		res.Duplicates += c.dups
		res.Gaps += c.gaps
		res.Unexpected += c.unexpected
		res.Malformed += c.malformed
		res.LastRecvNs = max(res.LastRecvNs, c.lastRecv)
		res.hist.add(&c.hist)
		if c.endedEarly {
			res.Disconnected++
			if res.CloseCodes == nil {
				res.CloseCodes = map[string]int{}
			}
			res.CloseCodes[strconv.Itoa(c.closeCode)]++
		}
		if !c.subscribed {
			continue
		}
		res.SubsPerChan[c.ch]++
		if c.ch < len(final) && final[c.ch] > c.lastOff {
			res.Missing += final[c.ch] - c.lastOff
		}
	}
	res.Hist, res.HistMax = res.hist.sparse(), res.hist.max
	return res
}

// fromJSON restores the histogram of a result read from a worker.
func (r *groupResult) fromJSON() {
	r.hist = newHistSum()
	r.hist.addSparse(r.Hist, r.HistMax)
}

// mustJSON encodes v on one line.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
