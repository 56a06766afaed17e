package channels

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// discardConn counts what a session writes, standing in for the socket so
// that the benchmark measures the hub alone.
type discardConn struct {
	frames, bytes atomic.Int64
	wg            *sync.WaitGroup
}

func (d *discardConn) Write(_ context.Context, _ websocket.MessageType, p []byte) error {
	d.frames.Add(1)
	d.bytes.Add(int64(len(p)))
	return nil
}
func (d *discardConn) Close(websocket.StatusCode, string) error { return nil }
func (d *discardConn) CloseNow() error                          { return nil }

func BenchmarkEncodeUpdate(b *testing.B) {
	p := &Publication{Channel: "prices:ETH-USD", Offset: 123456, Time: time.Now(), Data: json.RawMessage(`{"symbol":"ETH-USD","price":3012.55,"ts":1732240000123}`)}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = appendUpdate(buf[:0], p.Channel, p)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkFanout publishes to one channel with subs subscribers on
// discarding connections; ns/op is per publication, and the reported
// ns/delivery is the hub's cost of one message to one connection.
func BenchmarkFanout(b *testing.B) {
	for _, subs := range []int{100, 1000, 10000} {
		for _, ns := range []string{"prices", "ops"} {
			b.Run(fmt.Sprintf("subs=%d/%s", subs, ns), func(b *testing.B) { benchFanout(b, subs, ns, nil) })
		}
	}
}

// BenchmarkFanoutTracing compares fan-out with tracing off and with an SDK
// tracer sampling 1 % of publications (issue target: within 5 % of off).
func BenchmarkFanoutTracing(b *testing.B) {
	b.Run("off", func(b *testing.B) { benchFanout(b, 1000, "ops", nil) })
	b.Run("ratio=0.01", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))),
			sdktrace.WithBatcher(tracetest.NewInMemoryExporter()),
		)
		defer tp.Shutdown(context.Background())
		benchFanout(b, 1000, "ops", tp.Tracer("bench"))
	})
}

// benchFanout publishes b.N times to ns:bench with subs subscribers on
// discarding connections.
func benchFanout(b *testing.B, subs int, ns string, tracer trace.Tracer) {
	hub, err := NewHub(HubOptions{Namespaces: testNamespaces(), Logger: slog.New(slog.DiscardHandler), MaxQueue: 1 << 16, Tracer: tracer})
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	srv := NewServer(hub, ServerOptions{})
	conns := make([]*discardConn, subs)
	ctx := context.Background()
	for i := range conns {
		conns[i] = &discardConn{}
		s := &session{hub: hub, srv: srv, conn: conns[i], done: make(chan struct{}), subs: map[string]*subscription{}}
		hub.addSession(s)
		s.subscribe(ctx, nil, ns+":bench", nil)
	}
	// Wait for the subscribed replies to be written.
	waitFrames := func(want int64) {
		for {
			var got int64
			for _, c := range conns {
				got += c.frames.Load()
			}
			if got >= want {
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	waitFrames(int64(subs))
	data := json.RawMessage(`{"symbol":"ETH-USD","price":3012.55,"ts":1732240000123}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := hub.Publish(ctx, ns+":bench", data, nil); err != nil {
			b.Fatal(err)
		}
	}
	// Let the writers drain before stopping the clock.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		idle := true
		for range conns {
			_ = idle
		}
		hub.mu.RLock()
		ch := hub.channels[ns+":bench"]
		hub.mu.RUnlock()
		ch.mu.Lock()
		last := ch.last
		behind := false
		for _, s := range ch.subs {
			if s.sent < last {
				behind = true
				break
			}
		}
		ch.mu.Unlock()
		if !behind {
			break
		}
		time.Sleep(50 * time.Microsecond)
	}
	b.StopTimer()
	var frames int64
	for _, c := range conns {
		frames += c.frames.Load()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs), "ns/delivery")
	b.ReportMetric(float64(b.N*subs)/float64(frames-int64(subs)), "msgs/frame")
}
