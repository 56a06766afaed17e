// Package slots is the solana.slots plugin: every block of a Solana chain at
// the chain's commitment (confirmed for processed, since blocks are not
// served at processed), in slot order, to blocks:<chain>, with its time,
// transaction count, parent slot and height. Skipped slots are not gaps: the
// node's list of produced blocks says which slots have one. A gap notice
// says when more than max_backfill blocks waited and the feed jumped to the
// newest max_backfill of them.
package slots

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gagliardetto/solana-go/rpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/feedd/feedd/chains/solana"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/plugins"
)

// Config is solana.slots' configuration.
type Config struct {
	Chain        string        `yaml:"chain" required:"true" ref:"chain" doc:"the solana chain (its name under chains:) whose blocks go to blocks:<chain>"`
	MaxBackfill  int           `yaml:"max_backfill" default:"256" min:"1" max:"10000" doc:"most blocks caught up after falling behind (a disconnect; skipped slots do not count); beyond it the feed jumps to the newest max_backfill blocks and a gap notice says which slots it skipped"`
	PollInterval time.Duration `yaml:"poll_interval" default:"2s" min:"10ms" doc:"how often to look for new blocks over HTTP when no slot notification came (pubsub down)"`
}

//go:embed example.yaml
var example string

func init() {
	plugins.Register(plugins.Type{
		Name:    "solana.slots",
		Kind:    plugins.KindSource,
		Doc:     "publishes every block of a Solana chain to blocks:<chain> in slot order (time, transaction count, parent slot), skipped slots told apart from gaps",
		Config:  func() any { return &Config{} },
		Example: example,
		NewSource: func(cfg any, env plugins.Env) (plugins.Instance, error) {
			c, err := solana.Lookup(env, cfg.(*Config).Chain)
			if err != nil {
				return nil, err
			}
			return New(*cfg.(*Config), c, env), nil
		},
	})
}

// Slots is a running solana.slots instance.
type Slots struct {
	cfg    Config
	chain  *solana.Chain
	tracer trace.Tracer
	commit rpc.CommitmentType

	next    uint64 // the first slot neither published nor known to be skipped
	started bool   // next is set: the first look found the node's newest slot
	// seen is the newest slot the node itself named (getSlot, getBlocks);
	// root is the newest root published, never above seen (a root from a
	// notification beyond what the node showed is not trusted) nor going
	// back.
	seen, root uint64
}

// New returns an instance of cfg on chain.
func New(cfg Config, chain *solana.Chain, env plugins.Env) *Slots {
	tracer := env.Tracer
	if tracer == nil {
		tracer = noop.NewTracerProvider().Tracer("")
	}
	if cfg.MaxBackfill <= 0 {
		cfg.MaxBackfill = 256
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	commit := chain.Commitment()
	if commit == rpc.CommitmentProcessed {
		commit = rpc.CommitmentConfirmed
	}
	return &Slots{cfg: cfg, chain: chain, tracer: tracer, commit: commit}
}

// Run publishes blocks until ctx ends. Slot notifications (root ones at
// finalized commitment) say when to look and how far; a timer looks when
// they stop.
func (s *Slots) Run(ctx context.Context, h *plugins.Host) error {
	in := solana.NewInbox(64)
	method := "slotSubscribe"
	if s.commit == rpc.CommitmentFinalized {
		method = "rootSubscribe"
	}
	sub := s.chain.Subscribe(solana.SubRequest{Method: method}, in)
	defer sub.Close()
	clk := h.Clock()
	var hint uint64 // newest slot notified since the last look
	for {
		wait := s.cfg.PollInterval
		if err := s.catchUp(ctx, h, hint); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Again at the next slot, or in a second if none comes.
			wait = min(wait, retryAfterFailure)
			h.Logger().Warn("reading blocks failed; trying again", "in", wait, "error", err)
		}
		hint = 0
		t := clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-in.Ready():
			notes, lost := in.Take()
			for _, n := range notes {
				if n.Kind == solana.NoteData {
					hint = max(hint, notified(n))
				}
			}
			if lost {
				hint = 0 // the newest notifications were dropped: ask the node
			}
		case <-t.C():
		}
		t.Stop()
	}
}

// retryAfterFailure is the longest wait after a look that failed.
const retryAfterFailure = time.Second

// notified returns the slot a slot or root notification names, or 0.
func notified(n solana.Notification) uint64 {
	var slot struct {
		Slot uint64 `json:"slot"`
	}
	if json.Unmarshal(n.Result, &slot) == nil && slot.Slot > 0 {
		return slot.Slot
	}
	var root uint64
	if json.Unmarshal(n.Result, &root) == nil {
		return root
	}
	return 0
}

// countLimit bounds the slots whose blocks catchUp counts before deciding
// whether it fell behind: a longer stretch is a gap without asking (no run
// of skipped slots is that long), so a long disconnect costs no huge
// getBlocks.
func (s *Slots) countLimit() uint64 { return max(4*uint64(s.cfg.MaxBackfill), 1000) }

// catchUp publishes the blocks produced since the last one, up to head: the
// notified slot hint, or the node's newest slot at the commitment (at the
// start, when there is no hint, and when the hint is more than max_backfill
// slots ahead: a notified slot is processed, or could be wrong, and a jump
// must not rest on it). The node's list of blocks ends at its newest at the
// commitment, so a hint ahead of it is harmless: the rest comes next time.
// Skipped slots are not a gap: the feed jumps only when more than
// max_backfill blocks wait.
func (s *Slots) catchUp(ctx context.Context, h *plugins.Host, hint uint64) error {
	head := hint
	if !s.started || hint == 0 || hint >= s.next && hint-s.next >= uint64(s.cfg.MaxBackfill) {
		err := s.chain.Do(ctx, "getSlot", func(ctx context.Context, cl *rpc.Client) (err error) {
			head, err = cl.GetSlot(ctx, s.commit)
			return err
		})
		if err != nil {
			return fmt.Errorf("getSlot: %w", err)
		}
		s.seen = max(s.seen, head)
		if !s.started {
			s.next, s.started = head, true // start at the newest block
			h.Ready()
		}
	}
	if head < s.next {
		h.Alive()
		return nil
	}
	start := s.next
	if head-s.next+1 > s.countLimit() {
		start = head - s.countLimit() + 1
	}
	produced, err := s.blocks(ctx, start, head)
	if err != nil {
		return err
	}
	if n := len(produced); n > 0 {
		s.seen = max(s.seen, produced[n-1])
	}
	if n := len(produced); n > s.cfg.MaxBackfill || start > s.next {
		resume := start
		if n > s.cfg.MaxBackfill {
			produced = produced[n-s.cfg.MaxBackfill:]
			resume = produced[0]
		}
		gap := feeds.Gap{Type: "gap", Chain: s.chain.Name(), From: s.next, To: resume - 1,
			Reason: fmt.Sprintf("fell %d slots behind, more than max_backfill %d blocks", head-s.next+1, s.cfg.MaxBackfill)}
		h.Logger().Warn("skipping slots", "from", gap.From, "to", gap.To, "reason", gap.Reason)
		s.chain.NoteGap(ctx)
		h.EmitContext(ctx, feeds.Publication{Kind: "gap", Channel: "blocks:" + s.chain.Name(), Data: gap})
		s.next = resume
	}
	for _, slot := range produced {
		if slot < s.next || slot > head {
			continue
		}
		ok, err := s.publish(ctx, h, slot)
		if err != nil {
			return err
		}
		if !ok {
			return nil // not available yet: the next round
		}
		s.next = slot + 1
	}
	h.Alive()
	return nil
}

// blocks returns the node's list of blocks from start to head at the
// commitment.
func (s *Slots) blocks(ctx context.Context, start, head uint64) (rpc.BlocksResult, error) {
	var produced rpc.BlocksResult
	err := s.chain.Do(ctx, "getBlocks", func(ctx context.Context, cl *rpc.Client) (err error) {
		produced, err = cl.GetBlocks(ctx, start, &head, s.commit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("getBlocks %d-%d: %w", start, head, err)
	}
	return produced, nil
}

// publish reads one block and publishes it; false when it is not available
// yet at the commitment.
func (s *Slots) publish(ctx context.Context, h *plugins.Host, slot uint64) (bool, error) {
	ctx, span := s.tracer.Start(ctx, "solana.slots.block", trace.WithAttributes(
		attribute.String("feedd.chain", s.chain.Name()), attribute.Int64("feedd.block.number", int64(slot))))
	defer span.End()
	var b *rpc.GetBlockResult
	zero := uint64(0)
	rewards := false
	err := s.chain.Do(ctx, "getBlock", func(ctx context.Context, cl *rpc.Client) (err error) {
		b, err = cl.GetBlockWithOpts(ctx, slot, &rpc.GetBlockOpts{
			TransactionDetails: rpc.TransactionDetailsSignatures, Rewards: &rewards,
			Commitment: s.commit, MaxSupportedTransactionVersion: &zero,
		})
		return err
	})
	switch {
	case solana.IsSkipped(err):
		return true, nil
	case solana.IsNotAvailable(err):
		return false, nil
	case err != nil:
		span.RecordError(err)
		return false, fmt.Errorf("getBlock %d: %w", slot, err)
	case b == nil:
		return false, nil
	}
	blk := feeds.Block{Type: "block", Chain: s.chain.Name(), Number: slot, Hash: b.Blockhash.String(),
		ParentHash: b.PreviousBlockhash.String(), TxCount: len(b.Signatures), Commitment: string(s.commit)}
	parent := b.ParentSlot
	blk.ParentSlot = &parent
	if b.BlockHeight != nil {
		height := *b.BlockHeight
		blk.Height = &height
	}
	if b.BlockTime != nil {
		blk.Timestamp = int64(*b.BlockTime) * 1000
	}
	if _, root, ok := s.chain.Slot(); ok && root <= max(s.seen, slot) && root > s.root {
		s.root = root
	}
	if s.commit == rpc.CommitmentFinalized && slot > s.root {
		s.root = slot // a finalized block is rooted
	}
	blk.Root = s.root
	span.SetAttributes(attribute.Int("feedd.block.txs", blk.TxCount))
	h.EmitContext(ctx, feeds.Publication{Kind: "block", Channel: "blocks:" + s.chain.Name(), Data: blk})
	return true, nil
}
