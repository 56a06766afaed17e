package channels

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/feedd/feedd/channels/protocol"
)

// Clients that send one subscribe naming many channels and drop the
// connection at once must neither crash the server nor leave subscriptions
// behind.
func TestConformanceSubscribeManyThenDisconnect(t *testing.T) {
	ts := newTestServer(t, HubOptions{}, ServerOptions{})
	var names []string
	for i := 0; i < 256; i++ {
		names = append(names, fmt.Sprintf(`"ops:c%d"`, i))
	}
	req := `{"type":"subscribe","id":1,"channels":[` + strings.Join(names, ",") + `]}`
	for i := 0; i < 100; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, _, err := websocket.Dial(ctx, ts.url, nil)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.Write(context.Background(), websocket.MessageText, []byte(req))
		conn.CloseNow()
	}
	waitFor(t, "every session and subscription gone", func() bool {
		st := ts.hub.Stats()
		return st.Sessions == 0 && st.Channels == 0 && st.Subscriptions == 0
	})
}

// A client that stops reading on an event channel is closed with 4008; if
// its writer is stuck in a write, the reaper still closes the socket after
// WriteTimeout.
func TestConformanceReaperAfterSlowClose(t *testing.T) {
	ns := testNamespaces()
	for _, n := range ns {
		n.HistorySize = 1000
	}
	ts := newTestServer(t, HubOptions{Namespaces: ns, MaxQueue: 16, WriteTimeout: time.Second}, ServerOptions{})
	m := ts.dialManual()
	m.readUntil(protocol.TypeWelcome)
	m.send(map[string]any{"type": "subscribe", "channels": []string{"ops:slow"}})
	m.readUntil(protocol.TypeSubscribed)
	publishUntilStalled(t, ts, "ops:slow", 600)
	waitFor(t, "the stuck session closed by the reaper", func() bool { return ts.hub.Stats().Sessions == 0 })
}
