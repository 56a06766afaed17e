package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

func TestScanFrame(t *testing.T) {
	type want struct {
		kind    msgKind
		channel string
		offset  string // "": none
		t       int64  // -1: none
		code    string
	}
	for _, tc := range []struct {
		name  string
		frame string
		want  []want
		bad   bool
	}{
		{"single update",
			`{"type":"update","channel":"load:load-0","offset":7,"ts":1700000000000,"data":{"t":1700000000000000001,"p":"xx"}}`,
			[]want{{kindUpdate, "load:load-0", "7", 1700000000000000001, ""}}, false},
		{"array",
			`[{"type":"update","channel":"a:b","offset":1,"data":{"t":5}},{"type":"update","channel":"a:b","offset":2,"data":{"t":6}}]`,
			[]want{{kindUpdate, "a:b", "1", 5, ""}, {kindUpdate, "a:b", "2", 6, ""}}, false},
		{"array with control messages and whitespace",
			" [ {\"type\":\"welcome\",\"session\":\"s\",\"protocol\":1} ,\n {\"type\":\"subscribed\",\"id\":1,\"channel\":\"a:b\",\"epoch\":\"e\",\"offset\":42} , {\"type\":\"ping\",\"ts\":1} ] ",
			[]want{{kindWelcome, "", "", -1, ""}, {kindSubscribed, "a:b", "42", -1, ""}, {kindPing, "", "", -1, ""}}, false},
		{"empty array", `[]`, nil, false},
		{"nested data: only the top-level t and offset count",
			`{"type":"update","data":{"offset":99,"x":{"t":1,"offset":3},"arr":[{"t":2}],"s":"\"t\":3, \"offset\":4","t":77},"channel":"c:d","offset":5}`,
			[]want{{kindUpdate, "c:d", "5", 77, ""}}, false},
		{"data that is not an object",
			`[{"type":"update","channel":"c:d","offset":1,"data":[1,2,{"t":3}]},{"type":"update","channel":"c:d","offset":2,"data":"t"},{"type":"update","channel":"c:d","offset":3,"data":null}]`,
			[]want{{kindUpdate, "c:d", "1", -1, ""}, {kindUpdate, "c:d", "2", -1, ""}, {kindUpdate, "c:d", "3", -1, ""}}, false},
		{"t not a number", `{"type":"update","offset":1,"data":{"t":"soon"}}`, []want{{kindUpdate, "", "1", -1, ""}}, false},
		{"t with fraction and exponent", `{"type":"update","offset":1,"data":{"t":12.5e3}}`, []want{{kindUpdate, "", "1", 12, ""}}, false},
		{"negative offset ignored", `{"type":"update","offset":-3}`, []want{{kindUpdate, "", "", -1, ""}}, false},
		{"big offset", `{"offset":18446744073709551615,"type":"update"}`, []want{{kindUpdate, "", "18446744073709551615", -1, ""}}, false},
		{"offset overflow", `{"offset":18446744073709551616,"type":"update","data":{"t":9223372036854775808}}`, []want{{kindUpdate, "", "", -1, ""}}, false},
		{"negative t", `{"type":"update","data":{"t":-5}}`, []want{{kindUpdate, "", "", -5, ""}}, false},
		{"error", `{"type":"error","id":"x","channel":"a:b","code":"forbidden","message":"no \"way\""}`,
			[]want{{kindError, "a:b", "", -1, "forbidden"}}, false},
		{"escaped channel kept raw", `{"type":"update","channel":"a:\"b\\","offset":1}`, []want{{kindUpdate, `a:\"b\\`, "1", -1, ""}}, false},
		{"unknown type", `{"type":"hello","offset":3}`, []want{{kindOther, "", "3", -1, ""}}, false},
		{"type not a string", `{"type":5,"offset":3}`, []want{{kindOther, "", "3", -1, ""}}, false},
		{"truncated", `[{"type":"update","offset":1},{"type":"upd`, []want{{kindUpdate, "", "1", -1, ""}}, true},
		{"missing comma", `[{"type":"update"} {"type":"update"}]`, []want{{kindUpdate, "", "", -1, ""}}, true},
		{"not json", `hello`, nil, true},
		{"empty", ``, nil, true},
		{"trailing garbage after one object is ignored", `{"type":"pong"}xyz`, []want{{kindPong, "", "", -1, ""}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sc frameScanner
			var m msgInfo
			sc.reset([]byte(tc.frame))
			var got []want
			for sc.next(&m) {
				w := want{m.kind, string(m.channel), "", -1, string(m.code)}
				if m.hasOffset {
					w.offset = fmt.Sprint(m.offset)
				}
				if m.hasT {
					w.t = m.t
				}
				got = append(got, w)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || sc.bad != tc.bad {
				t.Errorf("got %v (bad %v)\nwant %v (bad %v)", got, sc.bad, tc.want, tc.bad)
			}
			if sc.next(&m) {
				t.Error("next after the end returned true")
			}
		})
	}
}

func FuzzScanFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"update","channel":"load:load-0","offset":7,"ts":1,"data":{"t":1700000000000000001,"p":"xx"}}`,
		`[{"type":"update","channel":"a:b","offset":1,"data":{"t":5}},{"type":"ping","ts":1}]`,
		`{"type":"error","code":"x","message":"\"\\"}`,
		`[{"a":[{"b":{}}],"data":{"t":-1}}]`,
		`[`, `{`, `"`, `{"data":{"t":`, `[{"offset":1}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var sc frameScanner
		var m msgInfo
		sc.reset(b)
		n := 0
		for sc.next(&m) {
			n++
			if n > len(b) {
				t.Fatalf("more messages (%d) than bytes (%d)", n, len(b))
			}
			if len(m.channel) > len(b) {
				t.Fatal("channel longer than the frame")
			}
		}
		if sc.i > len(b) {
			t.Fatalf("scanner ran past the end: %d > %d", sc.i, len(b))
		}
	})
}

func TestHistIndexRange(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 63, 127, 128, 129, 255, 256, 1000, 4095, 4096, 123456, 1 << 20, histMaxValue} {
		i := histIndex(v)
		lo, hi := histRange(i)
		if v < lo || v > hi {
			t.Errorf("value %d in bucket %d of range [%d, %d]", v, i, lo, hi)
		}
		if i < prev {
			t.Errorf("bucket of %d (%d) below the previous one (%d)", v, i, prev)
		}
		prev = i
		if v >= histSub && float64(hi-lo+1)/float64(lo) > 1.0/64+1e-9 {
			t.Errorf("bucket %d [%d, %d] wider than 1/64 of its value", i, lo, hi)
		}
	}
	// Buckets tile the range with no gap.
	for i := 1; i < histBuckets; i++ {
		_, phi := histRange(i - 1)
		lo, _ := histRange(i)
		if lo != phi+1 {
			t.Fatalf("bucket %d starts at %d, the previous ends at %d", i, lo, phi)
		}
	}
	if _, hi := histRange(histBuckets - 1); hi < histMaxValue {
		t.Errorf("last bucket ends at %d", hi)
	}
}

func TestHistQuantiles(t *testing.T) {
	h := newHist()
	for v := uint64(1); v <= 100; v++ {
		h.record(v)
	}
	s := newHistSum()
	s.add(&h)
	for q, want := range map[float64]uint64{0.5: 50, 0.9: 90, 0.99: 99, 1: 100, 0.001: 1, 0.29: 29} {
		if got := s.quantile(q); got != want {
			t.Errorf("q%g = %d, want %d", q, got, want)
		}
	}
	if s.max != 100 || s.n != 100 {
		t.Errorf("max %d n %d", s.max, s.n)
	}

	// Large values: exact at bucket bounds, and never above the max.
	h2 := newHist()
	for i := 0; i < 90; i++ {
		h2.record(1000) // bucket [1000, 1007]
	}
	for i := 0; i < 9; i++ {
		h2.record(50_000)
	}
	h2.record(120_000_000) // capped at 60 s
	s2 := newHistSum()
	s2.add(&h2)
	lo, hi := histRange(histIndex(50_000))
	if got := s2.quantile(0.5); got != 1007 {
		t.Errorf("p50 = %d, want 1007 (the top of the bucket of 1000)", got)
	}
	if got := s2.quantile(0.99); got < lo || got > hi || got < 50_000 {
		t.Errorf("p99 = %d, want within [%d, %d] and at least 50000", got, lo, hi)
	}
	if got := s2.quantile(1); got != histMaxValue || s2.max != histMaxValue {
		t.Errorf("p100 = %d, max %d, want %d", got, s2.max, histMaxValue)
	}

	// Merging and the sparse form for workers.
	s3 := newHistSum()
	s3.merge(&s)
	back := newHistSum()
	back.addSparse(s3.sparse(), s3.max)
	back.addSparse([][2]uint64{{1 << 40, 5}}, 0) // out of range: ignored
	if back.n != 100 || back.quantile(0.9) != 90 || back.max != 100 {
		t.Errorf("round trip: n %d p90 %d max %d", back.n, back.quantile(0.9), back.max)
	}
	empty := newHistSum()
	if empty.quantile(0.5) != 0 {
		t.Error("empty quantile")
	}
}

// TestHandleNoAlloc checks the reader's steady state: scanning a frame and
// accounting for its messages allocates nothing.
func TestHandleNoAlloc(t *testing.T) {
	c := &loadConn{g: &group{}, name: []byte("load:load-0"), subscribed: true, hist: newHist()}
	frame := benchFrame(20)
	var sc frameScanner
	var m msgInfo
	off := uint64(0)
	allocs := testing.AllocsPerRun(200, func() {
		c.lastOff = off
		c.handle(&sc, &m, frame, time.Now().UnixNano())
	})
	if allocs != 0 {
		t.Errorf("handle allocates %.1f times per frame", allocs)
	}
	if c.received == 0 || c.dups != 0 || c.gaps != 0 || c.hist.n != c.received {
		t.Errorf("received %d dups %d gaps %d hist %d", c.received, c.dups, c.gaps, c.hist.n)
	}
}

func benchFrame(n int) []byte {
	var b bytes.Buffer
	now := time.Now().UnixNano()
	if n > 1 {
		b.WriteByte('[')
	}
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"update","channel":"load:load-0","offset":%d,"ts":%d,"data":{"t":%d,"p":"%s"}}`,
			i, now/1e6, now, strings.Repeat("x", 70))
	}
	if n > 1 {
		b.WriteByte(']')
	}
	return b.Bytes()
}

func BenchmarkScanFrame(b *testing.B) {
	for _, n := range []int{1, 20} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			frame := benchFrame(n)
			c := &loadConn{g: &group{}, name: []byte("load:load-0"), subscribed: true, hist: newHist()}
			var sc frameScanner
			var m msgInfo
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				c.lastOff = 0
				c.handle(&sc, &m, frame, time.Now().UnixNano())
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	stat := []byte("1234 (feedd (x) y) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 8 0 100 1000000 2000 18446744073709551615\n")
	got, err := parseStatCPU(stat)
	if err != nil || got != 4.0 {
		t.Errorf("parseStatCPU = %v, %v; want 4", got, err)
	}
	if _, err := parseStatCPU([]byte("1 (x) S 1 2")); err == nil {
		t.Error("short stat: no error")
	}
	s, err := readProc(os.Getpid())
	if err != nil || s.RSSKiB == 0 {
		t.Errorf("readProc(self) = %+v, %v", s, err)
	}
	if _, err := readProc(1 << 30); err == nil {
		t.Error("readProc of no process: no error")
	}
}

func TestCheckLoopback(t *testing.T) {
	for host, ok := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3": true, "[::1]:80": true, "localhost:1": true, "LOCALHOST": true,
		"10.0.0.1:80": false, "example.com": false, "[::]:80": false, "0.0.0.0:80": false, "": false,
	} {
		err := checkLoopback(&url.URL{Scheme: "ws", Host: host})
		if (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v", host, err)
		}
	}
}

func TestLoadFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--url", "ws://10.1.2.3:8080/ws", "--key", testKey}, "not a loopback address"},
		{[]string{"--url", "ws://example.com/ws", "--key", testKey}, "not a loopback address"},
		{[]string{"--api", "http://192.168.1.1:80", "--key", testKey}, "--api: host"},
		{[]string{"--url", "wss://127.0.0.1/ws", "--key", testKey}, "want ws://"},
		{[]string{"--duration", "6m", "--key", testKey}, "at most 5m0s"},
		{[]string{"--conns", "0", "--key", testKey}, "--conns 0"},
		{[]string{"--idle"}, "give its --pid"},
		{[]string{"--key", ""}, "needs an API key"},
		{[]string{"--pid", "1073741824", "--key", testKey}, "--pid 1073741824"},
	} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"load"}, tc.args...), &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.err) {
			t.Errorf("load %q = %d, %s; want 2 and %q", tc.args, code, errb.String(), tc.err)
		}
	}
}

func runLoadJSON(t *testing.T, args ...string) (loadReport, int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"load", "--json"}, args...), &out, &errb)
	var rep loadReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("exit %d, output is not a JSON report: %v\nstdout: %s\nstderr: %s", code, err, out.String(), errb.String())
	}
	return rep, code, errb.String()
}

func checkDelivered(t *testing.T, rep loadReport, conns, pubs int) {
	t.Helper()
	if rep.Established != conns || rep.Subscribed != conns {
		t.Errorf("established %d subscribed %d, want %d; first error %q, closed %v", rep.Established, rep.Subscribed, conns, rep.FirstError, rep.CloseCodes)
	}
	if rep.Publications != uint64(pubs) || rep.PublishErrors != 0 {
		t.Errorf("publications %d (errors %d, %s), want %d", rep.Publications, rep.PublishErrors, rep.PublishError, pubs)
	}
	// Connections are spread evenly, so every channel has conns/C subscribers.
	want := uint64(pubs) * uint64(conns/rep.Channels)
	if rep.Expected != want || rep.Received != want || rep.Lost != 0 || rep.Duplicates != 0 || rep.Disconnected != 0 {
		t.Errorf("expected %d received %d lost %d dups %d disconnected %d; want %d each and nothing lost",
			rep.Expected, rep.Received, rep.Lost, rep.Duplicates, rep.Disconnected, want)
	}
	if rep.Latency.N != rep.Received || rep.Latency.P50 <= 0 || rep.Latency.P99 < rep.Latency.P50 || rep.Latency.Max < rep.Latency.P99 {
		t.Errorf("latency %+v", rep.Latency)
	}
	if rep.GeneratorCPU <= 0 {
		t.Errorf("generator CPU %v", rep.GeneratorCPU)
	}
}

func TestLoadEndToEnd(t *testing.T) {
	d := newTestDaemon(t)
	rep, code, stderr := runLoadJSON(t, "--url", d.ws, "--key", testKey, "--conns", "20", "--channels", "2",
		"--rate", "200", "--duration", "1s", "--size", "64", "--pid", fmt.Sprint(os.Getpid()))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// 200/s to each of 2 channels for 1 s.
	checkDelivered(t, rep, 20, 400)
	if rep.Processes != 1 || rep.DurationSeconds < 0.99 || rep.PublishRate < 300 || rep.DeliveriesPerSec <= 0 {
		t.Errorf("processes %d duration %v rate %v deliveries/s %v", rep.Processes, rep.DurationSeconds, rep.PublishRate, rep.DeliveriesPerSec)
	}
	if rep.Daemon == nil || rep.Daemon.RSSBeforeKiB == 0 || rep.Daemon.RSSAfterKiB == 0 || rep.Daemon.CPUSeconds <= 0 || rep.Daemon.CPUMicrosPerDeliv <= 0 {
		t.Errorf("daemon figures: %+v", rep.Daemon)
	}
}

func TestLoadTextReport(t *testing.T) {
	d := newTestDaemon(t)
	var out, errb bytes.Buffer
	code := run([]string{"load", "--url", d.ws, "--key", testKey, "--conns", "3", "--rate", "0", "--duration", "300ms", "--batch", "10"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, s := range []string{"3 connections in 1 process", "subscribed 3", "as fast as possible", "lost 0, duplicates 0", "latency ms    p50", "generator CPU"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report lacks %q:\n%s", s, out.String())
		}
	}
}

// TestLoadWorkers runs the connections in worker processes (this test
// binary, run again as feedctl).
func TestLoadWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	d := newTestDaemon(t)
	rep, code, stderr := runLoadJSON(t, "--url", d.ws, "--key", testKey, "--conns", "21", "--channels", "3",
		"--rate", "50", "--duration", "600ms", "--max-conns-per-process", "10")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if rep.Processes != 3 {
		t.Errorf("processes %d, want 3", rep.Processes)
	}
	checkDelivered(t, rep, 21, 90)
	if rep.GeneratorCPUChild <= 0 {
		t.Errorf("workers' CPU %v", rep.GeneratorCPUChild)
	}
}

func TestLoadIdle(t *testing.T) {
	d := newTestDaemon(t)
	rep, code, stderr := runLoadJSON(t, "--url", d.ws, "--idle", "--conns", "10", "--settle", "50ms", "--pid", fmt.Sprint(os.Getpid()))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if rep.Mode != "idle" || rep.Subscribed != 10 || rep.Publications != 0 || rep.Received != 0 {
		t.Errorf("idle report: %+v", rep)
	}
	if rep.Daemon == nil || rep.Daemon.RSSConnectedKiB == 0 {
		t.Errorf("daemon figures: %+v", rep.Daemon)
	}
}

func TestLoadRefused(t *testing.T) {
	d := newTestDaemon(t)
	// A wrong key stops publishing at once and says why.
	rep, code, stderr := runLoadJSON(t, "--url", d.ws, "--key", "wrong-key-wrong-key", "--conns", "2", "--duration", "5s")
	if code != 1 || !strings.Contains(stderr, "401") || !strings.Contains(rep.PublishError, "missing or invalid API key") || rep.DurationSeconds > 3 {
		t.Errorf("wrong key: exit %d, duration %v, %q, stderr %s", code, rep.DurationSeconds, rep.PublishError, stderr)
	}
	// A namespace the daemon does not know: subscriptions are refused.
	rep, code, stderr = runLoadJSON(t, "--url", d.ws, "--key", testKey, "--ns", "nope", "--conns", "2", "--duration", "1s")
	if code != 1 || rep.SubscribeErrors != 2 || !strings.Contains(rep.FirstError, "bad_channel") {
		t.Errorf("unknown namespace: exit %d, %+v, stderr %s", code, rep, stderr)
	}
	// Nothing listening.
	rep, code, _ = runLoadJSON(t, "--url", "ws://127.0.0.1:1/ws", "--key", testKey, "--conns", "2", "--duration", "1s")
	if code != 1 || rep.DialErrors != 2 {
		t.Errorf("no daemon: exit %d, %+v", code, rep)
	}
}
