package contracts

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"
)

// Backend is the client Deploy, Transact and Send talk to. Every
// bind.ContractBackend satisfies it, among them *ethclient.Client over RPC
// and the client of go-ethereum's ethclient/simulated backend.
type Backend interface {
	ethereum.ContractCaller
	ethereum.GasEstimator
	ethereum.GasPricer1559
	ethereum.TransactionSender
	// HeaderByNumber returns the latest header when number is nil.
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	// PendingNonceAt returns the next nonce of account, counting pending transactions.
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
}

// ReceiptReader is the client WaitReceipt polls; *ethclient.Client and the
// simulated backend's client satisfy it.
type ReceiptReader interface {
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
}

// TxOpts overrides what Send, DeployWith and TransactWith otherwise ask the
// backend for. The zero value asks for everything.
//
// To replace a pending transaction, send one with the same Nonce and both
// GasTipCap and GasFeeCap at least 10% higher (go-ethereum's default price
// bump); a nil GasFeeCap is derived from the tip and the base fee and may
// rise by less than that.
type TxOpts struct {
	// Nonce is the nonce to use; nil means the sender's pending nonce.
	Nonce *uint64
	// GasLimit is the gas limit; 0 means eth_estimateGas, which refuses a
	// transaction that would revert. Set it to send such a transaction.
	GasLimit uint64
	// GasTipCap is the priority fee per gas; nil means eth_maxPriorityFeePerGas.
	GasTipCap *big.Int
	// GasFeeCap is the maximum fee per gas; nil means GasTipCap plus twice the
	// latest block's base fee.
	GasFeeCap *big.Int
	// Value is the wei sent along; nil means none.
	Value *big.Int
}

// Deploy sends a transaction creating contract c with the constructor
// arguments args, signed by key for chainID, with gas, fees and nonce from the
// backend. It returns the address the contract will have once the
// transaction is mined and the sent transaction; it does not wait for mining.
func Deploy(ctx context.Context, backend Backend, key *ecdsa.PrivateKey, chainID *big.Int, c Contract, args ...any) (common.Address, *types.Transaction, error) {
	return DeployWith(ctx, backend, key, chainID, TxOpts{}, c, args...)
}

// DeployWith is Deploy with the overrides in opts.
func DeployWith(ctx context.Context, backend Backend, key *ecdsa.PrivateKey, chainID *big.Int, opts TxOpts, c Contract, args ...any) (common.Address, *types.Transaction, error) {
	data, err := c.DeployData(args...)
	if err != nil {
		return common.Address{}, nil, err
	}
	tx, err := Send(ctx, backend, key, chainID, opts, nil, data)
	if err != nil {
		return common.Address{}, nil, fmt.Errorf("contracts: deploy %s: %w", c.Name, err)
	}
	return crypto.CreateAddress(crypto.PubkeyToAddress(key.PublicKey), tx.Nonce()), tx, nil
}

// Transact sends a transaction calling method (see Contract.Pack) with args
// on the contract c deployed at to, signed by key for chainID, with gas, fees
// and nonce from the backend, and returns it without waiting for mining. A
// call that would revert fails here, in gas estimation, with an error that
// RevertReason decodes; use TransactWith and a GasLimit to send it anyway.
func Transact(ctx context.Context, backend Backend, key *ecdsa.PrivateKey, chainID *big.Int, to common.Address, c Contract, method string, args ...any) (*types.Transaction, error) {
	return TransactWith(ctx, backend, key, chainID, TxOpts{}, to, c, method, args...)
}

// TransactWith is Transact with the overrides in opts.
func TransactWith(ctx context.Context, backend Backend, key *ecdsa.PrivateKey, chainID *big.Int, opts TxOpts, to common.Address, c Contract, method string, args ...any) (*types.Transaction, error) {
	data, err := c.Pack(method, args...)
	if err != nil {
		return nil, err
	}
	tx, err := Send(ctx, backend, key, chainID, opts, &to, data)
	if err != nil {
		return nil, fmt.Errorf("contracts: %s.%s: %w", c.Name, method, err)
	}
	return tx, nil
}

// Send signs an EIP-1559 transaction from key's address to `to` (nil creates
// a contract) with data, for chainID, filling what opts leaves unset from the
// backend, and sends it. It returns the signed transaction once the backend
// has accepted it, without waiting for mining. It also sends plain value
// transfers (data nil).
func Send(ctx context.Context, backend Backend, key *ecdsa.PrivateKey, chainID *big.Int, opts TxOpts, to *common.Address, data []byte) (*types.Transaction, error) {
	if chainID == nil {
		return nil, errors.New("nil chain ID")
	}
	from := crypto.PubkeyToAddress(key.PublicKey)
	value := opts.Value
	if value == nil {
		value = new(big.Int)
	}
	var nonce uint64
	if opts.Nonce != nil {
		nonce = *opts.Nonce
	} else {
		n, err := backend.PendingNonceAt(ctx, from)
		if err != nil {
			return nil, fmt.Errorf("pending nonce: %w", err)
		}
		nonce = n
	}
	tip := opts.GasTipCap
	if tip == nil {
		t, err := backend.SuggestGasTipCap(ctx)
		if err != nil {
			return nil, fmt.Errorf("suggest tip: %w", err)
		}
		tip = t
	}
	feeCap := opts.GasFeeCap
	if feeCap == nil {
		head, err := backend.HeaderByNumber(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("latest header: %w", err)
		}
		if head.BaseFee == nil {
			return nil, errors.New("chain has no base fee (pre-London): set GasFeeCap")
		}
		feeCap = new(big.Int).Add(tip, new(big.Int).Mul(head.BaseFee, big.NewInt(2)))
	}
	if feeCap.Cmp(tip) < 0 {
		return nil, fmt.Errorf("fee cap %v below tip %v", feeCap, tip)
	}
	gas := opts.GasLimit
	if gas == 0 {
		g, err := backend.EstimateGas(ctx, ethereum.CallMsg{
			From: from, To: to, GasFeeCap: feeCap, GasTipCap: tip, Value: value, Data: data,
		})
		if err != nil {
			return nil, fmt.Errorf("estimate gas: %w", err)
		}
		gas = g
	}
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID:   chainID,
		Nonce:     nonce,
		GasTipCap: tip,
		GasFeeCap: feeCap,
		Gas:       gas,
		To:        to,
		Value:     value,
		Data:      data,
	})
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if err := backend.SendTransaction(ctx, tx); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	return tx, nil
}

// Call runs method (see Contract.Pack) with args on the contract c deployed
// at to with eth_call against the latest block, from the zero address, and
// returns the unpacked outputs. A revert is an error that RevertReason
// decodes.
func Call(ctx context.Context, backend ethereum.ContractCaller, to common.Address, c Contract, method string, args ...any) ([]any, error) {
	m, err := c.method(method, len(args))
	if err != nil {
		return nil, err
	}
	data, err := c.Pack(m.Name, args...)
	if err != nil {
		return nil, err
	}
	out, err := backend.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		return nil, fmt.Errorf("contracts: call %s.%s: %w", c.Name, m.Name, err)
	}
	return c.Unpack(m.Name, out)
}

// ReplayCall executes the message of tx (sender, recipient, gas limit, value,
// data and access list, but no gas price) with eth_call on the state after
// block (nil: the latest) and returns the output. For a mined transaction
// that reverted, replaying on the block it was mined in reproduces the revert
// as long as the state it read has not changed since; the error then carries
// the revert data that RevertReason decodes.
func ReplayCall(ctx context.Context, backend ethereum.ContractCaller, tx *types.Transaction, block *big.Int) ([]byte, error) {
	from, err := types.Sender(types.LatestSignerForChainID(tx.ChainId()), tx)
	if err != nil {
		return nil, fmt.Errorf("contracts: replay: sender: %w", err)
	}
	return backend.CallContract(ctx, ethereum.CallMsg{
		From:       from,
		To:         tx.To(),
		Gas:        tx.Gas(),
		Value:      tx.Value(),
		Data:       tx.Data(),
		AccessList: tx.AccessList(),
	}, block)
}

// RevertReason returns the reason of a revert reported by err, as returned
// over RPC by eth_call or eth_estimateGas: the string of a
// require(..., "reason") or revert("reason"), or a description of a Solidity
// panic. ok is false if err carries no decodable revert data (including a
// revert without a reason or with a custom error).
func RevertReason(err error) (reason string, ok bool) {
	var de rpc.DataError
	if !errors.As(err, &de) {
		return "", false
	}
	s, isString := de.ErrorData().(string)
	if !isString {
		return "", false
	}
	data, decErr := hexutil.Decode(s)
	if decErr != nil {
		return "", false
	}
	reason, unpackErr := abi.UnpackRevert(data)
	if unpackErr != nil {
		return "", false
	}
	return reason, true
}

// ReceiptPollInterval is how often WaitReceipt asks for a receipt.
const ReceiptPollInterval = 5 * time.Millisecond

// WaitReceipt polls client every ReceiptPollInterval until the receipt of the
// transaction hash exists and returns it (whatever its status). It returns
// ctx's error once ctx is done, and any error of the client other than "not
// found" or "transaction indexing is in progress".
func WaitReceipt(ctx context.Context, client ReceiptReader, hash common.Hash) (*types.Receipt, error) {
	ticker := time.NewTicker(ReceiptPollInterval)
	defer ticker.Stop()
	for {
		r, err := client.TransactionReceipt(ctx, hash)
		switch {
		case err == nil && r != nil:
			return r, nil
		case err == nil, errors.Is(err, ethereum.NotFound), isIndexing(err):
		default:
			if ctxErr := contextError(ctx); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, fmt.Errorf("contracts: receipt %s: %w", hash, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ticker.C:
		}
	}
}

// contextError returns ctx's error, or context.DeadlineExceeded once ctx's
// deadline has passed even if ctx has not noticed yet (an RPC client can time
// out its I/O at the deadline a moment before).
func contextError(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// isIndexing reports whether err is go-ethereum's answer to a receipt
// request while it is still indexing transactions after a start.
func isIndexing(err error) bool {
	var de rpc.DataError
	if errors.As(err, &de) {
		s, _ := de.ErrorData().(string)
		return s == "transaction indexing is in progress"
	}
	return false
}
