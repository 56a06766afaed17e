package uniswap

import (
	"context"
	_ "embed"
	"math/big"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/feedd/feedd/chains/evm"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/plugins"
)

//go:embed example_v3.yaml
var exampleV3 string

func init() {
	plugins.Register(plugins.Type{
		Name:    "price.uniswapv3",
		Kind:    plugins.KindSource,
		Doc:     "Uniswap-V3-style pool prices on an evm chain: slot0 sqrtPriceX96, size and side via Swap, token decimals and inversion; reorg-aware",
		Config:  func() any { return &Config{} },
		Example: exampleV3,
		NewSource: func(cfg any, env plugins.Env) (plugins.Instance, error) {
			c := *cfg.(*Config)
			ch, err := evm.Lookup(env, c.Chain)
			if err != nil {
				return nil, err
			}
			return NewV3(c, ch, env), nil
		},
	})
}

// NewV3 returns a price.uniswapv3 instance of cfg on chain: the pools are
// Uniswap V3 pools.
func NewV3(cfg Config, chain *evm.Chain, env plugins.Env) *Uniswap {
	return newInstance(cfg, chain, env, true)
}

var (
	topicSwapV3 = crypto.Keccak256Hash([]byte("Swap(address,address,int256,int256,uint160,uint128,int24)"))
	selSlot0    = crypto.Keccak256([]byte("slot0()"))[:4]
	q192        = new(big.Int).Lsh(big.NewInt(1), 192)
	two256      = new(big.Int).Lsh(big.NewInt(1), 256)
)

// PriceV3 is a V3 pool's price from slot0's sqrtPriceX96: token1 per token0
// in whole units, (sqrtPriceX96 / 2^96)^2 × 10^dec0 / 10^dec1, or its
// inverse when invert. ok is false for a zero price (an uninitialised pool).
func PriceV3(sqrtPriceX96, scale0, scale1 *big.Int, invert bool) (float64, bool) {
	if sqrtPriceX96.Sign() <= 0 {
		return 0, false
	}
	sq := new(big.Int).Mul(sqrtPriceX96, sqrtPriceX96)
	num := sq.Mul(sq, scale0)
	den := new(big.Int).Mul(q192, scale1)
	if invert {
		num, den = den, num
	}
	f, _ := new(big.Rat).SetFrac(num, den).Float64()
	return f, true
}

func int256(b []byte) *big.Int {
	v := new(big.Int).SetBytes(b)
	if len(b) == 32 && b[0]&0x80 != 0 {
		v.Sub(v, two256)
	}
	return v
}

// blockV3 emits p's tick for block b from its V3 Swap logs: the price after
// the block's last swap, the size and side of all of them.
func (u *Uniswap) blockV3(ctx context.Context, h *plugins.Host, p *pool, b *evm.Block, logs []types.Log) {
	var sqrtP *big.Int
	var bought, sold big.Int
	for _, lg := range logs {
		if lg.Address != p.addr || lg.Removed || lg.BlockHash != b.Hash || len(lg.Topics) != 3 || lg.Topics[0] != topicSwapV3 {
			continue
		}
		if len(lg.Data) != 5*32 {
			h.Logger().Warn("Swap log does not decode; skipped", "tx", lg.TxHash.Hex(), "log_index", lg.Index)
			continue
		}
		// amount0, amount1: what the pool received (negative: paid out).
		base := int256(lg.Data[0:32])
		if p.cfg.Invert {
			base = int256(lg.Data[32:64])
		}
		if base.Sign() < 0 {
			bought.Sub(&bought, base)
		} else {
			sold.Add(&sold, base)
		}
		sqrtP = new(big.Int).SetBytes(lg.Data[64:96])
	}
	if sqrtP == nil {
		return
	}
	tk, ok := u.tick(h, p, sqrtP, new(big.Int), b.Time)
	if !ok {
		return
	}
	baseScale := p.scale0
	if p.cfg.Invert {
		baseScale = p.scale1
	}
	tk.Size, _ = new(big.Rat).SetFrac(new(big.Int).Add(&bought, &sold), baseScale).Float64()
	switch bought.Cmp(&sold) {
	case 1:
		tk.Side = feeds.SideBuy
	case -1:
		tk.Side = feeds.SideSell
	}
	h.EmitContext(ctx, tk)
}
