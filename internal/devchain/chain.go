package devchain

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/catalyst"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/event"
	gethlog "github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
)

// Defaults used when the corresponding Options field is left zero.
const (
	// DefaultAccounts is the number of extra funded accounts.
	DefaultAccounts = 10
	// DefaultChainID is the chain id of `geth --dev`.
	DefaultChainID = 1337
	// DefaultGasLimit is the block gas limit of genesis and of every block.
	DefaultGasLimit = 30_000_000
	// DefaultSeed is the seed the account keys are derived from.
	DefaultSeed = "feedd/devchain"
	// DefaultAddr is where the JSON-RPC server listens when Options.Addr
	// is empty: loopback, on a random free port.
	DefaultAddr = "127.0.0.1:0"
)

// DefaultTipCap is the priority fee Send uses when TxRequest.TipCap is nil:
// 1 gwei, far above the node's minimum tip of 1 wei.
var DefaultTipCap = big.NewInt(params.GWei)

// DefaultBalance is the genesis balance of every account, the developer
// account included, when Options.Balance is nil: one billion ether.
var DefaultBalance = new(big.Int).Mul(big.NewInt(1_000_000_000), big.NewInt(params.Ether))

// ErrClosed is returned by every block-control method of a closed Chain.
var ErrClosed = errors.New("devchain: chain is closed")

// feeRecipient receives the priority fees of every block. It is none of the
// funded accounts, so balances of funded accounts change by exactly what
// their own transactions send and pay.
var feeRecipient = common.HexToAddress("0x00000000000000000000000000000000000fee00")

// Options configures Start. The zero value is a valid configuration: eleven
// funded accounts, chain id 1337, a 30M gas limit, and a block sealed as soon
// as a transaction arrives.
type Options struct {
	// Accounts is the number of funded accounts besides the developer
	// account (Accounts()[0]). 0 means DefaultAccounts; a negative value
	// means none.
	Accounts int
	// Seed is the string every account key is derived from (keccak256 of
	// Seed, "/", index), so the same Seed gives the same keys and addresses
	// on every run. "" means DefaultSeed.
	Seed string
	// Balance is the genesis balance of every account. nil means
	// DefaultBalance.
	Balance *big.Int

	// Period selects timed sealing: when > 0 a block is sealed every
	// Period, empty or not, and a transaction stays pending until then.
	// Sub-second periods are allowed; since every block's timestamp is at
	// least one second after its parent's, chain time then runs ahead of
	// wall time. When 0 (and Manual is false) a block is sealed as soon as
	// a transaction arrives, and more blocks follow while the pool still
	// holds executable transactions.
	Period time.Duration
	// Manual disables automatic sealing altogether: nothing is sealed until
	// Commit (or AdjustTime) is called, like go-ethereum's simulated
	// backend — except block 1, which Start seals. It cannot be combined
	// with Period.
	Manual bool

	// Addr is the host:port the node's JSON-RPC server listens on, HTTP
	// and WebSocket on the same port. "" means DefaultAddr (127.0.0.1 on a
	// random free port); port 0 picks a random free port; an empty host
	// (":8545") listens on every interface. Start fails if the port is
	// taken.
	Addr string

	// ChainID is the chain id (and network id). nil means DefaultChainID.
	ChainID *big.Int
	// GasLimit is the gas limit of genesis and of every sealed block.
	// 0 means DefaultGasLimit.
	GasLimit uint64

	// Logger receives this package's messages (for example a failed
	// automatic seal) and the node's own logs. nil discards them. The logs
	// of go-ethereum's package-level code go to go-ethereum's global
	// logger, which Start never changes (see the package doc).
	Logger *slog.Logger
}

// Account is a funded account whose key the caller holds.
type Account struct {
	// Key signs the account's transactions.
	Key *ecdsa.PrivateKey
	// Address is the address of Key.
	Address common.Address
}

// TxRequest describes a transaction for Send. Every nil or zero field gets a
// default, documented per field.
type TxRequest struct {
	// To is the recipient; nil creates a contract from Data.
	To *common.Address
	// Value is the amount of wei sent; nil sends nothing.
	Value *big.Int
	// Data is the call data or the contract creation code.
	Data []byte
	// Gas is the gas limit; 0 asks the node to estimate it.
	Gas uint64
	// Nonce is the nonce; nil takes the sender's pending nonce, which counts
	// the sender's transactions already in the pool.
	Nonce *uint64
	// TipCap is the priority fee per gas; nil means DefaultTipCap, lowered
	// to FeeCap if FeeCap is set and smaller.
	TipCap *big.Int
	// FeeCap is the maximum fee per gas; nil means twice the base fee of
	// the head block plus TipCap.
	FeeCap *big.Int
}

// Chain is a running development chain. Its methods are safe for concurrent
// use; block-control methods (Commit, Fork, Rollback, AdjustTime) and the
// automatic sealer are serialised, because go-ethereum's SimulatedBeacon is
// not safe for concurrent use.
type Chain struct {
	log      *slog.Logger
	node     *node.Node
	eth      *eth.Ethereum
	beacon   *catalyst.SimulatedBeacon
	rpc      *rpc.Client
	client   *ethclient.Client
	chainID  *big.Int
	signer   types.Signer
	accounts []Account

	period time.Duration // Options.Period
	manual bool          // Options.Manual

	mu     sync.Mutex // serialises every use of beacon; guards closed
	closed bool

	subs    *subscriptionAPI
	release chan struct{} // closed last by Close: ends the filter event loops

	stop      chan struct{}  // closed by Close: background goroutines exit
	wg        sync.WaitGroup // background goroutines
	closeOnce sync.Once
	closeErr  error
}

// Start builds and starts a development chain. It returns once the node
// serves JSON-RPC on WSURL and HTTPURL and block 1, empty, is the head: Start
// seals it in every mode, Manual included, so that go-ethereum's transaction
// indexer is initialised (see initTxIndex).
// The chain runs until Close, whatever happens to ctx afterwards; ctx only
// bounds Start itself. Call Close even when a test fails.
func Start(ctx context.Context, opts Options) (*Chain, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Period < 0 {
		return nil, fmt.Errorf("devchain: negative Period %v", opts.Period)
	}
	if opts.Manual && opts.Period > 0 {
		return nil, errors.New("devchain: Manual and Period are exclusive")
	}
	n := opts.Accounts
	switch {
	case n == 0:
		n = DefaultAccounts
	case n < 0:
		n = 0
	}
	seed := opts.Seed
	if seed == "" {
		seed = DefaultSeed
	}
	balance := opts.Balance
	if balance == nil {
		balance = DefaultBalance
	}
	if balance.Sign() < 0 {
		return nil, errors.New("devchain: negative Balance")
	}
	chainID := big.NewInt(DefaultChainID)
	if opts.ChainID != nil {
		if opts.ChainID.Sign() <= 0 || !opts.ChainID.IsUint64() {
			return nil, fmt.Errorf("devchain: invalid ChainID %v", opts.ChainID)
		}
		chainID = new(big.Int).Set(opts.ChainID)
	}
	gasLimit := opts.GasLimit
	if gasLimit == 0 {
		gasLimit = DefaultGasLimit
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	host, port, err := parseAddr(opts.Addr)
	if err != nil {
		return nil, err
	}
	if port != 0 {
		// Fail now if the port is taken: go-ethereum opens its RPC
		// endpoints in node.Start, after eth.New has started the pool and
		// chain goroutines, which a failed node.Start never stops.
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("devchain: Addr %q: %w", opts.Addr, err)
		}
		l.Close()
	}

	accounts := make([]Account, n+1)
	for i := range accounts {
		accounts[i] = deriveAccount(seed, i)
	}

	// Genesis: geth's developer genesis (precompiles, the system contracts
	// the enabled forks call into, every fork active at block 0), with the
	// developer account as its faucet. The faucet's balance is replaced:
	// geth gives it 2^256-9 wei, which overflows as soon as it receives
	// anything.
	genesis := core.DeveloperGenesisBlock(gasLimit, &accounts[0].Address)
	genesis.Config.ChainID = chainID // Config is a copy owned by genesis
	for _, a := range accounts {
		genesis.Alloc[a.Address] = types.Account{Balance: new(big.Int).Set(balance)}
	}

	nodeConf := node.Config{
		Name:                 "devchain",
		DataDir:              "", // in-memory database, no files
		P2P:                  p2p.Config{NoDiscovery: true, NoDial: true, MaxPeers: 0},
		HTTPHost:             host,
		HTTPPort:             port,
		HTTPModules:          []string{"eth", "net", "web3", "txpool", "debug"},
		HTTPVirtualHosts:     []string{"*"},
		HTTPCors:             []string{"*"},
		HTTPTimeouts:         rpc.DefaultHTTPTimeouts,
		WSHost:               host,
		WSPort:               port, // same as HTTPPort: one server serves both
		WSModules:            []string{"eth", "net", "web3", "txpool", "debug"},
		WSOrigins:            []string{"*"},
		AuthAddr:             "127.0.0.1",
		AuthPort:             0,
		BatchRequestLimit:    node.DefaultConfig.BatchRequestLimit,
		BatchResponseMaxSize: node.DefaultConfig.BatchResponseMaxSize,
		HTTPBodyLimit:        node.DefaultConfig.HTTPBodyLimit,
		Logger:               gethlog.NewLogger(quietHandler{logger.Handler()}),
	}

	ethConf := ethconfig.Defaults
	ethConf.Genesis = genesis
	ethConf.NetworkId = chainID.Uint64()
	ethConf.SyncMode = ethconfig.FullSync
	ethConf.TxPool.NoLocals = true
	ethConf.LogNoHistory = true // eth_getLogs searches blocks directly: no indexer
	ethConf.Miner.GasCeil = gasLimit
	ethConf.Miner.GasPrice = big.NewInt(1) // minimum tip, as in geth --dev
	ethConf.Miner.PendingFeeRecipient = feeRecipient
	// Small caches: the chain is tiny and lives in memory anyway.
	ethConf.DatabaseCache = 16
	ethConf.TrieCleanCache = 16
	ethConf.TrieDirtyCache = 16
	ethConf.SnapshotCache = 16

	stack, err := node.New(&nodeConf)
	if err != nil {
		return nil, fmt.Errorf("devchain: node: %w", err)
	}
	backend, err := eth.New(stack, &ethConf)
	if err != nil {
		stack.Close()
		return nil, fmt.Errorf("devchain: eth: %w", err)
	}
	// The filter API, as geth registers it, but on an event system that
	// outlives the node (see keepAliveBackend), plus this package's own
	// newHeads and logs subscriptions (see subscriptionAPI), registered
	// after it so they replace geth's.
	release := make(chan struct{})
	filterSystem := filters.NewFilterSystem(keepAliveBackend{Backend: backend.APIBackend, release: release}, filters.Config{
		LogCacheSize:  ethConf.FilterLogCacheSize,
		LogQueryLimit: ethConf.LogQueryLimit,
		RangeLimit:    ethConf.RangeLimit,
	})
	subs := &subscriptionAPI{events: filters.NewEventSystem(filterSystem)}
	stack.RegisterAPIs([]rpc.API{
		{Namespace: "eth", Service: filters.NewFilterAPI(filterSystem)},
		{Namespace: "eth", Service: subs},
	})
	fail := func(err error) (*Chain, error) {
		stack.Close()
		close(release)
		return nil, err
	}
	if err := stack.Start(); err != nil {
		return fail(fmt.Errorf("devchain: start node: %w", err))
	}
	// Period 0: the beacon itself never seals; this package decides when
	// (see startAutoSeal and timedSeal). The beacon's RPC API (dev_*) is not
	// registered because in period-0 mode it starts its own sealing
	// goroutine, which would race with Commit.
	beacon, err := catalyst.NewSimulatedBeacon(0, feeRecipient, backend)
	if err != nil {
		return fail(fmt.Errorf("devchain: beacon: %w", err))
	}
	rpcClient := stack.Attach()
	c := &Chain{
		log:      logger,
		node:     stack,
		eth:      backend,
		beacon:   beacon,
		rpc:      rpcClient,
		client:   ethclient.NewClient(rpcClient),
		chainID:  chainID,
		signer:   types.LatestSigner(backend.BlockChain().Config()),
		accounts: accounts,
		period:   opts.Period,
		manual:   opts.Manual,
		subs:     subs,
		release:  release,
		stop:     make(chan struct{}),
	}
	if err := c.initTxIndex(ctx); err != nil {
		c.Close()
		return nil, err
	}
	switch {
	case opts.Manual:
	case opts.Period > 0:
		c.wg.Add(1)
		go c.timedSeal(opts.Period)
	default:
		c.startAutoSeal()
	}
	if err := ctx.Err(); err != nil {
		c.Close()
		return nil, err
	}
	logger.Debug("devchain started", "ws", c.WSURL(), "chain_id", chainID, "accounts", len(accounts))
	return c, nil
}

// initTxIndex seals block 1 and waits for go-ethereum's transaction indexer
// to record its first run. Until then the indexer reports "in progress" and
// every lookup of an unknown transaction (eth_getTransactionReceipt,
// eth_getTransactionByHash) fails with "transaction indexing is in progress"
// instead of answering null, which would confuse clients under test.
func (c *Chain) initTxIndex(ctx context.Context) error {
	c.mu.Lock()
	_, _, err := c.commitLocked()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	for !c.eth.BlockChain().TxIndexDone() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// quietHandler drops the node's warning that p2p is off, which it is on
// purpose.
type quietHandler struct{ slog.Handler }

// p2pOffMessage is what go-ethereum's p2p server logs at Warn when it
// neither dials nor listens.
const p2pOffMessage = "P2P server will be useless, neither dialing nor listening"

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == p2pOffMessage {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(attrs)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}

// parseAddr splits Options.Addr into the node's host and port.
func parseAddr(addr string) (string, int, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("devchain: Addr %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("devchain: Addr %q: invalid port %q", addr, portStr)
	}
	if host == "" {
		// go-ethereum's node disables a server whose host is empty.
		host = "0.0.0.0"
	}
	return host, int(port), nil
}

// DeriveAccount returns account i of seed ("" means DefaultSeed) without a
// chain: Accounts()[i] of a chain started with that Options.Seed. Programs
// that talk to a dev chain over RPC sign with it.
func DeriveAccount(seed string, i int) Account {
	if seed == "" {
		seed = DefaultSeed
	}
	return deriveAccount(seed, i)
}

// deriveAccount returns account i of seed: its key is keccak256(seed "/" i),
// re-hashed in the (astronomically unlikely) case it is not a valid key.
func deriveAccount(seed string, i int) Account {
	h := crypto.Keccak256([]byte(seed + "/" + strconv.Itoa(i)))
	for {
		key, err := crypto.ToECDSA(h)
		if err == nil {
			return Account{Key: key, Address: crypto.PubkeyToAddress(key.PublicKey)}
		}
		h = crypto.Keccak256(h)
	}
}

// Close stops the sealer, closes Client, and shuts the node down: its RPC
// servers, open WebSocket connections (their subscriptions end with an
// error) and database; the port is free when it returns. Every goroutine
// Start created has ended or been told to end by then: the filter event
// loops return a moment later, and goleveldb's mpoolDrain of the p2p
// server's in-memory node database waits up to one second for its pool
// before it exits. (go-ethereum's process-wide transaction sender cacher,
// started on first use and never stopped, belongs to no Chain.) Close is
// idempotent; later calls return the first call's result.
//
// newHeads and logs subscriptions still open are ended cleanly. Other
// subscriptions (newPendingTransactions, transactionReceipts) and polling
// filters (eth_newFilter, eth_newBlockFilter, ...) are go-ethereum's own:
// one still installed when Close is called may leave its go-ethereum
// goroutine blocked for good, so unsubscribe or uninstall those first.
func (c *Chain) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		close(c.stop)
		c.wg.Wait()
		c.client.Close() // closes c.rpc too
		c.closeErr = errors.Join(c.beacon.Stop(), c.node.Close())
		// node.Close closed every RPC connection, which ends their
		// subscriptions; their goroutines unsubscribe from the still
		// running event loops. Wait for them, then end the loops.
		select {
		case <-c.subs.close():
		case <-time.After(closeWait):
			c.log.Warn("devchain: subscriptions still running after Close", "wait", closeWait)
		}
		close(c.release)
	})
	return c.closeErr
}

// closeWait bounds how long Close waits for subscription goroutines.
const closeWait = 5 * time.Second

// keepAliveBackend is the filters.Backend of the chain's filter system. Its
// event subscriptions end when release is closed rather than when the
// blockchain stops, so the filter event loops outlive the node during Close.
//
// Why: go-ethereum's filters.Subscription.Unsubscribe blocks forever once
// its EventSystem's loop has returned, and that loop returns as soon as the
// blockchain stops. node.Close stops the RPC servers and then, at once, the
// blockchain, so a subscription goroutine that notices its closed
// connection a moment too late never ends (measured here, under -race, with
// a WebSocket newHeads subscriber open during Close: 1 to 5 goroutines
// leaked per 40 Closes).
type keepAliveBackend struct {
	filters.Backend
	release <-chan struct{}
}

func (b keepAliveBackend) keep(inner event.Subscription) event.Subscription {
	return event.NewSubscription(func(quit <-chan struct{}) error {
		defer inner.Unsubscribe()
		select {
		case <-quit:
		case <-b.release:
		}
		return nil
	})
}

func (b keepAliveBackend) SubscribeNewTxsEvent(ch chan<- core.NewTxsEvent) event.Subscription {
	return b.keep(b.Backend.SubscribeNewTxsEvent(ch))
}

func (b keepAliveBackend) SubscribeChainEvent(ch chan<- core.ChainEvent) event.Subscription {
	return b.keep(b.Backend.SubscribeChainEvent(ch))
}

func (b keepAliveBackend) SubscribeRemovedLogsEvent(ch chan<- core.RemovedLogsEvent) event.Subscription {
	return b.keep(b.Backend.SubscribeRemovedLogsEvent(ch))
}

func (b keepAliveBackend) SubscribeLogsEvent(ch chan<- []*types.Log) event.Subscription {
	return b.keep(b.Backend.SubscribeLogsEvent(ch))
}

// subscriptionAPI serves eth_subscribe "newHeads" and "logs" as
// go-ethereum's filters.FilterAPI does — same EventSystem, same
// notifications, same parameters — but counts its goroutines, so that Close
// can wait for them to unsubscribe before ending the event loops. Other
// subscriptions (newPendingTransactions, transactionReceipts) and polling
// filters (eth_newFilter, ...) are go-ethereum's own: see Close.
type subscriptionAPI struct {
	events *filters.EventSystem

	mu      sync.Mutex
	running int
	closing bool
	idle    chan struct{} // closed once closing and running == 0
}

// start counts a new subscription goroutine; false once closing.
func (api *subscriptionAPI) start() bool {
	api.mu.Lock()
	defer api.mu.Unlock()
	if api.closing {
		return false
	}
	api.running++
	return true
}

// done uncounts a subscription goroutine.
func (api *subscriptionAPI) done() {
	api.mu.Lock()
	defer api.mu.Unlock()
	api.running--
	if api.closing && api.running == 0 {
		close(api.idle)
	}
}

// close refuses new subscriptions and returns a channel closed once every
// subscription goroutine has ended.
func (api *subscriptionAPI) close() <-chan struct{} {
	api.mu.Lock()
	defer api.mu.Unlock()
	if !api.closing {
		api.closing = true
		api.idle = make(chan struct{})
		if api.running == 0 {
			close(api.idle)
		}
	}
	return api.idle
}

// NewHeads is eth_subscribe("newHeads"): one notification per new canonical
// head, including the fork point after Fork.
func (api *subscriptionAPI) NewHeads(ctx context.Context) (*rpc.Subscription, error) {
	notifier, ok := rpc.NotifierFromContext(ctx)
	if !ok {
		return &rpc.Subscription{}, rpc.ErrNotificationsUnsupported
	}
	if !api.start() {
		return nil, ErrClosed
	}
	rpcSub := notifier.CreateSubscription()
	headers := make(chan *types.Header)
	sub := api.events.SubscribeNewHeads(headers)
	go func() {
		defer api.done()
		defer sub.Unsubscribe()
		for {
			select {
			case h := <-headers:
				notifier.Notify(rpcSub.ID, h)
			case <-rpcSub.Err():
				return
			}
		}
	}()
	return rpcSub, nil
}

// Logs is eth_subscribe("logs", criteria): matching logs of new blocks, and
// the same logs with "removed": true when a reorg drops their block.
func (api *subscriptionAPI) Logs(ctx context.Context, crit filters.FilterCriteria) (*rpc.Subscription, error) {
	notifier, ok := rpc.NotifierFromContext(ctx)
	if !ok {
		return &rpc.Subscription{}, rpc.ErrNotificationsUnsupported
	}
	if !api.start() {
		return nil, ErrClosed
	}
	rpcSub := notifier.CreateSubscription()
	matched := make(chan []*types.Log)
	sub, err := api.events.SubscribeLogs(ethereum.FilterQuery(crit), matched)
	if err != nil {
		api.done()
		return nil, err
	}
	go func() {
		defer api.done()
		defer sub.Unsubscribe()
		for {
			select {
			case logs := <-matched:
				for _, l := range logs {
					notifier.Notify(rpcSub.ID, l)
				}
			case <-rpcSub.Err():
				return
			}
		}
	}()
	return rpcSub, nil
}

// WSURL returns the JSON-RPC WebSocket endpoint, ws://HOST:PORT of the
// listener (ws://127.0.0.1:PORT by default).
func (c *Chain) WSURL() string { return c.node.WSEndpoint() }

// HTTPURL returns the JSON-RPC HTTP endpoint, http://HOST:PORT, on the same
// port as WSURL.
func (c *Chain) HTTPURL() string { return c.node.HTTPEndpoint() }

// Addr returns the host:port both endpoints listen on, for a Proxy target.
func (c *Chain) Addr() string { return strings.TrimPrefix(c.HTTPURL(), "http://") }

// Period returns Options.Period: the sealing period, 0 unless blocks are
// sealed on a timer.
func (c *Chain) Period() time.Duration { return c.period }

// Manual reports whether blocks are sealed only by Commit (Options.Manual).
func (c *Chain) Manual() bool { return c.manual }

// ChainID returns a copy of the chain id.
func (c *Chain) ChainID() *big.Int { return new(big.Int).Set(c.chainID) }

// Signer returns the signer for the chain's transactions (the latest fork's).
func (c *Chain) Signer() types.Signer { return c.signer }

// Accounts returns the funded accounts, derived from Options.Seed: index 0 is
// the developer (faucet) account, then Options.Accounts more. The slice is
// a copy; the keys are shared.
func (c *Chain) Accounts() []Account { return append([]Account(nil), c.accounts...) }

// Coinbase returns the fee recipient of every block, which is none of
// Accounts.
func (c *Chain) Coinbase() common.Address { return feeRecipient }

// Client returns an in-process client of the chain (no socket involved). It
// supports subscriptions and is closed by Close; do not close it yourself.
func (c *Chain) Client() *ethclient.Client { return c.client }

// RPC returns the raw in-process RPC client behind Client, for methods
// ethclient lacks (txpool_*, debug_*). It is closed by Close.
func (c *Chain) RPC() *rpc.Client { return c.rpc }

// Head returns the header of the current canonical head; it is shared with
// the node and must not be modified.
func (c *Chain) Head() *types.Header { return c.eth.BlockChain().CurrentBlock() }

// PoolStats returns how many transactions the pool holds: pending ones
// (executable now) and queued ones (waiting for a nonce gap to close).
func (c *Chain) PoolStats() (pending, queued int) {
	return c.eth.TxPool().Stats()
}

// Commit seals one block now on top of the current head, with every
// executable transaction of the pool that fits, and returns its hash once it
// is the canonical head (so WaitReceipt and subscriptions see it). The
// block's timestamp is the wall clock's, or one second after its parent's if
// that is later. Commit works in every mode, alongside the automatic sealer.
func (c *Chain) Commit() (common.Hash, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return common.Hash{}, ErrClosed
	}
	head, _, err := c.commitLocked()
	return head, err
}

// commitLocked seals a block; c.mu must be held. It returns the new head
// and the number of transactions in it.
func (c *Chain) commitLocked() (common.Hash, int, error) {
	before := c.eth.BlockChain().CurrentBlock()
	// The pool promotes new transactions in the background: wait for it, so
	// that a transaction sent before Commit is in the block.
	if err := c.eth.TxPool().Sync(); err != nil {
		return common.Hash{}, 0, fmt.Errorf("devchain: sync the pool: %w", err)
	}
	// The beacon logs (to geth's global logger) and swallows sealing errors,
	// so a head that did not move is the only sign of failure.
	head := c.beacon.Commit()
	if head == before.Hash() {
		return common.Hash{}, 0, fmt.Errorf("devchain: sealing a block on #%d %s failed", before.Number, before.Hash())
	}
	block := c.eth.BlockChain().GetBlockByHash(head)
	if block == nil {
		return head, 0, nil
	}
	return head, len(block.Transactions()), nil
}

// Fork makes the block parentHash the canonical head at once (go-ethereum's
// BlockChain.SetCanonical, through SimulatedBeacon.Fork): every canonical
// block after it stops being canonical, newHeads subscribers receive
// parentHash's header again and logs subscribers receive the dropped
// blocks' logs with removed=true. The next sealed block is built on
// parentHash, so it replaces the dropped block at its height: a reorg.
// Unlike on a real network the new branch need not be longer; it is
// canonical from Fork on.
//
// Fork fails if the pool holds executable transactions (go-ethereum's
// "pending block dirty"): seal or Rollback them first. Transactions of the
// dropped blocks go back to the pool (go-ethereum re-injects those of reorgs
// up to 64 blocks deep); Fork returns once the pool has taken them back, so
// the next sealed block includes them again — in the default mode the
// automatic sealer does so at once. Rollback after Fork drops them instead.
func (c *Chain) Fork(parentHash common.Hash) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if err := c.beacon.Fork(parentHash); err != nil {
		return fmt.Errorf("devchain: fork at %s: %w", parentHash, err)
	}
	if err := c.eth.TxPool().Sync(); err != nil {
		return fmt.Errorf("devchain: fork at %s: txpool: %w", parentHash, err)
	}
	return nil
}

// Rollback drops every transaction from the pool, pending or queued, without
// touching the chain: they will never be mined unless sent again.
func (c *Chain) Rollback() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.beacon.Rollback()
	return nil
}

// AdjustTime seals one empty block whose timestamp is its parent's plus d,
// truncated to whole seconds (at least one second after the parent), which
// moves chain time forward by d; later blocks are at least that late. It
// fails if the pool holds executable transactions.
func (c *Chain) AdjustTime(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("devchain: negative time adjustment %v", d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if err := c.beacon.AdjustTime(d); err != nil {
		return fmt.Errorf("devchain: adjust time: %w", err)
	}
	return nil
}

// timedSeal seals a block every period until Close.
func (c *Chain) timedSeal(period time.Duration) {
	defer c.wg.Done()
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-ticker.C:
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		_, _, err := c.commitLocked()
		c.mu.Unlock()
		if err != nil {
			c.log.Warn("devchain: timed seal failed", "err", err)
		}
	}
}

// startAutoSeal starts the default mode's sealer: one goroutine listens to
// the pool's new-transaction events and never blocks the pool (the pool
// waits for every subscriber, and sealing waits for the pool); the other
// seals while the pool holds executable transactions.
func (c *Chain) startAutoSeal() {
	events := make(chan core.NewTxsEvent, 16)
	sub := c.eth.TxPool().SubscribeTransactions(events, true)
	kick := make(chan struct{}, 1)
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		defer sub.Unsubscribe()
		for {
			select {
			case <-c.stop:
				return
			case <-sub.Err():
				return
			case <-events:
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		}
	}()
	go func() {
		defer c.wg.Done()
		for {
			select {
			case <-c.stop:
				return
			case <-kick:
				c.sealPending()
			}
		}
	}()
}

// sealPending seals blocks while the pool holds executable transactions. It
// stops after a block that included none (the miner will not take them, for
// example a tip below its minimum) rather than spin sealing empty blocks.
func (c *Chain) sealPending() {
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		if pending, _ := c.eth.TxPool().Stats(); pending == 0 {
			c.mu.Unlock()
			return
		}
		_, included, err := c.commitLocked()
		c.mu.Unlock()
		if err != nil {
			c.log.Warn("devchain: automatic seal failed", "err", err)
			return
		}
		if included == 0 {
			return
		}
	}
}

// Send signs a dynamic-fee (EIP-1559) transaction from `from` with the
// chain's signer, filling the defaults documented on TxRequest, and submits
// it to the node. It returns the transaction as sent; its inclusion depends
// on the sealing mode (WaitReceipt waits for it).
func (c *Chain) Send(ctx context.Context, from Account, req TxRequest) (*types.Transaction, error) {
	if from.Key == nil {
		return nil, errors.New("devchain: send: account has no key")
	}
	addr := crypto.PubkeyToAddress(from.Key.PublicKey)
	if from.Address != (common.Address{}) && from.Address != addr {
		return nil, fmt.Errorf("devchain: send: address %s does not match key (%s)", from.Address, addr)
	}
	value := req.Value
	if value == nil {
		value = new(big.Int)
	}
	var nonce uint64
	if req.Nonce != nil {
		nonce = *req.Nonce
	} else {
		n, err := c.client.PendingNonceAt(ctx, addr)
		if err != nil {
			return nil, fmt.Errorf("devchain: send: nonce: %w", err)
		}
		nonce = n
	}
	tip := req.TipCap
	if tip == nil {
		tip = new(big.Int).Set(DefaultTipCap)
		if req.FeeCap != nil && req.FeeCap.Cmp(tip) < 0 {
			tip.Set(req.FeeCap)
		}
	}
	feeCap := req.FeeCap
	if feeCap == nil {
		baseFee := c.eth.BlockChain().CurrentBlock().BaseFee
		if baseFee == nil {
			baseFee = new(big.Int)
		}
		feeCap = new(big.Int).Add(new(big.Int).Mul(baseFee, big.NewInt(2)), tip)
	}
	gas := req.Gas
	if gas == 0 {
		g, err := c.client.EstimateGas(ctx, ethereum.CallMsg{From: addr, To: req.To, Value: value, Data: req.Data})
		if err != nil {
			return nil, fmt.Errorf("devchain: send: estimate gas: %w", err)
		}
		gas = g
	}
	tx, err := types.SignNewTx(from.Key, c.signer, &types.DynamicFeeTx{
		ChainID:   c.chainID,
		Nonce:     nonce,
		GasTipCap: tip,
		GasFeeCap: feeCap,
		Gas:       gas,
		To:        req.To,
		Value:     value,
		Data:      req.Data,
	})
	if err != nil {
		return nil, fmt.Errorf("devchain: send: sign: %w", err)
	}
	if err := c.client.SendTransaction(ctx, tx); err != nil {
		return nil, fmt.Errorf("devchain: send: %w", err)
	}
	return tx, nil
}

// Transfer sends wei from `from` to `to` with default fees and an estimated
// gas limit (21000 to an account without code).
func (c *Chain) Transfer(ctx context.Context, from Account, to common.Address, wei *big.Int) (*types.Transaction, error) {
	return c.Send(ctx, from, TxRequest{To: &to, Value: wei})
}

// receiptPoll is how often WaitReceipt asks for a receipt.
const receiptPoll = 5 * time.Millisecond

// WaitReceipt returns the receipt of the transaction hash once a canonical
// block includes it, asking every 5 ms, or ctx's error when ctx ends first.
// Other errors of the node are returned at once.
func (c *Chain) WaitReceipt(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	var timer *time.Timer
	for {
		receipt, err := c.client.TransactionReceipt(ctx, hash)
		switch {
		case err == nil:
			return receipt, nil
		case errors.Is(err, ethereum.NotFound), strings.Contains(err.Error(), "transaction indexing is in progress"):
		default:
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, fmt.Errorf("devchain: receipt of %s: %w", hash, err)
		}
		if timer == nil {
			timer = time.NewTimer(receiptPoll)
			defer timer.Stop()
		} else {
			timer.Reset(receiptPoll)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}
