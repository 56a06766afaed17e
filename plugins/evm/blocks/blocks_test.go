package blocks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/ethereum/go-ethereum/common"

	"github.com/feedd/feedd/channels/client"
	"github.com/feedd/feedd/channels/protocol"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/chaintest"
	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/plugins"
)

const feedsYAML = "feeds:\n  - {id: blocks, type: evm.blocks, chain: devnet}\n"

// msg is one message of blocks:devnet as a client got it: the snapshot
// (Snap) or an update, with its offset.
type msg struct {
	Snap    bool
	Epoch   string
	Offset  uint64
	Skipped uint64
	Type    string // "block", "reorg", "gap"
	Block   feeds.Block
	Reorg   feeds.Reorg
	Raw     json.RawMessage
}

func (m msg) String() string {
	kind := "update"
	if m.Snap {
		kind = "snapshot"
	}
	return fmt.Sprintf("%s@%d(+%d skipped) %s", kind, m.Offset, m.Skipped, m.Raw)
}

// watch is a client subscribed to blocks:devnet that keeps every message
// with its offset (chaintest.Watch keeps the data only).
type watch struct {
	mu   sync.Mutex
	msgs []msg
	wake chan struct{}
}

func subscribe(t *testing.T, env *chaintest.Env) *watch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{URL: env.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	w := &watch{wake: make(chan struct{}, 1)}
	add := func(m msg) {
		m = decodeMsg(t, m)
		w.mu.Lock()
		w.msgs = append(w.msgs, m)
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	_, err = c.Subscribe(ctx, "blocks:devnet", client.HandlerFuncs{
		Update:   func(u client.Update) { add(msg{Epoch: u.Epoch, Offset: u.Offset, Skipped: u.Skipped, Raw: u.Data}) },
		Snapshot: func(s client.Snapshot) { add(msg{Snap: true, Epoch: s.Epoch, Offset: s.Offset, Raw: s.Data}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// decodeMsg fills m's type and payload from m.Raw.
func decodeMsg(t *testing.T, m msg) msg {
	var head struct {
		Type string `json:"type"`
	}
	err := json.Unmarshal(m.Raw, &head)
	m.Type = head.Type
	switch {
	case err != nil:
	case m.Type == "block":
		err = json.Unmarshal(m.Raw, &m.Block)
	case m.Type == "reorg":
		err = json.Unmarshal(m.Raw, &m.Reorg)
	}
	if err != nil {
		t.Errorf("%s: %v", m, err)
	}
	return m
}

func (w *watch) all() []msg {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]msg(nil), w.msgs...)
}

// waitFor waits (up to 10 s) until cond holds for the messages so far and
// returns them.
func (w *watch) waitFor(t *testing.T, what string, cond func([]msg) bool) []msg {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		ms := w.all()
		if cond(ms) {
			return ms
		}
		select {
		case <-w.wake:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; got:\n%s", what, dump(ms))
		}
	}
}

// waitBlock waits for the block with hash.
func (w *watch) waitBlock(t *testing.T, hash common.Hash) []msg {
	t.Helper()
	return w.waitFor(t, "block "+hash.Hex(), func(ms []msg) bool {
		for _, m := range ms {
			if m.Type == "block" && m.Block.Hash == hash.Hex() {
				return true
			}
		}
		return false
	})
}

// published returns what the daemon published on channel after the
// position since, up to offset last, in order: a client subscribing with
// since is sent every publication the daemon still holds, as update
// messages, none coalesced (this is how clients recover after a reconnect;
// the Go client does it on its own, so the protocol is spoken here
// directly).
func published(t *testing.T, env *chaintest.Env, channel string, since protocol.Position, last uint64) []msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, env.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(-1)
	req, err := json.Marshal(protocol.Request{Type: protocol.TypeSubscribe, Channels: []string{channel},
		Since: map[string]protocol.Position{channel: since}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, websocket.MessageText, req); err != nil {
		t.Fatal(err)
	}
	var out []msg
	for done := since.Offset >= last; !done; {
		_, frame, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("replay of %s after %d: %v; got:\n%s", channel, since.Offset, err, dump(out))
		}
		err = protocol.Messages(frame, func(raw []byte) error {
			var m protocol.Message
			if err := json.Unmarshal(raw, &m); err != nil {
				return err
			}
			switch m.Type {
			case protocol.TypeSubscribed:
				if m.Recovered == nil || !*m.Recovered || m.Epoch != since.Epoch {
					return fmt.Errorf("not recovered: %s", raw)
				}
			case protocol.TypeUpdate:
				out = append(out, decodeMsg(t, msg{Offset: m.Offset, Raw: m.Data}))
				done = done || m.Offset >= last
			case protocol.TypeError:
				return fmt.Errorf("%s", raw)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func dump(ms []msg) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// transfer sends wei and waits until the node's pool holds the transaction
// as executable. The pool takes transactions in the background: without
// the wait the sender's next transaction may get the same nonce, and a
// Commit right after the send may seal a block without it.
func transfer(t *testing.T, env *chaintest.Env, from devchain.Account, to common.Address, wei *big.Int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tx, err := env.Dev.Send(ctx, from, devchain.TxRequest{To: &to, Value: wei, Gas: 21_000})
	if err != nil {
		t.Fatal(err)
	}
	for {
		n, err := env.Dev.Client().PendingNonceAt(ctx, from.Address)
		if err != nil {
			t.Fatalf("transaction %s not pending: %v", tx.Hash().Hex(), err)
		}
		if n > tx.Nonce() {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// nodeBlock is the node's block with hash as blocks:devnet should carry it.
func nodeBlock(t *testing.T, env *chaintest.Env, hash common.Hash) feeds.Block {
	t.Helper()
	b, err := env.Dev.Client().BlockByHash(t.Context(), hash)
	if err != nil {
		t.Fatalf("block %s: %v", hash.Hex(), err)
	}
	return feeds.Block{Type: "block", Chain: "devnet", Number: b.NumberU64(), Hash: b.Hash().Hex(),
		ParentHash: b.ParentHash().Hex(), Timestamp: int64(b.Time()) * 1000, TxCount: len(b.Transactions())}
}

// nodeHead is the node's head block.
func nodeHead(t *testing.T, env *chaintest.Env) feeds.Block {
	t.Helper()
	h, err := env.Dev.Client().HeaderByNumber(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return nodeBlock(t, env, h.Hash())
}

func TestSnapshotThenEveryBlockInOrder(t *testing.T) {
	env := chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true}, Extra: feedsYAML})
	w := subscribe(t, env)
	// Manual sealing: nothing was sealed since the daemon became ready, so
	// the first message is the node's head: the snapshot, or the first
	// update when the subscription came first (an instance counts as ready
	// from its first Emit, a moment before the publication reaches the
	// channel).
	first := w.waitFor(t, "the snapshot", func(ms []msg) bool { return len(ms) > 0 })[0]
	if first.Type != "block" || !first.Snap && first.Offset != 1 {
		t.Fatalf("first message %s, want the head as the snapshot or the first update", first)
	}
	if head := nodeHead(t, env); first.Block != head {
		t.Fatalf("snapshot %+v, want the node's head %+v", first.Block, head)
	}

	accts := env.Dev.Accounts()
	var want []feeds.Block
	for _, txs := range []int{2, 0, 3, 1, 0, 1} {
		for i := range txs {
			transfer(t, env, accts[1+i], accts[9].Address, big.NewInt(int64(1+i)))
		}
		h := env.Commit(t)
		b := nodeBlock(t, env, h)
		if b.TxCount != txs {
			t.Fatalf("block %d has %d transactions, want %d", b.Number, b.TxCount, txs)
		}
		want = append(want, b)
		// One block at a time: blocks:devnet is a state channel, which a
		// client is sent only the newest of when several are published
		// within one write.
		w.waitBlock(t, h)
	}

	ms := w.all()
	if len(ms) != 1+len(want) {
		t.Fatalf("got %d messages, want the snapshot and %d blocks:\n%s", len(ms), len(want), dump(ms))
	}
	for i, b := range want {
		m := ms[1+i]
		if m.Snap || m.Type != "block" || m.Block != b {
			t.Errorf("update %d: %s\nwant %+v", i, m, b)
		}
		if m.Offset != first.Offset+uint64(i)+1 || m.Skipped != 0 {
			t.Errorf("update %d at offset %d (%d skipped), want offset %d", i, m.Offset, m.Skipped, first.Offset+uint64(i)+1)
		}
	}
	if want[0].ParentHash != first.Block.Hash {
		t.Errorf("first new block's parent %s, want the snapshot %s", want[0].ParentHash, first.Block.Hash)
	}

	// A later subscriber's snapshot is the newest block.
	w2 := subscribe(t, env)
	snap := w2.waitFor(t, "the second snapshot", func(ms []msg) bool { return len(ms) > 0 })[0]
	if !snap.Snap || snap.Block != want[len(want)-1] {
		t.Errorf("second subscriber's first message %s, want the snapshot %+v", snap, want[len(want)-1])
	}
}

func TestReorgNoticeThenNewBranch(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new int // blocks replaced, blocks of the new branch
	}{
		{"one block replaced by one", 1, 1},
		{"two blocks replaced by three", 2, 3},
		{"three blocks replaced by two", 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true}, Extra: feedsYAML})
			accts := env.Dev.Accounts()
			w := subscribe(t, env)
			base := env.Commit(t)
			w.waitBlock(t, base)
			var oldBranch []feeds.Block
			for i := range tc.old {
				transfer(t, env, accts[1], accts[2].Address, big.NewInt(int64(i+1)))
				h := env.Commit(t)
				oldBranch = append(oldBranch, nodeBlock(t, env, h))
				w.waitBlock(t, h)
			}
			before := w.all()
			mark := before[len(before)-1] // the old branch's head
			if err := env.Dev.Fork(base); err != nil {
				t.Fatal(err)
			}
			// The node put the old branch's transactions back into its
			// pool; drop them so that the new branch differs in content.
			if err := env.Dev.Rollback(); err != nil {
				t.Fatal(err)
			}
			var newBranch []feeds.Block
			for i := range tc.new {
				transfer(t, env, accts[3], accts[4].Address, big.NewInt(int64(i+1)))
				h := env.Commit(t)
				newBranch = append(newBranch, nodeBlock(t, env, h))
				// One block at a time, so the node announces each and the
				// tracker sees the reorg at the new branch's first block.
				w.waitBlock(t, h)
			}
			if newBranch[0].ParentHash != base.Hex() || newBranch[0].Number != oldBranch[0].Number {
				t.Fatalf("new branch starts with %+v, want the child of %s at %d", newBranch[0], base.Hex(), oldBranch[0].Number)
			}
			var oldHashes []string
			for _, b := range oldBranch {
				oldHashes = append(oldHashes, b.Hash)
			}
			wantReorg := feeds.Reorg{Type: "reorg", Chain: "devnet", Depth: tc.old, From: oldBranch[0].Number,
				OldHashes: oldHashes, NewHashes: []string{newBranch[0].Hash}}

			// What the daemon published after the old head: the notice,
			// then the new branch, block by block.
			live := w.all()[len(before):]
			last := live[len(live)-1].Offset
			pub := published(t, env, "blocks:devnet", protocol.Position{Epoch: mark.Epoch, Offset: mark.Offset}, last)
			if len(pub) != 1+tc.new {
				t.Fatalf("published after the old head: %d messages, want the reorg notice and %d blocks:\n%s", len(pub), tc.new, dump(pub))
			}
			if pub[0].Type != "reorg" || fmt.Sprint(pub[0].Reorg) != fmt.Sprint(wantReorg) {
				t.Errorf("published %s\nwant the notice %+v", pub[0], wantReorg)
			}
			for i, b := range newBranch {
				if m := pub[1+i]; m.Type != "block" || m.Block != b {
					t.Errorf("published %s\nwant new branch block %+v", m, b)
				}
			}
			for i, m := range pub {
				if m.Offset != mark.Offset+uint64(i)+1 {
					t.Errorf("published %s at offset %d, want %d", m, m.Offset, mark.Offset+uint64(i)+1)
				}
			}

			// The live client got the new branch in order, each message as
			// published; the notice may have been coalesced away (see
			// TestLiveClientSeesReorgNotice), which its offset then says.
			var blocks []feeds.Block
			for i, m := range live {
				if m.Offset <= mark.Offset || m.Offset > last {
					t.Fatalf("live %s outside the published offsets %d..%d", m, mark.Offset+1, last)
				}
				if p := pub[m.Offset-mark.Offset-1]; string(p.Raw) != string(m.Raw) {
					t.Errorf("live %s differs from the published %s", m, p)
				}
				prev := mark.Offset
				if i > 0 {
					prev = live[i-1].Offset
				}
				if m.Offset != prev+1+m.Skipped {
					t.Errorf("live %s after offset %d", m, prev)
				}
				if m.Type == "block" {
					blocks = append(blocks, m.Block)
				}
			}
			if fmt.Sprint(blocks) != fmt.Sprint(newBranch) {
				t.Errorf("live blocks after the fork:\n%s\nwant %+v", dump(live), newBranch)
			}
			if live[0].Type != "reorg" {
				t.Errorf("the live client did not get the reorg notice first: %s", live[0])
			}

			// A new subscriber's snapshot is the newest block of the new branch.
			w2 := subscribe(t, env)
			snap := w2.waitFor(t, "the snapshot", func(ms []msg) bool { return len(ms) > 0 })[0]
			if !snap.Snap || snap.Block != newBranch[len(newBranch)-1] {
				t.Errorf("snapshot after the reorg %s, want %+v", snap, newBranch[len(newBranch)-1])
			}
		})
	}
}

// TestLiveClientSeesReorgNotice is what a client of blocks:<chain> relies
// on: the reorg notice reaches it (blocks: is an event channel, never
// coalesced, so the notice published just before the new branch's first
// block is not skipped).
func TestLiveClientSeesReorgNotice(t *testing.T) {
	env := chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true}, Extra: feedsYAML})
	w := subscribe(t, env)
	base := env.Commit(t)
	w.waitBlock(t, base)
	w.waitBlock(t, env.Commit(t))
	if err := env.Dev.Fork(base); err != nil {
		t.Fatal(err)
	}
	w.waitBlock(t, env.Commit(t))
	w.waitFor(t, "the reorg notice", func(ms []msg) bool {
		for _, m := range ms {
			if m.Type == "reorg" {
				return true
			}
		}
		return false
	})
}

// TestCutAndRestoreLosesNoBlock cuts the daemon's connection to the node
// while blocks are sealed, twice, and checks that blocks:devnet still
// carries every block once, in order.
func TestCutAndRestoreLosesNoBlock(t *testing.T) {
	var proxy *devchain.Proxy
	env := chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true}, Extra: feedsYAML,
		Endpoint: func(dev *devchain.Chain) string {
			p, err := devchain.NewProxy(dev.Addr())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			proxy = p
			return p.WSURL()
		}})
	w := subscribe(t, env)
	snap := w.waitFor(t, "the snapshot", func(ms []msg) bool { return len(ms) > 0 })[0]
	accts := env.Dev.Accounts()
	want := []feeds.Block{snap.Block}
	commit := func(n int) {
		for i := range n {
			if i%2 == 0 {
				transfer(t, env, accts[1], accts[2].Address, big.NewInt(1))
			}
			want = append(want, nodeBlock(t, env, env.Commit(t)))
		}
	}
	for round := range 2 {
		commit(3)
		w.waitBlock(t, common.HexToHash(want[len(want)-1].Hash))
		proxy.Cut()
		waitDisconnected(t, env)
		commit(5 + round) // sealed while the daemon cannot reach the node
		proxy.Restore()
	}
	commit(2)
	live := w.waitBlock(t, common.HexToHash(want[len(want)-1].Hash))

	// Published: every block once, in order, as the node has it.
	pub := published(t, env, "blocks:devnet", protocol.Position{Epoch: snap.Epoch, Offset: snap.Offset}, live[len(live)-1].Offset)
	if len(pub) != len(want)-1 {
		t.Fatalf("published %d messages after the snapshot, want the %d blocks sealed:\n%s", len(pub), len(want)-1, dump(pub))
	}
	for i, m := range pub {
		if m.Type != "block" || m.Block != want[1+i] {
			t.Errorf("published %s\nwant %+v", m, want[1+i])
		}
	}

	// Live: blocks:devnet is an event channel, never coalesced: the client
	// is sent every block once, in order, as published, the backfilled
	// burst included.
	if len(live)-1 != len(pub) {
		t.Errorf("live client got %d blocks after the snapshot, want all %d:\n%s", len(live)-1, len(pub), dump(live))
	}
	for i, m := range live[1:] {
		prev := live[i]
		if m.Type != "block" || m.Offset != prev.Offset+1 || m.Skipped != 0 || m.Block.Number != prev.Block.Number+1 {
			t.Errorf("live %s after %s", m, prev)
		}
		if m.Offset <= snap.Offset || m.Offset-snap.Offset > uint64(len(pub)) {
			t.Fatalf("live %s outside the published offsets %d..%d", m, snap.Offset+1, snap.Offset+uint64(len(pub)))
		}
		if p := pub[m.Offset-snap.Offset-1]; string(p.Raw) != string(m.Raw) {
			t.Errorf("live %s differs from the published %s", m, p)
		}
	}
}

// TestGapNotice falls further behind than max_backfill: the blocks too far
// back are announced as a gap, the rest published.
func TestGapNotice(t *testing.T) {
	const maxBackfill = 2
	var proxy *devchain.Proxy
	env := chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true}, Extra: feedsYAML, MaxBackfill: maxBackfill,
		Endpoint: func(dev *devchain.Chain) string {
			p, err := devchain.NewProxy(dev.Addr())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			proxy = p
			return p.WSURL()
		}})
	w := subscribe(t, env)
	last := nodeBlock(t, env, env.Commit(t))
	mark := w.waitBlock(t, common.HexToHash(last.Hash))
	proxy.Cut()
	waitDisconnected(t, env)
	var sealed []feeds.Block
	for range 6 {
		sealed = append(sealed, nodeBlock(t, env, env.Commit(t)))
	}
	proxy.Restore()
	head := sealed[len(sealed)-1]
	live := w.waitBlock(t, common.HexToHash(head.Hash))

	pub := published(t, env, "blocks:devnet", protocol.Position{Epoch: mark[len(mark)-1].Epoch, Offset: mark[len(mark)-1].Offset},
		live[len(live)-1].Offset)
	kept := sealed[len(sealed)-maxBackfill-1:]
	if len(pub) != 1+len(kept) {
		t.Fatalf("published %d messages after block %d, want a gap and %d blocks:\n%s", len(pub), last.Number, len(kept), dump(pub))
	}
	var gap feeds.Gap
	if err := json.Unmarshal(pub[0].Raw, &gap); err != nil || pub[0].Type != "gap" {
		t.Fatalf("published %s, want the gap notice (%v)", pub[0], err)
	}
	if gap.Chain != "devnet" || gap.From != last.Number+1 || gap.To != kept[0].Number-1 || !strings.Contains(gap.Reason, "max_backfill") {
		t.Errorf("gap %+v, want blocks %d..%d", gap, last.Number+1, kept[0].Number-1)
	}
	for i, b := range kept {
		if m := pub[1+i]; m.Type != "block" || m.Block != b {
			t.Errorf("published %s\nwant %+v", m, b)
		}
	}
	w2 := subscribe(t, env)
	if snap := w2.waitFor(t, "the snapshot", func(ms []msg) bool { return len(ms) > 0 })[0]; snap.Block != head {
		t.Errorf("snapshot after the gap %s, want %+v", snap, head)
	}
}

// waitDisconnected waits until the daemon reports no endpoint in use for
// devnet (GET /api/v1/chains).
func waitDisconnected(t *testing.T, env *chaintest.Env) {
	t.Helper()
	url := "http://" + env.Daemon.Addr().String() + "/api/v1/chains"
	deadline := time.Now().Add(10 * time.Second)
	for {
		var body struct {
			Chains []plugins.ChainStatus `json:"chains"`
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(body.Chains) == 1 && body.Chains[0].Endpoint == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon still reports a connection: %+v", body)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
