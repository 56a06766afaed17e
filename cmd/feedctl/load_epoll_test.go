package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// serverFrame appends a server frame (unmasked). lenBytes forces the
// length encoding: 0 the shortest, 2 the 16-bit one, 8 the 64-bit one.
func serverFrame(dst []byte, fin bool, op byte, payload []byte, lenBytes int) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	n := len(payload)
	if lenBytes == 0 {
		switch {
		case n > 0xffff:
			lenBytes = 8
		case n > 125:
			lenBytes = 2
		}
	}
	switch lenBytes {
	case 2:
		dst = append(dst, b0, 126, byte(n>>8), byte(n))
	case 8:
		dst = append(dst, b0, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	default:
		dst = append(dst, b0, byte(n))
	}
	return append(dst, payload...)
}

type parsed struct {
	op      byte
	payload string
}

// parseChunks feeds stream to a parser in chunks of the given sizes (the
// last chunk takes the rest) and returns the messages and the error.
func parseChunks(p *wsParser, stream []byte, sizes ...int) ([]parsed, error) {
	var out []parsed
	drain := func() {
		for {
			op, payload, ok := p.next()
			if !ok {
				return
			}
			out = append(out, parsed{op, string(payload)})
		}
	}
	for _, n := range sizes {
		n = min(n, len(stream))
		p.push(stream[:n])
		drain()
		stream = stream[n:]
	}
	p.push(stream)
	drain()
	return out, p.err
}

func wsTestStream() ([]byte, []parsed) {
	long := strings.Repeat("0123456789", 30) // 300 bytes: a 16-bit length
	var s []byte
	s = serverFrame(s, true, opText, []byte(`{"type":"welcome"}`), 0)
	s = serverFrame(s, true, opText, []byte(long), 0)
	s = serverFrame(s, true, opText, []byte("64-bit len"), 8) // not minimal, but valid to read
	s = serverFrame(s, true, opText, []byte("16-bit len"), 2)
	s = serverFrame(s, true, opPing, []byte("p1"), 0)
	s = serverFrame(s, false, opText, []byte("ab"), 0)
	s = serverFrame(s, true, opPing, nil, 0) // between fragments
	s = serverFrame(s, false, opContinuation, []byte("cd"), 2)
	s = serverFrame(s, true, opContinuation, []byte("ef"), 0)
	s = serverFrame(s, true, opBinary, []byte{0, 1, 2}, 0)
	s = serverFrame(s, true, opText, nil, 0)
	s = serverFrame(s, true, opPong, []byte("x"), 0)
	s = serverFrame(s, false, opText, nil, 0) // empty fragments
	s = serverFrame(s, true, opContinuation, nil, 8)
	s = serverFrame(s, true, opClose, []byte{0x03, 0xe9, 'b', 'y', 'e'}, 0)
	want := []parsed{
		{opText, `{"type":"welcome"}`}, {opText, long}, {opText, "64-bit len"}, {opText, "16-bit len"},
		{opPing, "p1"}, {opPing, ""}, {opText, "abcdef"}, {opBinary, "\x00\x01\x02"}, {opText, ""},
		{opPong, "x"}, {opText, ""}, {opClose, "\x03\xe9bye"},
	}
	return s, want
}

func TestWSParserSplits(t *testing.T) {
	stream, want := wsTestStream()
	check := func(what string, got []parsed, err error, p *wsParser) {
		t.Helper()
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: got %q, %v\nwant %q", what, got, err, want)
		}
		if p.carry != nil || p.fragging || len(p.in) != 0 {
			t.Fatalf("%s: parser holds state after whole frames: carry %v fragging %v in %d", what, p.carry != nil, p.fragging, len(p.in))
		}
	}
	var p wsParser
	got, err := parseChunks(&p, stream)
	check("whole", got, err, &p)
	// Split at every byte boundary, into two and into three.
	for i := 0; i <= len(stream); i++ {
		var p wsParser
		got, err := parseChunks(&p, stream, i)
		check(fmt.Sprintf("split at %d", i), got, err, &p)
		for j := i; j <= len(stream); j += 7 {
			var p wsParser
			got, err := parseChunks(&p, stream, i, j-i)
			check(fmt.Sprintf("split at %d and %d", i, j), got, err, &p)
		}
	}
	// A byte at a time, and random chunks.
	ones := make([]int, len(stream))
	for i := range ones {
		ones[i] = 1
	}
	p = wsParser{}
	got, err = parseChunks(&p, stream, ones...)
	check("bytewise", got, err, &p)
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var sizes []int
		for n := 0; n < len(stream); {
			k := r.IntN(40)
			sizes = append(sizes, k)
			n += k
		}
		var p wsParser
		got, err := parseChunks(&p, stream, sizes...)
		check(fmt.Sprint("chunks ", sizes), got, err, &p)
	}
}

// TestWSParserLarge: a 64-bit length, and a frame larger than the reader's
// buffer arriving in pieces.
func TestWSParserLarge(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 70_000)
	big[0], big[len(big)-1] = 'a', 'z'
	var stream []byte
	stream = serverFrame(stream, true, opText, []byte("before"), 0)
	stream = serverFrame(stream, true, opText, big, 0)
	if stream[9] != 127 {
		t.Fatal("not a 64-bit length")
	}
	stream = serverFrame(stream, true, opText, []byte("after"), 0)
	want := fmt.Sprint([]parsed{{opText, "before"}, {opText, string(big)}, {opText, "after"}})
	cuts := []int{0, 1, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 100, 4096, 65_536, len(stream) - 8, len(stream) - 7, len(stream) - 6, len(stream) - 1}
	for _, a := range cuts {
		for _, b := range cuts {
			if b < a {
				continue
			}
			var p wsParser
			got, err := parseChunks(&p, stream, a, b-a)
			if err != nil || fmt.Sprint(got) != want {
				t.Fatalf("cuts %d, %d: %d messages, %v", a, b, len(got), err)
			}
		}
	}
	var p wsParser
	for _, chunk := range []int{1, 1000, 60_000} {
		sizes := make([]int, len(stream)/chunk+1)
		for i := range sizes {
			sizes[i] = chunk
		}
		got, err := parseChunks(&p, stream, sizes...)
		if err != nil || fmt.Sprint(got) != want {
			t.Fatalf("chunks of %d: %d messages, %v", chunk, len(got), err)
		}
	}
	// Over the limit.
	p = wsParser{limit: 69_999}
	got, err := parseChunks(&p, stream, 3)
	if err == nil || len(got) != 1 || !strings.Contains(err.Error(), "more than 69999") {
		t.Errorf("over the limit: %d messages, %v", len(got), err)
	}
}

func TestWSParserErrors(t *testing.T) {
	ok := serverFrame(nil, true, opText, []byte("ok"), 0)
	for _, tc := range []struct {
		name  string
		frame []byte
		err   string
	}{
		{"masked", []byte{0x81, 0x82, 1, 2, 3, 4, 'a', 'b'}, "masked frame"},
		{"reserved bits", []byte{0xc1, 0x00}, "reserved bits"},
		{"reserved opcode", []byte{0x83, 0x00}, "reserved opcode"},
		{"reserved control opcode", []byte{0x8b, 0x00}, "reserved opcode"},
		{"fragmented ping", []byte{0x09, 0x00}, "control frame"},
		{"long close", serverFrame(nil, true, opClose, make([]byte, 126), 0), "control frame"},
		{"continuation first", serverFrame(nil, true, opContinuation, []byte("x"), 0), "continuation frame without"},
		{"text inside fragments", append(serverFrame(nil, false, opText, []byte("a"), 0), ok...), "inside a fragmented message"},
		{"huge length", []byte{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}, "more than"},
		{"too long", []byte{0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 0}, "more than"},
	} {
		stream := append(append([]byte(nil), ok...), tc.frame...)
		stream = append(stream, ok...)
		for i := 0; i <= len(stream); i++ {
			var p wsParser
			got, err := parseChunks(&p, stream, i)
			if err == nil || !strings.Contains(err.Error(), tc.err) || len(got) != 1 {
				t.Errorf("%s, split at %d: %q, %v; want the first message and %q", tc.name, i, got, err, tc.err)
				break
			}
			if p.carry != nil || p.frag != nil {
				t.Errorf("%s: buffers held after the error", tc.name)
			}
			// Dead after an error.
			p.push(ok)
			if _, _, more := p.next(); more {
				t.Errorf("%s: a message after the error", tc.name)
			}
		}
	}
}

// TestWSParserNoAlloc: whole frames are returned in place.
func TestWSParserNoAlloc(t *testing.T) {
	var stream []byte
	for i := 0; i < 20; i++ {
		stream = serverFrame(stream, true, opText, benchFrame(1), 0)
	}
	var p wsParser
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		p.push(stream)
		for {
			_, _, ok := p.next()
			if !ok {
				break
			}
			n++
		}
	})
	if allocs != 0 || n != 20*101 || p.err != nil {
		t.Errorf("%.1f allocations per read, %d messages, %v", allocs, n, p.err)
	}
}

func FuzzWSParser(f *testing.F) {
	stream, _ := wsTestStream()
	f.Add(stream, []byte{3, 1, 4, 1, 5, 9})
	f.Add([]byte{0x81, 127, 0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c'}, []byte{1})
	f.Add([]byte{0x01, 1, 'a', 0x89, 0, 0x80, 1, 'b'}, []byte{2, 0})
	f.Add([]byte{0x81, 126, 0, 200}, []byte{})
	f.Fuzz(func(t *testing.T, stream, cuts []byte) {
		// The same messages and error, whole or in chunks.
		whole := wsParser{limit: 1 << 16}
		want, werr := parseChunks(&whole, stream)
		var sizes []int
		for n, i := 0, 0; n < len(stream) && len(cuts) > 0 && i < 2*len(stream)+8; i++ {
			k := int(cuts[i%len(cuts)] % 19)
			sizes = append(sizes, k)
			n += k
		}
		p := wsParser{limit: 1 << 16}
		got, err := parseChunks(&p, stream, sizes...)
		if fmt.Sprint(got) != fmt.Sprint(want) || (err == nil) != (werr == nil) {
			t.Fatalf("chunks %v: %q, %v\nwhole: %q, %v", sizes, got, err, want, werr)
		}
		for _, m := range got {
			if len(m.payload) > 1<<16 || m.op > opPong || m.op >= 3 && m.op < opClose {
				t.Fatalf("bad message %d bytes, op %#x", len(m.payload), m.op)
			}
		}
	})
}

func TestClientFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65_535, 65_536} {
		payload := bytes.Repeat([]byte("m"), n)
		f := appendClientFrame(nil, opText, payload)
		op, got, err := readClientFrame(bufio.NewReader(bytes.NewReader(f)))
		if err != nil || op != opText || !bytes.Equal(got, payload) {
			t.Errorf("%d bytes: op %#x, %d bytes, %v", n, op, len(got), err)
		}
	}
}

// readClientFrame reads one final masked frame, as a server would.
func readClientFrame(r *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 || h[0]&0x70 != 0 || h[1]&0x80 == 0 {
		return 0, nil, fmt.Errorf("header %x: want a final, masked frame", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	var key [4]byte
	if _, err := io.ReadFull(r, key[:]); err != nil {
		return 0, nil, err
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	for i := range p {
		p[i] ^= key[i&3]
	}
	return h[0] & 0x0f, p, nil
}

// fakeServer accepts one connection on 127.0.0.1 and runs serve on it.
func fakeServer(t *testing.T, serve func(c net.Conn, r *bufio.Reader, req *http.Request) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		req, err := http.ReadRequest(r)
		if err != nil {
			done <- err
			return
		}
		done <- serve(c, r, req)
	}()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("fake server: %v", err)
		}
	})
	return "ws://" + ln.Addr().String() + "/ws"
}

func upgradeResponse(req *http.Request) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + wsAccept(req.Header.Get("Sec-WebSocket-Key")) + "\r\n" +
		"Sec-WebSocket-Protocol: feedd.v1\r\n\r\n"
}

func TestDialWSRefused(t *testing.T) {
	for _, tc := range []struct {
		name, resp, err string
	}{
		{"status", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 21\r\n\r\ntoo many connections\n", "got 503 Service Unavailable: too many connections"},
		{"accept", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: nope\r\n\r\n", "wrong Sec-WebSocket-Accept"},
		{"extension", "", "extensions"},
		{"eof", "HTTP/1.1 101 Switch", "reading the response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := fakeServer(t, func(c net.Conn, _ *bufio.Reader, req *http.Request) error {
				resp := tc.resp
				if resp == "" {
					resp = strings.Replace(upgradeResponse(req), "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 1)
				}
				_, err := io.WriteString(c, resp)
				return err
			})
			target, err := newWSTarget(u)
			if err != nil {
				t.Fatal(err)
			}
			tc2, _, err := dialWS(context.Background(), loopbackDialer(), target)
			if err == nil {
				tc2.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("dialWS: %v; want %q", err, tc.err)
			}
		})
	}
	// Refused before connecting: not a loopback address.
	if _, _, err := dialWS(context.Background(), loopbackDialer(), &wsTarget{addr: "192.0.2.1:80"}); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("non-loopback: %v", err)
	}
	// Interrupted handshake.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, _, err := dialWS(ctx, loopbackDialer(), &wsTarget{addr: ln.Addr().String(), host: "x", uri: "/"}); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("silent server: %v after %v", err, time.Since(start))
	}
}

// TestEpollConnFake runs the epoll reader against a fake server that sends
// the welcome with its handshake response, frames split across writes, a
// ping control frame, a fragmented update and finally a close frame.
func TestEpollConnFake(t *testing.T) {
	if !epollSupported {
		t.Skip("no epoll")
	}
	update := func(off int) []byte {
		return fmt.Appendf(nil, `{"type":"update","channel":"load:load-0","offset":%d,"data":{"t":%d}}`, off, time.Now().UnixNano())
	}
	u := fakeServer(t, func(c net.Conn, r *bufio.Reader, req *http.Request) error {
		if req.Header.Get("Sec-WebSocket-Extensions") != "" || req.Header.Get("Sec-WebSocket-Version") != "13" ||
			req.Header.Get("Sec-WebSocket-Protocol") != "feedd.v1" || !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
			return fmt.Errorf("request headers %v", req.Header)
		}
		out := []byte(upgradeResponse(req))
		out = serverFrame(out, true, opText, []byte(`{"type":"welcome","session":"s","protocol":1}`), 0)
		out = serverFrame(out, true, opPing, []byte("hb"), 0)
		if _, err := c.Write(out); err != nil {
			return err
		}
		// The subscription and the pong, in either order.
		var sub, pong []byte
		for sub == nil || pong == nil {
			op, p, err := readClientFrame(r)
			if err != nil {
				return err
			}
			switch op {
			case opText:
				sub = p
			case opPong:
				pong = p
			}
		}
		if string(sub) != `{"type":"subscribe","id":1,"channels":["load:load-0"]}` || string(pong) != "hb" {
			return fmt.Errorf("subscribe %q, pong %q", sub, pong)
		}
		var rest []byte
		rest = serverFrame(rest, true, opText, []byte(`{"type":"subscribed","id":1,"channel":"load:load-0","offset":0}`), 0)
		rest = serverFrame(rest, true, opText, update(1), 0)
		u2 := update(2)
		rest = serverFrame(rest, false, opText, u2[:10], 0)
		rest = serverFrame(rest, true, opPing, nil, 0)
		rest = serverFrame(rest, true, opContinuation, u2[10:], 0)
		big := []byte("[" + string(update(3)) + "," + string(update(4)) + "]")
		rest = serverFrame(rest, true, opText, big, 8)
		rest = serverFrame(rest, true, opClose, []byte{0x03, 0xe9, 'b', 'y', 'e'}, 0)
		for i := 0; i < len(rest); i += 7 {
			if _, err := c.Write(rest[i:min(i+7, len(rest))]); err != nil {
				return err
			}
			time.Sleep(time.Millisecond)
		}
		// The close frame comes back, then the end of the stream.
		for {
			op, p, err := readClientFrame(r)
			if err != nil {
				return err
			}
			if op == opClose {
				if !bytes.Equal(p, []byte{0x03, 0xe9}) {
					return fmt.Errorf("close echo %x", p)
				}
				break
			}
		}
		if _, err := r.ReadByte(); err != io.EOF {
			return fmt.Errorf("after the close: %v", err)
		}
		return nil
	})
	g := newGroup(groupConfig{wsURL: u, names: []string{"load:load-0"}, conns: 1, reader: "epoll", readers: 1})
	ri := g.connect(context.Background())
	if ri.Established != 1 || ri.Subscribed != 1 || ri.FirstError != "" {
		t.Fatalf("ready %+v", ri)
	}
	g.drain(context.Background(), []uint64{4}, 5*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for !g.conns[0].ended.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	res := g.result([]uint64{4})
	if res.Received != 4 || res.Missing != 0 || res.Gaps != 0 || res.Malformed != 0 || res.Disconnected != 1 || res.CloseCodes["1001"] != 1 {
		t.Errorf("result %+v", res)
	}
}

func TestLoadEndToEndReaders(t *testing.T) {
	for _, args := range [][]string{{"--reader", "goroutine"}, {"--reader", "epoll", "--readers", "2"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if args[1] == "epoll" && !epollSupported {
				t.Skip("no epoll")
			}
			d := newTestDaemon(t)
			rep, code, stderr := runLoadJSON(t, append([]string{"--url", d.ws, "--key", testKey, "--conns", "20", "--channels", "2",
				"--rate", "200", "--duration", "1s", "--size", "64", "--pid", fmt.Sprint(os.Getpid())}, args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			checkDelivered(t, rep, 20, 400)
		})
	}
}

func TestLoadReaderFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--reader", "poll", "--key", testKey}, `--reader "poll"`},
		{[]string{"--readers", "0", "--key", testKey}, "--readers 0"},
	} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"load"}, tc.args...), &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.err) {
			t.Errorf("load %q = %d, %s; want 2 and %q", tc.args, code, errb.String(), tc.err)
		}
	}
}
