package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/gagliardetto/solana-go"

	"github.com/feedd/feedd/internal/solanatest"
)

// solanaOptions are the flags of devchain solana.
type solanaOptions struct {
	Listen   string
	Slot     time.Duration
	Rate     float64
	Seed     string
	Info     string
	Finalize uint64
}

// cmdSolana runs a local Solana node (internal/solanatest: JSON-RPC and
// pubsub on one port, a ledger of SOL and SPL token accounts) with demo
// wallets and random traffic, for `make run` and for trying the solana
// feeds without a cluster.
func cmdSolana(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devchain solana", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o solanaOptions
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:8899", "`host:port` of JSON-RPC (HTTP) and pubsub (WebSocket); port 0 picks a free one")
	fs.DurationVar(&o.Slot, "slot", 400*time.Millisecond, "produce a slot every `duration`")
	fs.Uint64Var(&o.Finalize, "finalize", 8, "slots after which a slot is finalized (rooted); confirmed after 1")
	fs.Float64Var(&o.Rate, "rate", 1, "random transactions per second (SOL and token transfers, some failing); 0: no traffic")
	fs.StringVar(&o.Seed, "seed", "feedd-dev", "the `string` the demo wallets' keys derive from (same addresses on every run)")
	fs.StringVar(&o.Info, "info", "", "write URLs, wallet and mint addresses as JSON to `FILE`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "devchain solana: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if o.Slot <= 0 || !(o.Rate >= 0 && o.Rate <= 10000) || o.Finalize < 1 {
		fmt.Fprintf(stderr, "devchain solana: -slot must be positive, -rate between 0 and 10000, -finalize at least 1\n")
		return 2
	}
	if err := runSolana(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "devchain solana: %v\n", err)
		return 1
	}
	return 0
}

// solanaInfo is what -info writes.
type solanaInfo struct {
	RPC     string            `json:"rpc"`
	WS      string            `json:"ws"`
	Wallets map[string]string `json:"wallets"`
	Mints   map[string]string `json:"mints"`
}

// demoKey derives a wallet address from the seed and a name.
func demoKey(seed, name string) solana.PublicKey {
	sum := sha256.Sum256([]byte(seed + "/" + name))
	priv := ed25519.NewKeyFromSeed(sum[:])
	return solana.PublicKeyFromBytes(priv.Public().(ed25519.PublicKey))
}

func runSolana(ctx context.Context, o solanaOptions, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := solanatest.New(solanatest.Options{Addr: o.Listen, SlotInterval: o.Slot, ConfirmDepth: 1, FinalizeDepth: o.Finalize})
	if err != nil {
		return err
	}
	defer srv.Close()
	alice, bob, carol := demoKey(o.Seed, "alice"), demoKey(o.Seed, "bob"), demoKey(o.Seed, "carol")
	for _, w := range []solana.PublicKey{alice, bob, carol} {
		srv.Airdrop(w, 100*solana.LAMPORTS_PER_SOL)
	}
	tusd := srv.CreateMint(6, solana.TokenProgramID)
	t22 := srv.CreateMint(2, solana.Token2022ProgramID)
	srv.MintTo(tusd, alice, 1_000_000_000_000)
	srv.MintTo(tusd, bob, 250_000_000_000)
	srv.MintTo(t22, bob, 50_000)
	in := solanaInfo{RPC: srv.RPCURL(), WS: srv.WSURL(),
		Wallets: map[string]string{"alice": alice.String(), "bob": bob.String(), "carol": carol.String()},
		Mints:   map[string]string{"TUSD": tusd.String(), "T22": t22.String()}}
	fmt.Fprintf(stdout, `solana dev node
  rpc     %s
  ws      %s
  slot    every %v, confirmed after 1 slot, finalized after %d
  wallets alice %s
          bob   %s
          carol %s
  mints   TUSD  %s (Token, 6 decimals)
          T22   %s (Token-2022, 2 decimals)
  traffic %.3g transactions/s
try: feedctl tail wallet:%s
`, in.RPC, in.WS, o.Slot, o.Finalize, alice, bob, carol, tusd, t22, o.Rate, alice)
	if o.Info != "" {
		data, err := json.MarshalIndent(in, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.Info, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("write -info: %w", err)
		}
	}
	if o.Rate == 0 {
		<-ctx.Done()
		return nil
	}
	rnd := rand.New(rand.NewPCG(seedOf(o.Seed), 2))
	wallets := []solana.PublicKey{alice, bob, carol}
	every := time.Duration(float64(time.Second) / o.Rate)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		from, to := wallets[rnd.IntN(3)], wallets[rnd.IntN(3)]
		for to == from {
			to = wallets[rnd.IntN(3)]
		}
		switch p := rnd.Float64(); {
		case p < 0.4:
			lamports := uint64(1+rnd.IntN(100)) * solana.LAMPORTS_PER_SOL / 100
			log.Info("SOL transfer", "from", from, "to", to, "lamports", lamports, "signature", srv.Transfer(from, to, lamports))
		case p < 0.75:
			amount := uint64(1+rnd.IntN(5000)) * 1_000_000
			log.Info("TUSD transfer", "from", from, "to", to, "amount", amount, "signature", srv.TokenTransfer(tusd, from, to, amount))
		case p < 0.9:
			amount := uint64(1 + rnd.IntN(500))
			log.Info("T22 transfer", "from", from, "to", to, "amount", amount, "signature", srv.TokenTransfer(t22, from, to, amount))
		case p < 0.95:
			log.Info("failing transaction", "payer", from, "signature", srv.FailTx(from))
		default:
			log.Info("skipped slot", "slot", srv.Skip(1))
		}
	}
}
