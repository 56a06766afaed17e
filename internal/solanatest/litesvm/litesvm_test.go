package litesvm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"
	"github.com/gagliardetto/solana-go/rpc/ws"
	"go.uber.org/goleak"
)

// shared is the facade used by every test; startErr is why it is missing.
var (
	shared   *Node
	startErr error
)

type testMain struct{ m *testing.M }

func (t testMain) Run() int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	started := time.Now()
	shared, startErr = Start(ctx, func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	})
	cancel()
	if startErr == nil {
		fmt.Fprintf(os.Stderr, "litesvm: Start took %v\n", time.Since(started).Round(time.Millisecond))
	}
	code := t.m.Run()
	if shared != nil {
		if err := shared.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	return code
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(testMain{m})
}

func setup(t *testing.T) (*Client, context.Context) {
	t.Helper()
	if startErr != nil {
		// No skip when node or npm is missing: CI installs them (.ci/run).
		t.Fatalf("start facade: %v", startErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c := NewClient(shared)
	t.Cleanup(func() {
		cancel()
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c, ctx
}

func newFundedKey(t *testing.T, ctx context.Context, c *Client, lamports uint64) solana.PrivateKey {
	t.Helper()
	k, err := solana.NewRandomPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Airdrop(ctx, k.PublicKey(), lamports); err != nil {
		t.Fatal(err)
	}
	return k
}

func connectWS(t *testing.T, ctx context.Context) *ws.Client {
	t.Helper()
	wsc, err := ws.Connect(ctx, shared.WS)
	if err != nil {
		t.Fatalf("ws connect: %v", err)
	}
	t.Cleanup(wsc.Close)
	return wsc
}

func TestAirdropTransferAndSubscriptions(t *testing.T) {
	c, ctx := setup(t)
	alice := newFundedKey(t, ctx, c, 2*solana.LAMPORTS_PER_SOL)
	bob := solana.NewWallet().PublicKey()

	bal, err := c.RPC().GetBalance(ctx, alice.PublicKey(), rpc.CommitmentFinalized)
	if err != nil || bal.Value != 2*solana.LAMPORTS_PER_SOL {
		t.Fatalf("alice balance = %v, %v; want 2 SOL", bal, err)
	}

	wsc := connectWS(t, ctx)
	accSub, err := wsc.AccountSubscribe(bob, rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatal(err)
	}
	defer accSub.Unsubscribe()
	logSub, err := wsc.LogsSubscribeMentions(bob, rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatal(err)
	}
	defer logSub.Unsubscribe()
	slotSub, err := wsc.SlotSubscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer slotSub.Unsubscribe()
	rootSub, err := wsc.RootSubscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer rootSub.Unsubscribe()

	start := time.Now()
	sig, err := c.Transfer(ctx, alice, bob, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("transfer (blockhash + send + status) took %v", time.Since(start))

	acc, err := accSub.Recv(ctx)
	if err != nil {
		t.Fatalf("account notification: %v", err)
	}
	if acc.Value.Lamports != 1_000_000 || !acc.Value.Owner.Equals(solana.SystemProgramID) {
		t.Errorf("account notification = %+v", acc.Value)
	}
	lg, err := logSub.Recv(ctx)
	if err != nil {
		t.Fatalf("logs notification: %v", err)
	}
	if !lg.Value.Signature.Equals(sig) || lg.Value.Err != nil || len(lg.Value.Logs) == 0 {
		t.Errorf("logs notification = %+v", lg.Value)
	}
	sl, err := slotSub.Recv(ctx)
	if err != nil {
		t.Fatalf("slot notification: %v", err)
	}
	if sl.Slot != acc.Context.Slot || sl.Parent != sl.Slot-1 || sl.Root != sl.Slot {
		t.Errorf("slot notification = %+v, account slot %d", sl, acc.Context.Slot)
	}
	root, err := rootSub.Recv(ctx)
	if err != nil || uint64(*root) != sl.Slot {
		t.Errorf("root notification = %v, %v; want %d", root, err, sl.Slot)
	}

	// signatureSubscribe on a landed signature notifies at once.
	sigSub, err := wsc.SignatureSubscribe(sig, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := sigSub.Recv(ctx)
	if err != nil || sr.Value.Err != nil || sr.Context.Slot != sl.Slot {
		t.Errorf("signature notification = %+v, %v", sr, err)
	}

	// getTransaction (json and jsonParsed).
	v0 := uint64(0)
	tx, err := c.RPC().GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64, MaxSupportedTransactionVersion: &v0})
	if err != nil {
		t.Fatal(err)
	}
	if tx.Version != rpc.LegacyTransactionVersion {
		t.Errorf("version = %v", tx.Version)
	}
	if tx.Slot != sl.Slot || tx.Meta.Fee != 5000 || tx.Meta.Err != nil || tx.BlockTime == nil {
		t.Errorf("getTransaction = slot %d meta %+v", tx.Slot, tx.Meta)
	}
	if got, want := tx.Meta.PreBalances[0]-tx.Meta.PostBalances[0], uint64(1_005_000); got != want {
		t.Errorf("payer debited %d, want %d", got, want)
	}
	if tx.Meta.PostBalances[1] != 1_000_000 {
		t.Errorf("recipient post balance %d", tx.Meta.PostBalances[1])
	}
	decoded, err := tx.Transaction.GetTransaction()
	if err != nil || !decoded.Signatures[0].Equals(sig) {
		t.Errorf("decoded transaction: %v %v", decoded, err)
	}
	ptx, err := c.RPC().GetParsedTransaction(ctx, sig, &rpc.GetParsedTransactionOpts{MaxSupportedTransactionVersion: &v0})
	if err != nil {
		t.Fatal(err)
	}
	ix := ptx.Transaction.Message.Instructions[0]
	if ix.Program != "system" || ix.Parsed == nil {
		t.Errorf("parsed instruction = %+v", ix)
	} else if info := parsedInfo(t, ix.Parsed); info == nil || info.InstructionType != "transfer" ||
		fmt.Sprint(info.Info["destination"]) != bob.String() || fmt.Sprint(info.Info["lamports"]) != "1e+06" {
		t.Errorf("parsed transfer = %+v", info)
	}
	if !ptx.Transaction.Message.AccountKeys[0].Signer || !ptx.Transaction.Message.AccountKeys[1].Writable {
		t.Errorf("parsed account keys = %+v", ptx.Transaction.Message.AccountKeys)
	}

	// Unknown signature → null.
	if _, err := c.RPC().GetTransaction(ctx, solana.Signature{1}, nil); !errors.Is(err, rpc.ErrNotFound) {
		t.Errorf("unknown getTransaction err = %v, want ErrNotFound", err)
	}

	// Signatures and blocks.
	sigs, err := c.RPC().GetSignaturesForAddress(ctx, bob)
	if err != nil || len(sigs) != 1 || !sigs[0].Signature.Equals(sig) {
		t.Errorf("getSignaturesForAddress = %+v, %v", sigs, err)
	}
	sigs, err = c.RPC().GetSignaturesForAddress(ctx, alice.PublicKey())
	if err != nil || len(sigs) != 2 || !sigs[0].Signature.Equals(sig) || sigs[0].Slot <= sigs[1].Slot {
		t.Errorf("getSignaturesForAddress(alice) = %+v, %v", sigs, err)
	}
	blk, err := c.RPC().GetBlockWithOpts(ctx, sl.Slot, &rpc.GetBlockOpts{MaxSupportedTransactionVersion: &v0})
	if err != nil {
		t.Fatal(err)
	}
	if len(blk.Transactions) != 1 || blk.ParentSlot != sl.Slot-1 || blk.BlockHeight == nil || *blk.BlockHeight != sl.Slot {
		t.Errorf("getBlock = %+v", blk)
	}
	parent, err := c.RPC().GetBlockWithOpts(ctx, sl.Slot-1, &rpc.GetBlockOpts{TransactionDetails: rpc.TransactionDetailsSignatures})
	if err != nil || parent.Blockhash != blk.PreviousBlockhash || len(parent.Signatures) != 1 {
		t.Errorf("parent block = %+v, %v", parent, err)
	}
	blocks, err := c.RPC().GetBlocks(ctx, sl.Slot-1, &sl.Slot, rpc.CommitmentFinalized)
	if err != nil || len(blocks) != 2 {
		t.Errorf("getBlocks = %v, %v", blocks, err)
	}
	bt, err := c.RPC().GetBlockTime(ctx, sl.Slot)
	if err != nil || bt == nil || bt.Time().IsZero() {
		t.Errorf("getBlockTime = %v, %v", bt, err)
	}
}

func parsedInfo(t *testing.T, env *rpc.InstructionInfoEnvelope) *rpc.InstructionInfo {
	t.Helper()
	if env == nil {
		return nil
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	var info rpc.InstructionInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil
	}
	return &info
}

func TestSPLTokens(t *testing.T) {
	for _, program := range []solana.PublicKey{solana.TokenProgramID, solana.Token2022ProgramID} {
		t.Run(program.String()[:5], func(t *testing.T) {
			c, ctx := setup(t)
			alice := newFundedKey(t, ctx, c, solana.LAMPORTS_PER_SOL)
			bob := solana.NewWallet().PublicKey()

			mint, err := c.CreateMint(ctx, alice, 6, program)
			if err != nil {
				t.Fatal(err)
			}
			aliceATA, err := c.MintTo(ctx, alice, mint, alice.PublicKey(), 5_000_000)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			sig, err := c.TokenTransfer(ctx, alice, mint, bob, 1_250_000, 6)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("token transfer with ATA creation took %v", time.Since(start))

			// getTokenAccountsByOwner, jsonParsed, by program and by mint.
			for _, conf := range []*rpc.GetTokenAccountsConfig{{ProgramId: &program}, {Mint: &mint}} {
				res, err := c.RPC().GetTokenAccountsByOwner(ctx, bob, conf, &rpc.GetTokenAccountsOpts{Encoding: solana.EncodingJSONParsed})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Value) != 1 {
					t.Fatalf("bob has %d token accounts, want 1", len(res.Value))
				}
				js := string(res.Value[0].Account.Data.GetRawJSON())
				if !strings.Contains(js, `"amount":"1250000"`) || !strings.Contains(js, mint.String()) || !strings.Contains(js, `"uiAmountString":"1.25"`) {
					t.Errorf("token account data = %s", js)
				}
				if !res.Value[0].Account.Owner.Equals(program) {
					t.Errorf("token account owner = %s", res.Value[0].Account.Owner)
				}
			}
			// base64 encoding of alice's account.
			res, err := c.RPC().GetTokenAccountsByOwner(ctx, alice.PublicKey(), &rpc.GetTokenAccountsConfig{Mint: &mint}, &rpc.GetTokenAccountsOpts{Encoding: solana.EncodingBase64})
			if err != nil || len(res.Value) != 1 || !res.Value[0].Pubkey.Equals(aliceATA) || len(res.Value[0].Account.Data.GetBinary()) < 165 {
				t.Fatalf("alice base64 token accounts = %+v, %v", res, err)
			}

			v0 := uint64(0)
			tx, err := c.RPC().GetTransaction(ctx, sig, &rpc.GetTransactionOpts{Encoding: solana.EncodingBase64, MaxSupportedTransactionVersion: &v0})
			if err != nil {
				t.Fatal(err)
			}
			pre := map[string]string{}
			for _, b := range tx.Meta.PreTokenBalances {
				pre[b.Owner.String()] = b.UiTokenAmount.Amount
			}
			post := map[string]string{}
			for _, b := range tx.Meta.PostTokenBalances {
				post[b.Owner.String()] = b.UiTokenAmount.Amount
				if !b.Mint.Equals(mint) || b.UiTokenAmount.Decimals != 6 || b.ProgramId == nil || !b.ProgramId.Equals(program) {
					t.Errorf("post token balance = %+v", b)
				}
			}
			if pre[alice.PublicKey().String()] != "5000000" || post[alice.PublicKey().String()] != "3750000" ||
				post[bob.String()] != "1250000" || len(tx.Meta.PreTokenBalances) != 1 {
				t.Errorf("token balances pre %v post %v", pre, post)
			}
			ptx, err := c.RPC().GetParsedTransaction(ctx, sig, &rpc.GetParsedTransactionOpts{MaxSupportedTransactionVersion: &v0})
			if err != nil {
				t.Fatal(err)
			}
			last := ptx.Transaction.Message.Instructions[len(ptx.Transaction.Message.Instructions)-1]
			if info := parsedInfo(t, last.Parsed); info == nil || info.InstructionType != "transferChecked" || fmt.Sprint(info.Info["mint"]) != mint.String() {
				t.Errorf("parsed token instruction = %+v", last)
			}

			// jsonParsed mint account.
			acc, err := c.RPC().GetAccountInfoWithOpts(ctx, mint, &rpc.GetAccountInfoOpts{Encoding: solana.EncodingJSONParsed})
			if err != nil {
				t.Fatal(err)
			}
			if js := string(acc.Value.Data.GetRawJSON()); !strings.Contains(js, `"supply":"5000000"`) || !strings.Contains(js, `"type":"mint"`) {
				t.Errorf("mint jsonParsed = %s", js)
			}
		})
	}
}

func TestFailedTransaction(t *testing.T) {
	c, ctx := setup(t)
	alice := newFundedKey(t, ctx, c, 10_000_000)
	bob := solana.NewWallet().PublicKey()

	// With preflight the node rejects the transaction.
	_, err := c.Transfer(ctx, alice, bob, 20_000_000)
	var rpcErr *jsonrpc.RPCError
	if !errors.As(err, &rpcErr) || rpcErr.Code != -32002 || !strings.Contains(rpcErr.Message, "Transaction simulation failed") {
		t.Fatalf("preflight failure err = %v", err)
	}

	sig, err := c.FailingTransfer(ctx, alice, bob)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := c.RPC().GetTransaction(ctx, sig, nil) // default encoding: json
	if err != nil {
		t.Fatal(err)
	}
	if tx.Meta.Err == nil || tx.Meta.Fee != 5000 || tx.Meta.PreBalances[0]-tx.Meta.PostBalances[0] != 5000 {
		t.Errorf("failed tx meta = %+v", tx.Meta)
	}
	st, err := c.RPC().GetSignatureStatuses(ctx, false, sig)
	if err != nil || st.Value[0] == nil || st.Value[0].Err == nil {
		t.Errorf("status = %+v, %v", st, err)
	}
	bal, err := c.RPC().GetBalance(ctx, alice.PublicKey(), rpc.CommitmentFinalized)
	if err != nil || bal.Value != 10_000_000-5000 {
		t.Errorf("balance after failed tx = %v, %v", bal, err)
	}
}

func TestDropConnections(t *testing.T) {
	c, ctx := setup(t)
	wsc := connectWS(t, ctx)
	sub, err := wsc.SlotSubscribe()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.RPC().RPCCallForInto(ctx, &n, "litesvm_dropConnections", nil); err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		t.Errorf("dropped %d connections", n)
	}
	if _, err := sub.Recv(ctx); err == nil {
		t.Error("Recv after drop succeeded")
	}
	// A new connection works.
	wsc2 := connectWS(t, ctx)
	sub2, err := wsc2.SlotSubscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Unsubscribe()
	newFundedKey(t, ctx, c, solana.LAMPORTS_PER_SOL)
	if _, err := sub2.Recv(ctx); err != nil {
		t.Errorf("slot after reconnect: %v", err)
	}
}

func TestLargeRequestIDEchoed(t *testing.T) {
	setup(t)
	const id = "18446744073709551557"
	body := `{"jsonrpc":"2.0","id":` + id + `,"method":"getSlot"}`
	resp, err := http.Post(shared.RPC, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"id":`+id+`,`) {
		t.Errorf("response %s does not echo id %s", b, id)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestTransferThroughput(t *testing.T) {
	c, ctx := setup(t)
	alice := newFundedKey(t, ctx, c, solana.LAMPORTS_PER_SOL)
	bob := solana.NewWallet().PublicKey()
	const n = 50
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := c.Transfer(ctx, alice, bob, 1_000_000); err != nil { // >= rent-exempt minimum
			t.Fatal(err)
		}
	}
	t.Logf("%d sequential transfers: %v per transfer (getLatestBlockhash + sendTransaction + getSignatureStatuses)", n, time.Since(start)/n)
}

func TestSignatureSubscribeBeforeLanding(t *testing.T) {
	c, ctx := setup(t)
	alice := newFundedKey(t, ctx, c, solana.LAMPORTS_PER_SOL)
	bh, err := c.RPC().GetLatestBlockhash(ctx, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := solana.NewTransaction([]solana.Instruction{
		system.NewTransferInstruction(1_000_000, alice.PublicKey(), solana.NewWallet().PublicKey()).Build(),
	}, bh.Value.Blockhash, solana.TransactionPayer(alice.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Sign(func(solana.PublicKey) *solana.PrivateKey { return &alice }); err != nil {
		t.Fatal(err)
	}
	wsc := connectWS(t, ctx)
	sub, err := wsc.SignatureSubscribe(tx.Signatures[0], rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := c.RPC().SendTransaction(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sub.Recv(ctx)
	if err != nil || res.Value.Err != nil {
		t.Fatalf("signature notification = %+v, %v", res, err)
	}
	st, err := c.RPC().GetSignatureStatuses(ctx, false, sig)
	if err != nil || st.Value[0] == nil || st.Value[0].Slot != res.Context.Slot || st.Value[0].ConfirmationStatus != rpc.ConfirmationStatusFinalized {
		t.Errorf("status = %+v, %v", st.Value[0], err)
	}
	// Resending the same transaction is rejected like on a node.
	if _, err := c.RPC().SendTransaction(ctx, tx); err == nil || !strings.Contains(err.Error(), "already been processed") {
		t.Errorf("resend err = %v", err)
	}
}
