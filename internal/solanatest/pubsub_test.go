package solanatest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/ws"
)

// rawWS is a bare WebSocket client for checking exact messages.
type rawWS struct {
	t *testing.T
	c *websocket.Conn
}

// dialRaw connects a bare WebSocket client to s.
func dialRaw(t *testing.T, s *Server) *rawWS {
	t.Helper()
	c, _, err := websocket.Dial(testCtx(t), s.WSURL(), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return &rawWS{t: t, c: c}
}

// send writes one text message.
func (r *rawWS) send(msg string) {
	r.t.Helper()
	if err := r.c.Write(testCtx(r.t), websocket.MessageText, []byte(msg)); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// recv reads one message.
func (r *rawWS) recv() string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := r.c.Read(ctx)
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return string(b)
}

// call sends a request and returns the next message.
func (r *rawWS) call(msg string) string {
	r.t.Helper()
	r.send(msg)
	return r.recv()
}

// recvWithin reads one value from a solana-go subscription or reports none
// within a short wait.
func recvWithin[T any](recv func(context.Context) (T, error), d time.Duration) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return recv(ctx)
}

func TestAccountSubscribeCommitment(t *testing.T) {
	const confirmDepth, finalizeDepth = 2, 4
	tests := []struct {
		commitment rpc.CommitmentType
		after      int // slots after the change's slot before the notification
	}{
		{rpc.CommitmentProcessed, 0},
		{rpc.CommitmentConfirmed, confirmDepth},
		{rpc.CommitmentFinalized, finalizeDepth},
	}
	for _, tt := range tests {
		t.Run(string(tt.commitment), func(t *testing.T) {
			s := newServer(t, Options{ConfirmDepth: confirmDepth, FinalizeDepth: finalizeDepth})
			c := wsClient(t, s)
			ctx := testCtx(t)
			a := newKey()
			acct, err := c.AccountSubscribe(a, tt.commitment)
			if err != nil {
				t.Fatalf("AccountSubscribe: %v", err)
			}
			slots, err := c.SlotSubscribe() // a barrier: slot k's notification follows slot k's account ones
			if err != nil {
				t.Fatalf("SlotSubscribe: %v", err)
			}
			waitSubs(t, s, 2)
			s.Airdrop(a, 123)
			changed := s.Produce(1)
			for i := 0; ; i++ {
				if _, err := slots.Recv(ctx); err != nil {
					t.Fatalf("slot Recv: %v", err)
				}
				got, err := recvWithin(acct.Recv, 30*time.Millisecond)
				if i < tt.after {
					if err == nil {
						t.Fatalf("notified %d slots after the change, want %d: %+v", i, tt.after, got)
					}
					s.Produce(1)
					continue
				}
				if err != nil {
					t.Fatalf("no notification %d slots after the change: %v", i, err)
				}
				if got.Context.Slot != changed || got.Value.Lamports != 123 || got.Value.Owner != solana.SystemProgramID {
					t.Fatalf("notification %+v", got)
				}
				break
			}
		})
	}
}

func TestLogsAndSignatureSubscribe(t *testing.T) {
	s := newServer(t, Options{})
	c := wsClient(t, s)
	ctx := testCtx(t)
	a, b := newKey(), newKey()
	s.Airdrop(a, sol)
	s.Produce(1)
	early := s.Airdrop(b, 1)
	s.Produce(2) // early is confirmed

	logs, err := c.LogsSubscribeMentions(b, rpc.CommitmentProcessed)
	if err != nil {
		t.Fatalf("LogsSubscribeMentions: %v", err)
	}
	waitSubs(t, s, 1)
	sig := s.Transfer(a, b, 10)
	sigSub, err := c.SignatureSubscribe(sig, rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatalf("SignatureSubscribe: %v", err)
	}
	done, err := c.SignatureSubscribe(early, rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatalf("SignatureSubscribe early: %v", err)
	}
	// The landed signature is notified at once and its subscription ends.
	got, err := done.Recv(ctx)
	if err != nil || got.Value.Err != nil || got.Context.Slot != 2 {
		t.Fatalf("early signature %+v, %v", got, err)
	}
	waitSubs(t, s, 2)
	fail := s.FailTx(b)
	s.Produce(1)

	for _, want := range []solana.Signature{sig, fail} {
		l, err := logs.Recv(ctx)
		if err != nil {
			t.Fatalf("logs Recv: %v", err)
		}
		if l.Value.Signature != want || len(l.Value.Logs) == 0 || (l.Value.Err != nil) != (want == fail) {
			t.Fatalf("logs %+v, want signature %s", l.Value, want)
		}
	}
	if _, err := recvWithin(sigSub.Recv, 30*time.Millisecond); err == nil {
		t.Fatal("confirmed signature notified while processed")
	}
	s.Produce(1)
	sr, err := sigSub.Recv(ctx)
	if err != nil || sr.Value.Err != nil || sr.Context.Slot != 4 {
		t.Fatalf("signature %+v, %v", sr, err)
	}
	waitSubs(t, s, 1) // the signature subscription ended by itself
	if s.Calls("signatureSubscribe") != 2 || s.Calls("logsSubscribe") != 1 {
		t.Fatalf("calls: %d signatureSubscribe, %d logsSubscribe", s.Calls("signatureSubscribe"), s.Calls("logsSubscribe"))
	}
}

func TestSlotAndRootSubscribe(t *testing.T) {
	s := newServer(t, Options{ConfirmDepth: 1, FinalizeDepth: 2})
	c := wsClient(t, s)
	ctx := testCtx(t)
	slots, err := c.SlotSubscribe()
	if err != nil {
		t.Fatalf("SlotSubscribe: %v", err)
	}
	roots, err := c.RootSubscribe()
	if err != nil {
		t.Fatalf("RootSubscribe: %v", err)
	}
	waitSubs(t, s, 2)
	s.Produce(1) // 1
	s.Skip(1)    // 2
	s.Produce(1) // 3: root 1
	s.Produce(2) // 4, 5: root 3 at 5 (2 was skipped)

	wantSlots := []ws.SlotResult{{Parent: 0, Root: 0, Slot: 1}, {Parent: 1, Root: 1, Slot: 3}, {Parent: 3, Root: 1, Slot: 4}, {Parent: 4, Root: 3, Slot: 5}}
	for _, want := range wantSlots {
		got, err := slots.Recv(ctx)
		if err != nil || *got != want {
			t.Fatalf("slot notification %+v, %v; want %+v", got, err, want)
		}
	}
	for _, want := range []ws.RootResult{1, 3} {
		got, err := roots.Recv(ctx)
		if err != nil || *got != want {
			t.Fatalf("root notification %v, %v; want %v", got, err, want)
		}
	}
}

func TestPubsubRawMessages(t *testing.T) {
	s := newServer(t, Options{})
	r := dialRaw(t, s)
	a := newKey()

	// Ids are echoed byte for byte, subscription ids start at 1.
	if got, want := r.call(`{"jsonrpc":"2.0","id":18446744073709551615,"method":"slotSubscribe"}`),
		`{"jsonrpc":"2.0","result":1,"id":18446744073709551615}`; got != want {
		t.Fatalf("slotSubscribe reply %s, want %s", got, want)
	}
	r.call(`{"jsonrpc":"2.0","id":2,"method":"accountSubscribe","params":["` + a.String() + `",{"encoding":"jsonParsed","commitment":"processed"}]}`)
	r.call(`{"jsonrpc":"2.0","id":3,"method":"logsSubscribe","params":["all",{"commitment":"processed"}]}`)
	sig := s.Airdrop(a, 5)
	if got := r.call(`{"jsonrpc":"2.0","id":4,"method":"signatureSubscribe","params":["` + sig.String() + `",{"commitment":"processed","enableReceivedNotification":true}]}`); got != `{"jsonrpc":"2.0","result":4,"id":4}` {
		t.Fatalf("signatureSubscribe reply %s", got)
	}
	if got := r.recv(); !strings.Contains(got, `"value":"receivedSignature"`) || !strings.Contains(got, `"subscription":4`) {
		t.Fatalf("received notification %s", got)
	}
	s.Produce(1)
	for _, method := range []string{"accountNotification", "logsNotification", "signatureNotification", "slotNotification"} {
		msg := r.recv()
		var n struct {
			Method string `json:"method"`
			Params struct {
				Result       json.RawMessage `json:"result"`
				Subscription uint64          `json:"subscription"`
			} `json:"params"`
		}
		if err := json.Unmarshal([]byte(msg), &n); err != nil || n.Method != method {
			t.Fatalf("message %s, want a %s", msg, method)
		}
	}
	tests := []struct {
		name, req, want string
	}{
		{"unsubscribe", `{"jsonrpc":"2.0","id":5,"method":"slotUnsubscribe","params":[1]}`, `{"jsonrpc":"2.0","result":true,"id":5}`},
		{"unsubscribe twice", `{"jsonrpc":"2.0","id":6,"method":"slotUnsubscribe","params":[1]}`, `"error":{"code":-32602,"message":"Invalid subscription id."}`},
		{"wrong kind", `{"jsonrpc":"2.0","id":7,"method":"rootUnsubscribe","params":[2]}`, `"code":-32602`},
		{"two mentions", `{"jsonrpc":"2.0","id":8,"method":"logsSubscribe","params":[{"mentions":["` + a.String() + `","` + a.String() + `"]}]}`, `{"code":-32602,"message":"Invalid Request: Only 1 address supported"}`},
		{"zstd refused", `{"jsonrpc":"2.0","id":9,"method":"accountSubscribe","params":["` + a.String() + `",{"encoding":"base64+zstd"}]}`, `"code":-32602`},
		{"ordinary method", `{"jsonrpc":"2.0","id":10,"method":"getSlot","params":[{"commitment":"processed"}]}`, `{"jsonrpc":"2.0","result":1,"id":10}`},
		{"malformed", `{"jsonrpc"`, `"code":-32700`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.call(tt.req); !strings.Contains(got, tt.want) {
				t.Fatalf("reply %s, want %s", got, tt.want)
			}
		})
	}
	if s.Subscriptions() != 2 { // account and logs; the signature one ended
		t.Fatalf("Subscriptions() = %d, want 2", s.Subscriptions())
	}
}

func TestTokenAccountSubscribeJSONParsed(t *testing.T) {
	s := newServer(t, Options{})
	c := wsClient(t, s)
	ctx := testCtx(t)
	owner := newKey()
	mint := s.CreateMint(2, solana.Token2022ProgramID)
	ta, _ := s.MintTo(mint, owner, 100)
	s.Produce(1)
	sub, err := c.AccountSubscribeWithOpts(ta, rpc.CommitmentProcessed, solana.EncodingJSONParsed)
	if err != nil {
		t.Fatalf("AccountSubscribe: %v", err)
	}
	waitSubs(t, s, 1)
	s.MintTo(mint, owner, 50)
	slot := s.Produce(1)
	got, err := sub.Recv(ctx)
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	raw := string(got.Value.Data.GetRawJSON())
	if got.Context.Slot != slot || got.Value.Owner != solana.Token2022ProgramID ||
		!strings.Contains(raw, `"program":"spl-token-2022"`) || !strings.Contains(raw, `"uiAmountString":"1.5"`) {
		t.Fatalf("notification slot %d owner %s data %s", got.Context.Slot, got.Value.Owner, raw)
	}
}
