package daemon

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics and returns each family's samples summed by name.
func (r *running) scrape() map[string]float64 {
	r.t.Helper()
	resp, err := http.Get(r.base + "/metrics")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		r.t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		r.t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			switch {
			case m.GetHistogram() != nil:
				out[name] += float64(m.GetHistogram().GetSampleCount())
			case m.GetCounter() != nil:
				out[name] += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[name] += m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestMetricsEndpoint(t *testing.T) {
	r := start(t, header+`feeds:
  - {id: ticker, type: test.source}
prices:
  symbols:
    - {symbol: ETH-USD, publish: {heartbeat: 100ms}}
`)
	eventually(t, "ticker running and reporting", func() bool {
		s := r.sources()["ticker"]
		return s["state"] == "running" && s["events"].(float64) > 0
	})
	// The event count moves before the tick reaches the aggregator.
	var m map[string]float64
	eventually(t, "a source age in /metrics", func() bool {
		m = r.scrape()
		_, ok := m["feedd_source_age_seconds"]
		return ok
	})
	for _, name := range []string{
		"feedd_connections", "feedd_channels", "feedd_connections_accepted_total", "feedd_connections_refused_total",
		"feedd_connections_slow_closed_total", "feedd_messages_delivered_total", "feedd_frames_written_total",
		"feedd_messages_coalesced_total", "feedd_connections_writing", "feedd_queue_depth", "feedd_messages_published_total", "feedd_messages_delivered_updates_total", "feedd_source_age_seconds", "feedd_source_stale", "feedd_requests_rate_limited_total", "feedd_plugin_events_total",
		"feedd_plugin_restarts_total", "feedd_plugin_panics_total", "feedd_plugin_stalls_total", "feedd_plugin_state", "target_info",
	} {
		if _, ok := m[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if m["feedd_connections"] != 0 || m["feedd_plugin_state"] != 1 {
		t.Fatalf("before any connection: connections %v, plugin states %v", m["feedd_connections"], m["feedd_plugin_state"])
	}

	// A subscriber moves the connection, subscription and delivery series.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","channels":["prices:ETH-USD"]}`))
	go func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	eventually(t, "a connection, a subscription, deliveries and their latency in /metrics", func() bool {
		m := r.scrape()
		return m["feedd_connections"] == 1 && m["feedd_subscriptions"] == 1 && m["feedd_messages_delivered_total"] >= 3 &&
			m["feedd_plugin_events_total"] > 0 && m["feedd_delivery_latency_seconds"] >= 1 &&
			m["feedd_messages_published_total"] >= 1 && m["feedd_messages_delivered_updates_total"] >= 1
	})
	m = r.scrape()
	if m["feedd_delivery_latency_seconds"] < 1 || m["feedd_frame_messages"] < 1 {
		t.Fatalf("frame histograms (sampled): messages %v latency %v", m["feedd_frame_messages"], m["feedd_delivery_latency_seconds"])
	}
	c.Close(websocket.StatusNormalClosure, "")
	eventually(t, "the connection gone from /metrics", func() bool { return r.scrape()["feedd_connections"] == 0 })
}
