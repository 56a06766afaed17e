package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/feedd/feedd/internal/telemetry"
)

// TestTickTrace follows one tick end to end: source.receive → aggregate →
// publish → deliver, parent to child, with their attributes.
func TestTickTrace(t *testing.T) {
	dir := t.TempDir()
	var ticks strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&ticks, `{"ts":%d,"source":"cb","symbol":"ETH-USD","price":%d}`+"\n", 1000+i*20, 3000+i)
	}
	os.WriteFile(filepath.Join(dir, "ticks.jsonl"), []byte(ticks.String()), 0o644)
	exp := tracetest.NewInMemoryExporter()
	path := filepath.Join(dir, "feedd.yaml")
	writeFile(t, path, header+`feeds:
  - {id: replay, type: price.replay, file: ticks.jsonl, speed: 1}
prices:
  symbols:
    - {symbol: ETH-USD, publish: {min_interval: 0s}}
`)
	d, err := New(Options{ConfigPath: path, Registry: newRegistry(&recorder{started: map[string]int{}, ended: map[string]int{}}),
		LogOutput: &syncBuffer{}, Telemetry: telemetry.Options{SpanExporter: exp}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	defer func() { cancel(); <-done }()

	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	c, _, err := websocket.Dial(wctx, "ws://"+d.Addr().String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.Write(wctx, websocket.MessageText, []byte(`{"type":"subscribe","channels":["prices:ETH-USD"]}`))
	for i := 0; i < 5; i++ { // welcome, subscribed, updates
		if _, _, err := c.Read(wctx); err != nil {
			t.Fatal(err)
		}
	}

	var chain []sdktrace.ReadOnlySpan
	eventually(t, "a complete tick trace", func() bool {
		d.tel.ForceFlush(context.Background())
		spans := exp.GetSpans().Snapshots()
		byID := map[string]sdktrace.ReadOnlySpan{}
		for _, s := range spans {
			byID[s.SpanContext().SpanID().String()] = s
		}
		for _, s := range spans {
			if s.Name() != "deliver" || attr(s, "feedd.subscribers") != "1" {
				continue
			}
			pub := byID[s.Parent().SpanID().String()]
			if pub == nil || pub.Name() != "publish" {
				continue
			}
			agg := byID[pub.Parent().SpanID().String()]
			if agg == nil || agg.Name() != "aggregate" {
				continue
			}
			recv := byID[agg.Parent().SpanID().String()]
			if recv == nil || recv.Name() != "source.receive" {
				continue
			}
			chain = []sdktrace.ReadOnlySpan{recv, agg, pub, s}
			return true
		}
		return false
	})
	recv, agg, pub, del := chain[0], chain[1], chain[2], chain[3]
	for _, s := range chain[1:] {
		if s.SpanContext().TraceID() != recv.SpanContext().TraceID() {
			t.Fatal("spans of one tick in different traces")
		}
	}
	if attr(recv, "feedd.plugin.id") != "replay" || attr(recv, "feedd.plugin.type") != "price.replay" || attr(recv, "feedd.symbol") != "ETH-USD" || attr(recv, "feedd.source") != "cb" {
		t.Fatalf("source.receive attributes: %v", recv.Attributes())
	}
	if attr(agg, "feedd.symbol") != "ETH-USD" || attr(agg, "feedd.sources.used") != "1" || attr(agg, "feedd.stale") != "false" {
		t.Fatalf("aggregate attributes: %v", agg.Attributes())
	}
	if attr(pub, "feedd.channel") != "prices:ETH-USD" || attr(pub, "feedd.offset") == "" || attr(del, "feedd.offset") != attr(pub, "feedd.offset") {
		t.Fatalf("publish/deliver attributes: %v / %v", pub.Attributes(), del.Attributes())
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}
