package litesvm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/programs/token"
	"github.com/gagliardetto/solana-go/rpc"
)

// MintSize is the size in bytes of an SPL mint without extensions.
const MintSize = 82

// confirmTimeout bounds how long helpers wait for a signature status when ctx
// has no earlier deadline.
const confirmTimeout = 30 * time.Second

// Client builds, signs and sends real transactions to a facade with
// solana-go. It is safe for concurrent use.
type Client struct {
	rpc *rpc.Client

	mu           sync.Mutex
	mintPrograms map[solana.PublicKey]solana.PublicKey
}

// NewClient returns a Client talking to n's JSON-RPC endpoint.
func NewClient(n *Node) *Client {
	return &Client{rpc: rpc.New(n.RPC), mintPrograms: map[solana.PublicKey]solana.PublicKey{}}
}

// RPC returns the underlying solana-go JSON-RPC client.
func (c *Client) RPC() *rpc.Client { return c.rpc }

// Close releases the client's idle HTTP connections.
func (c *Client) Close() error {
	if err := c.rpc.Close(); err != nil {
		return fmt.Errorf("close rpc client: %w", err)
	}
	return nil
}

// TxError reports a transaction that landed with an error.
type TxError struct {
	Signature solana.Signature
	// Err is the transaction error as the node reports it, e.g.
	// map[InstructionError:[0 map[Custom:1]]].
	Err any
}

func (e *TxError) Error() string {
	b, _ := json.Marshal(e.Err)
	return fmt.Sprintf("transaction %s failed: %s", e.Signature, b)
}

// Airdrop credits lamports to `to` (a real transfer from the facade's faucet)
// and waits until it has landed.
func (c *Client) Airdrop(ctx context.Context, to solana.PublicKey, lamports uint64) error {
	sig, err := c.rpc.RequestAirdrop(ctx, to, lamports, rpc.CommitmentFinalized)
	if err != nil {
		return fmt.Errorf("airdrop %d lamports to %s: %w", lamports, to, err)
	}
	if err := c.WaitConfirmed(ctx, sig); err != nil {
		return fmt.Errorf("airdrop %d lamports to %s: %w", lamports, to, err)
	}
	return nil
}

// Transfer sends a signed system transfer of lamports from `from` (also the
// fee payer) to `to` and waits until it has landed.
func (c *Client) Transfer(ctx context.Context, from solana.PrivateKey, to solana.PublicKey, lamports uint64) (solana.Signature, error) {
	ix, err := system.NewTransferInstruction(lamports, from.PublicKey(), to).ValidateAndBuild()
	if err != nil {
		return solana.Signature{}, fmt.Errorf("build transfer: %w", err)
	}
	sig, err := c.Send(ctx, []solana.Instruction{ix}, false, from)
	if err != nil {
		return sig, fmt.Errorf("transfer %d lamports %s -> %s: %w", lamports, from.PublicKey(), to, err)
	}
	return sig, nil
}

// FailingTransfer sends, with skipPreflight, a system transfer of one
// lamport more than `from` holds. It lands in a block with an
// InstructionError (the fee payer is charged the 5000-lamport fee) and
// FailingTransfer returns its signature; it returns an error if the
// transaction could not be sent or did not fail.
func (c *Client) FailingTransfer(ctx context.Context, from solana.PrivateKey, to solana.PublicKey) (solana.Signature, error) {
	bal, err := c.rpc.GetBalance(ctx, from.PublicKey(), rpc.CommitmentFinalized)
	if err != nil {
		return solana.Signature{}, fmt.Errorf("failing transfer: get balance of %s: %w", from.PublicKey(), err)
	}
	ix, err := system.NewTransferInstruction(bal.Value+1, from.PublicKey(), to).ValidateAndBuild()
	if err != nil {
		return solana.Signature{}, fmt.Errorf("build transfer: %w", err)
	}
	sig, err := c.Send(ctx, []solana.Instruction{ix}, true, from)
	var txErr *TxError
	if errors.As(err, &txErr) {
		return sig, nil
	}
	if err != nil {
		return sig, fmt.Errorf("failing transfer: %w", err)
	}
	return sig, fmt.Errorf("failing transfer %s: transaction unexpectedly succeeded", sig)
}

// CreateMint creates and initialises (InitializeMint2) a new mint owned by
// program (solana.TokenProgramID or solana.Token2022ProgramID). payer pays
// and is the mint and freeze authority.
func (c *Client) CreateMint(ctx context.Context, payer solana.PrivateKey, decimals uint8, program solana.PublicKey) (solana.PublicKey, error) {
	if !program.Equals(solana.TokenProgramID) && !program.Equals(solana.Token2022ProgramID) {
		return solana.PublicKey{}, fmt.Errorf("create mint: %s is not a token program", program)
	}
	mint, err := solana.NewRandomPrivateKey()
	if err != nil {
		return solana.PublicKey{}, fmt.Errorf("create mint: new key: %w", err)
	}
	rent, err := c.rpc.GetMinimumBalanceForRentExemption(ctx, MintSize, rpc.CommitmentFinalized)
	if err != nil {
		return solana.PublicKey{}, fmt.Errorf("create mint: rent: %w", err)
	}
	create, err := system.NewCreateAccountInstruction(rent, MintSize, program, payer.PublicKey(), mint.PublicKey()).ValidateAndBuild()
	if err != nil {
		return solana.PublicKey{}, fmt.Errorf("build create account: %w", err)
	}
	init, err := token.NewInitializeMint2Instruction(decimals, payer.PublicKey(), payer.PublicKey(), mint.PublicKey()).ValidateAndBuild()
	if err != nil {
		return solana.PublicKey{}, fmt.Errorf("build initialize mint: %w", err)
	}
	if _, err := c.Send(ctx, []solana.Instruction{create, withProgram(init, program)}, false, payer, mint); err != nil {
		return solana.PublicKey{}, fmt.Errorf("create mint: %w", err)
	}
	c.mu.Lock()
	c.mintPrograms[mint.PublicKey()] = program
	c.mu.Unlock()
	return mint.PublicKey(), nil
}

// AssociatedTokenAddress returns owner's associated token account for mint
// under the given token program.
func AssociatedTokenAddress(owner, mint, program solana.PublicKey) (solana.PublicKey, error) {
	addr, _, err := solana.FindProgramAddress([][]byte{owner[:], program[:], mint[:]}, solana.SPLAssociatedTokenAccountProgramID)
	if err != nil {
		return solana.PublicKey{}, fmt.Errorf("associated token address of %s for mint %s: %w", owner, mint, err)
	}
	return addr, nil
}

// CreateATA creates owner's associated token account for mint (idempotently;
// payer pays) and returns its address.
func (c *Client) CreateATA(ctx context.Context, payer solana.PrivateKey, mint, owner solana.PublicKey) (solana.PublicKey, error) {
	program, err := c.MintProgram(ctx, mint)
	if err != nil {
		return solana.PublicKey{}, err
	}
	ata, create, err := createATAIdempotent(payer.PublicKey(), owner, mint, program)
	if err != nil {
		return solana.PublicKey{}, err
	}
	if _, err := c.Send(ctx, []solana.Instruction{create}, false, payer); err != nil {
		return solana.PublicKey{}, fmt.Errorf("create associated token account: %w", err)
	}
	return ata, nil
}

// MintTo creates owner's associated token account for mint if needed and
// mints amount base units into it in one transaction. payer must be the mint
// authority. It returns the token account.
func (c *Client) MintTo(ctx context.Context, payer solana.PrivateKey, mint, owner solana.PublicKey, amount uint64) (solana.PublicKey, error) {
	program, err := c.MintProgram(ctx, mint)
	if err != nil {
		return solana.PublicKey{}, err
	}
	ata, create, err := createATAIdempotent(payer.PublicKey(), owner, mint, program)
	if err != nil {
		return solana.PublicKey{}, err
	}
	mintTo, err := token.NewMintToInstruction(amount, mint, ata, payer.PublicKey(), nil).ValidateAndBuild()
	if err != nil {
		return solana.PublicKey{}, fmt.Errorf("build mint to: %w", err)
	}
	if _, err := c.Send(ctx, []solana.Instruction{create, withProgram(mintTo, program)}, false, payer); err != nil {
		return solana.PublicKey{}, fmt.Errorf("mint %d of %s to %s: %w", amount, mint, owner, err)
	}
	return ata, nil
}

// TokenTransfer sends amount base units of mint (TransferChecked) from
// owner's associated token account to to's, creating the destination account
// in the same transaction if needed. owner pays the fee.
func (c *Client) TokenTransfer(ctx context.Context, owner solana.PrivateKey, mint, to solana.PublicKey, amount uint64, decimals uint8) (solana.Signature, error) {
	program, err := c.MintProgram(ctx, mint)
	if err != nil {
		return solana.Signature{}, err
	}
	src, err := AssociatedTokenAddress(owner.PublicKey(), mint, program)
	if err != nil {
		return solana.Signature{}, err
	}
	dst, create, err := createATAIdempotent(owner.PublicKey(), to, mint, program)
	if err != nil {
		return solana.Signature{}, err
	}
	xfer, err := token.NewTransferCheckedInstruction(amount, decimals, src, mint, dst, owner.PublicKey(), nil).ValidateAndBuild()
	if err != nil {
		return solana.Signature{}, fmt.Errorf("build transfer checked: %w", err)
	}
	sig, err := c.Send(ctx, []solana.Instruction{create, withProgram(xfer, program)}, false, owner)
	if err != nil {
		return sig, fmt.Errorf("token transfer %d of %s %s -> %s: %w", amount, mint, owner.PublicKey(), to, err)
	}
	return sig, nil
}

// MintProgram returns the token program owning mint.
func (c *Client) MintProgram(ctx context.Context, mint solana.PublicKey) (solana.PublicKey, error) {
	c.mu.Lock()
	p, ok := c.mintPrograms[mint]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	acc, err := c.rpc.GetAccountInfoWithOpts(ctx, mint, &rpc.GetAccountInfoOpts{Commitment: rpc.CommitmentFinalized})
	if err != nil {
		return solana.PublicKey{}, fmt.Errorf("get mint %s: %w", mint, err)
	}
	p = acc.Value.Owner
	if !p.Equals(solana.TokenProgramID) && !p.Equals(solana.Token2022ProgramID) {
		return solana.PublicKey{}, fmt.Errorf("mint %s is owned by %s, not a token program", mint, p)
	}
	c.mu.Lock()
	c.mintPrograms[mint] = p
	c.mu.Unlock()
	return p, nil
}

// Send signs instructions with signers (signers[0] pays the fee) using the
// latest blockhash, sends them and waits until the transaction has landed.
// A transaction that lands with an error returns its signature and a
// *TxError; one rejected by preflight returns the JSON-RPC error.
func (c *Client) Send(ctx context.Context, ixs []solana.Instruction, skipPreflight bool, signers ...solana.PrivateKey) (solana.Signature, error) {
	if len(signers) == 0 {
		return solana.Signature{}, errors.New("send: no signer")
	}
	bh, err := c.rpc.GetLatestBlockhash(ctx, rpc.CommitmentFinalized)
	if err != nil {
		return solana.Signature{}, fmt.Errorf("get latest blockhash: %w", err)
	}
	tx, err := solana.NewTransaction(ixs, bh.Value.Blockhash, solana.TransactionPayer(signers[0].PublicKey()))
	if err != nil {
		return solana.Signature{}, fmt.Errorf("new transaction: %w", err)
	}
	if _, err := tx.Sign(func(key solana.PublicKey) *solana.PrivateKey {
		for i := range signers {
			if signers[i].PublicKey().Equals(key) {
				return &signers[i]
			}
		}
		return nil
	}); err != nil {
		return solana.Signature{}, fmt.Errorf("sign transaction: %w", err)
	}
	sig, err := c.rpc.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{
		SkipPreflight:       skipPreflight,
		PreflightCommitment: rpc.CommitmentFinalized,
	})
	if err != nil {
		return tx.Signatures[0], fmt.Errorf("send transaction: %w", err)
	}
	return sig, c.WaitConfirmed(ctx, sig)
}

// WaitConfirmed polls getSignatureStatuses until sig has landed; it returns a
// *TxError if the transaction failed.
func (c *Client) WaitConfirmed(ctx context.Context, sig solana.Signature) error {
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	for {
		st, err := c.rpc.GetSignatureStatuses(ctx, false, sig)
		if err != nil {
			return fmt.Errorf("get signature status of %s: %w", sig, err)
		}
		if len(st.Value) == 1 && st.Value[0] != nil {
			if st.Value[0].Err != nil {
				return &TxError{Signature: sig, Err: st.Value[0].Err}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", sig, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// createATAIdempotent returns owner's associated token account and the
// associated-token-account program's CreateIdempotent instruction for it.
func createATAIdempotent(payer, owner, mint, program solana.PublicKey) (solana.PublicKey, solana.Instruction, error) {
	ata, err := AssociatedTokenAddress(owner, mint, program)
	if err != nil {
		return solana.PublicKey{}, nil, err
	}
	ix := solana.NewInstruction(solana.SPLAssociatedTokenAccountProgramID, solana.AccountMetaSlice{
		solana.Meta(payer).WRITE().SIGNER(),
		solana.Meta(ata).WRITE(),
		solana.Meta(owner),
		solana.Meta(mint),
		solana.Meta(solana.SystemProgramID),
		solana.Meta(program),
	}, []byte{1}) // 1 = CreateIdempotent
	return ata, ix, nil
}

// programInstruction re-targets an instruction built by solana-go's token
// package (always the Token program) at another program with the same
// instruction layout (Token-2022).
type programInstruction struct {
	solana.Instruction
	program solana.PublicKey
}

func (p programInstruction) ProgramID() solana.PublicKey { return p.program }

func withProgram(ix solana.Instruction, program solana.PublicKey) solana.Instruction {
	if ix.ProgramID().Equals(program) {
		return ix
	}
	return programInstruction{Instruction: ix, program: program}
}
