package devchain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/feedd/feedd/internal/devchain/contracts"
)

// TxKind is a kind of transaction the traffic generator sends.
type TxKind string

// The kinds of transaction of the traffic generator.
const (
	// KindNative is a native (ether) transfer between funded accounts.
	KindNative TxKind = "native"
	// KindTokenTransfer is an ERC-20 transfer (TUSD or WETH).
	KindTokenTransfer TxKind = "erc20_transfer"
	// KindTokenApprove is an ERC-20 approve of another funded account (never
	// of the pair, whose unlimited allowance swaps need).
	KindTokenApprove TxKind = "erc20_approve"
	// KindNFTMint is a TestNFT mint to the sender.
	KindNFTMint TxKind = "nft_mint"
	// KindNFTTransfer is a TestNFT transferFrom by the token's owner.
	KindNFTTransfer TxKind = "nft_transfer"
	// KindMultiSingle is a TestMulti safeTransferFrom.
	KindMultiSingle TxKind = "erc1155_single"
	// KindMultiBatch is a TestMulti safeBatchTransferFrom.
	KindMultiBatch TxKind = "erc1155_batch"
	// KindSwapWETHIn is a pair swapExactIn selling WETH for TUSD.
	KindSwapWETHIn TxKind = "swap_weth_tusd"
	// KindSwapTUSDIn is a pair swapExactIn selling TUSD for WETH.
	KindSwapTUSDIn TxKind = "swap_tusd_weth"
	// KindOracle is an aggregator updateAnswer: a random walk around the
	// pair's price.
	KindOracle TxKind = "oracle_update"
	// KindFailing is an ERC-20 transfer of more than the sender's balance,
	// sent with an explicit gas limit: mined, with status 0.
	KindFailing TxKind = "failing"
	// KindReplaced is a native transfer sent with a fee cap below the base
	// fee, so that it stays pending, and replaced at once (KindReplacement):
	// it never gets a receipt.
	KindReplaced TxKind = "replaced"
	// KindReplacement is the transaction that replaces a KindReplaced one:
	// same nonce, tip and fee cap far more than 10% higher.
	KindReplacement TxKind = "replacement"
)

// TrafficKinds returns every kind the generator sends, in a fixed order.
// KindReplaced and KindReplacement come as a pair, and only when blocks are
// not sealed as soon as a transaction arrives (Period > 0 or Manual).
func TrafficKinds() []TxKind {
	return []TxKind{KindNative, KindTokenTransfer, KindTokenApprove, KindNFTMint, KindNFTTransfer,
		KindMultiSingle, KindMultiBatch, KindSwapWETHIn, KindSwapTUSDIn, KindOracle, KindFailing,
		KindReplaced, KindReplacement}
}

// Traffic defaults and bounds.
const (
	// DefaultTrafficRate is TrafficOptions.Rate when zero.
	DefaultTrafficRate = 2.0
	// MaxTrafficRate bounds TrafficOptions.Rate.
	MaxTrafficRate = 1000.0
	// MaxPoolPending is the backlog of executable transactions in the
	// node's pool above which the generator skips ticks: the sealing period
	// and the block gas limit (a 30M block holds about 300 of the
	// generator's transactions) then bound the rate.
	MaxPoolPending = 2000
	// DefaultFailPercent and DefaultReplacePercent are the shares of
	// failing and replaced transactions when their options are zero.
	DefaultFailPercent    = 3.0
	DefaultReplacePercent = 3.0
)

// Gas limits of the generator's transactions, about twice what they use on
// the dev chain's fork (see gasDeploy).
const (
	gasTokenTransfer = 300_000
	gasApprove       = 300_000
	gasNFTMint       = 600_000
	gasNFTTransfer   = 400_000
	gasMultiSingle   = 400_000
	gasMultiBatch    = 900_000
	gasSwap          = 400_000
	gasOracle        = 600_000
)

// TrafficOptions configures the traffic generator. The zero value is valid.
type TrafficOptions struct {
	// Rate is how many transactions per second are sent (a replacement and
	// the transaction it replaces count as one). 0 means
	// DefaultTrafficRate; at most MaxTrafficRate. Sends are paced by a
	// ticker: when the node is slower than Rate, ticks are skipped, never
	// queued.
	Rate float64
	// Seed seeds the random generator: with the same seed, on a chain in
	// the same state, the same transactions are sent in the same order
	// (amounts, senders, recipients, kinds), whatever the timing.
	Seed uint64
	// Accounts are the senders and recipients; nil means every funded
	// account of the chain. At least two.
	Accounts []Account
	// FailPercent is the share (in %) of KindFailing transactions; 0
	// means DefaultFailPercent, negative none.
	FailPercent float64
	// ReplacePercent is the share (in %) of replacements; 0 means
	// DefaultReplacePercent, negative none. Ignored (none) when the chain
	// seals a block as soon as a transaction arrives.
	ReplacePercent float64
	// Logger receives a line per sent transaction (kind, hash, sender,
	// nonce) at Info and every error at Warn. nil discards them.
	Logger *slog.Logger
	// OnSend, when set, is called with each transaction the node accepted,
	// from the generator's goroutine, before the next is sent.
	OnSend func(SentTx)
}

// SentTx is a transaction the generator sent.
type SentTx struct {
	Kind  TxKind
	Hash  common.Hash
	From  common.Address
	Nonce uint64
	// Replaces is, for KindReplacement, the hash of the KindReplaced
	// transaction it replaces.
	Replaces common.Hash
}

// TrafficStats counts what a generator did.
type TrafficStats struct {
	// Sent counts the transactions the node accepted, by kind.
	Sent map[TxKind]int
	// Total is the sum of Sent.
	Total int
	// Errors counts the requests the node refused or failed (sends and
	// reads); each was logged.
	Errors int
	// Skipped counts ticks skipped because the pool held more than
	// MaxPoolPending executable transactions.
	Skipped int
	// Elapsed is how long the generator has run.
	Elapsed time.Duration
}

// Rate returns the transactions sent per second of Elapsed, a replacement
// pair counting as one as in TrafficOptions.Rate.
func (s TrafficStats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Total-s.Sent[KindReplaced]) / s.Elapsed.Seconds()
}

// Traffic is a traffic generator: see NewTraffic and Run.
type Traffic struct {
	c    *Chain
	d    *Deployment
	opts TrafficOptions
	log  *slog.Logger
	rng  *rand.Rand
	kind []weighted // the usual mix, by weight

	replacements bool
	accs         []Account
	byAddr       map[common.Address]Account
	nonces       map[common.Address]uint64
	stale        map[common.Address]bool // nonce to re-read from the node

	nftOwner   map[uint64]common.Address // token id → owner, as sent
	nftScanned uint64                    // ids up to this were read from the chain
	nftMinted  bool                      // a mint was sent since the last scan
	multi      map[common.Address][]int64
	walk       float64 // oracle's offset from the pair's price, as a fraction
	warmup     []TxKind

	mu      sync.Mutex
	started time.Time
	stopped time.Time
	stats   TrafficStats
	ran     bool
}

type weighted struct {
	kind   TxKind
	weight float64
}

// NewTraffic returns a traffic generator for chain c with the contracts of
// d (from DeployAll). Start it with Run.
func NewTraffic(c *Chain, d *Deployment, opts TrafficOptions) (*Traffic, error) {
	if c == nil || d == nil {
		return nil, errors.New("devchain: traffic: nil chain or deployment")
	}
	switch {
	case opts.Rate < 0 || math.IsNaN(opts.Rate):
		return nil, fmt.Errorf("devchain: traffic: invalid rate %v", opts.Rate)
	case opts.Rate == 0:
		opts.Rate = DefaultTrafficRate
	case opts.Rate > MaxTrafficRate:
		return nil, fmt.Errorf("devchain: traffic: rate %v above %v", opts.Rate, MaxTrafficRate)
	}
	if opts.FailPercent == 0 {
		opts.FailPercent = DefaultFailPercent
	}
	if opts.ReplacePercent == 0 {
		opts.ReplacePercent = DefaultReplacePercent
	}
	opts.FailPercent = max(opts.FailPercent, 0)
	opts.ReplacePercent = max(opts.ReplacePercent, 0)
	if opts.FailPercent+opts.ReplacePercent > 100 {
		return nil, errors.New("devchain: traffic: FailPercent + ReplacePercent above 100")
	}
	accs := opts.Accounts
	if accs == nil {
		accs = c.Accounts()
	}
	if len(accs) < 2 {
		return nil, errors.New("devchain: traffic: at least two accounts needed")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := &Traffic{
		c:            c,
		d:            d,
		opts:         opts,
		log:          logger,
		rng:          rand.New(rand.NewPCG(opts.Seed, 0x6665656464)),
		replacements: (c.Period() > 0 || c.Manual()) && opts.ReplacePercent > 0,
		accs:         append([]Account(nil), accs...),
		byAddr:       make(map[common.Address]Account, len(accs)),
		nonces:       make(map[common.Address]uint64),
		stale:        make(map[common.Address]bool),
		nftOwner:     make(map[uint64]common.Address),
		multi:        make(map[common.Address][]int64),
		stats:        TrafficStats{Sent: make(map[TxKind]int)},
		kind: []weighted{
			{KindNative, 20}, {KindTokenTransfer, 15}, {KindTokenApprove, 4},
			{KindNFTMint, 5}, {KindNFTTransfer, 8}, {KindMultiSingle, 8}, {KindMultiBatch, 5},
			{KindSwapWETHIn, 10}, {KindSwapTUSDIn, 10}, {KindOracle, 8},
		},
	}
	for _, a := range accs {
		t.byAddr[a.Address] = a
		t.stale[a.Address] = true
	}
	// Warm-up: the first transactions are one of each kind, shuffled, so
	// that every kind shows up within seconds.
	for _, w := range t.kind {
		t.warmup = append(t.warmup, w.kind)
	}
	if opts.FailPercent > 0 {
		t.warmup = append(t.warmup, KindFailing)
	}
	if t.replacements {
		t.warmup = append(t.warmup, KindReplacement)
	}
	t.rng.Shuffle(len(t.warmup), func(i, j int) { t.warmup[i], t.warmup[j] = t.warmup[j], t.warmup[i] })
	return t, nil
}

// RunTraffic runs a traffic generator (NewTraffic, Run) until ctx ends and
// returns its statistics.
func RunTraffic(ctx context.Context, c *Chain, d *Deployment, opts TrafficOptions) (TrafficStats, error) {
	t, err := NewTraffic(c, d, opts)
	if err != nil {
		return TrafficStats{}, err
	}
	err = t.Run(ctx)
	return t.Stats(), err
}

// Run sends transactions at the configured rate until ctx ends, then
// returns nil. Errors of the node are logged and counted (Stats), never
// returned. Run may be called once.
func (t *Traffic) Run(ctx context.Context) error {
	t.mu.Lock()
	if t.ran {
		t.mu.Unlock()
		return errors.New("devchain: traffic: Run called twice")
	}
	t.ran = true
	t.started = time.Now()
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.stopped = time.Now()
		t.mu.Unlock()
	}()

	t.loadState(ctx)
	interval := time.Duration(float64(time.Second) / t.opts.Rate)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		if pending, _ := t.c.PoolStats(); pending > MaxPoolPending {
			t.mu.Lock()
			t.stats.Skipped++
			t.mu.Unlock()
		} else {
			t.step(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// Stats returns what the generator did so far; safe to call concurrently
// with Run.
func (t *Traffic) Stats() TrafficStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Sent = make(map[TxKind]int, len(t.stats.Sent))
	for k, v := range t.stats.Sent {
		s.Sent[k] = v
	}
	switch {
	case t.started.IsZero():
	case t.stopped.IsZero():
		s.Elapsed = time.Since(t.started)
	default:
		s.Elapsed = t.stopped.Sub(t.started)
	}
	return s
}

// fail logs and counts an error of the node.
func (t *Traffic) fail(ctx context.Context, what string, err error, args ...any) {
	if ctx.Err() != nil {
		return // the run is ending: requests fail with ctx's error
	}
	t.mu.Lock()
	t.stats.Errors++
	t.mu.Unlock()
	t.log.Warn("traffic: "+what, append(args, "err", err)...)
}

// loadState reads the NFT owners and ERC-1155 balances of the accounts.
func (t *Traffic) loadState(ctx context.Context) {
	t.scanNFTs(ctx)
	addrs := make([]common.Address, 0, len(t.accs)*len(MultiIDs))
	ids := make([]*big.Int, 0, cap(addrs))
	for _, a := range t.accs {
		for _, id := range MultiIDs {
			addrs = append(addrs, a.Address)
			ids = append(ids, big.NewInt(id))
		}
	}
	out, err := contracts.Call(ctx, t.c.Client(), t.d.Multi, contracts.Multi, "balanceOfBatch", addrs, ids)
	if err != nil {
		t.fail(ctx, "read ERC-1155 balances", err)
		return
	}
	bals, _ := out[0].([]*big.Int)
	for i, b := range bals {
		if i < len(addrs) && b.IsInt64() {
			t.multi[addrs[i]] = append(t.multi[addrs[i]], b.Int64())
		}
	}
}

// scanNFTs learns the owners of the tokens minted since the last scan.
func (t *Traffic) scanNFTs(ctx context.Context) {
	out, err := contracts.Call(ctx, t.c.Client(), t.d.NFT, contracts.NFT, "totalSupply")
	if err != nil {
		t.fail(ctx, "read NFT supply", err)
		return
	}
	total, _ := out[0].(*big.Int)
	if total == nil || !total.IsUint64() {
		return
	}
	t.nftMinted = false
	for id := t.nftScanned + 1; id <= total.Uint64(); id++ {
		out, err := contracts.Call(ctx, t.c.Client(), t.d.NFT, contracts.NFT, "ownerOf", new(big.Int).SetUint64(id))
		if err != nil {
			t.fail(ctx, "read NFT owner", err, "id", id)
			return
		}
		t.nftScanned = id
		owner, _ := out[0].(common.Address)
		if _, ours := t.byAddr[owner]; ours {
			if _, known := t.nftOwner[id]; !known {
				t.nftOwner[id] = owner
			}
		}
	}
}

// pick returns the kind of the next transaction.
func (t *Traffic) pick() TxKind {
	if len(t.warmup) > 0 {
		k := t.warmup[0]
		t.warmup = t.warmup[1:]
		return k
	}
	r := t.rng.Float64() * 100
	if r < t.opts.FailPercent {
		return KindFailing
	}
	if r -= t.opts.FailPercent; t.replacements && r < t.opts.ReplacePercent {
		return KindReplacement
	}
	var total float64
	for _, w := range t.kind {
		total += w.weight
	}
	x := t.rng.Float64() * total
	for _, w := range t.kind {
		if x < w.weight {
			return w.kind
		}
		x -= w.weight
	}
	return KindNative
}

// account returns a random account, and other a random other one.
func (t *Traffic) account() Account { return t.accs[t.rng.IntN(len(t.accs))] }

func (t *Traffic) other(a Account) Account {
	for {
		if b := t.account(); b.Address != a.Address {
			return b
		}
	}
}

// randAmount returns a random amount between lo and hi units (hi > lo),
// in thousandths of a unit.
func (t *Traffic) randAmount(lo, hi float64, unit *big.Int) *big.Int {
	milli := int64((lo + t.rng.Float64()*(hi-lo)) * 1000)
	return new(big.Int).Div(new(big.Int).Mul(big.NewInt(max(milli, 1)), unit), big.NewInt(1000))
}

// step sends the next transaction.
func (t *Traffic) step(ctx context.Context) {
	kind := t.pick()
	from := t.account()
	to := t.other(from)
	switch kind {
	case KindNative:
		t.send(ctx, kind, from, &to.Address, TxRequest{Value: t.randAmount(0.001, 1, big.NewInt(1e18)), Gas: gasTransfer})
	case KindTokenTransfer:
		tok, unit, lo, hi := t.token()
		t.call(ctx, kind, from, tok, gasTokenTransfer, contracts.Token, "transfer", to.Address, t.randAmount(lo, hi, unit))
	case KindTokenApprove:
		tok, unit, lo, hi := t.token()
		t.call(ctx, kind, from, tok, gasApprove, contracts.Token, "approve", to.Address, t.randAmount(lo, 100*hi, unit))
	case KindNFTMint:
		if t.call(ctx, kind, from, t.d.NFT, gasNFTMint, contracts.NFT, "mint", from.Address) {
			t.nftMinted = true
		}
	case KindNFTTransfer:
		t.nftTransfer(ctx, to)
	case KindMultiSingle, KindMultiBatch:
		t.multiTransfer(ctx, kind, from, to)
	case KindSwapWETHIn:
		t.call(ctx, kind, from, t.d.Pair, gasSwap, contracts.Pair, "swapExactIn", t.d.WETH, t.randAmount(0.01, 2, WETHUnit), from.Address)
	case KindSwapTUSDIn:
		t.call(ctx, kind, from, t.d.Pair, gasSwap, contracts.Pair, "swapExactIn", t.d.TUSD, t.randAmount(30, 6000, TUSDUnit), from.Address)
	case KindOracle:
		t.oracle(ctx, from)
	case KindFailing:
		// More than all TUSD ever minted: reverts "insufficient balance".
		amount := new(big.Int).Lsh(big.NewInt(1), 128)
		t.call(ctx, kind, from, t.d.TUSD, gasFailing, contracts.Token, "transfer", to.Address, amount)
	case KindReplacement:
		t.replace(ctx, from, to)
	}
}

// token returns TUSD or WETH with a range of amounts to move.
func (t *Traffic) token() (common.Address, *big.Int, float64, float64) {
	if t.rng.IntN(2) == 0 {
		return t.d.TUSD, TUSDUnit, 1, 1000
	}
	return t.d.WETH, WETHUnit, 0.001, 0.5
}

// nftTransfer moves a random known token from its owner to `to` (or to
// another account when `to` owns it).
func (t *Traffic) nftTransfer(ctx context.Context, to Account) {
	if t.nftMinted || len(t.nftOwner) == 0 {
		t.scanNFTs(ctx)
	}
	if len(t.nftOwner) == 0 {
		t.call(ctx, KindNFTMint, to, t.d.NFT, gasNFTMint, contracts.NFT, "mint", to.Address)
		return
	}
	// A random known token: the n-th id in increasing order, so the choice
	// depends on the seed only, not on map order.
	n := t.rng.IntN(len(t.nftOwner))
	var id uint64
	for i := uint64(1); i <= t.nftScanned; i++ {
		if _, ok := t.nftOwner[i]; ok {
			if n == 0 {
				id = i
				break
			}
			n--
		}
	}
	owner := t.byAddr[t.nftOwner[id]]
	if owner.Address == to.Address {
		to = t.other(owner)
	}
	if t.call(ctx, KindNFTTransfer, owner, t.d.NFT, gasNFTTransfer, contracts.NFT, "transferFrom", owner.Address, to.Address, new(big.Int).SetUint64(id)) {
		t.nftOwner[id] = to.Address
	}
}

// multiTransfer sends 1 to 5 of one id (single) or of every id (batch).
func (t *Traffic) multiTransfer(ctx context.Context, kind TxKind, from, to Account) {
	bals := t.multi[from.Address]
	if len(bals) != len(MultiIDs) {
		t.send(ctx, KindNative, from, &to.Address, TxRequest{Value: big.NewInt(1e15), Gas: gasTransfer})
		return
	}
	if t.multi[to.Address] == nil {
		t.multi[to.Address] = make([]int64, len(MultiIDs))
	}
	if kind == KindMultiSingle {
		i := t.rng.IntN(len(MultiIDs))
		v := min(int64(1+t.rng.IntN(5)), bals[i])
		if t.call(ctx, kind, from, t.d.Multi, gasMultiSingle, contracts.Multi, "safeTransferFrom",
			from.Address, to.Address, big.NewInt(MultiIDs[i]), big.NewInt(v), []byte{}) {
			bals[i] -= v
			t.multi[to.Address][i] += v
		}
		return
	}
	ids := make([]*big.Int, len(MultiIDs))
	vals := make([]*big.Int, len(MultiIDs))
	vs := make([]int64, len(MultiIDs))
	for i, id := range MultiIDs {
		vs[i] = min(int64(1+t.rng.IntN(5)), bals[i])
		ids[i], vals[i] = big.NewInt(id), big.NewInt(vs[i])
	}
	if t.call(ctx, kind, from, t.d.Multi, gasMultiBatch, contracts.Multi, "safeBatchTransferFrom",
		from.Address, to.Address, ids, vals, []byte{}) {
		for i, v := range vs {
			bals[i] -= v
			t.multi[to.Address][i] += v
		}
	}
}

// oracle pushes the pair's price (8 decimals) moved by a random walk of at
// most ±1%, in steps of at most 0.1%.
func (t *Traffic) oracle(ctx context.Context, from Account) {
	price := float64(InitialPrice)
	if p, err := PairPrice(ctx, t.c, t.d); err != nil {
		t.fail(ctx, "read pair price", err)
	} else {
		price = p
	}
	t.walk = min(max(t.walk+(t.rng.Float64()*2-1)*0.001, -0.01), 0.01)
	answer := big.NewInt(int64(math.Round(price * (1 + t.walk) * 1e8)))
	t.call(ctx, KindOracle, from, t.d.Aggregator, gasOracle, contracts.Aggregator, "updateAnswer", answer)
}

// replace sends a native transfer that cannot be mined (fee cap below the
// base fee of the next block, tip 1 wei), then at once the same nonce with
// the default tip and a fee cap above the base fee.
func (t *Traffic) replace(ctx context.Context, from, to Account) {
	base := t.c.Head().BaseFee
	if base == nil || base.Cmp(big.NewInt(2)) < 0 {
		t.send(ctx, KindNative, from, &to.Address, TxRequest{Value: big.NewInt(1e15), Gas: gasTransfer})
		return
	}
	// The base fee falls by at most 1/8 per block, and never below 7 wei
	// (1/8 of it rounds to 0): 3/4 of it, or base-1 at the floor, stays
	// below the next block's.
	lowCap := new(big.Int).Div(new(big.Int).Mul(base, big.NewInt(3)), big.NewInt(4))
	if base.Cmp(big.NewInt(8)) < 0 {
		lowCap.Sub(base, big.NewInt(1))
	}
	value := t.randAmount(0.001, 1, big.NewInt(1e18))
	nonce, ok := t.nonce(ctx, from)
	if !ok {
		return
	}
	orig, ok := t.sendAt(ctx, KindReplaced, from, &to.Address, nonce, TxRequest{
		Value: value, Gas: gasTransfer, TipCap: big.NewInt(1), FeeCap: lowCap,
	}, common.Hash{})
	if !ok {
		return
	}
	tip := new(big.Int).Set(DefaultTipCap)
	for range 3 {
		feeCap := new(big.Int).Add(new(big.Int).Mul(base, big.NewInt(2)), tip)
		if _, ok := t.sendAt(ctx, KindReplacement, from, &to.Address, nonce, TxRequest{
			Value: value, Gas: gasTransfer, TipCap: tip, FeeCap: feeCap,
		}, orig.Hash()); ok {
			return
		}
		// Try harder: the stuck original blocks every later nonce.
		tip.Mul(tip, big.NewInt(2))
		base = t.c.Head().BaseFee
	}
}

// call sends a contract call; it reports whether the node accepted it.
func (t *Traffic) call(ctx context.Context, kind TxKind, from Account, to common.Address, gas uint64, ct contracts.Contract, method string, args ...any) bool {
	data, err := ct.Pack(method, args...)
	if err != nil {
		t.fail(ctx, "pack", err, "kind", kind)
		return false
	}
	return t.send(ctx, kind, from, &to, TxRequest{Data: data, Gas: gas})
}

// send sends req from `from` with its next nonce.
func (t *Traffic) send(ctx context.Context, kind TxKind, from Account, to *common.Address, req TxRequest) bool {
	nonce, ok := t.nonce(ctx, from)
	if !ok {
		return false
	}
	_, ok = t.sendAt(ctx, kind, from, to, nonce, req, common.Hash{})
	return ok
}

// nonce returns the next nonce of `from`, reading it from the node when
// unknown or after an error.
func (t *Traffic) nonce(ctx context.Context, from Account) (uint64, bool) {
	if t.stale[from.Address] {
		n, err := t.c.Client().PendingNonceAt(ctx, from.Address)
		if err != nil {
			t.fail(ctx, "read nonce", err, "from", from.Address.Hex())
			return 0, false
		}
		t.nonces[from.Address] = n
		delete(t.stale, from.Address)
	}
	return t.nonces[from.Address], true
}

// sendAt sends req with nonce, records and logs it.
func (t *Traffic) sendAt(ctx context.Context, kind TxKind, from Account, to *common.Address, nonce uint64, req TxRequest, replaces common.Hash) (*types.Transaction, bool) {
	req.To, req.Nonce = to, &nonce
	tx, err := t.c.Send(ctx, from, req)
	if err != nil {
		t.stale[from.Address] = true
		t.fail(ctx, "send", err, "kind", kind, "from", from.Address.Hex(), "nonce", nonce)
		return nil, false
	}
	if kind != KindReplaced {
		t.nonces[from.Address] = nonce + 1
	}
	t.mu.Lock()
	t.stats.Sent[kind]++
	t.stats.Total++
	t.mu.Unlock()
	args := []any{"kind", kind, "hash", tx.Hash(), "from", from.Address.Hex(), "nonce", nonce}
	if replaces != (common.Hash{}) {
		args = append(args, "replaces", replaces)
	}
	t.log.Info("traffic: sent", args...)
	if t.opts.OnSend != nil {
		t.opts.OnSend(SentTx{Kind: kind, Hash: tx.Hash(), From: from.Address, Nonce: nonce, Replaces: replaces})
	}
	return tx, true
}

// PairPrice returns the pair's price in TUSD per WETH, from its reserves.
func PairPrice(ctx context.Context, c *Chain, d *Deployment) (float64, error) {
	out, err := contracts.Call(ctx, c.Client(), d.Pair, contracts.Pair, "getReserves")
	if err != nil {
		return 0, err
	}
	r0, _ := out[0].(*big.Int)
	r1, _ := out[1].(*big.Int)
	if r0 == nil || r1 == nil || r0.Sign() == 0 || r1.Sign() == 0 {
		return 0, errors.New("devchain: pair has no liquidity")
	}
	weth, tusd := r0, r1
	if d.Token0() != d.WETH {
		weth, tusd = r1, r0
	}
	// (tusd / 1e6) / (weth / 1e18)
	p, _ := new(big.Rat).SetFrac(new(big.Int).Mul(tusd, big.NewInt(1e12)), weth).Float64()
	return p, nil
}
