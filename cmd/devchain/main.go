// Command devchain runs a local go-ethereum development chain with test
// contracts and random traffic, for `make run` and for trying feedd without
// a real node.
//
//	devchain [run] [flags]    start the chain, deploy the contracts, send traffic until Ctrl-C
//	devchain send [flags]     sign a transfer, print its hash, broadcast it after a delay
//	devchain solana [flags]   run a local Solana node (JSON-RPC and pubsub) with demo wallets and traffic
//	devchain help
//
// The chain serves JSON-RPC over HTTP and WebSocket on one port (default
// 127.0.0.1:8545), chain id 1337. Its accounts are derived from -seed, so
// their addresses (and, on a fresh chain, the contract addresses) are the
// same on every run: configs/devnet.yaml relies on it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/big"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"

	"github.com/feedd/feedd/internal/devchain"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "run":
		return cmdRun(ctx, args, stdout, stderr)
	case "send":
		return cmdSend(ctx, args, stdout, stderr)
	case "solana":
		return cmdSolana(ctx, args, stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "devchain: unknown command %q\n", cmd)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  devchain [run] [flags]   start a dev chain (chain id 1337), deploy test contracts (ERC-20 TUSD
                           and WETH, ERC-721, ERC-1155, an ETH/USD aggregator, a WETH/TUSD pair)
                           and send random traffic until Ctrl-C
  devchain send [flags]    sign a native transfer with a dev key, print its hash, wait -delay,
                           broadcast it and print the block that includes it
  devchain solana [flags]  run a local Solana node on 127.0.0.1:8899 (JSON-RPC and pubsub, the
                           hermetic test node of the solana feeds) with three demo wallets, two
                           token mints (Token and Token-2022) and random transfers until Ctrl-C
  devchain help            this text; "devchain <command> -h" lists the flags
`)
}

// runOptions are the flags of devchain run.
type runOptions struct {
	Listen   string
	Period   time.Duration
	Rate     float64
	Accounts int
	Seed     string
	Info     string
	Keys     bool
	LogLevel slog.Level
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devchain run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o runOptions
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:8545", "`host:port` of the JSON-RPC server (HTTP and WebSocket); port 0 picks a free one")
	fs.DurationVar(&o.Period, "period", time.Second, "seal a block every `period`; 0 seals one as soon as a transaction arrives (no replacements in the traffic then)")
	fs.Float64Var(&o.Rate, "rate", 2, "random transactions per second; 0: no traffic")
	fs.IntVar(&o.Accounts, "accounts", devchain.DefaultAccounts, "funded accounts besides the developer account (index 0); the last one is left out of the traffic for devchain send")
	fs.StringVar(&o.Seed, "seed", devchain.DefaultSeed, "the `string` the account keys (and the traffic's random choices) derive from")
	fs.StringVar(&o.Info, "info", "", "write chain id, RPC URLs, account addresses and contract addresses as JSON to `FILE`")
	fs.BoolVar(&o.Keys, "keys", false, "also write the accounts' private keys to the -info file (dev keys only: never fund them elsewhere)")
	level := fs.String("log-level", "info", "`level` of the log on stderr: debug, info (a line per transaction), warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "devchain run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := o.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "devchain run: -log-level %q: want debug, info, warn or error\n", *level)
		return 2
	}
	if err := runChain(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "devchain: %v\n", err)
		return 1
	}
	return 0
}

// runChain starts the chain, deploys, prints the summary, writes the info
// file and runs the traffic until ctx ends; then it closes the chain.
func runChain(ctx context.Context, o runOptions, stdout, stderr io.Writer) error {
	switch {
	case o.Period < 0:
		return fmt.Errorf("-period %v: negative", o.Period)
	case o.Rate < 0 || o.Rate > devchain.MaxTrafficRate:
		return fmt.Errorf("-rate %v: want 0 to %v", o.Rate, devchain.MaxTrafficRate)
	case o.Accounts < 0:
		return fmt.Errorf("-accounts %d: negative", o.Accounts)
	case o.Rate > 0 && o.Accounts < 3:
		return fmt.Errorf("-accounts %d: traffic needs at least 3 (one is kept for devchain send)", o.Accounts)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.LogLevel}))
	// The node's own messages are noisy at info: warnings and up only.
	nodeLogger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: max(o.LogLevel, slog.LevelWarn)}))
	accounts := o.Accounts
	if accounts == 0 {
		accounts = -1 // Options: none
	}

	t0 := time.Now()
	c, err := devchain.Start(ctx, devchain.Options{
		Addr:     o.Listen,
		Period:   o.Period,
		Accounts: accounts,
		Seed:     o.Seed,
		Logger:   nodeLogger,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer c.Close()
	started := time.Since(t0)
	d, err := devchain.DeployAll(ctx, c)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	ready := time.Since(t0)
	if o.Info != "" {
		if err := writeInfo(o.Info, c, d, o); err != nil {
			return err
		}
	}
	printSummary(stdout, c, d, o, started, ready)
	logger.Info("devchain ready", "ws", c.WSURL(), "chain_id", c.ChainID(), "start", started.Round(time.Millisecond), "ready", ready.Round(time.Millisecond))

	var (
		wg    sync.WaitGroup
		stats devchain.TrafficStats
	)
	if o.Rate > 0 {
		accs := c.Accounts()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			stats, err = devchain.RunTraffic(ctx, c, d, devchain.TrafficOptions{
				Rate:     o.Rate,
				Seed:     seedOf(o.Seed),
				Accounts: accs[:len(accs)-1], // the last is devchain send's
				Logger:   logger,
			})
			if err != nil {
				logger.Error("traffic", "err", err)
			}
		}()
	}
	<-ctx.Done()
	wg.Wait()
	if o.Rate > 0 {
		logger.Info("devchain stopping", "sent", stats.Total, "rate", fmt.Sprintf("%.2f/s", stats.Rate()),
			"errors", stats.Errors, "skipped_ticks", stats.Skipped, "head", c.Head().Number)
	}
	return c.Close()
}

// seedOf turns the key seed into the traffic's random seed.
func seedOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// info is the JSON of -info.
type info struct {
	ChainID   uint64               `json:"chain_id"`
	WSURL     string               `json:"ws_url"`
	HTTPURL   string               `json:"http_url"`
	Period    string               `json:"period"`
	Seed      string               `json:"seed"`
	Accounts  []infoAccount        `json:"accounts"`
	SendFrom  int                  `json:"send_from"`
	Contracts *devchain.Deployment `json:"contracts"`
}

type infoAccount struct {
	Index      int    `json:"index"`
	Address    string `json:"address"` // checksummed
	PrivateKey string `json:"private_key,omitempty"`
}

// writeInfo writes the -info file atomically (readers never see half of
// it), readable by the owner only when it holds keys.
func writeInfo(path string, c *devchain.Chain, d *devchain.Deployment, o runOptions) error {
	in := info{
		ChainID:   c.ChainID().Uint64(),
		WSURL:     c.WSURL(),
		HTTPURL:   c.HTTPURL(),
		Period:    o.Period.String(),
		Seed:      o.Seed,
		SendFrom:  len(c.Accounts()) - 1,
		Contracts: d,
	}
	for i, a := range c.Accounts() {
		ia := infoAccount{Index: i, Address: a.Address.Hex()}
		if o.Keys {
			ia.PrivateKey = hexutil.Encode(crypto.FromECDSA(a.Key))
		}
		in.Accounts = append(in.Accounts, ia)
	}
	data, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if o.Keys {
		mode = 0o600
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".devchain-info-*")
	if err != nil {
		return fmt.Errorf("-info: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("-info: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("-info: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("-info: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("-info: %w", err)
	}
	return nil
}

// printSummary prints what a user needs to start: URLs, accounts,
// contracts, commands to try.
func printSummary(w io.Writer, c *devchain.Chain, d *devchain.Deployment, o runOptions, started, ready time.Duration) {
	accs := c.Accounts()
	sealing := "a block as soon as a transaction arrives"
	if o.Period > 0 {
		sealing = "a block every " + o.Period.String()
	}
	traffic := "no traffic"
	if o.Rate > 0 {
		traffic = fmt.Sprintf("%g random tx/s", o.Rate)
	}
	fmt.Fprintf(w, "devchain ready in %v (node up in %v): chain id %d, %s, %s\n",
		ready.Round(time.Millisecond), started.Round(time.Millisecond), c.ChainID(), sealing, traffic)
	fmt.Fprintf(w, "  WebSocket  %s\n  HTTP       %s\n", c.WSURL(), c.HTTPURL())
	fmt.Fprintf(w, "Funded accounts (keys derive from -seed %q; devchain run -info FILE -keys writes them):\n", o.Seed)
	const show = 3 // accounts 0 to 2, then the one kept for devchain send
	kept := -1
	if o.Rate > 0 {
		kept = len(accs) - 1
	}
	for i, a := range accs {
		note := ""
		switch {
		case i == 0:
			note = "  developer: deployed the contracts"
		case i == kept:
			note = "  kept out of the traffic, for devchain send"
		case i == show:
			more := len(accs) - show
			if kept >= show {
				more--
			}
			fmt.Fprintf(w, "  …   %d more\n", more)
			continue
		case i > show:
			continue
		}
		fmt.Fprintf(w, "  [%d] %s%s\n", i, a.Address, note)
	}
	fmt.Fprintln(w, "Contracts:")
	for _, ct := range d.Contracts() {
		fmt.Fprintf(w, "  %-32s %s\n", ct.Name, ct.Address)
	}
	if o.Seed != devchain.DefaultSeed || len(accs) < 3 {
		fmt.Fprintln(w, "Note: configs/devnet.yaml holds the addresses of the default -seed; they differ here.")
	}
	if c.WSURL() != defaultRPC {
		fmt.Fprintf(w, "Note: configs/devnet.yaml connects to 127.0.0.1:8545, not to %s.\n", c.Addr())
	}
	fmt.Fprintln(w, "Try, with feedd running on configs/devnet.yaml (make run does both):")
	fmt.Fprintln(w, "  feedctl tail blocks:devnet")
	if len(accs) > 1 {
		fmt.Fprintf(w, "  feedctl tail wallet:%s\n", accs[1].Address)
	}
	fmt.Fprintln(w, "  feedctl tail events:oracle:eth-usd")
	sendArgs := ""
	if c.WSURL() != defaultRPC {
		sendArgs = " -rpc " + c.WSURL()
	}
	if from := len(accs) - 1; from != devchain.DefaultAccounts {
		sendArgs += fmt.Sprintf(" -from %d", from)
	}
	fmt.Fprintf(w, "  devchain send%s    prints a hash H, then: feedctl tail tx:devnet:H\n", sendArgs)
}

const defaultRPC = "ws://127.0.0.1:8545"

// sendOptions are the flags of devchain send.
type sendOptions struct {
	RPC     string
	Seed    string
	From    int
	To      string
	Value   string
	Delay   time.Duration
	Timeout time.Duration
	Chain   string
}

func cmdSend(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devchain send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o sendOptions
	fs.StringVar(&o.RPC, "rpc", defaultRPC, "the chain's JSON-RPC `URL` (ws:// or http://)")
	fs.StringVar(&o.Seed, "seed", devchain.DefaultSeed, "the `string` the dev keys derive from, as given to devchain run")
	fs.IntVar(&o.From, "from", devchain.DefaultAccounts, "`index` of the sending account (the default is the one devchain run keeps out of its traffic, whose nonces would collide)")
	fs.StringVar(&o.To, "to", "", "recipient `address` (default: account 1)")
	fs.StringVar(&o.Value, "value", "0.01", "amount in `ETH`")
	fs.DurationVar(&o.Delay, "delay", 5*time.Second, "wait this long after printing the hash before broadcasting")
	fs.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "give up waiting for the receipt after this long")
	fs.StringVar(&o.Chain, "chain", "devnet", "the chain's `name` in feedd, for the tx:<chain>:<hash> hint")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "devchain send: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := sendTx(ctx, o, stdout); err != nil {
		fmt.Fprintf(stderr, "devchain send: %v\n", err)
		return 1
	}
	return 0
}

// sendTx signs a native transfer, prints its hash as the first line of out,
// waits o.Delay, broadcasts it, waits for its receipt and prints the block.
func sendTx(ctx context.Context, o sendOptions, out io.Writer) error {
	if o.From < 0 {
		return fmt.Errorf("-from %d: negative", o.From)
	}
	value, err := parseEther(o.Value)
	if err != nil {
		return fmt.Errorf("-value %q: %w", o.Value, err)
	}
	from := devchain.DeriveAccount(o.Seed, o.From)
	to := devchain.DeriveAccount(o.Seed, 1).Address
	if o.To != "" {
		if !common.IsHexAddress(o.To) {
			return fmt.Errorf("-to %q: not an address", o.To)
		}
		to = common.HexToAddress(o.To)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cl, err := ethclient.DialContext(dctx, o.RPC)
	if err != nil {
		return fmt.Errorf("dial %s: %w", o.RPC, err)
	}
	defer cl.Close()
	chainID, err := cl.ChainID(dctx)
	if err != nil {
		return fmt.Errorf("chain id: %w", err)
	}
	nonce, err := cl.PendingNonceAt(dctx, from.Address)
	if err != nil {
		return fmt.Errorf("nonce: %w", err)
	}
	head, err := cl.HeaderByNumber(dctx, nil)
	if err != nil {
		return fmt.Errorf("head: %w", err)
	}
	gas, err := cl.EstimateGas(dctx, ethereum.CallMsg{From: from.Address, To: &to, Value: value})
	if err != nil {
		return fmt.Errorf("estimate gas: %w", err)
	}
	tip := big.NewInt(params.GWei)
	feeCap := new(big.Int).Add(tip, new(big.Int).Mul(head.BaseFee, big.NewInt(2)))
	tx, err := types.SignNewTx(from.Key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID: chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas, To: &to, Value: value,
	})
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	fmt.Fprintln(out, tx.Hash().Hex())
	fmt.Fprintf(out, "%s ETH from [%d] %s to %s, nonce %d; broadcasting in %v\n  watch it: feedctl tail tx:%s:%s\n",
		o.Value, o.From, from.Address, to, nonce, o.Delay, o.Chain, tx.Hash())
	select {
	case <-ctx.Done():
		return fmt.Errorf("not sent: %w", ctx.Err())
	case <-time.After(o.Delay):
	}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if err := cl.SendTransaction(sctx, tx); err != nil {
		return fmt.Errorf("broadcast: %w", err)
	}
	fmt.Fprintln(out, "broadcast; waiting for a block")
	rctx, rcancel := context.WithTimeout(ctx, o.Timeout)
	defer rcancel()
	r, err := waitReceipt(rctx, cl, tx.Hash())
	if err != nil {
		return fmt.Errorf("receipt: %w", err)
	}
	status := "success"
	if r.Status != types.ReceiptStatusSuccessful {
		status = "failed"
	}
	fmt.Fprintf(out, "included in block %d (%s): %s, gas used %d\n", r.BlockNumber, r.BlockHash, status, r.GasUsed)
	return nil
}

// waitReceipt polls for the receipt every 50 ms.
func waitReceipt(ctx context.Context, cl *ethclient.Client, hash common.Hash) (*types.Receipt, error) {
	for {
		r, err := cl.TransactionReceipt(ctx, hash)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ethereum.NotFound) && ctx.Err() == nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// parseEther parses a decimal amount of ether into wei.
func parseEther(s string) (*big.Int, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok || r.Sign() < 0 {
		return nil, errors.New("want a non-negative decimal number")
	}
	r.Mul(r, new(big.Rat).SetInt(big.NewInt(params.Ether)))
	if !r.IsInt() {
		return nil, errors.New("more than 18 decimals")
	}
	return r.Num(), nil
}
