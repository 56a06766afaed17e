package slots_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/feedd/feedd/channels/client"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/chaintest"
	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/internal/solanatest"
)

const channel = "blocks:solana"

// setup describes one node and one daemon following it with a solana.slots
// feed.
type setup struct {
	node       solanatest.Options
	commitment string // the chain's; default confirmed
	feed       string // more keys of the feed, e.g. ", max_backfill: 5"
	fresh      bool   // start the daemon while the node holds only its genesis block
}

// harness is a fake node, the daemon following it (pubsub through a proxy
// that can cut it off), a client subscribed to blocks:solana and an RPC
// client of the node (to read what it serves).
type harness struct {
	srv   *solanatest.Server
	proxy *devchain.Proxy
	env   *chaintest.Env
	w     *watch
	rpc   *rpc.Client
	// commit is the commitment blocks are read at (processed is served as
	// confirmed).
	commit rpc.CommitmentType
}

func start(t *testing.T, s setup) *harness {
	t.Helper()
	srv, err := solanatest.New(s.node)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if !s.fresh {
		srv.Produce(3) // a node with some history
	}
	if s.commitment == "" {
		s.commitment = "confirmed"
	}
	proxy, err := devchain.NewProxy(strings.TrimPrefix(srv.RPCURL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	h := &harness{srv: srv, proxy: proxy, rpc: rpc.New(srv.RPCURL()), commit: rpc.CommitmentType(s.commitment)}
	if h.commit == rpc.CommitmentProcessed {
		h.commit = rpc.CommitmentConfirmed
	}
	h.env = chaintest.StartSolana(t, chaintest.SolanaOptions{RPC: srv.RPCURL(), WS: proxy.WSURL(), Commitment: s.commitment,
		Extra: "feeds:\n  - {id: slots, type: solana.slots, chain: solana" + s.feed + "}\n"})
	h.w = subscribe(t, h.env)
	return h
}

// msg is one message of blocks:solana as the client got it: the snapshot
// or an update, with its offset.
type msg struct {
	Snap    bool
	Offset  uint64
	Skipped uint64
	Type    string // "block", "gap"
	Block   feeds.Block
	Gap     feeds.Gap
	Raw     json.RawMessage
}

func (m msg) String() string {
	kind := "update"
	if m.Snap {
		kind = "snapshot"
	}
	return fmt.Sprintf("%s@%d(+%d skipped) %s", kind, m.Offset, m.Skipped, m.Raw)
}

func dump(ms []msg) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// watch is a client subscribed to blocks:solana that keeps every message.
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
		var head struct {
			Type string `json:"type"`
		}
		err := json.Unmarshal(m.Raw, &head)
		m.Type = head.Type
		switch {
		case err != nil:
		case m.Type == "block":
			err = json.Unmarshal(m.Raw, &m.Block)
		case m.Type == "gap":
			err = json.Unmarshal(m.Raw, &m.Gap)
		}
		if err != nil {
			t.Errorf("%s: %v", m, err)
		}
		w.mu.Lock()
		w.msgs = append(w.msgs, m)
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	_, err = c.Subscribe(ctx, channel, client.HandlerFuncs{
		Update:   func(u client.Update) { add(msg{Offset: u.Offset, Skipped: u.Skipped, Raw: u.Data}) },
		Snapshot: func(s client.Snapshot) { add(msg{Snap: true, Offset: s.Offset, Raw: s.Data}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
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

// newest returns the highest block number among ms, and whether there is
// a block.
func newest(ms []msg) (uint64, bool) {
	var n uint64
	ok := false
	for _, m := range ms {
		if m.Type == "block" && (!ok || m.Block.Number > n) {
			n, ok = m.Block.Number, true
		}
	}
	return n, ok
}

// waitHead waits until the feed published the node's newest block at the
// feed's commitment, and checks it published nothing beyond it.
func (h *harness) waitHead(t *testing.T) []msg {
	t.Helper()
	want := h.nodeHead(t)
	ms := h.w.waitFor(t, fmt.Sprintf("block %d", want), func(ms []msg) bool {
		n, ok := newest(ms)
		return ok && n >= want
	})
	if n, _ := newest(ms); n != want {
		t.Fatalf("newest block published %d, want the node's newest at %s %d:\n%s", n, h.commit, want, dump(ms))
	}
	return ms
}

// nodeHead is the node's newest block at the feed's commitment.
func (h *harness) nodeHead(t *testing.T) uint64 {
	t.Helper()
	slots := h.nodeSlots(t, 0, h.srv.Slot())
	return slots[len(slots)-1]
}

// nodeSlots lists the node's blocks from from to to at the feed's
// commitment.
func (h *harness) nodeSlots(t *testing.T, from, to uint64) []uint64 {
	t.Helper()
	got, err := h.rpc.GetBlocks(t.Context(), from, &to, h.commit)
	if err != nil {
		t.Fatalf("getBlocks %d-%d: %v", from, to, err)
	}
	return got
}

// nodeBlock is the node's block of slot as blocks:solana should carry it
// (Root aside: it depends on when the block was published).
func (h *harness) nodeBlock(t *testing.T, slot uint64) feeds.Block {
	t.Helper()
	zero := uint64(0)
	rewards := false
	b, err := h.rpc.GetBlockWithOpts(t.Context(), slot, &rpc.GetBlockOpts{TransactionDetails: rpc.TransactionDetailsSignatures,
		Rewards: &rewards, Commitment: h.commit, MaxSupportedTransactionVersion: &zero})
	if err != nil {
		t.Fatalf("getBlock %d: %v", slot, err)
	}
	parent := b.ParentSlot
	out := feeds.Block{Type: "block", Chain: "solana", Number: slot, Hash: b.Blockhash.String(),
		ParentHash: b.PreviousBlockhash.String(), TxCount: len(b.Signatures), ParentSlot: &parent,
		Height: b.BlockHeight, Commitment: string(h.commit)}
	if b.BlockTime != nil {
		out.Timestamp = int64(*b.BlockTime) * 1000
	}
	return out
}

// checkBlocks checks that ms (a client's messages, from its first) hold
// every block the node has at the commitment from the first one the client
// got to the newest, in order, each once, each as the node serves it, on
// consecutive offsets, and no gap notice.
func (h *harness) checkBlocks(t *testing.T, ms []msg) []feeds.Block {
	t.Helper()
	var blocks []feeds.Block
	for i, m := range ms {
		if i > 0 && m.Offset != ms[i-1].Offset+1 || m.Skipped != 0 {
			t.Errorf("%s after offset %d: not the next one", m, ms[i-1].Offset)
		}
		if m.Type != "block" {
			t.Errorf("unexpected %s", m)
			continue
		}
		blocks = append(blocks, m.Block)
	}
	if len(blocks) == 0 {
		t.Fatalf("no block:\n%s", dump(ms))
	}
	want := h.nodeSlots(t, blocks[0].Number, blocks[len(blocks)-1].Number)
	var got []uint64
	for _, b := range blocks {
		got = append(got, b.Number)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("blocks published %v, want the node's %v:\n%s", got, want, dump(ms))
	}
	nodeRoot, err := h.rpc.GetSlot(t.Context(), rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	var prevRoot uint64
	for i, b := range blocks {
		nb := h.nodeBlock(t, b.Number)
		root := b.Root
		b.Root = 0
		if !reflect.DeepEqual(b, nb) {
			t.Errorf("block %d:\n got %s\nwant %s", b.Number, show(b), show(nb))
		}
		if i > 0 && (*b.ParentSlot != blocks[i-1].Number || b.ParentHash != blocks[i-1].Hash) {
			t.Errorf("block %d: parent %d %s, want the previous block %d %s", b.Number, *b.ParentSlot, b.ParentHash, blocks[i-1].Number, blocks[i-1].Hash)
		}
		if root < prevRoot {
			t.Errorf("block %d: root %d after root %d", b.Number, root, prevRoot)
		}
		prevRoot = root
		if root > nodeRoot || h.commit == rpc.CommitmentFinalized && root < b.Number {
			t.Errorf("block %d at %s: root %d, want at most the node's %d (and at least the block when finalized)", b.Number, h.commit, root, nodeRoot)
		}
	}
	return blocks
}

func show(b feeds.Block) string {
	j, _ := json.Marshal(b)
	return string(j)
}

func TestEveryBlockInOrder(t *testing.T) {
	t.Parallel()
	h := start(t, setup{feed: ", poll_interval: 1h"})
	first := h.waitHead(t)[0]
	if first.Type != "block" || first.Block.Number != h.nodeHead(t) {
		t.Fatalf("first message %s, want the node's newest block %d", first, h.nodeHead(t))
	}

	// Blocks with 2, 0, 3, 1, 0 and 1 transactions.
	txs := map[uint64]int{}
	payer := sol.NewWallet().PublicKey()
	h.srv.Airdrop(payer, 1_000_000_000)
	txs[h.srv.Produce(1)] = 1
	for _, n := range []int{2, 0, 3, 1, 0, 1} {
		for range n {
			h.srv.Transfer(payer, sol.NewWallet().PublicKey(), 1_000_000)
		}
		txs[h.srv.Produce(1)] = n
	}
	h.srv.Produce(1) // confirms the last one
	blocks := h.checkBlocks(t, h.waitHead(t))
	if len(blocks) != 2+len(txs) {
		t.Errorf("%d blocks, want the first, the one after it and %d new ones", len(blocks), len(txs))
	}
	for _, b := range blocks[1:] {
		if n, ok := txs[b.Number]; ok && b.TxCount != n {
			t.Errorf("block %d: txCount %d, want the %d transactions landed in it", b.Number, b.TxCount, n)
		}
		if b.Timestamp == 0 || b.Height == nil || b.Commitment != "confirmed" {
			t.Errorf("block %d: %s, want a timestamp, a height and commitment confirmed", b.Number, show(b))
		}
	}
	if last := blocks[len(blocks)-1]; *last.Height != h.srv.BlockHeight()-1 {
		t.Errorf("newest confirmed block at height %d, want %d (one below the node's newest)", *last.Height, h.srv.BlockHeight()-1)
	}

	// A later subscriber's snapshot is the newest block.
	w2 := subscribe(t, h.env)
	snap := w2.waitFor(t, "the snapshot", func(ms []msg) bool { return len(ms) > 0 })[0]
	if !snap.Snap || string(snap.Raw) != string(h.w.all()[len(h.w.all())-1].Raw) {
		t.Errorf("second subscriber's first message %s, want the newest block as the snapshot", snap)
	}
}

// TestFreshNode starts the daemon while the node holds only its genesis
// block: the feed must become ready and publish every block from it.
func TestFreshNode(t *testing.T) {
	t.Parallel()
	h := start(t, setup{fresh: true, feed: ", poll_interval: 1h"})
	h.srv.Produce(3)
	ms := h.waitHead(t)
	blocks := h.checkBlocks(t, ms)
	if blocks[0].Number != 0 {
		t.Errorf("first block %d, want the genesis block 0:\n%s", blocks[0].Number, dump(ms))
	}
}

func TestSkippedSlotsAreNotGaps(t *testing.T) {
	t.Parallel()
	type step struct{ produce, skip int }
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"one skipped", []step{{1, 1}, {2, 0}}},
		{"runs of skipped slots", []step{{1, 3}, {1, 2}, {2, 1}, {1, 0}}},
		{"more skipped slots than max_backfill", []step{{1, 8}, {2, 0}}},
		{"skipped slots after the newest block", []step{{2, 7}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// max_backfill 5: a run of skipped slots longer than it must
			// not pass for falling behind.
			h := start(t, setup{feed: ", max_backfill: 5, poll_interval: 200ms"})
			h.waitHead(t)
			produced := []uint64{h.srv.Slot()} // processed when the feed started
			// The feed keeps up: it has published the block before each
			// slot produced when the next one comes.
			for _, s := range tc.steps {
				for range s.produce {
					produced = append(produced, h.srv.Produce(1))
					h.waitHead(t)
				}
				h.srv.Skip(s.skip)
			}
			h.srv.Produce(1)
			blocks := h.checkBlocks(t, h.waitHead(t))
			var got []uint64
			for _, b := range blocks[1:] {
				got = append(got, b.Number)
			}
			if fmt.Sprint(got) != fmt.Sprint(produced) {
				t.Errorf("new blocks %v, want %v", got, produced)
			}
		})
	}
}

func TestCommitment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		commitment string
		want       string
		lag        uint64 // slots behind the node's newest
	}{
		{"processed", "confirmed", 1}, // nodes do not serve blocks at processed
		{"confirmed", "confirmed", 1},
		{"finalized", "finalized", 3},
	} {
		t.Run(tc.commitment, func(t *testing.T) {
			t.Parallel()
			h := start(t, setup{node: solanatest.Options{ConfirmDepth: 1, FinalizeDepth: 3}, commitment: tc.commitment,
				feed: ", poll_interval: 1h"})
			h.waitHead(t)
			for range 5 {
				slot := h.srv.Produce(1)
				ms := h.waitHead(t) // and nothing newer
				if n, _ := newest(ms); n != slot-tc.lag {
					t.Fatalf("after slot %d: newest block %d, want %d", slot, n, slot-tc.lag)
				}
			}
			for _, b := range h.checkBlocks(t, h.w.all()) {
				if b.Commitment != tc.want {
					t.Errorf("block %d at commitment %q, want %q", b.Number, b.Commitment, tc.want)
				}
			}
		})
	}
}

func TestReconnectNoLossNoDuplicate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		down bool // pubsub stays cut off while the node produces
	}{
		{"drop", false},
		{"drop, then down for a while", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// No poll: the resubscription alone must bring the blocks
			// produced in between.
			h := start(t, setup{feed: ", poll_interval: 1h"})
			h.srv.Produce(2)
			h.waitHead(t)
			subs := h.srv.Subscriptions()
			if tc.down {
				h.proxy.Cut()
			} else {
				h.srv.DropConnections()
			}
			h.srv.Produce(3)
			if tc.down {
				h.proxy.Restore()
			}
			waitUntil(t, "the subscriptions to come back", func() bool { return h.srv.Subscriptions() == subs })
			h.waitHead(t)
			h.srv.Produce(3)
			h.checkBlocks(t, h.waitHead(t))
		})
	}
}

func TestFallingBehind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		advance func(srv *solanatest.Server) // while the daemon is cut off from the node's pubsub
		gap     bool
	}{
		{"20 blocks", func(srv *solanatest.Server) { srv.Produce(20) }, true},
		{"more slots than are counted", func(srv *solanatest.Server) { srv.Produce(1200) }, true},
		{"skipped slots only", func(srv *solanatest.Server) { srv.Skip(30); srv.Produce(3) }, false},
		// With the block processed when the daemon was cut off: 5 and 6.
		{"as many blocks as max_backfill", func(srv *solanatest.Server) { srv.Skip(10); srv.Produce(4); srv.Skip(4); srv.Produce(1) }, false},
		{"one block more than max_backfill", func(srv *solanatest.Server) { srv.Skip(10); srv.Produce(5); srv.Skip(4); srv.Produce(1) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, setup{feed: ", max_backfill: 5, poll_interval: 1h"})
			h.srv.Produce(1)
			before := h.waitHead(t)
			last := before[len(before)-1].Block.Number
			// No notification comes, and the feed does not poll.
			h.proxy.Cut()
			tc.advance(h.srv)
			head := h.nodeHead(t)
			h.proxy.Restore()
			ms := h.waitHead(t)[len(before):]
			if !tc.gap {
				h.checkBlocks(t, append(before[len(before)-1:], ms...))
				return
			}
			if len(ms) == 0 || ms[0].Type != "gap" {
				t.Fatalf("after falling behind, want a gap notice first:\n%s", dump(ms))
			}
			// The feed resumes at the newest 5 blocks.
			waiting := h.nodeSlots(t, last+1, head)
			resume := waiting[len(waiting)-5]
			g := ms[0].Gap
			want := feeds.Gap{Type: "gap", Chain: "solana", From: last + 1, To: resume - 1, Reason: g.Reason}
			if g != want || !strings.Contains(g.Reason, "max_backfill") {
				t.Errorf("gap notice %+v, want %+v with a reason naming max_backfill", g, want)
			}
			// Then those blocks, and on.
			h.srv.Produce(1)
			ms = h.waitHead(t)[len(before)+1:]
			if blocks := h.checkBlocks(t, ms); blocks[0].Number != resume {
				t.Errorf("first block after the gap %d, want %d", blocks[0].Number, resume)
			}
		})
	}
}

// TestBurst: more slot notifications at once than the feed's inbox holds;
// the newest are dropped, and the feed must still get to the head.
func TestBurst(t *testing.T) {
	t.Parallel()
	h := start(t, setup{feed: ", max_backfill: 10000, poll_interval: 1h"})
	h.waitHead(t)
	h.srv.Produce(500)
	h.checkBlocks(t, h.waitHead(t))
}

func TestMalformedNotifications(t *testing.T) {
	t.Parallel()
	for _, commitment := range []string{"confirmed", "finalized"} {
		t.Run(commitment, func(t *testing.T) {
			t.Parallel()
			h := start(t, setup{commitment: commitment, feed: ", max_backfill: 5, poll_interval: 1h"})
			h.waitHead(t)
			raws := []string{
				`not json`,
				`{"jsonrpc":"2.0"}`,
				`[1,2,3]`,
			}
			// Notifications of every subscription (the chain's own and the
			// feed's; ids count from 1) with results that are no slot, or
			// a slot far beyond the node's.
			for id := 1; id <= 5; id++ {
				for _, method := range []string{"slotNotification", "rootNotification"} {
					for _, result := range []string{`"x"`, `{}`, `[1]`, `{"slot":"7"}`, `-1`, `1.5`, `{"slot":-3}`, `true`,
						`{"parent":1,"root":1,"slot":99999999}`, `99999999`, `{"slot":18446744073709551615}`} {
						raws = append(raws, fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":{"subscription":%d,"result":%s}}`, method, id, result))
					}
				}
			}
			for _, raw := range raws {
				h.srv.Inject([]byte(raw))
			}
			for range 4 {
				h.srv.Produce(1)
				h.waitHead(t)
			}
			h.checkBlocks(t, h.w.all())
			if logs := h.env.Logs.String(); strings.Contains(logs, "panic") {
				t.Errorf("a panic was logged:\n%s", logs)
			}
		})
	}
}

func TestRateLimited(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		limited int  // HTTP requests answered 429 (Retry-After: 1)
		giveUp  bool // so many that a call gives up: the feed tries again at the next slot
	}{
		{"a few requests", 2, false},
		{"more than a call waits for", 6, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, setup{feed: ", poll_interval: 1h"})
			h.waitHead(t)
			// No request of the test's own while the node answers 429.
			h.srv.RateLimit(tc.limited)
			h.srv.Produce(3)
			if tc.giveUp {
				waitUntil(t, "the feed to give up", func() bool { return strings.Contains(h.env.Logs.String(), "reading blocks failed") })
			}
			slot := h.srv.Produce(2)
			h.w.waitFor(t, fmt.Sprintf("block %d", slot-1), func(ms []msg) bool {
				n, _ := newest(ms)
				return n >= slot-1
			})
			h.checkBlocks(t, h.waitHead(t))
		})
	}
}

// TestPollWhenNotificationsStop: a block confirmed by a skipped slot comes
// with no notification; the poll finds it.
func TestPollWhenNotificationsStop(t *testing.T) {
	t.Parallel()
	h := start(t, setup{feed: ", poll_interval: 100ms"})
	h.waitHead(t)
	slot := h.srv.Produce(1)
	h.waitHead(t) // the block before it: the feed saw slot's notification
	h.srv.Skip(1) // confirms slot, with no notification
	ms := h.w.waitFor(t, fmt.Sprintf("block %d", slot), func(ms []msg) bool {
		n, _ := newest(ms)
		return n >= slot
	})
	h.checkBlocks(t, ms)
}

// waitUntil waits (up to 10 s) until cond holds.
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
