package solanatest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

func TestBalanceByCommitment(t *testing.T) {
	s := newServer(t, Options{ConfirmDepth: 1, FinalizeDepth: 3})
	c := rpcClient(t, s)
	ctx := testCtx(t)
	a, b := newKey(), newKey()
	s.Airdrop(a, 10*sol)
	s.Produce(1)
	s.Transfer(a, b, sol)
	if got := s.Balance(b); got != 0 {
		t.Fatalf("queued transfer visible before Produce: balance %d", got)
	}
	s.Produce(1) // slot 2 holds the transfer

	tests := []struct {
		commitment rpc.CommitmentType
		wantA      uint64
		wantB      uint64
		wantSlot   uint64
	}{
		{rpc.CommitmentProcessed, 9*sol - feeLamports, sol, 2},
		{rpc.CommitmentConfirmed, 10 * sol, 0, 1},
		{rpc.CommitmentFinalized, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(string(tt.commitment), func(t *testing.T) {
			ra, err := c.GetBalance(ctx, a, tt.commitment)
			if err != nil {
				t.Fatalf("GetBalance: %v", err)
			}
			rb, err := c.GetBalance(ctx, b, tt.commitment)
			if err != nil {
				t.Fatalf("GetBalance: %v", err)
			}
			if ra.Value != tt.wantA || rb.Value != tt.wantB || ra.Context.Slot != tt.wantSlot {
				t.Errorf("a=%d b=%d slot=%d, want a=%d b=%d slot=%d", ra.Value, rb.Value, ra.Context.Slot, tt.wantA, tt.wantB, tt.wantSlot)
			}
		})
	}
	s.Produce(3) // slot 2 finalized at slot 5
	r, err := c.GetBalance(ctx, b, rpc.CommitmentFinalized)
	if err != nil || r.Value != sol {
		t.Fatalf("finalized balance %v, %v; want %d", r, err, sol)
	}
	if s.Balance(a) != 9*sol-feeLamports || s.BlockHeight() != 5 || s.Slot() != 5 {
		t.Fatalf("Balance %d BlockHeight %d Slot %d", s.Balance(a), s.BlockHeight(), s.Slot())
	}
}

func TestGetBlock(t *testing.T) {
	s := newServer(t, Options{})
	c := rpcClient(t, s)
	ctx := testCtx(t)
	a, b := newKey(), newKey()
	s.Airdrop(a, 5*sol)
	s.Produce(1) // 1
	sig := s.Transfer(a, b, sol)
	s.Produce(1) // 2
	s.Skip(1)    // 3
	s.Produce(1) // 4
	s.Skip(2)    // 5, 6

	v0 := rpc.MaxSupportedTransactionVersion0
	parsed, err := c.GetBlockWithOpts(ctx, 2, &rpc.GetBlockOpts{
		Encoding: solana.EncodingJSONParsed, MaxSupportedTransactionVersion: &v0, Commitment: rpc.CommitmentConfirmed,
	})
	if err != nil {
		t.Fatalf("GetBlock jsonParsed: %v", err)
	}
	if parsed.ParentSlot != 1 || len(parsed.Transactions) != 1 || parsed.BlockHeight == nil || *parsed.BlockHeight != 2 {
		t.Fatalf("block 2: parent %d, %d txs, height %v", parsed.ParentSlot, len(parsed.Transactions), parsed.BlockHeight)
	}
	if tx := parsed.Transactions[0]; tx.Meta == nil || tx.Meta.Fee != feeLamports || tx.Version != rpc.LegacyTransactionVersion {
		t.Fatalf("block 2 tx meta %+v version %v", tx.Meta, tx.Version)
	}
	if !strings.Contains(string(parsed.Transactions[0].Transaction.GetRawJSON()), `"type":"transfer"`) {
		t.Fatalf("jsonParsed transaction lacks the parsed transfer: %s", parsed.Transactions[0].Transaction.GetRawJSON())
	}

	// The default (base64) encoding decodes into a wire transaction.
	bin, err := c.GetBlock(ctx, 2)
	if err != nil {
		t.Fatalf("GetBlock base64: %v", err)
	}
	tx, err := bin.Transactions[0].GetTransaction()
	if err != nil {
		t.Fatalf("decode wire transaction: %v", err)
	}
	if tx.Signatures[0] != sig || tx.Message.AccountKeys[0] != a || tx.Message.AccountKeys[1] != b {
		t.Fatalf("wire transaction: %v", tx)
	}
	if tx.Message.RecentBlockhash != parsed.PreviousBlockhash {
		t.Fatalf("recent blockhash %s, want the hash of slot 1 %s", tx.Message.RecentBlockhash, parsed.PreviousBlockhash)
	}

	b4, err := c.GetBlockWithOpts(ctx, 4, &rpc.GetBlockOpts{Commitment: rpc.CommitmentConfirmed, TransactionDetails: rpc.TransactionDetailsSignatures})
	if err != nil {
		t.Fatalf("GetBlock 4: %v", err)
	}
	if b4.ParentSlot != 2 || b4.PreviousBlockhash != bin.Blockhash {
		t.Fatalf("block 4: parent %d previous %s, want 2 %s", b4.ParentSlot, b4.PreviousBlockhash, bin.Blockhash)
	}

	errTests := []struct {
		name       string
		slot       uint64
		commitment rpc.CommitmentType
		code       int
	}{
		{"skipped", 3, rpc.CommitmentFinalized, codeSlotSkipped},
		{"not finalized", 4, rpc.CommitmentFinalized, codeBlockNotAvailable},
		{"future", 9, rpc.CommitmentConfirmed, codeBlockNotAvailable},
		{"processed refused", 1, rpc.CommitmentProcessed, codeInvalidParams},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.GetBlockWithOpts(ctx, tt.slot, &rpc.GetBlockOpts{Commitment: tt.commitment})
			if rpcCode(err) != tt.code {
				t.Fatalf("GetBlock(%d): %v, want code %d", tt.slot, err, tt.code)
			}
		})
	}

	blocks, err := c.GetBlocks(ctx, 0, nil, rpc.CommitmentConfirmed)
	if err != nil {
		t.Fatalf("GetBlocks: %v", err)
	}
	if want := []uint64{0, 1, 2, 4}; !equalSlots(blocks, want) {
		t.Fatalf("GetBlocks = %v, want %v", blocks, want)
	}
	end := uint64(3)
	if blocks, err = c.GetBlocks(ctx, 1, &end, rpc.CommitmentFinalized); err != nil || !equalSlots(blocks, []uint64{1, 2}) {
		t.Fatalf("GetBlocks(1, 3) = %v, %v", blocks, err)
	}
	bt, err := c.GetBlockTime(ctx, 2)
	if err != nil || bt == nil || int64(*bt) != int64(*parsed.BlockTime) {
		t.Fatalf("GetBlockTime = %v, %v", bt, err)
	}
}

func equalSlots(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGetTransaction(t *testing.T) {
	s := newServer(t, Options{})
	c := rpcClient(t, s)
	ctx := testCtx(t)
	a, b := newKey(), newKey()
	s.Airdrop(a, 5*sol)
	s.Produce(1)
	sig := s.Transfer(a, b, 2*sol)
	fail := s.FailTx(a)
	s.Produce(1) // slot 2: processed only
	v0 := rpc.MaxSupportedTransactionVersion0

	if _, err := c.GetParsedTransaction(ctx, sig, &rpc.GetParsedTransactionOpts{Commitment: rpc.CommitmentConfirmed}); !errors.Is(err, rpc.ErrNotFound) {
		t.Fatalf("unconfirmed transaction: %v, want not found", err)
	}
	s.Produce(1)

	pt, err := c.GetParsedTransaction(ctx, sig, &rpc.GetParsedTransactionOpts{
		Commitment: rpc.CommitmentConfirmed, MaxSupportedTransactionVersion: &v0,
	})
	if err != nil {
		t.Fatalf("GetParsedTransaction: %v", err)
	}
	if pt.Slot != 2 || pt.Version != rpc.LegacyTransactionVersion || pt.Meta.Err != nil {
		t.Fatalf("slot %d version %v err %v", pt.Slot, pt.Version, pt.Meta.Err)
	}
	msg := pt.Transaction.Message
	if len(msg.AccountKeys) != 3 || msg.AccountKeys[0].PublicKey != a || !msg.AccountKeys[0].Signer || !msg.AccountKeys[1].Writable {
		t.Fatalf("account keys %+v", msg.AccountKeys)
	}
	ix := msg.Instructions[0]
	if ix.Program != "system" || ix.ProgramId != solana.SystemProgramID {
		t.Fatalf("instruction %+v", ix)
	}
	parsedIx, err := json.Marshal(ix.Parsed)
	if err != nil {
		t.Fatal(err)
	}
	wantIx := `{"info":{"destination":"` + b.String() + `","lamports":2000000000,"source":"` + a.String() + `"},"type":"transfer"}`
	if string(parsedIx) != wantIx {
		t.Fatalf("parsed instruction %s, want %s", parsedIx, wantIx)
	}
	if pt.Meta.PreBalances[0] != 5*sol || pt.Meta.PostBalances[0] != 3*sol-feeLamports || pt.Meta.PostBalances[1] != 2*sol {
		t.Fatalf("balances %v → %v", pt.Meta.PreBalances, pt.Meta.PostBalances)
	}

	// GetTransaction (rpc.GetTransactionResult) with base64 and with json.
	gt, err := c.GetTransaction(ctx, sig, &rpc.GetTransactionOpts{
		Encoding: solana.EncodingBase64, Commitment: rpc.CommitmentConfirmed, MaxSupportedTransactionVersion: &v0,
	})
	if err != nil {
		t.Fatalf("GetTransaction base64: %v", err)
	}
	wire, err := gt.Transaction.GetTransaction()
	if err != nil || wire.Signatures[0] != sig {
		t.Fatalf("wire transaction %v, %v", wire, err)
	}
	if gt.Meta.ComputeUnitsConsumed == nil || *gt.Meta.ComputeUnitsConsumed == 0 || gt.Meta.Status["Ok"] != nil {
		t.Fatalf("meta %+v", gt.Meta)
	}
	var js rpc.GetTransactionResult
	if err := c.RPCCallForInto(ctx, &js, "getTransaction", []any{sig, map[string]any{"encoding": "json", "commitment": "confirmed"}}); err != nil {
		t.Fatalf("getTransaction json: %v", err)
	}
	jtx, err := js.Transaction.GetTransaction()
	if err != nil || jtx.Message.AccountKeys[1] != b || jtx.Message.Header.NumRequiredSignatures != 1 || len(jtx.Message.Instructions) != 1 {
		t.Fatalf("json transaction %v, %v", jtx, err)
	}

	ft, err := c.GetParsedTransaction(ctx, fail, &rpc.GetParsedTransactionOpts{Commitment: rpc.CommitmentConfirmed})
	if err != nil {
		t.Fatalf("failed tx: %v", err)
	}
	errJSON, _ := json.Marshal(ft.Meta.Err)
	if string(errJSON) != `{"InstructionError":[0,{"Custom":1}]}` {
		t.Fatalf("err %s", errJSON)
	}
	last := ft.Meta.LogMessages[len(ft.Meta.LogMessages)-1]
	if !strings.HasPrefix(last, "Program ") || !strings.HasSuffix(last, " failed: custom program error: 0x1") {
		t.Fatalf("last log %q", last)
	}
	if ft.Meta.PreBalances[0]-ft.Meta.PostBalances[0] != feeLamports {
		t.Fatalf("failed tx charged %d", ft.Meta.PreBalances[0]-ft.Meta.PostBalances[0])
	}
}

func TestSignatureStatuses(t *testing.T) {
	s := newServer(t, Options{ConfirmDepth: 2, FinalizeDepth: 3})
	c := rpcClient(t, s)
	ctx := testCtx(t)
	a := newKey()
	sig1 := s.Airdrop(a, sol)
	s.Produce(1) // 1
	sig2 := s.FailTx(a)
	queued := s.Transfer(a, newKey(), 1)
	_ = queued
	s.Produce(1) // 2
	sig3 := s.Transfer(a, newKey(), 1)
	s.Produce(2) // 3, 4: slot 1 finalized, 2 confirmed, 3 processed
	s.Transfer(a, newKey(), 1)
	unknown := solana.Signature{1}

	res, err := c.GetSignatureStatuses(ctx, true, sig1, sig2, sig3, unknown)
	if err != nil {
		t.Fatalf("GetSignatureStatuses: %v", err)
	}
	if len(res.Value) != 4 || res.Value[3] != nil {
		t.Fatalf("statuses %v", res.Value)
	}
	want := []struct {
		slot   uint64
		conf   *uint64
		status rpc.ConfirmationStatusType
		failed bool
	}{
		{1, nil, rpc.ConfirmationStatusFinalized, false},
		{2, ptr(uint64(2)), rpc.ConfirmationStatusConfirmed, true},
		{3, ptr(uint64(1)), rpc.ConfirmationStatusProcessed, false},
	}
	for i, w := range want {
		got := res.Value[i]
		if got.Slot != w.slot || got.ConfirmationStatus != w.status || (got.Err != nil) != w.failed ||
			(got.Confirmations == nil) != (w.conf == nil) || (w.conf != nil && *got.Confirmations != *w.conf) {
			t.Errorf("status %d = %+v, want %+v", i, got, w)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestTokenAccounts(t *testing.T) {
	for _, program := range []solana.PublicKey{solana.TokenProgramID, solana.Token2022ProgramID} {
		t.Run(tokenProgramName(program), func(t *testing.T) {
			s := newServer(t, Options{})
			c := rpcClient(t, s)
			ctx := testCtx(t)
			alice, bob := newKey(), newKey()
			s.Airdrop(alice, sol)
			mint := s.CreateMint(6, program)
			aliceTA, _ := s.MintTo(mint, alice, 5_000_000)
			sig := s.TokenTransfer(mint, alice, bob, 1_250_000)
			short := s.TokenTransfer(mint, bob, alice, 99_000_000) // bob's account is queued: lands, fails
			s.Produce(2)

			if s.TokenBalance(aliceTA) != 3_750_000 {
				t.Fatalf("alice token balance %d", s.TokenBalance(aliceTA))
			}
			res, err := c.GetTokenAccountsByOwner(ctx, bob, &rpc.GetTokenAccountsConfig{Mint: &mint},
				&rpc.GetTokenAccountsOpts{Encoding: solana.EncodingJSONParsed, Commitment: rpc.CommitmentConfirmed})
			if err != nil {
				t.Fatalf("GetTokenAccountsByOwner: %v", err)
			}
			if len(res.Value) != 1 || res.Value[0].Account.Owner != program || res.Value[0].Account.Space != tokenAccountSize {
				t.Fatalf("accounts %+v", res.Value)
			}
			var data struct {
				Program string `json:"program"`
				Parsed  struct {
					Type string `json:"type"`
					Info struct {
						Mint        string `json:"mint"`
						Owner       string `json:"owner"`
						State       string `json:"state"`
						TokenAmount rpc.UiTokenAmount
					} `json:"info"`
				} `json:"parsed"`
				Space uint64 `json:"space"`
			}
			if err := json.Unmarshal(res.Value[0].Account.Data.GetRawJSON(), &data); err != nil {
				t.Fatalf("parsed data: %v", err)
			}
			if data.Program != tokenProgramName(program) || data.Parsed.Type != "account" || data.Parsed.Info.Owner != bob.String() ||
				data.Parsed.Info.Mint != mint.String() || data.Parsed.Info.TokenAmount.Amount != "1250000" ||
				data.Parsed.Info.TokenAmount.UiAmountString != "1.25" || *data.Parsed.Info.TokenAmount.UiAmount != 1.25 || data.Space != 165 {
				t.Fatalf("parsed data %+v", data)
			}

			// base64: the SPL layout.
			res, err = c.GetTokenAccountsByOwner(ctx, alice, &rpc.GetTokenAccountsConfig{ProgramId: &program},
				&rpc.GetTokenAccountsOpts{Commitment: rpc.CommitmentConfirmed})
			if err != nil || len(res.Value) != 1 {
				t.Fatalf("GetTokenAccountsByOwner base64: %v %v", res, err)
			}
			raw := res.Value[0].Account.Data.GetBinary()
			if len(raw) != 165 || solana.PublicKeyFromBytes(raw[:32]) != mint || solana.PublicKeyFromBytes(raw[32:64]) != alice ||
				binary.LittleEndian.Uint64(raw[64:72]) != 3_750_000 || raw[108] != 1 {
				t.Fatalf("token account layout %x", raw)
			}

			pt, err := c.GetParsedTransaction(ctx, sig, &rpc.GetParsedTransactionOpts{Commitment: rpc.CommitmentConfirmed})
			if err != nil {
				t.Fatalf("GetParsedTransaction: %v", err)
			}
			ixs := pt.Transaction.Message.Instructions
			if len(ixs) != 2 || ixs[1].Program != tokenProgramName(program) {
				t.Fatalf("instructions %+v", ixs)
			}
			ixJSON, _ := json.Marshal(ixs[1].Parsed)
			if !strings.Contains(string(ixJSON), `"type":"transferChecked"`) || !strings.Contains(string(ixJSON), `"authority":"`+alice.String()) {
				t.Fatalf("transfer instruction %s", ixJSON)
			}
			if len(pt.Meta.PreTokenBalances) != 1 || len(pt.Meta.PostTokenBalances) != 2 {
				t.Fatalf("token balances %+v → %+v", pt.Meta.PreTokenBalances, pt.Meta.PostTokenBalances)
			}
			post := pt.Meta.PostTokenBalances[0] // the destination, created by the transaction
			if post.Mint != mint || *post.Owner != bob || *post.ProgramId != program || post.UiTokenAmount.Amount != "1250000" {
				t.Fatalf("post token balance %+v", post)
			}

			st, err := c.GetSignatureStatuses(ctx, false, short)
			if err != nil || st.Value[0] == nil || st.Value[0].Err == nil {
				t.Fatalf("short transfer status %+v, %v", st, err)
			}

			mintInfo, err := c.GetAccountInfoWithOpts(ctx, mint, &rpc.GetAccountInfoOpts{Commitment: rpc.CommitmentConfirmed})
			if err != nil {
				t.Fatalf("GetAccountInfo mint: %v", err)
			}
			md := mintInfo.Value.Data.GetBinary()
			if len(md) != mintSize || md[44] != 6 || binary.LittleEndian.Uint64(md[36:44]) != 5_000_000 {
				t.Fatalf("mint layout %x", md)
			}
		})
	}
}

func TestAccountInfoAndMultipleAccounts(t *testing.T) {
	s := newServer(t, Options{})
	c := rpcClient(t, s)
	ctx := testCtx(t)
	a, missing := newKey(), newKey()
	s.Airdrop(a, 7)
	s.Produce(1)
	info, err := c.GetAccountInfoWithOpts(ctx, a, &rpc.GetAccountInfoOpts{Commitment: rpc.CommitmentProcessed})
	if err != nil {
		t.Fatalf("GetAccountInfo: %v", err)
	}
	if info.Value.Lamports != 7 || info.Value.Owner != solana.SystemProgramID || len(info.Value.Data.GetBinary()) != 0 || info.Value.Space != 0 {
		t.Fatalf("account %+v", info.Value)
	}
	if _, err := c.GetAccountInfoWithOpts(ctx, a, &rpc.GetAccountInfoOpts{Commitment: rpc.CommitmentFinalized}); !errors.Is(err, rpc.ErrNotFound) {
		t.Fatalf("finalized account: %v, want not found", err)
	}
	multi, err := c.GetMultipleAccountsWithOpts(ctx, []solana.PublicKey{a, missing}, &rpc.GetMultipleAccountsOpts{Commitment: rpc.CommitmentProcessed})
	if err != nil || len(multi.Value) != 2 || multi.Value[0].Lamports != 7 || multi.Value[1] != nil {
		t.Fatalf("GetMultipleAccounts %+v, %v", multi, err)
	}
}

func TestSignaturesForAddress(t *testing.T) {
	s := newServer(t, Options{})
	c := rpcClient(t, s)
	ctx := testCtx(t)
	a := newKey()
	var sigs []solana.Signature
	sigs = append(sigs, s.Airdrop(a, 10*sol))
	s.Produce(1)
	for range 4 {
		sigs = append(sigs, s.Transfer(a, newKey(), 1))
		s.Produce(1)
	}
	s.Produce(1) // all confirmed
	got, err := c.GetSignaturesForAddressWithOpts(ctx, a, &rpc.GetSignaturesForAddressOpts{Commitment: rpc.CommitmentConfirmed})
	if err != nil {
		t.Fatalf("GetSignaturesForAddress: %v", err)
	}
	if len(got) != 5 || got[0].Signature != sigs[4] || got[4].Signature != sigs[0] || got[0].Slot != 5 || got[0].BlockTime == nil {
		t.Fatalf("signatures %+v", got)
	}
	limit := 2
	got, err = c.GetSignaturesForAddressWithOpts(ctx, a, &rpc.GetSignaturesForAddressOpts{
		Limit: &limit, Before: sigs[4], Until: sigs[0], Commitment: rpc.CommitmentConfirmed,
	})
	if err != nil || len(got) != 2 || got[0].Signature != sigs[3] || got[1].Signature != sigs[2] {
		t.Fatalf("before/until/limit: %+v, %v", got, err)
	}
	fin, err := c.GetSignaturesForAddressWithOpts(ctx, a, &rpc.GetSignaturesForAddressOpts{Commitment: rpc.CommitmentFinalized})
	if err != nil || len(fin) != 3 || fin[0].ConfirmationStatus != rpc.ConfirmationStatusFinalized {
		t.Fatalf("finalized: %+v, %v", fin, err)
	}
}

func TestMiscMethods(t *testing.T) {
	s := newServer(t, Options{})
	c := rpcClient(t, s)
	ctx := testCtx(t)
	s.Produce(4)
	if h, err := c.GetHealth(ctx); err != nil || h != "ok" {
		t.Fatalf("GetHealth %q, %v", h, err)
	}
	if v, err := c.GetVersion(ctx); err != nil || v.SolanaCore == "" {
		t.Fatalf("GetVersion %v, %v", v, err)
	}
	if _, err := c.GetGenesisHash(ctx); err != nil {
		t.Fatalf("GetGenesisHash %v", err)
	}
	if slot, err := c.GetSlot(ctx, rpc.CommitmentConfirmed); err != nil || slot != 3 {
		t.Fatalf("GetSlot %d, %v", slot, err)
	}
	if h, err := c.GetBlockHeight(ctx, rpc.CommitmentFinalized); err != nil || h != 1 {
		t.Fatalf("GetBlockHeight %d, %v", h, err)
	}
	lb, err := c.GetLatestBlockhash(ctx, rpc.CommitmentProcessed)
	if err != nil || lb.Value.LastValidBlockHeight != 4+blockhashValidBlocks || lb.Context.Slot != 4 {
		t.Fatalf("GetLatestBlockhash %+v, %v", lb, err)
	}
	to := newKey()
	sig, err := c.RequestAirdrop(ctx, to, 42, "")
	if err != nil || sig.IsZero() {
		t.Fatalf("RequestAirdrop %v, %v", sig, err)
	}
	s.Produce(1)
	if s.Balance(to) != 42 {
		t.Fatalf("airdropped balance %d", s.Balance(to))
	}
	_, err = c.SendEncodedTransaction(ctx, base64.StdEncoding.EncodeToString([]byte{1, 2, 3}))
	if rpcCode(err) != codeSimulationFailed {
		t.Fatalf("sendTransaction: %v", err)
	}
}

func TestRawJSONRPC(t *testing.T) {
	s := newServer(t, Options{})
	tests := []struct {
		name string
		body string
		want string // substring of the response
	}{
		{"uint64 id echo", `{"jsonrpc":"2.0","id":18446744073709551615,"method":"getSlot"}`, `"result":0,"id":18446744073709551615}`},
		{"id above 2^53", `{"jsonrpc":"2.0","id":9007199254740993,"method":"getHealth"}`, `"id":9007199254740993}`},
		{"string id", `{"jsonrpc":"2.0","id":"abc","method":"getHealth"}`, `"result":"ok","id":"abc"}`},
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"nope"}`, `{"code":-32601,"message":"Method not found"}`},
		{"bad params", `{"jsonrpc":"2.0","id":1,"method":"getBalance","params":[12]}`, `"code":-32602`},
		{"bad pubkey", `{"jsonrpc":"2.0","id":1,"method":"getBalance","params":["xyz"]}`, `invalid pubkey`},
		{"parse error", `{"jsonrpc":`, `"code":-32700`},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"getHealth"},{"jsonrpc":"2.0","id":2,"method":"getSlot"}]`, `[{"jsonrpc":"2.0","result":"ok","id":1},{"jsonrpc":"2.0","result":0,"id":2}]`},
		{"empty batch", `[]`, `"code":-32600`},
		{"getBlocks null end", `{"jsonrpc":"2.0","id":1,"method":"getBlocks","params":[0,null,{"commitment":"confirmed"}]}`, `"result":[0]`},
		{"getTransaction encoding string", `{"jsonrpc":"2.0","id":1,"method":"getTransaction","params":["` + solana.Signature{1}.String() + `","json"]}`, `"result":null`},
		{"subscribe over http", `{"jsonrpc":"2.0","id":1,"method":"slotSubscribe"}`, `"code":-32601`},
		{"too many logs", `{"jsonrpc":"2.0","id":1,"method":"getSignaturesForAddress","params":["11111111111111111111111111111111",{"limit":1001}]}`, `"code":-32602`},
		{"skipped range", `{"jsonrpc":"2.0","id":1,"method":"getBlocks","params":[0,600000,{"commitment":"confirmed"}]}`, `"code":-32602`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, s, tt.body)
			if resp.StatusCode != 200 || !strings.Contains(string(body), tt.want) {
				t.Fatalf("status %d body %s, want %s", resp.StatusCode, body, tt.want)
			}
		})
	}
}

// TestJSONParsedTransactionShape checks the documented jsonParsed shape of
// getTransaction directly: solana-go's rpc.GetTransactionResult cannot
// decode it (its solana.Message wants account keys as strings, while
// jsonParsed gives {pubkey, signer, writable, source} objects), which is
// why the other tests use GetParsedTransaction for jsonParsed.
func TestJSONParsedTransactionShape(t *testing.T) {
	s := newServer(t, Options{})
	c := rpcClient(t, s)
	a := newKey()
	sig := s.Airdrop(a, 5)
	s.Produce(2)
	var got struct {
		Slot        uint64
		Version     any
		Transaction struct {
			Signatures []string
			Message    struct {
				AccountKeys []struct {
					Pubkey   string
					Signer   bool
					Writable bool
					Source   string
				}
				RecentBlockhash string
				Instructions    []map[string]any
			}
		}
	}
	err := c.RPCCallForInto(testCtx(t), &got, "getTransaction", []any{sig, map[string]any{
		"encoding": "jsonParsed", "commitment": "confirmed", "maxSupportedTransactionVersion": 0,
	}})
	if err != nil {
		t.Fatalf("getTransaction: %v", err)
	}
	keys := got.Transaction.Message.AccountKeys
	if got.Slot != 1 || got.Version != "legacy" || len(keys) != 3 || keys[1].Pubkey != a.String() || keys[1].Source != "transaction" ||
		!keys[0].Signer || keys[2].Pubkey != solana.SystemProgramID.String() || keys[2].Writable {
		t.Fatalf("jsonParsed transaction %+v", got)
	}
	ix := got.Transaction.Message.Instructions[0]
	if ix["program"] != "system" || ix["stackHeight"] != nil {
		t.Fatalf("instruction %v", ix)
	}
}
