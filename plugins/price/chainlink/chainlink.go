// Package chainlink is the price.chainlink plugin: Chainlink AggregatorV3
// price feeds read on an evm chain. It reads latestRoundData at the head on
// start, then at every block whose logs hold an AnswerUpdated or NewRound
// event of a configured feed, and again at the new head after a reorg. Each
// new round is a feeds.Tick whose VenueTime is the round's updatedAt, so the
// aggregator's max_age judges the answer's age, not the time it was read; a
// feed whose updatedAt is older than its heartbeat plus the grace (against
// the head block's time) is logged stale once per transition.
package chainlink

import (
	"context"
	_ "embed"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/feedd/feedd/chains/evm"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/plugins"
)

// Config is price.chainlink's configuration.
type Config struct {
	Chain string        `yaml:"chain" required:"true" ref:"chain" doc:"the evm chain (its name under chains:) the feeds live on"`
	Feeds []Feed        `yaml:"feeds" required:"true" doc:"the aggregators to read"`
	Grace time.Duration `yaml:"grace" default:"1m" doc:"added to each feed's heartbeat before its answer counts as stale (block time and oracle lag)"`
	Poll  int           `yaml:"poll_blocks" default:"5" min:"0" doc:"also read every feed each this many blocks: a proxy address emits no AnswerUpdated of its own (0: only on events)"`
}

// Feed is one aggregator.
type Feed struct {
	Address   string        `yaml:"address" required:"true" doc:"the aggregator (or proxy) contract, 0x and 40 hex digits"`
	Symbol    string        `yaml:"symbol" required:"true" doc:"the pair as BASE-QUOTE, e.g. ETH-USD"`
	Heartbeat time.Duration `yaml:"heartbeat" required:"true" min:"1s" doc:"the feed's own heartbeat: the longest the oracle goes without a new round; an older updatedAt is stale"`
	Decimals  int           `yaml:"decimals" min:"0" max:"77" doc:"the answer's decimals; 0: read decimals() once"`
}

// Validate checks the addresses and symbols.
func (c *Config) Validate(v *config.Validation) {
	seen := map[string]int{}
	for i, f := range c.Feeds {
		if f.Address != "" {
			canon, kind, err := feeds.CanonAddress(f.Address)
			switch {
			case err != nil:
				v.Errorf(fmt.Sprintf("feeds[%d].address", i), "%v", err)
			case kind != feeds.AddressEVM:
				v.Errorf(fmt.Sprintf("feeds[%d].address", i), "%q is not an EVM address (0x and 40 hex digits)", f.Address)
			default:
				if j, dup := seen[canon]; dup {
					v.Errorf(fmt.Sprintf("feeds[%d].address", i), "%s is already feeds[%d]", f.Address, j)
				}
				seen[canon] = i
			}
		}
		if f.Symbol != "" {
			if _, _, err := feeds.ParseSymbol(f.Symbol); err != nil {
				v.Errorf(fmt.Sprintf("feeds[%d].symbol", i), "%v", err)
			}
		}
	}
}

//go:embed example.yaml
var example string

func init() {
	plugins.Register(plugins.Type{
		Name:    "price.chainlink",
		Kind:    plugins.KindSource,
		Doc:     "Chainlink AggregatorV3 feeds on an evm chain: latestRoundData on AnswerUpdated/NewRound, decimals, staleness against each feed's heartbeat; reorg-aware",
		Config:  func() any { return &Config{} },
		Example: example,
		NewSource: func(cfg any, env plugins.Env) (plugins.Instance, error) {
			c := *cfg.(*Config)
			ch, err := evm.Lookup(env, c.Chain)
			if err != nil {
				return nil, err
			}
			return New(c, ch, env), nil
		},
	})
}

// The events and calls of AggregatorV3.
var (
	topicAnswerUpdated  = crypto.Keccak256Hash([]byte("AnswerUpdated(int256,uint256,uint256)"))
	topicNewRound       = crypto.Keccak256Hash([]byte("NewRound(uint256,address,uint256)"))
	selLatestRoundData  = crypto.Keccak256([]byte("latestRoundData()"))[:4]
	selDecimals         = crypto.Keccak256([]byte("decimals()"))[:4]
	roundDataResultSize = 5 * 32
)

// Round is one answer of a feed.
type Round struct {
	ID        *big.Int
	Answer    *big.Int
	UpdatedAt uint64
}

func (r Round) same(o Round) bool {
	return r.ID != nil && o.ID != nil && r.ID.Cmp(o.ID) == 0 && r.Answer.Cmp(o.Answer) == 0 && r.UpdatedAt == o.UpdatedAt
}

// feed is a configured feed's state.
type feed struct {
	cfg      Feed
	addr     common.Address
	bits     evm.BloomBits
	decimals int
	scale    *big.Int // 10^decimals
	last     Round    // the last emitted round
	stale    bool
}

// Chainlink is a running price.chainlink instance.
type Chainlink struct {
	cfg    Config
	chain  *evm.Chain
	id     string
	tracer trace.Tracer
	feeds  []*feed
	addrs  []common.Address
	// rereadAll makes the next block read every feed (after a gap).
	rereadAll bool
	// since counts blocks since every feed was last read.
	since int
}

// New returns an instance of cfg on chain.
func New(cfg Config, chain *evm.Chain, env plugins.Env) *Chainlink {
	tracer := env.Tracer
	if tracer == nil {
		tracer = noop.NewTracerProvider().Tracer("")
	}
	c := &Chainlink{cfg: cfg, chain: chain, id: env.ID, tracer: tracer}
	for _, f := range cfg.Feeds {
		addr := common.HexToAddress(f.Address)
		c.feeds = append(c.feeds, &feed{cfg: f, addr: addr, bits: evm.BloomBitsOf(addr.Bytes()), decimals: f.Decimals})
		c.addrs = append(c.addrs, addr)
	}
	return c
}

// Run reads every feed at the head, then follows the chain until ctx ends.
func (c *Chainlink) Run(ctx context.Context, h *plugins.Host) error {
	sub := c.chain.Subscribe()
	defer sub.Close()
	c.rereadAll = false
	for _, f := range c.feeds {
		f.last, f.stale = Round{}, false
	}
	// The head to start from: the chain's, or the first block announced.
	head, ok := c.chain.Head()
	for !ok {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-sub.Events():
			head, ok = ev.Block, ev.Block != nil
		}
	}
	sctx, span := c.tracer.Start(ctx, "price.chainlink.start")
	err := c.start(sctx, h, head)
	span.End()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	h.Ready()
	// Blocks up to the start block are already read.
	skipThrough := head.Number
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-sub.Events():
			if ev.Block != nil && ev.Block.Number <= skipThrough {
				h.Alive()
				continue
			}
			ectx, span := evm.StartSpan(ctx, c.tracer, "price.chainlink.block", c.chain.Name(), ev)
			err := c.handle(ectx, h, ev, &skipThrough)
			span.End()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			h.Alive()
		}
	}
}

// start reads each feed's decimals (once) and its latest round at head.
func (c *Chainlink) start(ctx context.Context, h *plugins.Host, head *evm.Block) error {
	for _, f := range c.feeds {
		if f.scale != nil {
			continue
		}
		if f.decimals == 0 {
			// Read here rather than through the chain's token decimals
			// cache: an aggregator not deployed yet must not be remembered
			// as having none.
			res, errs, err := c.chain.CallAt(ctx, head.Hash, []evm.CallMsg{{To: f.addr, Data: selDecimals}})
			if err == nil {
				err = errs[0]
			}
			if err != nil {
				return fmt.Errorf("feed %s (%s): decimals(): %w", f.cfg.Symbol, f.cfg.Address, err)
			}
			d := new(big.Int).SetBytes(res[0])
			if len(res[0]) != 32 || !d.IsInt64() || d.Int64() > 77 {
				return fmt.Errorf("feed %s (%s) does not answer decimals() (%d bytes); is it an aggregator? set decimals to skip the call", f.cfg.Symbol, f.cfg.Address, len(res[0]))
			}
			f.decimals = int(d.Int64())
		}
		f.scale = new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(f.decimals)), nil)
	}
	return c.read(ctx, h, head.Hash, head.Time, c.feeds)
}

// handle applies one head event.
func (c *Chainlink) handle(ctx context.Context, h *plugins.Host, ev evm.HeadEvent, skipThrough *uint64) error {
	switch {
	case ev.Reorg != nil:
		// The rounds read from the replaced blocks may be gone: read every
		// feed at the new head, and skip the new blocks up to it.
		if n := len(ev.Reorg.New); n > 0 {
			ref := ev.Reorg.New[n-1]
			b, err := c.blockTime(ctx, ref.Hash)
			if err != nil {
				return err
			}
			h.Logger().Info("reorg; reading every feed at the new head", "depth", ev.Reorg.Depth, "head", ref.Number)
			if err := c.read(ctx, h, ref.Hash, b, c.feeds); err != nil {
				return err
			}
			*skipThrough = ref.Number
		}
	case ev.Gap != nil:
		// Blocks were skipped: the next block reads every feed.
		c.rereadAll = true
	case ev.Block != nil:
		b := ev.Block
		c.since++
		if c.rereadAll || c.cfg.Poll > 0 && c.since >= c.cfg.Poll {
			c.rereadAll, c.since = false, 0
			return c.read(ctx, h, b.Hash, b.Time, c.feeds)
		}
		var hit []*feed
		for _, f := range c.feeds {
			if f.bits.In(&b.Bloom) {
				hit = append(hit, f)
			}
		}
		if len(hit) > 0 {
			logs, err := c.logs(ctx, b.Hash, hit)
			if err != nil {
				return err
			}
			var updated []*feed
			for _, f := range hit {
				for _, lg := range logs {
					if lg.Address == f.addr && !lg.Removed && lg.BlockHash == b.Hash {
						updated = append(updated, f)
						break
					}
				}
			}
			if len(updated) > 0 {
				if err := c.read(ctx, h, b.Hash, b.Time, updated); err != nil {
					return err
				}
			}
		}
		c.checkStale(h, b.Time, c.feeds)
	}
	return nil
}

// logs returns the AnswerUpdated and NewRound logs of the feeds in the block.
func (c *Chainlink) logs(ctx context.Context, hash common.Hash, fs []*feed) ([]types.Log, error) {
	addrs := make([]common.Address, len(fs))
	for i, f := range fs {
		addrs[i] = f.addr
	}
	logs, err := c.chain.Logs(ctx, hash, addrs, []common.Hash{topicAnswerUpdated, topicNewRound})
	if err != nil {
		return nil, err
	}
	return logs, nil
}

// blockTime returns the timestamp of the block with hash.
func (c *Chainlink) blockTime(ctx context.Context, hash common.Hash) (uint64, error) {
	var hdr *struct {
		Time hexutil.Uint64 `json:"timestamp"`
	}
	if err := c.chain.Call(ctx, &hdr, "eth_getBlockByHash", hash, false); err != nil {
		return 0, fmt.Errorf("eth_getBlockByHash %s: %w", hash.Hex(), err)
	}
	if hdr == nil {
		return 0, fmt.Errorf("eth_getBlockByHash %s: the node does not have the block", hash.Hex())
	}
	return uint64(hdr.Time), nil
}

// read reads latestRoundData of fs at the block with hash (time now, Unix
// seconds) in one batch and emits each new round.
func (c *Chainlink) read(ctx context.Context, h *plugins.Host, hash common.Hash, now uint64, fs []*feed) error {
	msgs := make([]evm.CallMsg, len(fs))
	for i, f := range fs {
		msgs[i] = evm.CallMsg{To: f.addr, Data: selLatestRoundData}
	}
	res, errs, err := c.chain.CallAt(ctx, hash, msgs)
	if err != nil {
		return fmt.Errorf("latestRoundData at %s: %w", hash.Hex(), err)
	}
	for i, f := range fs {
		if errs[i] != nil {
			// A feed that reverts (no round yet, a wrong address) must not
			// hold back the others.
			h.Logger().Warn("latestRoundData failed", "symbol", f.cfg.Symbol, "address", f.cfg.Address, "error", errs[i])
			continue
		}
		r, err := DecodeRound(res[i])
		if err != nil {
			h.Logger().Warn("latestRoundData: unexpected answer", "symbol", f.cfg.Symbol, "address", f.cfg.Address, "error", err)
			continue
		}
		if r.same(f.last) {
			continue
		}
		if r.Answer.Sign() <= 0 {
			h.Logger().Warn("feed answered a non-positive price; skipped", "symbol", f.cfg.Symbol, "answer", r.Answer)
			continue
		}
		f.last = r
		price, _ := new(big.Rat).SetFrac(r.Answer, f.scale).Float64()
		// The aggregator judges freshness by receive time: an answer read
		// now but updated long ago counts from when it was updated (its age
		// by chain time), so an old round never looks fresh.
		received := h.Clock().Now()
		if now > r.UpdatedAt {
			received = received.Add(-time.Duration(now-r.UpdatedAt) * time.Second)
		}
		h.EmitContext(ctx, feeds.Tick{
			Source:      c.id,
			Symbol:      f.cfg.Symbol,
			Price:       price,
			VenueTime:   time.Unix(int64(r.UpdatedAt), 0),
			ReceiveTime: received,
		})
	}
	c.checkStale(h, now, fs)
	return nil
}

// checkStale logs each feed whose last round went stale, or fresh again, as
// of chain time now (Unix seconds).
func (c *Chainlink) checkStale(h *plugins.Host, now uint64, fs []*feed) {
	for _, f := range fs {
		if f.last.ID == nil {
			continue
		}
		age := time.Duration(0)
		if now > f.last.UpdatedAt {
			age = time.Duration(now-f.last.UpdatedAt) * time.Second
		}
		stale := age > f.cfg.Heartbeat+c.cfg.Grace
		if stale == f.stale {
			continue
		}
		f.stale = stale
		if stale {
			h.Logger().Warn("feed is stale: no new round within its heartbeat", "symbol", f.cfg.Symbol, "address", f.cfg.Address,
				"updated_at", time.Unix(int64(f.last.UpdatedAt), 0).UTC(), "age", age, "heartbeat", f.cfg.Heartbeat, "grace", c.cfg.Grace)
		} else {
			h.Logger().Info("feed is fresh again", "symbol", f.cfg.Symbol, "address", f.cfg.Address, "age", age)
		}
	}
}

// DecodeRound decodes latestRoundData's answer: (uint80 roundId, int256
// answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound).
func DecodeRound(b []byte) (Round, error) {
	if len(b) < roundDataResultSize {
		return Round{}, fmt.Errorf("%d bytes, want %d", len(b), roundDataResultSize)
	}
	answer := new(big.Int).SetBytes(b[32:64])
	if b[32]&0x80 != 0 { // two's complement
		answer.Sub(answer, new(big.Int).Lsh(big.NewInt(1), 256))
	}
	upd := new(big.Int).SetBytes(b[96:128])
	if !upd.IsUint64() {
		return Round{}, fmt.Errorf("updatedAt %s out of range", upd)
	}
	return Round{ID: new(big.Int).SetBytes(b[0:32]), Answer: answer, UpdatedAt: upd.Uint64()}, nil
}
