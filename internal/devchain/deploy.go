package devchain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/feedd/feedd/internal/devchain/contracts"
)

// InitialPrice is the pair's and the oracle's initial ETH price in USD.
const InitialPrice = 3000

// What DeployAll deploys and hands out. Amounts are in the tokens' smallest
// units.
var (
	// TUSDUnit is one TUSD (6 decimals).
	TUSDUnit = big.NewInt(1_000_000)
	// WETHUnit is one WETH (18 decimals).
	WETHUnit = big.NewInt(1_000_000_000_000_000_000)

	// PairWETH and PairTUSD are the pair's initial reserves: 10,000 WETH
	// against 30,000,000 TUSD, a price of 3000 TUSD per WETH.
	PairWETH = mul(10_000, WETHUnit)
	PairTUSD = mul(30_000_000, TUSDUnit)
	// AccountTUSD and AccountWETH are minted to every funded account.
	AccountTUSD = mul(1_000_000, TUSDUnit)
	AccountWETH = mul(1_000, WETHUnit)
	// AccountNFTs is how many TestNFT tokens every funded account gets.
	AccountNFTs = 3
	// MultiIDs are the TestMulti token ids every funded account holds
	// AccountMulti of.
	MultiIDs     = []int64{1, 2, 3}
	AccountMulti = int64(1_000)

	// OracleDecimals and OracleInitial describe the ETH/USD aggregator:
	// 8 decimals, initial answer 3000e8.
	OracleDecimals = uint8(8)
	OracleInitial  = mul(InitialPrice, big.NewInt(100_000_000))
)

func mul(n int64, unit *big.Int) *big.Int { return new(big.Int).Mul(big.NewInt(n), unit) }

// Explicit gas limits of DeployAll's and the traffic generator's
// transactions. The dev chain's fork prices the first write of a storage
// slot far above the 20k gas of earlier forks (measured: deployments use
// 0.8M to 1.07M gas, a first ERC-20 mint to an address 0.24M, a mintBatch
// of three ids 0.36M, an approve of a new spender 0.13M), so limits are
// generous rather than estimated; estimation would also fail for
// transactions that depend on others still pending.
const (
	gasDeploy   = 3_000_000
	gasFirst    = 600_000 // a call that writes new storage slots
	gasTransfer = 21_000  // a native transfer to an existing account
	gasFailing  = 100_000 // a call that reverts early
)

// Deployment holds the addresses of the contracts DeployAll deployed. Its
// JSON form (the struct tags) is what `devchain run -info` writes.
type Deployment struct {
	// Deployer is the account that deployed everything (Accounts()[0]).
	Deployer common.Address `json:"deployer"`
	// TUSD is TestToken "Test USD" (TUSD, 6 decimals).
	TUSD common.Address `json:"tusd"`
	// WETH is TestToken "Wrapped Ether" (WETH, 18 decimals).
	WETH common.Address `json:"weth"`
	// NFT is TestNFT "Test NFT" (TNFT), an ERC-721.
	NFT common.Address `json:"nft"`
	// Multi is TestMulti, an ERC-1155.
	Multi common.Address `json:"multi"`
	// Aggregator is TestAggregator "ETH / USD", 8 decimals.
	Aggregator common.Address `json:"aggregator"`
	// Pair is TestPair WETH/TUSD.
	Pair common.Address `json:"pair"`
	// Block is the block in which the last set-up transaction was mined.
	Block uint64 `json:"block"`
}

// DeployedContract is a named contract address, for display.
type DeployedContract struct {
	Name    string         `json:"name"`
	Address common.Address `json:"address"`
}

// Contracts returns the deployed contracts in deployment order, with
// display names.
func (d *Deployment) Contracts() []DeployedContract {
	return []DeployedContract{
		{"TUSD (ERC-20, 6 decimals)", d.TUSD},
		{"WETH (ERC-20, 18 decimals)", d.WETH},
		{"TestNFT (ERC-721)", d.NFT},
		{"TestMulti (ERC-1155)", d.Multi},
		{"ETH/USD aggregator (8 decimals)", d.Aggregator},
		{"WETH/TUSD pair", d.Pair},
	}
}

// JSON returns the indented JSON form of d.
func (d *Deployment) JSON() ([]byte, error) { return json.MarshalIndent(d, "", "  ") }

// MarshalJSON writes the addresses in their checksummed (EIP-55) form, as
// explorers and configs/devnet.yaml spell them; any case reads back.
func (d Deployment) MarshalJSON() ([]byte, error) {
	type plain struct {
		Deployer, TUSD, WETH, NFT, Multi, Aggregator, Pair string
		Block                                              uint64
	}
	p := plain{d.Deployer.Hex(), d.TUSD.Hex(), d.WETH.Hex(), d.NFT.Hex(), d.Multi.Hex(), d.Aggregator.Hex(), d.Pair.Hex(), d.Block}
	return json.Marshal(struct {
		Deployer   string `json:"deployer"`
		TUSD       string `json:"tusd"`
		WETH       string `json:"weth"`
		NFT        string `json:"nft"`
		Multi      string `json:"multi"`
		Aggregator string `json:"aggregator"`
		Pair       string `json:"pair"`
		Block      uint64 `json:"block"`
	}(p))
}

// PredictDeployment returns the addresses DeployAll deploys to when the
// deployer's next nonce is nonce (0 on a fresh chain): contract addresses
// follow from the deployer and the order of the deployments alone.
func PredictDeployment(deployer common.Address, nonce uint64) *Deployment {
	at := func(i uint64) common.Address { return crypto.CreateAddress(deployer, nonce+i) }
	return &Deployment{
		Deployer:   deployer,
		TUSD:       at(0),
		WETH:       at(1),
		NFT:        at(2),
		Multi:      at(3),
		Aggregator: at(4),
		Pair:       at(5),
	}
}

// DeployAll deploys, from the developer account (Accounts()[0]) and in this
// order: TestToken "Test USD" (TUSD, 6 decimals), TestToken "Wrapped Ether"
// (WETH, 18 decimals), TestNFT, TestMulti, TestAggregator "ETH / USD"
// (8 decimals, answer 3000e8) and TestPair WETH/TUSD. On a fresh chain the
// addresses depend only on the seed (see PredictDeployment).
//
// It then seeds the pair with PairWETH and PairTUSD (mint to the pair, sync),
// mints AccountTUSD, AccountWETH, AccountNFTs NFTs and AccountMulti of each
// MultiIDs to every funded account, and approves the pair for both tokens
// (without limit) from every funded account, so that any of them can swap.
// It returns once every transaction is mined, in every sealing mode (in
// Manual mode it calls Commit). A transaction that fails is an error.
func DeployAll(ctx context.Context, c *Chain) (*Deployment, error) {
	if c.Head().Number.Sign() == 0 {
		if _, err := c.Commit(); err != nil {
			return nil, err
		}
	}
	accs := c.Accounts()
	dev := accs[0]
	nonce, err := c.Client().PendingNonceAt(ctx, dev.Address)
	if err != nil {
		return nil, fmt.Errorf("devchain: deploy: nonce: %w", err)
	}
	d := PredictDeployment(dev.Address, nonce)

	// Round 1, from the developer account with consecutive nonces (so in
	// order, without waiting): deployments, pair liquidity, balances.
	var sent []*types.Transaction
	send := func(from Account, n *uint64, to *common.Address, gas uint64, data []byte) error {
		tx, err := c.Send(ctx, from, TxRequest{To: to, Data: data, Gas: gas, Nonce: u64p(*n)})
		if err != nil {
			return err
		}
		*n++
		sent = append(sent, tx)
		return nil
	}
	deploy := func(want common.Address, ct contracts.Contract, args ...any) error {
		data, err := ct.DeployData(args...)
		if err != nil {
			return err
		}
		if got := crypto.CreateAddress(dev.Address, nonce); got != want {
			return fmt.Errorf("devchain: deploy %s: nonce order broken (%s, want %s)", ct.Name, got, want)
		}
		if err := send(dev, &nonce, nil, gasDeploy, data); err != nil {
			return fmt.Errorf("devchain: deploy %s: %w", ct.Name, err)
		}
		return nil
	}
	call := func(from Account, n *uint64, to common.Address, gas uint64, ct contracts.Contract, method string, args ...any) error {
		data, err := ct.Pack(method, args...)
		if err != nil {
			return err
		}
		if err := send(from, n, &to, gas, data); err != nil {
			return fmt.Errorf("devchain: %s.%s: %w", ct.Name, method, err)
		}
		return nil
	}
	steps := []func() error{
		func() error { return deploy(d.TUSD, contracts.Token, "Test USD", "TUSD", uint8(6)) },
		func() error { return deploy(d.WETH, contracts.Token, "Wrapped Ether", "WETH", uint8(18)) },
		func() error { return deploy(d.NFT, contracts.NFT, "Test NFT", "TNFT") },
		func() error { return deploy(d.Multi, contracts.Multi) },
		func() error {
			return deploy(d.Aggregator, contracts.Aggregator, OracleDecimals, "ETH / USD", new(big.Int).Set(OracleInitial))
		},
		func() error { return deploy(d.Pair, contracts.Pair, d.WETH, d.TUSD) },
		func() error { return call(dev, &nonce, d.TUSD, gasFirst, contracts.Token, "mint", d.Pair, PairTUSD) },
		func() error { return call(dev, &nonce, d.WETH, gasFirst, contracts.Token, "mint", d.Pair, PairWETH) },
		func() error { return call(dev, &nonce, d.Pair, gasFirst, contracts.Pair, "sync") },
	}
	ids := make([]*big.Int, len(MultiIDs))
	amounts := make([]*big.Int, len(MultiIDs))
	for i, id := range MultiIDs {
		ids[i], amounts[i] = big.NewInt(id), big.NewInt(AccountMulti)
	}
	for _, a := range accs {
		steps = append(steps,
			func() error {
				return call(dev, &nonce, d.TUSD, gasFirst, contracts.Token, "mint", a.Address, AccountTUSD)
			},
			func() error {
				return call(dev, &nonce, d.WETH, gasFirst, contracts.Token, "mint", a.Address, AccountWETH)
			},
			func() error {
				return call(dev, &nonce, d.Multi, gasFirst, contracts.Multi, "mintBatch", a.Address, ids, amounts)
			},
		)
		for range AccountNFTs {
			steps = append(steps, func() error { return call(dev, &nonce, d.NFT, gasFirst, contracts.NFT, "mint", a.Address) })
		}
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if _, err := c.waitMined(ctx, sent); err != nil {
		return nil, err
	}

	// Round 2, once the tokens exist: every account approves the pair.
	sent = sent[:0]
	maxUint := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	for _, a := range accs {
		n, err := c.Client().PendingNonceAt(ctx, a.Address)
		if err != nil {
			return nil, fmt.Errorf("devchain: deploy: nonce: %w", err)
		}
		for _, tok := range []common.Address{d.TUSD, d.WETH} {
			if err := call(a, &n, tok, gasFirst, contracts.Token, "approve", d.Pair, maxUint); err != nil {
				return nil, err
			}
		}
	}
	block, err := c.waitMined(ctx, sent)
	if err != nil {
		return nil, err
	}
	d.Block = block
	return d, nil
}

func u64p(n uint64) *uint64 { return &n }

// waitMined waits until every transaction of txs has a receipt, committing
// blocks itself in Manual mode, and returns the highest block number. A
// failed transaction is an error.
func (c *Chain) waitMined(ctx context.Context, txs []*types.Transaction) (uint64, error) {
	var last uint64
	for _, tx := range txs {
		r, err := c.receiptCommitting(ctx, tx.Hash())
		if err != nil {
			return 0, err
		}
		if r.Status != types.ReceiptStatusSuccessful {
			return 0, fmt.Errorf("devchain: deploy: transaction %s (to %v, nonce %d) failed (gas used %d of %d)",
				tx.Hash(), tx.To(), tx.Nonce(), r.GasUsed, tx.Gas())
		}
		last = max(last, r.BlockNumber.Uint64())
	}
	return last, nil
}

// receiptCommitting is WaitReceipt, sealing blocks in Manual mode.
func (c *Chain) receiptCommitting(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	if !c.manual {
		return c.WaitReceipt(ctx, hash)
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		r, err := c.WaitReceipt(wctx, hash)
		cancel()
		if err == nil {
			return r, nil
		}
		if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		if _, err := c.Commit(); err != nil {
			return nil, err
		}
	}
}

// Token0 returns the pair's token0, the lower of the two token addresses,
// as in Uniswap V2.
func (d *Deployment) Token0() common.Address {
	if bytes.Compare(d.WETH.Bytes(), d.TUSD.Bytes()) < 0 {
		return d.WETH
	}
	return d.TUSD
}
