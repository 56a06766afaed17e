package solana

import (
	"context"
	"log/slog"
	"testing"

	"github.com/feedd/feedd/plugins"
)

// FuzzRoute feeds arbitrary pubsub messages to the router of a connection
// with pending and active subscriptions: nothing may panic, and whatever
// reaches an inbox is a reply or a notification of a known subscription.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","result":5,"id":1}`,
		`{"jsonrpc":"2.0","error":{"code":-32602,"message":"bad"},"id":2}`,
		`{"jsonrpc":"2.0","method":"accountNotification","params":{"subscription":7,"result":{"context":{"slot":9},"value":{"lamports":1}}}}`,
		`{"jsonrpc":"2.0","method":"signatureNotification","params":{"subscription":8,"result":{"context":{"slot":9},"value":{"err":null}}}}`,
		`{"jsonrpc":"2.0","result":18446744073709551615,"id":1}`,
		`{"id":-1}`, `[]`, `null`, `{"params":{"subscription":7}}`, `{"method":"x","params":{"subscription":7,"result":null}}`,
	} {
		f.Add([]byte(s))
	}
	c, err := New("fuzz", Config{RPC: []string{"http://127.0.0.1:1"}}, plugins.Env{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		in := NewInbox(16)
		w := &wsConn{c: c, name: "fuzz", signal: make(chan struct{}, 1), full: make(chan struct{}), pending: map[uint64]*Sub{}, bySubID: map[uint64]*Sub{}}
		pending := &Sub{c: c, method: "accountSubscribe", unsub: "accountUnsubscribe", inbox: in}
		active := &Sub{c: c, method: "accountSubscribe", unsub: "accountUnsubscribe", inbox: in, conn: w, subID: 7, active: true}
		once := &Sub{c: c, method: "signatureSubscribe", unsub: "signatureUnsubscribe", inbox: in, conn: w, subID: 8, active: true, oneShot: true}
		c.ps.mu.Lock()
		w.pending[1], w.pending[2] = pending, pending
		pending.conn = w
		w.bySubID[7], w.bySubID[8] = active, once
		c.ps.mu.Unlock()
		c.route(context.Background(), w, msg)
		notes, _ := in.Take()
		for _, n := range notes {
			if n.Sub != pending && n.Sub != active && n.Sub != once {
				t.Fatalf("notification for an unknown subscription: %+v", n)
			}
			if n.Kind == NoteData && len(n.Result) == 0 {
				t.Fatalf("data notification without a result: %+v", n)
			}
		}
	})
}
