package tx_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/mr-tron/base58"

	"github.com/feedd/feedd/channels/client"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/chaintest"
	"github.com/feedd/feedd/internal/solanatest"
)

// feedsYAML configures one solana.tx instance polling every poll ("1h":
// the signature subscriptions alone drive the lifecycle).
func feedsYAML(poll string) string {
	return fmt.Sprintf(`feeds:
  - {id: tx, type: solana.tx, chain: solana, poll_interval: %s, drop_after_blocks: 151}
`, poll)
}

func start(t *testing.T, opts solanatest.Options, poll string) (*solanatest.Server, *chaintest.Env) {
	t.Helper()
	srv, err := solanatest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	env := chaintest.StartSolana(t, chaintest.SolanaOptions{RPC: srv.RPCURL(), WS: srv.WSURL(), Extra: feedsYAML(poll)})
	// The chain's own slot and root subscriptions.
	waitUntil(t, "the chain's subscriptions", func() bool { return srv.Subscriptions() == 2 })
	return srv, env
}

func channel(sig sol.Signature) string { return "tx:solana:" + sig.String() }

func randomSignature(t *testing.T) sol.Signature {
	var b [64]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return sol.SignatureFromBytes(b[:])
}

// step is the gist of a status: "pending", "included/processed",
// "confirmed/finalized", …
func step(s feeds.TxStatus) string {
	if s.Commitment == "" {
		return s.Status
	}
	return s.Status + "/" + s.Commitment
}

func steps(ss []feeds.TxStatus) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = step(s)
	}
	return out
}

func statuses(t *testing.T, ups []json.RawMessage) []feeds.TxStatus {
	t.Helper()
	return chaintest.Decode[feeds.TxStatus](t, ups)
}

// upTo waits until the channel's states (snapshot and updates) end with
// want (or hold more than it) and returns them.
func upTo(t *testing.T, w *chaintest.Watch, want string) []feeds.TxStatus {
	t.Helper()
	var got []feeds.TxStatus
	w.WaitForStates(t, want, func(ups []json.RawMessage) bool {
		got = statuses(t, ups)
		for _, s := range got {
			if step(s) == want {
				return true
			}
		}
		return false
	})
	return got
}

// expect checks the sequence of steps exactly.
func expect(t *testing.T, got []feeds.TxStatus, want ...string) {
	t.Helper()
	if g := strings.Join(steps(got), " → "); g != strings.Join(want, " → ") {
		t.Fatalf("steps\n got %s\nwant %s", g, strings.Join(want, " → "))
	}
}

// quiet waits a little so that an extra (wrong) update would have come;
// it never makes a test pass that should fail.
func quiet() { time.Sleep(150 * time.Millisecond) }

// waitUntil waits (up to 10 s) for cond.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkFields checks what every status of sig carries.
func checkFields(t *testing.T, sig sol.Signature, ss []feeds.TxStatus, slot uint64) {
	t.Helper()
	for _, s := range ss {
		if s.Chain != "solana" || s.Hash != sig.String() || s.TS == 0 {
			t.Errorf("status %+v: chain, hash or ts wrong", s)
		}
		switch s.Status {
		case feeds.StatusPending, feeds.StatusDropped:
			if s.Block != nil || s.Commitment != "" {
				t.Errorf("%s status %+v has a block or commitment", s.Status, s)
			}
		default:
			if s.Block == nil || *s.Block != slot {
				t.Errorf("%s status %+v: block, want %d", step(s), s, slot)
			}
			want := uint64(1)
			if s.Commitment == "finalized" {
				want = 32
			}
			if s.Commitment == "confirmed" && s.Confirmations < 1 || s.Commitment != "confirmed" && s.Confirmations != want {
				t.Errorf("%s status: confirmations %d", step(s), s.Confirmations)
			}
		}
	}
}

func TestLifecycle(t *testing.T) {
	for _, poll := range []string{"1h", "20ms"} {
		t.Run("poll "+poll, func(t *testing.T) {
			const confirm, finalize = 2, 4
			srv, env := start(t, solanatest.Options{ConfirmDepth: confirm, FinalizeDepth: finalize}, poll)
			sig := srv.Airdrop(sol.NewWallet().PublicKey(), 1_000_000)
			w := env.Subscribe(t, channel(sig))
			expect(t, upTo(t, w, "pending"), "pending")

			slot := srv.Produce(1)
			expect(t, upTo(t, w, "included/processed"), "pending", "included/processed")
			srv.Produce(confirm - 1)
			quiet()
			expect(t, statuses(t, w.States()), "pending", "included/processed")
			srv.Produce(1)
			expect(t, upTo(t, w, "confirmed/confirmed"), "pending", "included/processed", "confirmed/confirmed")
			srv.Produce(finalize - confirm - 1)
			quiet()
			expect(t, statuses(t, w.States()), "pending", "included/processed", "confirmed/confirmed")
			srv.Produce(1)
			upTo(t, w, "confirmed/finalized")
			srv.Produce(3)
			quiet()
			got := statuses(t, w.States())
			expect(t, got, "pending", "included/processed", "confirmed/confirmed", "confirmed/finalized")
			checkFields(t, sig, got, slot)
			// Finalized: nothing is followed any more.
			waitUntil(t, "the signature subscriptions to end", func() bool { return srv.Subscriptions() == 2 })
		})
	}
}

// TestSubscribeLate subscribes after the transaction landed: the first
// status is the current one, never pending, and the rest follows.
func TestSubscribeLate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		produced int
		want     []string
	}{
		{"processed", 1, []string{"included/processed", "confirmed/confirmed", "confirmed/finalized"}},
		{"confirmed", 2, []string{"confirmed/confirmed", "confirmed/finalized"}},
		{"finalized", 4, []string{"confirmed/finalized"}},
		{"long finalized", 40, []string{"confirmed/finalized"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, env := start(t, solanatest.Options{ConfirmDepth: 1, FinalizeDepth: 3}, "50ms")
			sig := srv.Airdrop(sol.NewWallet().PublicKey(), 1_000_000)
			slot := srv.Produce(1)
			srv.Produce(tc.produced - 1)
			w := env.Subscribe(t, channel(sig))
			expect(t, upTo(t, w, tc.want[0]), tc.want[0])
			srv.Produce(3)
			upTo(t, w, "confirmed/finalized")
			quiet()
			got := statuses(t, w.States())
			expect(t, got, tc.want...)
			checkFields(t, sig, got, slot)
			if tc.produced >= 4 && srv.Calls("signatureSubscribe") != 0 {
				t.Errorf("%d signature subscriptions for a finalized transaction", srv.Calls("signatureSubscribe"))
			}
		})
	}
}

func TestFailed(t *testing.T) {
	srv, env := start(t, solanatest.Options{ConfirmDepth: 1, FinalizeDepth: 3}, "1h")
	payer := sol.NewWallet().PublicKey()
	srv.Airdrop(payer, 1_000_000)
	srv.Produce(4)
	sig := srv.FailTx(payer)
	w := env.Subscribe(t, channel(sig))
	upTo(t, w, "pending")
	slot := srv.Produce(1)
	upTo(t, w, "failed/processed")
	srv.Produce(1)
	upTo(t, w, "failed/confirmed")
	srv.Produce(2)
	upTo(t, w, "failed/finalized")
	quiet()
	got := statuses(t, w.States())
	expect(t, got, "pending", "failed/processed", "failed/confirmed", "failed/finalized")
	checkFields(t, sig, got, slot)
	for _, s := range got[1:] {
		if !strings.Contains(s.Error, "InstructionError") || !strings.Contains(s.Error, "Custom") {
			t.Errorf("%s: error %q", step(s), s.Error)
		}
	}
}

func TestDropped(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before int // slots produced before subscribing
	}{
		{"from genesis", 0},
		{"later", 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, env := start(t, solanatest.Options{}, "20ms")
			srv.Produce(tc.before)
			sig := randomSignature(t)
			w := env.Subscribe(t, channel(sig))
			upTo(t, w, "pending")
			srv.Produce(150)
			// Two polls read the height: not dropped yet (the plugin reads the
			// height at commitment confirmed, a block behind).
			calls := srv.Calls("getBlockHeight")
			waitUntil(t, "two polls", func() bool { return srv.Calls("getBlockHeight") >= calls+2 })
			expect(t, statuses(t, w.States()), "pending")
			srv.Produce(2) // the confirmed block height has grown 151 in either case
			got := upTo(t, w, "dropped")
			expect(t, got, "pending", "dropped")
			checkFields(t, sig, got, 0)
			if e := got[1].Error; !strings.Contains(e, "151 blocks") || !strings.Contains(e, "expired") {
				t.Errorf("dropped error %q", e)
			}
			waitUntil(t, "the signature subscriptions to end", func() bool { return srv.Subscriptions() == 2 })
		})
	}
}

// TestReconnect drops the node's sockets at each stage: no step is lost
// or repeated.
func TestReconnect(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after string // drop once this step is seen
		poll  string
	}{
		{"pending", "pending", "1h"},
		{"included", "included/processed", "1h"},
		{"included, polled", "included/processed", "20ms"},
		{"confirmed", "confirmed/confirmed", "1h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, env := start(t, solanatest.Options{ConfirmDepth: 1, FinalizeDepth: 3}, tc.poll)
			sig := srv.Airdrop(sol.NewWallet().PublicKey(), 1_000_000)
			w := env.Subscribe(t, channel(sig))
			want := []string{"pending", "included/processed", "confirmed/confirmed", "confirmed/finalized"}
			upTo(t, w, "pending")
			for i, st := range want[1:] {
				if want[i] == tc.after {
					srv.DropConnections()
				}
				if st == "confirmed/finalized" {
					srv.Produce(2)
				} else {
					srv.Produce(1)
				}
				expect(t, upTo(t, w, st), want[:i+2]...)
			}
			quiet()
			expect(t, statuses(t, w.States()), want...)
		})
	}
}

// TestMalformedNotifications sends broken signature notifications on every
// subscription id before each step: they are skipped, and the signature
// subscriptions still report each step at once (no poll helps here).
func TestMalformedNotifications(t *testing.T) {
	srv, env := start(t, solanatest.Options{ConfirmDepth: 1, FinalizeDepth: 3}, "1h")
	sig := srv.Airdrop(sol.NewWallet().PublicKey(), 1_000_000)
	w := env.Subscribe(t, channel(sig))
	upTo(t, w, "pending")
	waitUntil(t, "the signature subscriptions", func() bool { return srv.Subscriptions() == 5 })
	inject := func(result string) {
		for id := 1; id <= 60; id++ {
			srv.Inject([]byte(fmt.Sprintf(`{"jsonrpc":"2.0","method":"signatureNotification","params":{"subscription":%d,"result":%s}}`, id, result)))
		}
	}
	now := srv.Slot()
	bad := []string{
		fmt.Sprintf(`{"context":{"slot":%d},"value":null}`, now),
		`{"context":{"slot":"seven"},"value":{"err":null}}`,
		fmt.Sprintf(`{"context":{"slot":%d},"value":5}`, now),
		fmt.Sprintf(`{"context":{"slot":%d},"value":"receivedSignature"}`, now),
		fmt.Sprintf(`{"context":{"slot":%d}}`, now),
		`[1,2]`,
	}
	srv.Inject([]byte(`not json`))
	srv.Inject([]byte(`{"jsonrpc":"2.0","method":"signatureNotification","params":{"subscription":"x","result":{}}}`))
	want := []string{"pending", "included/processed", "confirmed/confirmed", "confirmed/finalized"}
	for i, st := range want[1:] {
		for _, b := range bad[2*i : 2*i+2] {
			inject(b)
		}
		if st == "confirmed/finalized" {
			srv.Produce(2)
		} else {
			srv.Produce(1)
		}
		expect(t, upTo(t, w, st), want[:i+2]...)
	}
	quiet()
	expect(t, statuses(t, w.States()), want...)
}

func TestBadChannel(t *testing.T) {
	srv, env := start(t, solanatest.Options{}, "1h")
	sig := randomSignature(t).String()
	c := dial(t, env)
	for _, tc := range []struct{ name, channel string }{
		{"not base58", "tx:solana:" + strings.Repeat("0OIl", 22)},
		{"63 bytes", "tx:solana:" + base58.Encode(make([]byte, 63))},
		{"too long", "tx:solana:" + sig + "2"},
		{"EVM hash", "tx:solana:0x" + strings.Repeat("ab", 32)},
		{"empty", "tx:solana:"},
		{"no signature", "tx:solana"},
		{"unknown chain", "tx:nochain:" + sig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := c.Subscribe(ctx, tc.channel, client.HandlerFuncs{})
			var se *client.ServerError
			if !errors.As(err, &se) || se.Code != "bad_channel" {
				t.Fatalf("subscribe %s: %v, want a bad_channel error", tc.channel, err)
			}
		})
	}
	if n := srv.Calls("getSignatureStatuses") + srv.Calls("signatureSubscribe"); n != 0 {
		t.Errorf("%d node calls for bad channels", n)
	}
}

// TestUnsubscribe: the last subscriber leaving ends the node subscriptions
// of an unfinished transaction, whatever its stage; an earlier one does not.
func TestUnsubscribe(t *testing.T) {
	for _, tc := range []struct {
		name     string
		produced int
		subs     int // signature subscriptions while followed
	}{
		{"pending", 0, 3},
		{"included", 1, 2},
		{"confirmed", 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, env := start(t, solanatest.Options{ConfirmDepth: 1, FinalizeDepth: 3}, "1h")
			sig := srv.Airdrop(sol.NewWallet().PublicKey(), 1_000_000)
			srv.Produce(tc.produced)
			var subs []*client.Subscription
			for range 2 {
				s, err := dial(t, env).Subscribe(context.Background(), channel(sig), &recorder{})
				if err != nil {
					t.Fatal(err)
				}
				subs = append(subs, s)
			}
			waitUntil(t, "the signature subscriptions", func() bool { return srv.Subscriptions() == 2+tc.subs })
			if err := subs[0].Unsubscribe(context.Background()); err != nil {
				t.Fatal(err)
			}
			quiet()
			if n := srv.Subscriptions(); n != 2+tc.subs {
				t.Fatalf("%d node subscriptions with a subscriber left, want %d", n, 2+tc.subs)
			}
			if err := subs[1].Unsubscribe(context.Background()); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the signature subscriptions to end", func() bool { return srv.Subscriptions() == 2 })
			if n := srv.Calls("signatureUnsubscribe"); n != tc.subs {
				t.Errorf("%d signatureUnsubscribe calls, want %d", n, tc.subs)
			}
		})
	}
}

func dial(t *testing.T, env *chaintest.Env) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{URL: env.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// recorder records a subscription's snapshot and updates.
type recorder struct {
	mu  sync.Mutex
	got []feeds.TxStatus
}

func (r *recorder) add(data json.RawMessage) {
	var s feeds.TxStatus
	if json.Unmarshal(data, &s) == nil {
		r.mu.Lock()
		r.got = append(r.got, s)
		r.mu.Unlock()
	}
}

func (r *recorder) OnUpdate(u client.Update)     { r.add(u.Data) }
func (r *recorder) OnSnapshot(s client.Snapshot) { r.add(s.Data) }
func (r *recorder) OnRecovered(client.Recovery)  {}

// TestReconnectCatchUpBatched: after a reconnect the statuses of the
// followed transactions are read in batches, not once per subscription,
// and what landed meanwhile is reported.
func TestReconnectCatchUpBatched(t *testing.T) {
	const n = 10
	srv, env := start(t, solanatest.Options{ConfirmDepth: 1, FinalizeDepth: 3}, "1h")
	c := dial(t, env)
	var ws []*recorder
	var sigs []sol.Signature
	for range n {
		sig := srv.Airdrop(sol.NewWallet().PublicKey(), 1_000_000)
		r := &recorder{}
		if _, err := c.Subscribe(context.Background(), channel(sig), r); err != nil {
			t.Fatal(err)
		}
		ws, sigs = append(ws, r), append(sigs, sig)
	}
	waitUntil(t, "the signature subscriptions", func() bool { return srv.Subscriptions() == 2+3*n })
	before := srv.Calls("getSignatureStatuses")
	srv.DropConnections()
	srv.Produce(1) // lands while the socket is down, or not yet resubscribed
	for i, r := range ws {
		waitUntil(t, fmt.Sprintf("transaction %d included", i), func() bool { return r.has("included/processed") })
	}
	waitUntil(t, "the resubscriptions", func() bool { return srv.Subscriptions() == 2+2*n })
	quiet()
	if reads := srv.Calls("getSignatureStatuses") - before; reads >= 3*n {
		t.Errorf("%d status reads after the reconnect for %d subscriptions", reads, 3*n)
	}
	for i, r := range ws {
		if g := strings.Join(r.steps(), " → "); g != "pending → included/processed" {
			t.Errorf("transaction %d (%s): %s", i, sigs[i], g)
		}
	}
}

func (r *recorder) steps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return steps(r.got)
}

func (r *recorder) has(s string) bool {
	for _, g := range r.steps() {
		if g == s {
			return true
		}
	}
	return false
}
