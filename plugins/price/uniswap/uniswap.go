// Package uniswap is the price.uniswapv2 plugin: the price of Uniswap-V2-style
// pairs on an evm chain, from their reserves. It reads token0, token1, their
// decimals and getReserves at the head on start, then follows each pair's
// Sync events: one tick per pair per block with the reserves of the block's
// last Sync, and the block's Swap events giving the traded base amount and
// side. After a reorg it reads the reserves at the new head again.
//
// The package also registers price.uniswapv3, the same for Uniswap V3
// pools: slot0's sqrtPriceX96 on start and after a reorg, then the price
// after each block's last Swap event, with the block's swaps giving size and
// side.
package uniswap

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

// Config is price.uniswapv2's configuration.
type Config struct {
	Chain string `yaml:"chain" required:"true" ref:"chain" doc:"the evm chain (its name under chains:) the pairs live on"`
	Pools []Pool `yaml:"pools" required:"true" doc:"the pairs to price"`
}

// Pool is one pair.
type Pool struct {
	Address        string `yaml:"address" required:"true" doc:"the pair contract, 0x and 40 hex digits"`
	Symbol         string `yaml:"symbol" required:"true" doc:"the pair as BASE-QUOTE, e.g. ETH-USD"`
	Invert         bool   `yaml:"invert" doc:"false: token0 is the base (price = token1 per token0); true: token1 is the base (price = token0 per token1)"`
	Token0Decimals int    `yaml:"token0_decimals" min:"0" max:"77" doc:"token0's decimals; 0: read decimals() once"`
	Token1Decimals int    `yaml:"token1_decimals" min:"0" max:"77" doc:"token1's decimals; 0: read decimals() once"`
}

// Validate checks the addresses and symbols.
func (c *Config) Validate(v *config.Validation) {
	seen := map[string]int{}
	for i, p := range c.Pools {
		if p.Address != "" {
			canon, kind, err := feeds.CanonAddress(p.Address)
			switch {
			case err != nil:
				v.Errorf(fmt.Sprintf("pools[%d].address", i), "%v", err)
			case kind != feeds.AddressEVM:
				v.Errorf(fmt.Sprintf("pools[%d].address", i), "%q is not an EVM address (0x and 40 hex digits)", p.Address)
			default:
				if j, dup := seen[canon]; dup {
					v.Errorf(fmt.Sprintf("pools[%d].address", i), "%s is already pools[%d]", p.Address, j)
				}
				seen[canon] = i
			}
		}
		if p.Symbol != "" {
			if _, _, err := feeds.ParseSymbol(p.Symbol); err != nil {
				v.Errorf(fmt.Sprintf("pools[%d].symbol", i), "%v", err)
			}
		}
	}
}

//go:embed example.yaml
var example string

func init() {
	plugins.Register(plugins.Type{
		Name:    "price.uniswapv2",
		Kind:    plugins.KindSource,
		Doc:     "Uniswap-V2-style pair prices on an evm chain: reserves via Sync, size and side via Swap, token decimals and inversion; reorg-aware",
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

// The events and calls of a Uniswap V2 pair.
var (
	topicSync      = crypto.Keccak256Hash([]byte("Sync(uint112,uint112)"))
	topicSwap      = crypto.Keccak256Hash([]byte("Swap(address,uint256,uint256,uint256,uint256,address)"))
	selToken0      = crypto.Keccak256([]byte("token0()"))[:4]
	selToken1      = crypto.Keccak256([]byte("token1()"))[:4]
	selGetReserves = crypto.Keccak256([]byte("getReserves()"))[:4]
)

// pool is a configured pair's state.
type pool struct {
	cfg          Pool
	addr         common.Address
	bits         evm.BloomBits
	token0       common.Address
	token1       common.Address
	scale0       *big.Int // 10^decimals of token0
	scale1       *big.Int
	last0, last1 *big.Int // the reserves of the last tick
}

// Uniswap is a running price.uniswapv2 instance.
type Uniswap struct {
	cfg    Config
	chain  *evm.Chain
	id     string
	tracer trace.Tracer
	pools  []*pool
	// rereadAll makes the next block read every pool (after a gap).
	rereadAll bool
	// v3 makes it price.uniswapv3: slot0 and V3 Swap events.
	v3   bool
	name string
}

// New returns an instance of cfg on chain.
func New(cfg Config, chain *evm.Chain, env plugins.Env) *Uniswap {
	return newInstance(cfg, chain, env, false)
}

func newInstance(cfg Config, chain *evm.Chain, env plugins.Env, v3 bool) *Uniswap {
	tracer := env.Tracer
	if tracer == nil {
		tracer = noop.NewTracerProvider().Tracer("")
	}
	u := &Uniswap{cfg: cfg, chain: chain, id: env.ID, tracer: tracer, v3: v3, name: "price.uniswapv2"}
	if v3 {
		u.name = "price.uniswapv3"
	}
	for _, p := range cfg.Pools {
		addr := common.HexToAddress(p.Address)
		u.pools = append(u.pools, &pool{cfg: p, addr: addr, bits: evm.BloomBitsOf(addr.Bytes())})
	}
	return u
}

// Run reads every pair at the head, then follows the chain until ctx ends.
func (u *Uniswap) Run(ctx context.Context, h *plugins.Host) error {
	sub := u.chain.Subscribe()
	defer sub.Close()
	u.rereadAll = false
	for _, p := range u.pools {
		p.last0, p.last1 = nil, nil
	}
	head, ok := u.chain.Head()
	for !ok {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-sub.Events():
			head, ok = ev.Block, ev.Block != nil
		}
	}
	sctx, span := u.tracer.Start(ctx, u.name+".start")
	err := u.start(sctx, h, head)
	span.End()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	h.Ready()
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
			ectx, span := evm.StartSpan(ctx, u.tracer, u.name+".block", u.chain.Name(), ev)
			err := u.handle(ectx, h, ev, &skipThrough)
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

// start reads each pair's tokens and their decimals (once) and the reserves
// at head.
func (u *Uniswap) start(ctx context.Context, h *plugins.Host, head *evm.Block) error {
	for _, p := range u.pools {
		if p.scale0 != nil {
			continue
		}
		res, errs, err := u.chain.CallAt(ctx, head.Hash, []evm.CallMsg{{To: p.addr, Data: selToken0}, {To: p.addr, Data: selToken1}})
		if err != nil {
			return fmt.Errorf("pool %s (%s): token0/token1: %w", p.cfg.Symbol, p.cfg.Address, err)
		}
		for i, e := range errs {
			if e != nil {
				return fmt.Errorf("pool %s (%s): token%d(): %w", p.cfg.Symbol, p.cfg.Address, i, e)
			}
			if len(res[i]) != 32 {
				return fmt.Errorf("pool %s (%s): token%d(): %d bytes, not an address; is it a Uniswap V2 pair?", p.cfg.Symbol, p.cfg.Address, i, len(res[i]))
			}
		}
		p.token0, p.token1 = common.BytesToAddress(res[0]), common.BytesToAddress(res[1])
		d0, err := u.decimals(ctx, p, 0, p.token0, p.cfg.Token0Decimals, head.Hash)
		if err != nil {
			return err
		}
		d1, err := u.decimals(ctx, p, 1, p.token1, p.cfg.Token1Decimals, head.Hash)
		if err != nil {
			return err
		}
		p.scale0 = new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d0)), nil)
		p.scale1 = new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d1)), nil)
		h.Logger().Info("pool", "symbol", p.cfg.Symbol, "address", p.cfg.Address, "token0", p.token0.Hex(), "decimals0", d0,
			"token1", p.token1.Hex(), "decimals1", d1, "invert", p.cfg.Invert)
	}
	return u.read(ctx, h, head.Hash, head.Time, u.pools)
}

func (u *Uniswap) decimals(ctx context.Context, p *pool, i int, token common.Address, override int, at common.Hash) (int, error) {
	if override > 0 {
		return override, nil
	}
	d, ok, err := u.chain.Decimals(ctx, token, at)
	if err != nil {
		return 0, fmt.Errorf("pool %s (%s): token%d: %w", p.cfg.Symbol, p.cfg.Address, i, err)
	}
	if !ok {
		return 0, fmt.Errorf("pool %s (%s): token%d %s does not answer decimals(); set token%d_decimals", p.cfg.Symbol, p.cfg.Address, i, token.Hex(), i)
	}
	return d, nil
}

// handle applies one head event.
func (u *Uniswap) handle(ctx context.Context, h *plugins.Host, ev evm.HeadEvent, skipThrough *uint64) error {
	switch {
	case ev.Reorg != nil:
		// Reserves seen in the replaced blocks may be gone: read every
		// pair at the new head, and skip the new blocks up to it.
		if n := len(ev.Reorg.New); n > 0 {
			ref := ev.Reorg.New[n-1]
			t, err := blockTime(ctx, u.chain, ref.Hash)
			if err != nil {
				return err
			}
			h.Logger().Info("reorg; reading every pool at the new head", "depth", ev.Reorg.Depth, "head", ref.Number)
			if err := u.read(ctx, h, ref.Hash, t, u.pools); err != nil {
				return err
			}
			*skipThrough = ref.Number
		}
	case ev.Gap != nil:
		u.rereadAll = true
	case ev.Block != nil:
		b := ev.Block
		if u.rereadAll {
			u.rereadAll = false
			return u.read(ctx, h, b.Hash, b.Time, u.pools)
		}
		var hit []*pool
		var addrs []common.Address
		for _, p := range u.pools {
			if p.bits.In(&b.Bloom) {
				hit = append(hit, p)
				addrs = append(addrs, p.addr)
			}
		}
		if len(hit) == 0 {
			return nil
		}
		topics := []common.Hash{topicSync, topicSwap}
		if u.v3 {
			topics = []common.Hash{topicSwapV3}
		}
		logs, err := u.chain.Logs(ctx, b.Hash, addrs, topics)
		if err != nil {
			return err
		}
		for _, p := range hit {
			if u.v3 {
				u.blockV3(ctx, h, p, b, logs)
			} else {
				u.block(ctx, h, p, b, logs)
			}
		}
	}
	return nil
}

// block emits p's tick for block b from its logs: the reserves of the last
// Sync, the size and side of the Swaps.
func (u *Uniswap) block(ctx context.Context, h *plugins.Host, p *pool, b *evm.Block, logs []types.Log) {
	var r0, r1 *big.Int
	var bought, sold big.Int // base out of and into the pair
	for _, lg := range logs {
		if lg.Address != p.addr || lg.Removed || lg.BlockHash != b.Hash || len(lg.Topics) == 0 {
			continue
		}
		switch lg.Topics[0] {
		case topicSync:
			if len(lg.Topics) != 1 || len(lg.Data) != 64 {
				h.Logger().Warn("Sync log does not decode; skipped", "tx", lg.TxHash.Hex(), "log_index", lg.Index)
				continue
			}
			r0, r1 = new(big.Int).SetBytes(lg.Data[:32]), new(big.Int).SetBytes(lg.Data[32:])
		case topicSwap:
			if len(lg.Topics) != 3 || len(lg.Data) != 128 {
				h.Logger().Warn("Swap log does not decode; skipped", "tx", lg.TxHash.Hex(), "log_index", lg.Index)
				continue
			}
			in0, in1 := new(big.Int).SetBytes(lg.Data[0:32]), new(big.Int).SetBytes(lg.Data[32:64])
			out0, out1 := new(big.Int).SetBytes(lg.Data[64:96]), new(big.Int).SetBytes(lg.Data[96:128])
			baseIn, baseOut := in0, out0
			if p.cfg.Invert {
				baseIn, baseOut = in1, out1
			}
			// The net base amount of the swap: a trader taking base out of
			// the pair bought it.
			if d := new(big.Int).Sub(baseOut, baseIn); d.Sign() > 0 {
				bought.Add(&bought, d)
			} else {
				sold.Sub(&sold, d)
			}
		}
	}
	if r0 == nil {
		return
	}
	tk, ok := u.tick(h, p, r0, r1, b.Time)
	if !ok {
		return
	}
	baseScale := p.scale0
	if p.cfg.Invert {
		baseScale = p.scale1
	}
	vol := new(big.Int).Add(&bought, &sold)
	tk.Size, _ = new(big.Rat).SetFrac(vol, baseScale).Float64()
	switch bought.Cmp(&sold) {
	case 1:
		tk.Side = feeds.SideBuy
	case -1:
		tk.Side = feeds.SideSell
	}
	h.EmitContext(ctx, tk)
}

// read reads getReserves of ps at the block with hash (time Unix seconds)
// in one batch and emits a tick for each pair whose reserves changed.
func (u *Uniswap) read(ctx context.Context, h *plugins.Host, hash common.Hash, t uint64, ps []*pool) error {
	msgs := make([]evm.CallMsg, len(ps))
	for i, p := range ps {
		msgs[i] = evm.CallMsg{To: p.addr, Data: selGetReserves}
		if u.v3 {
			msgs[i].Data = selSlot0
		}
	}
	call := "getReserves"
	if u.v3 {
		call = "slot0"
	}
	res, errs, err := u.chain.CallAt(ctx, hash, msgs)
	if err != nil {
		return fmt.Errorf("%s at %s: %w", call, hash.Hex(), err)
	}
	for i, p := range ps {
		if errs[i] != nil || len(res[i]) < 64 {
			h.Logger().Warn(call+" failed", "symbol", p.cfg.Symbol, "address", p.cfg.Address, "error", errs[i], "bytes", len(res[i]))
			continue
		}
		// V2: the reserves; V3: sqrtPriceX96 (and the tick, unused).
		r0, r1 := new(big.Int).SetBytes(res[i][:32]), new(big.Int).SetBytes(res[i][32:64])
		if u.v3 {
			r1 = new(big.Int)
		}
		if p.last0 != nil && p.last0.Cmp(r0) == 0 && p.last1.Cmp(r1) == 0 {
			continue
		}
		if tk, ok := u.tick(h, p, r0, r1, t); ok {
			h.EmitContext(ctx, tk)
		}
	}
	return nil
}

// tick returns the tick of p for reserves r0, r1 at t, remembering them.
func (u *Uniswap) tick(h *plugins.Host, p *pool, r0, r1 *big.Int, t uint64) (feeds.Tick, bool) {
	p.last0, p.last1 = r0, r1
	var price float64
	var ok bool
	if u.v3 {
		price, ok = PriceV3(r0, p.scale0, p.scale1, p.cfg.Invert)
	} else {
		price, ok = Price(r0, r1, p.scale0, p.scale1, p.cfg.Invert)
	}
	if !ok {
		h.Logger().Debug("pool has an empty reserve; no price", "symbol", p.cfg.Symbol, "reserve0", r0, "reserve1", r1)
		return feeds.Tick{}, false
	}
	return feeds.Tick{Source: u.id, Symbol: p.cfg.Symbol, Price: price, VenueTime: time.Unix(int64(t), 0), ReceiveTime: h.Clock().Now()}, true
}

// Price is the pair's price from its reserves: token1 per token0, each in
// whole units (reserve / 10^decimals), or token0 per token1 when invert.
// ok is false when a reserve is zero.
func Price(r0, r1, scale0, scale1 *big.Int, invert bool) (float64, bool) {
	if r0.Sign() <= 0 || r1.Sign() <= 0 {
		return 0, false
	}
	base, quote, baseScale, quoteScale := r0, r1, scale0, scale1
	if invert {
		base, quote, baseScale, quoteScale = r1, r0, scale1, scale0
	}
	// (quote / quoteScale) / (base / baseScale)
	num := new(big.Int).Mul(quote, baseScale)
	den := new(big.Int).Mul(base, quoteScale)
	f, _ := new(big.Rat).SetFrac(num, den).Float64()
	return f, true
}

// blockTime returns the timestamp of the block with hash.
func blockTime(ctx context.Context, chain *evm.Chain, hash common.Hash) (uint64, error) {
	var hdr *struct {
		Time hexutil.Uint64 `json:"timestamp"`
	}
	if err := chain.Call(ctx, &hdr, "eth_getBlockByHash", hash, false); err != nil {
		return 0, fmt.Errorf("eth_getBlockByHash %s: %w", hash.Hex(), err)
	}
	if hdr == nil {
		return 0, fmt.Errorf("eth_getBlockByHash %s: the node does not have the block", hash.Hex())
	}
	return uint64(hdr.Time), nil
}
