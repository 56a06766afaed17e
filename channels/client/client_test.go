package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/feedd/feedd/channels"
	"github.com/feedd/feedd/channels/client"
)

type price struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
}

func TestSubscribeTypedUpdates(t *testing.T) {
	hub := newHub(t, channels.HubOptions{})
	srv := startServer(t, hub, "", channels.ServerOptions{})
	first := hub.publish("prices:ETH-USD", `{"symbol":"ETH-USD","price":1}`)

	var st states
	c := dial(t, client.Options{URL: srv.url(), OnState: st.record})

	type got struct {
		p price
		u client.Update
	}
	var mu sync.Mutex
	var updates []got
	var snaps []price
	var snapMeta []client.Snapshot
	var decodeErrs []string
	h := client.Typed(func(p price, u client.Update) {
		mu.Lock()
		updates = append(updates, got{p, u})
		mu.Unlock()
	})
	h.Snapshot = func(p price, s client.Snapshot) {
		mu.Lock()
		snaps = append(snaps, p)
		snapMeta = append(snapMeta, s)
		mu.Unlock()
	}
	h.DecodeError = func(err error, channel string, offset uint64) {
		mu.Lock()
		decodeErrs = append(decodeErrs, fmt.Sprintf("%s@%d", channel, offset))
		mu.Unlock()
	}
	sub := subscribe(t, c, "prices:ETH-USD", h)
	if sub.Channel() != "prices:ETH-USD" {
		t.Errorf("Channel() = %q", sub.Channel())
	}
	if e, o := sub.Position(); e != first.Epoch || o != 1 {
		t.Errorf("Position() after subscribe = %q %d, want %q 1", e, o, first.Epoch)
	}
	if c.State() != client.Connected {
		t.Errorf("State() = %v", c.State())
	}
	// A state channel may be coalesced: publish one at a time.
	counts := func(nu, nd int) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(updates) == nu && len(decodeErrs) == nd
		}
	}
	hub.publish("prices:ETH-USD", `{"symbol":"ETH-USD","price":2}`)
	waitUntil(t, 5*time.Second, "update 2", counts(1, 0))
	hub.publish("prices:ETH-USD", `{"symbol":"ETH-USD","price":"not a number"}`)
	waitUntil(t, 5*time.Second, "decode error", counts(1, 1))
	hub.publish("prices:ETH-USD", `{"symbol":"ETH-USD","price":3.5}`)
	waitUntil(t, 5*time.Second, "update 4", counts(2, 1))
	mu.Lock()
	defer mu.Unlock()
	if len(snaps) != 1 || snaps[0].Price != 1 || snapMeta[0].Offset != 1 || snapMeta[0].Epoch != first.Epoch || snapMeta[0].Reset {
		t.Errorf("snapshots %+v %+v", snaps, snapMeta)
	}
	if updates[0].p.Price != 2 || updates[0].u.Offset != 2 || updates[1].p.Price != 3.5 || updates[1].u.Offset != 4 {
		t.Errorf("updates %+v", updates)
	}
	for _, g := range updates {
		if g.u.Channel != "prices:ETH-USD" || g.u.Epoch != first.Epoch || g.u.TS == 0 || g.u.Skipped != 0 || g.p.Symbol != "ETH-USD" {
			t.Errorf("update %+v", g)
		}
		if d := time.Since(g.u.Time()); d < 0 || d > time.Minute {
			t.Errorf("update time %v", g.u.Time())
		}
	}
	if decodeErrs[0] != "prices:ETH-USD@3" {
		t.Errorf("decode errors %v", decodeErrs)
	}
	if e, o := sub.Position(); e != first.Epoch || o != 4 {
		t.Errorf("Position() = %q %d, want %q 4", e, o, first.Epoch)
	}
	if n := st.count(client.Connected); n != 1 || st.count(client.Disconnected) != 0 {
		t.Errorf("states: %v", &st)
	}
}

func TestUnsubscribe(t *testing.T) {
	hub := newHub(t, channels.HubOptions{})
	srv := startServer(t, hub, "", channels.ServerOptions{})
	c := dial(t, client.Options{URL: srv.url()})
	var r recorder
	sub := subscribe(t, c, "ops:a", &r)
	hub.publish("ops:a", `{"n":1}`)
	waitUntil(t, 5*time.Second, "first update", func() bool { return r.nUpdates() == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	select {
	case <-sub.Done():
	default:
		t.Error("Done not closed after Unsubscribe")
	}
	if err := sub.Err(); err != nil {
		t.Errorf("Err() after Unsubscribe = %v", err)
	}
	if st := hub.Stats(); st.Subscriptions != 0 {
		t.Errorf("hub still holds %d subscriptions after Unsubscribe returned", st.Subscriptions)
	}
	hub.publish("ops:a", `{"n":2}`)
	time.Sleep(100 * time.Millisecond)
	if n := r.nUpdates(); n != 1 {
		t.Errorf("%d updates after unsubscribe, want 1", n)
	}
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Errorf("second Unsubscribe: %v", err)
	}

	// The channel can be subscribed again, from its current position.
	var r2 recorder
	sub2 := subscribe(t, c, "ops:a", &r2)
	if _, o := sub2.Position(); o != 2 {
		t.Errorf("position after subscribing again: %d, want 2", o)
	}
	hub.publish("ops:a", `{"n":3}`)
	waitUntil(t, 5*time.Second, "update after subscribing again", func() bool { return r2.lastOffset() == 3 })
	if r.nUpdates() != 1 {
		t.Error("the ended subscription heard an update")
	}
}

func TestServerErrors(t *testing.T) {
	hub := newHub(t, channels.HubOptions{})
	srv := startServer(t, hub, "", channels.ServerOptions{})
	c := dial(t, client.Options{URL: srv.url()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	for _, tc := range []struct{ channel, code, msg string }{
		{"nope:x", "bad_channel", `unknown namespace "nope"`},
		{"noColon", "bad_channel", "want <namespace>:<name>"},
		{"private:secret", "forbidden", "needs a token"},
	} {
		sub, err := c.Subscribe(ctx, tc.channel, client.UpdateFunc(func(client.Update) {}))
		var se *client.ServerError
		if sub != nil || !errors.As(err, &se) {
			t.Fatalf("subscribe %s: sub %v, error %v (%T), want *ServerError", tc.channel, sub, err, err)
		}
		if se.Code != tc.code || se.Channel != tc.channel || !strings.Contains(se.Message, tc.msg) {
			t.Errorf("subscribe %s: %+v", tc.channel, se)
		}
	}
	// The connection and the client stay usable.
	var r recorder
	subscribe(t, c, "ops:ok", &r)
	hub.publish("ops:ok", `1`)
	waitUntil(t, 5*time.Second, "update", func() bool { return r.nUpdates() == 1 })

	// Local checks.
	if _, err := c.Subscribe(ctx, "ops:ok", &r); err == nil || !strings.Contains(err.Error(), "already subscribed") {
		t.Errorf("duplicate subscribe: %v", err)
	}
	if _, err := c.Subscribe(ctx, "", &r); err == nil {
		t.Error("empty channel accepted")
	}
	if _, err := c.Subscribe(ctx, "ops:x", nil); err == nil {
		t.Error("nil handler accepted")
	}
}

func TestDialChecksURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x/ws", "ws:///ws", "://"} {
		if c, err := client.Dial(context.Background(), client.Options{URL: u}); err == nil {
			c.Close()
			t.Errorf("Dial(%q) accepted", u)
		}
	}
}

// TestReconnectRecoversWithoutGap kills the daemon's connections while a
// publisher keeps publishing, starts a new server on the same address with
// the same hub (so the same broker and history) and checks that the client
// comes back, recovers and sees every offset exactly once, in order.
func TestReconnectRecoversWithoutGap(t *testing.T) {
	hub := newHub(t, channels.HubOptions{WriteDelay: 2 * time.Millisecond})
	srv := startServer(t, hub, "", channels.ServerOptions{})
	var st states
	c := dial(t, client.Options{URL: srv.url(), OnState: st.record})
	var r recorder
	sub := subscribe(t, c, "ops:stream", &r)

	const total = 600
	published := make(chan uint64, total)
	stopPub := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := 1; i <= total; i++ {
			select {
			case <-stopPub:
				return
			default:
			}
			p, err := hub.Publish(context.Background(), "ops:stream", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), nil)
			if err != nil {
				t.Errorf("publish: %v", err)
				return
			}
			published <- p.Offset
			time.Sleep(time.Millisecond)
		}
	}()
	defer func() { close(stopPub); <-pubDone }()

	waitUntil(t, 10*time.Second, "updates before the outage", func() bool { return r.nUpdates() >= 100 })
	srv.kill()
	waitUntil(t, 5*time.Second, "the client to notice", func() bool { return c.State() != client.Connected })
	before := r.lastOffset()
	time.Sleep(300 * time.Millisecond) // publishing goes on meanwhile
	restarted := time.Now()
	startServer(t, hub, srv.addr, channels.ServerOptions{})
	waitUntil(t, 10*time.Second, "recovery", func() bool { return r.nRecovered() == 1 })
	r.mu.Lock()
	rec, recAt := r.recovered[0], r.at[0]
	r.mu.Unlock()
	took := recAt.Sub(restarted)
	t.Logf("restart to resubscribed: %v (missed %d updates)", took, rec.Missed)
	if took >= 5*time.Second {
		t.Errorf("restart to resubscribed took %v, want under 5s", took)
	}
	if !rec.Recovered || rec.Channel != "ops:stream" || rec.Since.Offset != before || rec.Missed == 0 ||
		rec.Latest.Epoch != rec.Since.Epoch || rec.Latest.Offset != rec.Since.Offset+rec.Missed {
		t.Errorf("recovery %+v (last offset before the outage %d)", rec, before)
	}

	waitUntil(t, 20*time.Second, "every update", func() bool { return r.lastOffset() == total })
	if len(published) != total {
		t.Fatalf("published %d", len(published))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.updates) != total {
		t.Errorf("%d updates, want %d", len(r.updates), total)
	}
	for i, u := range r.updates {
		if u.Offset != uint64(i+1) || u.Skipped != 0 {
			t.Fatalf("update #%d has offset %d (skipped %d), want %d", i, u.Offset, u.Skipped, i+1)
		}
		var d struct{ I int }
		if json.Unmarshal(u.Data, &d) != nil || d.I != i+1 {
			t.Fatalf("update #%d data %s", i, u.Data)
		}
	}
	if len(r.snapshots) != 0 {
		t.Errorf("snapshots %+v", r.snapshots)
	}
	if e, o := sub.Position(); e != rec.Since.Epoch || o != total {
		t.Errorf("Position() = %q %d", e, o)
	}
	if st.count(client.Disconnected) < 1 || st.count(client.Connected) != 2 {
		t.Errorf("states: %v", &st)
	}
}

// TestRestartWithNewHub restarts the daemon with a new hub: the history
// is gone (a new epoch), so the client gets recovered:false and a snapshot.
func TestRestartWithNewHub(t *testing.T) {
	hub1 := newHub(t, channels.HubOptions{})
	srv1 := startServer(t, hub1, "", channels.ServerOptions{})
	p1 := hub1.publish("prices:BTC-USD", `{"symbol":"BTC-USD","price":1}`)
	var st states
	c := dial(t, client.Options{URL: srv1.url(), OnState: st.record})
	var r recorder
	sub := subscribe(t, c, "prices:BTC-USD", &r)
	hub1.publish("prices:BTC-USD", `{"symbol":"BTC-USD","price":2}`)
	waitUntil(t, 5*time.Second, "update", func() bool { return r.lastOffset() == 2 })

	// A graceful shutdown: sessions are closed with 1001, and connections
	// made meanwhile are refused with 1001 too, until the server goes.
	hub1.stop()
	time.Sleep(200 * time.Millisecond)
	srv1.kill()
	hub2 := newHub(t, channels.HubOptions{})
	p2 := hub2.publish("prices:BTC-USD", `{"symbol":"BTC-USD","price":100}`)
	if p2.Epoch == p1.Epoch {
		t.Fatal("same epoch from a new hub")
	}
	restarted := time.Now()
	startServer(t, hub2, srv1.addr, channels.ServerOptions{})
	waitUntil(t, 10*time.Second, "resubscription", func() bool { return r.nRecovered() == 1 && r.nSnapshots() == 2 })
	r.mu.Lock()
	took := r.at[0].Sub(restarted)
	rec, snap := r.recovered[0], r.snapshots[1]
	r.mu.Unlock()
	t.Logf("restart to resubscribed: %v", took)
	if took >= 5*time.Second {
		t.Errorf("restart to resubscribed took %v, want under 5s", took)
	}
	want := client.Recovery{Channel: "prices:BTC-USD", Recovered: false,
		Since:  client.Position{Epoch: p1.Epoch, Offset: 2},
		Latest: client.Position{Epoch: p2.Epoch, Offset: 1}}
	if rec != want {
		t.Errorf("recovery %+v, want %+v", rec, want)
	}
	if !snap.Reset || snap.Epoch != p2.Epoch || snap.Offset != 1 || string(snap.Data) != `{"symbol":"BTC-USD","price":100}` {
		t.Errorf("snapshot %+v", snap)
	}
	if e, o := sub.Position(); e != p2.Epoch || o != 1 {
		t.Errorf("Position() = %q %d", e, o)
	}
	hub2.publish("prices:BTC-USD", `{"symbol":"BTC-USD","price":101}`)
	waitUntil(t, 5*time.Second, "update in the new epoch", func() bool { return r.nUpdates() == 2 })
	r.mu.Lock()
	u := r.updates[1]
	r.mu.Unlock()
	if u.Offset != 2 || u.Epoch != p2.Epoch || u.Skipped != 0 || string(u.Data) != `{"symbol":"BTC-USD","price":101}` {
		t.Errorf("update %+v", u)
	}
	if s := st.String(); !strings.Contains(s, "disconnected(closed by the daemon with code 1001: server shutting down)") {
		t.Errorf("states: %s", s)
	}
}

// TestQueuedWhileDisconnected subscribes before any daemon listens; the
// requests go out once one does.
func TestQueuedWhileDisconnected(t *testing.T) {
	addr := freeAddr(t)
	var st states
	c := dial(t, client.Options{URL: "ws://" + addr + "/ws", OnState: st.record})

	// A subscribe whose context ends first fails, naming why.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := c.Subscribe(ctx, "ops:given-up", &recorder{})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not connected") {
		t.Errorf("subscribe with an expiring context: %v", err)
	}

	var r1, r2 recorder
	type result struct {
		sub *client.Subscription
		err error
	}
	results := make(chan result, 2)
	for _, x := range []struct {
		ch string
		r  *recorder
	}{{"ops:q1", &r1}, {"prices:ETH-USD", &r2}} {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			s, err := c.Subscribe(ctx, x.ch, x.r)
			results <- result{s, err}
		}()
	}
	// One that is dropped again before the daemon comes: never sent.
	dropCtx, dropCancel := context.WithCancel(context.Background())
	dropped := make(chan error, 1)
	go func() {
		_, err := c.Subscribe(dropCtx, "ops:dropped", &recorder{})
		dropped <- err
	}()
	time.Sleep(300 * time.Millisecond)
	dropCancel()
	if err := <-dropped; !errors.Is(err, context.Canceled) {
		t.Errorf("dropped subscribe: %v", err)
	}
	if st.count(client.Disconnected) == 0 || st.count(client.Connected) != 0 {
		t.Errorf("states while nothing listens: %v", &st)
	}

	hub := newHub(t, channels.HubOptions{})
	hub.publish("prices:ETH-USD", `{"price":7}`)
	startServer(t, hub, addr, channels.ServerOptions{})
	for range 2 {
		if res := <-results; res.err != nil {
			t.Fatalf("queued subscribe: %v", res.err)
		}
	}
	if st := hub.Stats(); st.Subscriptions != 2 {
		t.Errorf("hub has %d subscriptions, want 2", st.Subscriptions)
	}
	hub.publish("ops:q1", `{"n":1}`)
	waitUntil(t, 5*time.Second, "update", func() bool { return r1.nUpdates() == 1 && r2.nSnapshots() == 1 })
}

// TestHeartbeat runs against a daemon that pings every 200ms: the client
// answers, so the daemon keeps the connection (it closes one that does not
// answer for two intervals with 4000).
func TestHeartbeat(t *testing.T) {
	hub := newHub(t, channels.HubOptions{Heartbeat: 200 * time.Millisecond})
	srv := startServer(t, hub, "", channels.ServerOptions{})
	var st states
	c := dial(t, client.Options{URL: srv.url(), OnState: st.record})
	var r recorder
	subscribe(t, c, "ops:hb", &r)
	time.Sleep(1200 * time.Millisecond)
	if st.count(client.Connected) != 1 || st.count(client.Disconnected) != 0 {
		t.Errorf("states: %v", &st)
	}
	if s := hub.Stats(); s.Sessions != 1 || s.Subscriptions != 1 {
		t.Errorf("hub stats %+v", s)
	}
	hub.publish("ops:hb", `1`)
	waitUntil(t, 5*time.Second, "update", func() bool { return r.nUpdates() == 1 })
}

// TestDeadConnection talks to an endpoint that welcomes and then says
// nothing, not even pings: after two heartbeats the client gives up on the
// connection and dials again.
func TestDeadConnection(t *testing.T) {
	var accepted atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		accepted.Add(1)
		ws.Write(r.Context(), websocket.MessageText, []byte(`{"type":"welcome","session":"s","server_time":1,"heartbeat_ms":100,"protocol":1}`))
		for {
			if _, _, err := ws.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	defer hs.Close()
	var st states
	c := dial(t, client.Options{URL: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws", OnState: st.record})
	start := time.Now()
	waitUntil(t, 5*time.Second, "a second connection", func() bool { return accepted.Load() >= 2 })
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("reconnected after %v, before two heartbeats passed", d)
	}
	c.Close()
	st.mu.Lock()
	defer st.mu.Unlock()
	found := false
	for _, err := range st.errs {
		if err != nil && strings.Contains(err.Error(), "presumed dead") {
			found = true
		}
	}
	if !found {
		t.Errorf("no Disconnected error saying the connection was dead: %v", st.errs)
	}
}

// TestTokenRefresh uses tokens that live 1.2s; the client refreshes them in
// auth messages, so the daemon never closes the connection with 4001.
func TestTokenRefresh(t *testing.T) {
	hub := newHub(t, channels.HubOptions{})
	srv := startServer(t, hub, "", channels.ServerOptions{Verifier: testVerifier{}})
	var calls atomic.Int32
	var st states
	c := dial(t, client.Options{
		URL:     srv.url(),
		OnState: st.record,
		TokenFunc: func(ctx context.Context) (string, error) {
			calls.Add(1)
			return makeToken("alice", time.Now().Add(1200*time.Millisecond)), nil
		},
	})
	var r recorder
	subscribe(t, c, "private:x", &r)
	time.Sleep(3 * time.Second)
	if st.count(client.Disconnected) != 0 {
		t.Errorf("states: %v", &st)
	}
	if n := calls.Load(); n < 3 {
		t.Errorf("TokenFunc called %d times, want at least 3", n)
	}
	hub.publish("private:x", `1`)
	waitUntil(t, 5*time.Second, "update", func() bool { return r.nUpdates() == 1 })
}

// TestRefusedToken: the daemon refuses the token before the welcome; the
// client reports it and keeps trying, and a Subscribe waits in vain.
func TestRefusedToken(t *testing.T) {
	hub := newHub(t, channels.HubOptions{})
	srv := startServer(t, hub, "", channels.ServerOptions{Verifier: testVerifier{}})
	var st states
	c := dial(t, client.Options{URL: srv.url(), Token: "garbage", OnState: st.record})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := c.Subscribe(ctx, "ops:x", &recorder{})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("subscribe: %v", err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var se *client.ServerError
	if len(st.errs) < 2 || !errors.As(st.errs[1], &se) || se.Code != "unauthorized" {
		t.Errorf("states %v", st.errs)
	}
}

// TestManySubscriptions subscribes to more channels at once than the
// daemon's request burst allows: the client batches and paces them.
func TestManySubscriptions(t *testing.T) {
	hub := newHub(t, channels.HubOptions{})
	srv := startServer(t, hub, "", channels.ServerOptions{})
	c := dial(t, client.Options{URL: srv.url()})
	const n = 120
	var wg sync.WaitGroup
	var r recorder
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := c.Subscribe(ctx, fmt.Sprintf("ops:c%d", i), &r); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := hub.Stats(); s.Subscriptions != n || s.Sessions != 1 {
		t.Errorf("hub stats %+v", s)
	}
	for i := range n {
		hub.publish(fmt.Sprintf("ops:c%d", i), `1`)
	}
	waitUntil(t, 5*time.Second, "updates", func() bool { return r.nUpdates() == n })
}

// TestClose checks Close: waiting requests end with ErrClosed, later calls
// fail, Closed is the last state, and (TestMain) no goroutine is left.
func TestClose(t *testing.T) {
	hub := newHub(t, channels.HubOptions{})
	srv := startServer(t, hub, "", channels.ServerOptions{})
	var st states
	c, err := client.Dial(context.Background(), client.Options{URL: srv.url(), Logger: quiet, OnState: st.record})
	if err != nil {
		t.Fatal(err)
	}
	var r recorder
	sub := subscribe(t, c, "ops:a", &r)
	waitUntil(t, 5*time.Second, "hub session", func() bool { return hub.Stats().Subscriptions == 1 })
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	<-sub.Done()
	if !errors.Is(sub.Err(), client.ErrClosed) {
		t.Errorf("sub.Err() = %v", sub.Err())
	}
	if _, err := c.Subscribe(context.Background(), "ops:b", &r); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
	if c.State() != client.Closed {
		t.Errorf("State() = %v", c.State())
	}
	st.mu.Lock()
	last := st.list[len(st.list)-1]
	st.mu.Unlock()
	if last != client.Closed {
		t.Errorf("states %v", &st)
	}
	waitUntil(t, 5*time.Second, "the daemon to drop the session", func() bool { return hub.Stats().Sessions == 0 })

	// Close while disconnected, with a Subscribe waiting.
	c2, err := client.Dial(context.Background(), client.Options{URL: "ws://" + freeAddr(t) + "/ws", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := c2.Subscribe(context.Background(), "ops:x", &r)
		waiting <- err
	}()
	time.Sleep(100 * time.Millisecond)
	c2.Close()
	if err := <-waiting; !errors.Is(err, client.ErrClosed) {
		t.Errorf("waiting Subscribe after Close: %v", err)
	}
}

// TestUnsubscribeWhileDisconnected: an Unsubscribe without a connection
// returns at once, and the channel is not subscribed again on reconnect.
func TestUnsubscribeWhileDisconnected(t *testing.T) {
	hub := newHub(t, channels.HubOptions{})
	srv := startServer(t, hub, "", channels.ServerOptions{})
	c := dial(t, client.Options{URL: srv.url()})
	var keep, drop recorder
	subscribe(t, c, "ops:keep", &keep)
	sd := subscribe(t, c, "ops:drop", &drop)
	srv.kill()
	waitUntil(t, 5*time.Second, "disconnect", func() bool { return c.State() != client.Connected })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := sd.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	startServer(t, hub, srv.addr, channels.ServerOptions{})
	waitUntil(t, 10*time.Second, "resubscription", func() bool { return keep.nRecovered() == 1 })
	time.Sleep(50 * time.Millisecond)
	if s := hub.Stats(); s.Subscriptions != 1 {
		t.Errorf("hub has %d subscriptions, want 1", s.Subscriptions)
	}
	if drop.nRecovered() != 0 {
		t.Error("the dropped subscription was recovered")
	}
}

// TestLongOutage: after a few seconds down the backoff has grown, yet with
// the default settings the client is back within 5s of the restart.
func TestLongOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 4s")
	}
	hub := newHub(t, channels.HubOptions{})
	srv := startServer(t, hub, "", channels.ServerOptions{})
	c := dial(t, client.Options{URL: srv.url()})
	var r recorder
	subscribe(t, c, "ops:long", &r)
	srv.kill()
	hub.publish("ops:long", `1`)
	time.Sleep(3 * time.Second)
	restarted := time.Now()
	startServer(t, hub, srv.addr, channels.ServerOptions{})
	waitUntil(t, 10*time.Second, "recovery", func() bool { return r.nRecovered() == 1 && r.nUpdates() == 1 })
	r.mu.Lock()
	took := r.at[0].Sub(restarted)
	rec := r.recovered[0]
	r.mu.Unlock()
	t.Logf("restart to resubscribed after a 3s outage: %v", took)
	if took >= 5*time.Second || !rec.Recovered || rec.Missed != 1 {
		t.Errorf("took %v, recovery %+v", took, rec)
	}
}
