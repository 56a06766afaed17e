package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/internal/devchain/contracts"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, devchain.LeakOptions()...)
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startChain(t *testing.T, opts devchain.Options) *devchain.Chain {
	t.Helper()
	c, err := devchain.Start(testCtx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// devnetConfig is the part of configs/devnet.yaml that must match the chain.
type devnetConfig struct {
	Chains []struct {
		Name      string   `yaml:"name"`
		ChainID   int64    `yaml:"chain_id"`
		Endpoints []string `yaml:"endpoints"`
		Type      string   `yaml:"type"`
		RPC       []string `yaml:"rpc"`
		WS        []string `yaml:"ws"`
	} `yaml:"chains"`
	Feeds []struct {
		ID        string   `yaml:"id"`
		Type      string   `yaml:"type"`
		Addresses []string `yaml:"addresses"`
		Event     string   `yaml:"event"`
		Channel   string   `yaml:"channel"`
	} `yaml:"feeds"`
}

// eventSig reduces "Name(type indexed name, ...)" to "Name(type,...)".
func eventSig(s string) string {
	name, args, _ := strings.Cut(s, "(")
	args = strings.TrimSuffix(args, ")")
	var types []string
	for a := range strings.SplitSeq(args, ",") {
		if f := strings.Fields(a); len(f) > 0 {
			types = append(types, f[0])
		}
	}
	return name + "(" + strings.Join(types, ",") + ")"
}

// The addresses written in configs/devnet.yaml are those of a fresh
// devchain with the default seed after DeployAll.
func TestDevnetConfigMatchesChain(t *testing.T) {
	ctx := testCtx(t)
	c := startChain(t, devchain.Options{})
	d, err := devchain.DeployAll(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "configs", "devnet.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg devnetConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Chains) != 2 || cfg.Chains[0].Name != "devnet" || cfg.Chains[0].ChainID != c.ChainID().Int64() {
		t.Fatalf("chains: %+v; want devnet with chain id %d, then solana-local", cfg.Chains, c.ChainID())
	}
	if sc := cfg.Chains[1]; sc.Type != "solana" || len(sc.RPC) != 1 || sc.RPC[0] != "http://127.0.0.1:8899" || len(sc.WS) != 1 || sc.WS[0] != "ws://127.0.0.1:8899" {
		t.Errorf("second chain %+v; want solana-local on devchain solana's default -listen", sc)
	}
	if eps := cfg.Chains[0].Endpoints; len(eps) != 2 || eps[0] != defaultRPC || eps[1] != "http://127.0.0.1:8545" {
		t.Errorf("endpoints %v; want %s and the HTTP URL of -listen's default", eps, defaultRPC)
	}
	same := func(what string, got []string, want ...common.Address) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: addresses %v, want %v", what, got, want)
			return
		}
		for i := range got {
			// Checksummed, so that a typo in a letter's case is caught too.
			if got[i] != want[i].Hex() {
				t.Errorf("%s: address %s, want %s", what, got[i], want[i].Hex())
			}
		}
	}
	accs := c.Accounts()
	seen := map[string]bool{}
	for _, f := range cfg.Feeds {
		switch {
		case f.Type == "evm.wallets":
			same(f.ID, f.Addresses, accs[0].Address, accs[1].Address)
		case f.Type == "evm.logs" && f.Channel == "events:oracle:eth-usd":
			same(f.ID, f.Addresses, d.Aggregator)
			if got, want := eventSig(f.Event), contracts.Aggregator.ABI.Events["AnswerUpdated"].Sig; got != want {
				t.Errorf("%s: event %s, want %s", f.ID, got, want)
			}
		case f.Type == "evm.logs" && f.Channel == "events:swaps:{to}":
			same(f.ID, f.Addresses, d.Pair)
			if got, want := eventSig(f.Event), contracts.Pair.ABI.Events["Swap"].Sig; got != want {
				t.Errorf("%s: event %s, want %s", f.ID, got, want)
			}
		default:
			continue
		}
		seen[f.Type+" "+f.Channel] = true
	}
	if len(seen) != 3 {
		t.Errorf("found %v; want the wallets, oracle and swaps feeds", seen)
	}

	// -info: addresses, never keys unless asked.
	dir := t.TempDir()
	for _, keys := range []bool{false, true} {
		path := filepath.Join(dir, "info.json")
		if err := writeInfo(path, c, d, runOptions{Seed: devchain.DefaultSeed, Keys: keys}); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var in info
		if err := json.Unmarshal(raw, &in); err != nil {
			t.Fatal(err)
		}
		if in.ChainID != 1337 || in.WSURL != c.WSURL() || len(in.Accounts) != len(accs) || *in.Contracts != *d {
			t.Errorf("info: %s", raw)
		}
		if in.Accounts[1].Address != accs[1].Address.Hex() {
			t.Errorf("account 1: %s", in.Accounts[1].Address)
		}
		if hasKey := bytes.Contains(raw, []byte("private_key")); hasKey != keys {
			t.Errorf("keys=%v: private keys written: %v", keys, hasKey)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if keys && st.Mode().Perm() != 0o600 {
			t.Errorf("info file with keys has mode %v", st.Mode())
		}
	}
}

// lineWriter records lines and calls onFirst with the first one as it is
// written.
type lineWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	onFirst func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := bytes.IndexByte(w.buf.Bytes(), '\n') >= 0
	w.buf.Write(p)
	if first, _, ok := strings.Cut(w.buf.String(), "\n"); ok && !had && w.onFirst != nil {
		w.onFirst(first)
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// devchain send prints the hash first, while the node does not know the
// transaction yet, and broadcasts it only after -delay.
func TestSendPrintsHashBeforeBroadcast(t *testing.T) {
	ctx := testCtx(t)
	c := startChain(t, devchain.Options{Accounts: 3})
	const delay = 300 * time.Millisecond
	var (
		printed  time.Time
		hash     common.Hash
		knownErr error
	)
	out := &lineWriter{onFirst: func(line string) {
		printed = time.Now()
		hash = common.HexToHash(line)
		if !regexp.MustCompile(`^0x[0-9a-f]{64}$`).MatchString(line) {
			knownErr = errors.New("first line is not a hash: " + line)
			return
		}
		_, _, knownErr = c.Client().TransactionByHash(ctx, hash)
	}}
	to := c.Accounts()[2].Address
	before, err := c.Client().BalanceAt(ctx, to, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = sendTx(ctx, sendOptions{
		RPC: c.WSURL(), Seed: devchain.DefaultSeed, From: 3, To: to.Hex(), Value: "1.5",
		Delay: delay, Timeout: 10 * time.Second, Chain: "devnet",
	}, out)
	if err != nil {
		t.Fatalf("sendTx: %v\n%s", err, out)
	}
	done := time.Now()
	t.Logf("output:\n%s", out)
	if !errors.Is(knownErr, ethereum.NotFound) {
		t.Fatalf("when the hash was printed the node answered %v; want NotFound", knownErr)
	}
	if done.Sub(printed) < delay {
		t.Errorf("done %v after printing the hash; want at least %v", done.Sub(printed), delay)
	}
	r, err := c.Client().TransactionReceipt(ctx, hash)
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("receipt of the printed hash: %v, %+v", err, r)
	}
	if !strings.Contains(out.String(), "tx:devnet:"+hash.Hex()) || !strings.Contains(out.String(), "included in block "+r.BlockNumber.String()) {
		t.Errorf("output lacks the channel hint or the block")
	}
	after, err := c.Client().BalanceAt(ctx, to, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := new(big.Int).Add(before, big.NewInt(1.5e18)); after.Cmp(want) != 0 {
		t.Errorf("recipient balance %v, want %v", after, want)
	}

	// Cancelled during the delay: nothing is sent.
	cctx, cancel := context.WithCancel(ctx)
	var unsent common.Hash
	out = &lineWriter{onFirst: func(line string) { unsent = common.HexToHash(line); cancel() }}
	if err := sendTx(cctx, sendOptions{RPC: c.HTTPURL(), From: 3, Value: "0", Delay: time.Minute, Timeout: time.Second}, out); err == nil {
		t.Fatal("cancelled send succeeded")
	}
	if pending, _ := c.PoolStats(); pending != 0 {
		t.Errorf("%d transactions pending after a cancelled send", pending)
	}
	if _, _, err := c.Client().TransactionByHash(ctx, unsent); !errors.Is(err, ethereum.NotFound) {
		t.Errorf("cancelled send's transaction: %v", err)
	}
}

func TestParseEther(t *testing.T) {
	for in, want := range map[string]string{"1": "1000000000000000000", "0.01": "10000000000000000", "0": "0", "1e-18": "1"} {
		if got, err := parseEther(in); err != nil || got.String() != want {
			t.Errorf("parseEther(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1e-19", "x"} {
		if _, err := parseEther(in); err == nil {
			t.Errorf("parseEther(%q) accepted", in)
		}
	}
}

// syncBuffer is a concurrency-safe bytes.Buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// devchain run: ready with a summary and an -info file, blocks and traffic
// over its RPC URL, a clean stop when ctx ends.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	infoPath := filepath.Join(t.TempDir(), "devchain.json")
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runChain(ctx, runOptions{
			Listen: "127.0.0.1:0", Period: 200 * time.Millisecond, Rate: 10, Accounts: 3,
			Seed: devchain.DefaultSeed, Info: infoPath, LogLevel: slog.LevelInfo,
		}, &stdout, &stderr)
	}()
	var in info
	deadline := time.Now().Add(20 * time.Second)
	for {
		raw, err := os.ReadFile(infoPath)
		if err == nil {
			if err := json.Unmarshal(raw, &in); err != nil {
				t.Fatalf("info file: %v\n%s", err, raw)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no info file; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cl, err := ethclient.DialContext(ctx, in.WSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n0, err := cl.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	n1, err := cl.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n1 < n0+3 {
		t.Errorf("head %d → %d in 1 s with a 200ms period", n0, n1)
	}
	// The oracle answer is the deployed one or an update near the pair's price.
	out, err := contracts.Call(ctx, cl, in.Contracts.Aggregator, contracts.Aggregator, "latestAnswer")
	if err != nil {
		t.Fatal(err)
	}
	if a := out[0].(*big.Int); a.Cmp(big.NewInt(2900e8)) < 0 || a.Cmp(big.NewInt(3100e8)) > 0 {
		t.Errorf("oracle answer %v", a)
	}
	cl.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runChain: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runChain did not stop")
	}
	summary := stdout.String()
	t.Logf("summary:\n%s", summary)
	for _, want := range []string{"devchain ready in", "WebSocket  " + in.WSURL, "HTTP       " + in.HTTPURL, "chain id 1337",
		in.Contracts.Pair.Hex(), in.Accounts[1].Address, "feedctl tail blocks:devnet", "feedctl tail wallet:" + in.Accounts[1].Address,
		"devchain send -rpc " + in.WSURL + " -from 3"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	logs := stderr.String()
	if n := strings.Count(logs, "traffic: sent"); n < 5 {
		t.Errorf("%d transactions logged:\n%s", n, logs)
	}
	if strings.Contains(logs, "level=WARN") || strings.Contains(logs, "level=ERROR") {
		t.Errorf("warnings:\n%s", logs)
	}
	if !strings.Contains(logs, "devchain stopping") {
		t.Errorf("no stop line:\n%s", logs)
	}
	// The account kept for devchain send sent nothing.
	kept := in.Accounts[len(in.Accounts)-1].Address
	if strings.Contains(logs, "from="+kept) {
		t.Errorf("traffic used %s, kept for devchain send", kept)
	}
}

// The demo wallet named in configs/devnet.yaml and the README is alice of
// the default seed.
func TestSolanaDemoWallet(t *testing.T) {
	const alice = "2zPurrd7GLzGyQanTsJmyzc1KUP1XC4PYrS9WdTwkCRP"
	if got := demoKey("feedd-dev", "alice").String(); got != alice {
		t.Errorf("alice = %s, want %s (update configs/devnet.yaml and the README)", got, alice)
	}
	for _, f := range []string{"../../configs/devnet.yaml", "../../README.md"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), alice) {
			t.Errorf("%s does not name alice %s", f, alice)
		}
	}
}

// devchain solana serves a node the solana feeds can use, with traffic.
func TestSolanaCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	info := filepath.Join(t.TempDir(), "solana.json")
	var out, errs bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- cmdSolana(ctx, []string{"-listen", "127.0.0.1:0", "-slot", "20ms", "-rate", "50", "-info", info}, &out, &errs)
	}()
	deadline := time.Now().Add(10 * time.Second)
	var in solanaInfo
	for {
		data, err := os.ReadFile(info)
		if err == nil && json.Unmarshal(data, &in) == nil && in.RPC != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no -info file; stderr:\n%s", errs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cl := rpc.New(in.RPC)
	alice := solana.MustPublicKeyFromBase58(in.Wallets["alice"])
	for {
		sigs, err := cl.GetSignaturesForAddressWithOpts(ctx, alice, &rpc.GetSignaturesForAddressOpts{Commitment: rpc.CommitmentConfirmed})
		if err == nil && len(sigs) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no traffic for alice: %v, %d signatures; stderr:\n%s", err, len(sigs), errs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d; stderr:\n%s", code, errs.String())
	}
	if !strings.Contains(out.String(), "feedctl tail wallet:"+in.Wallets["alice"]) {
		t.Errorf("summary lacks the try-it line:\n%s", out.String())
	}
}
