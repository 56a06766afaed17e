package evm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
)

// atBlock is the EIP-1898 block parameter naming a block by hash, so that a
// read answers for exactly that block even while the chain reorgs.
func atBlock(hash common.Hash) map[string]any {
	return map[string]any{"blockHash": hash, "requireCanonical": false}
}

// Logs returns the logs of the block with hash whose first topic is one of
// topic0s (any when empty) and, when addresses is not empty, emitted by one
// of them, in log index order.
func (c *Chain) Logs(ctx context.Context, hash common.Hash, addresses []common.Address, topic0s []common.Hash) ([]types.Log, error) {
	arg := map[string]any{"blockHash": hash}
	if len(addresses) > 0 {
		arg["address"] = addresses
	}
	if len(topic0s) > 0 {
		arg["topics"] = [][]common.Hash{topic0s}
	}
	var logs []types.Log
	if err := c.Call(ctx, &logs, "eth_getLogs", arg); err != nil {
		return nil, fmt.Errorf("eth_getLogs block %s: %w", hash.Hex(), err)
	}
	return logs, nil
}

// Balances returns the native balances of addrs at the block with hash.
func (c *Chain) Balances(ctx context.Context, addrs []common.Address, hash common.Hash) ([]*big.Int, error) {
	out := make([]hexutil.Big, len(addrs))
	elems := make([]rpc.BatchElem, len(addrs))
	for i, a := range addrs {
		elems[i] = rpc.BatchElem{Method: "eth_getBalance", Args: []any{a, atBlock(hash)}, Result: &out[i]}
	}
	if err := c.Batch(ctx, elems); err != nil {
		return nil, fmt.Errorf("eth_getBalance at %s: %w", hash.Hex(), err)
	}
	res := make([]*big.Int, len(addrs))
	for i, e := range elems {
		if e.Error != nil {
			return nil, fmt.Errorf("eth_getBalance %s at %s: %w", addrs[i].Hex(), hash.Hex(), e.Error)
		}
		res[i] = out[i].ToInt()
	}
	return res, nil
}

// IsStateUnavailable reports whether err says the node no longer has the
// state of the block asked about (a pruning, non-archive node keeps only
// recent states, about 128 blocks for go-ethereum).
func IsStateUnavailable(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "historical state") || strings.Contains(m, "missing trie node") ||
		strings.Contains(m, "state is not available") || strings.Contains(m, "state not available")
}

// isRevert reports whether err is a call's execution reverting (the
// contract's own answer), as opposed to the node failing to run it.
func isRevert(err error) bool {
	var rpcErr rpc.Error
	if errors.As(err, &rpcErr) && rpcErr.ErrorCode() == 3 {
		return true
	}
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "revert") || strings.Contains(m, "invalid opcode") || strings.Contains(m, "out of gas")
}

// CallMsg is one read-only contract call.
type CallMsg struct {
	From common.Address
	To   common.Address
	Data []byte
	// Value and Gas are optional (to replay a transaction).
	Value *big.Int
	Gas   uint64
}

func (m CallMsg) arg() map[string]any {
	a := map[string]any{"to": m.To, "data": hexutil.Bytes(m.Data)}
	if m.From != (common.Address{}) {
		a["from"] = m.From
	}
	if m.Value != nil {
		a["value"] = (*hexutil.Big)(m.Value)
	}
	if m.Gas != 0 {
		a["gas"] = hexutil.Uint64(m.Gas)
	}
	return a
}

// CallAt runs eth_call of each message at the block with hash, in one batch;
// each result or error is returned in place.
func (c *Chain) CallAt(ctx context.Context, hash common.Hash, msgs []CallMsg) ([][]byte, []error, error) {
	out := make([]hexutil.Bytes, len(msgs))
	elems := make([]rpc.BatchElem, len(msgs))
	for i, m := range msgs {
		elems[i] = rpc.BatchElem{Method: "eth_call", Args: []any{m.arg(), atBlock(hash)}, Result: &out[i]}
	}
	if err := c.Batch(ctx, elems); err != nil {
		return nil, nil, err
	}
	res := make([][]byte, len(msgs))
	errs := make([]error, len(msgs))
	for i, e := range elems {
		res[i], errs[i] = out[i], e.Error
	}
	return res, errs, nil
}

// Receipt is the part of a transaction receipt the plugins use.
type Receipt struct {
	TxHash      common.Hash
	BlockHash   common.Hash
	BlockNumber uint64
	Index       uint
	Status      uint64 // 1 success, 0 failure
	GasUsed     uint64
	From        common.Address
	To          *common.Address
}

// Receipts returns the receipts of hashes (nil where the node has none).
func (c *Chain) Receipts(ctx context.Context, hashes []common.Hash) ([]*Receipt, error) {
	raws := make([]json.RawMessage, len(hashes))
	elems := make([]rpc.BatchElem, len(hashes))
	for i, h := range hashes {
		elems[i] = rpc.BatchElem{Method: "eth_getTransactionReceipt", Args: []any{h}, Result: &raws[i]}
	}
	if err := c.Batch(ctx, elems); err != nil {
		return nil, fmt.Errorf("eth_getTransactionReceipt: %w", err)
	}
	out := make([]*Receipt, len(hashes))
	for i, e := range elems {
		if e.Error != nil {
			return nil, fmt.Errorf("eth_getTransactionReceipt %s: %w", hashes[i].Hex(), e.Error)
		}
		if len(raws[i]) == 0 || string(raws[i]) == "null" {
			continue
		}
		var r struct {
			TxHash      common.Hash     `json:"transactionHash"`
			BlockHash   common.Hash     `json:"blockHash"`
			BlockNumber hexutil.Uint64  `json:"blockNumber"`
			Index       hexutil.Uint    `json:"transactionIndex"`
			Status      hexutil.Uint64  `json:"status"`
			GasUsed     hexutil.Uint64  `json:"gasUsed"`
			From        common.Address  `json:"from"`
			To          *common.Address `json:"to"`
		}
		if err := json.Unmarshal(raws[i], &r); err != nil {
			return nil, fmt.Errorf("eth_getTransactionReceipt %s: decode: %w", hashes[i].Hex(), err)
		}
		out[i] = &Receipt{TxHash: r.TxHash, BlockHash: r.BlockHash, BlockNumber: uint64(r.BlockNumber), Index: uint(r.Index),
			Status: uint64(r.Status), GasUsed: uint64(r.GasUsed), From: r.From, To: r.To}
	}
	return out, nil
}

// Transaction is what eth_getTransactionByHash tells of a transaction.
type Transaction struct {
	Hash        common.Hash
	From        common.Address
	To          *common.Address
	Nonce       uint64
	Value       *big.Int
	Gas         uint64
	Input       []byte
	BlockHash   *common.Hash // nil while pending
	BlockNumber *uint64
}

// TransactionsByHash returns the transactions, pending or mined, in one
// batch; nil where the node does not know one.
func (c *Chain) TransactionsByHash(ctx context.Context, hashes []common.Hash) ([]*Transaction, error) {
	raws := make([]json.RawMessage, len(hashes))
	elems := make([]rpc.BatchElem, len(hashes))
	for i, h := range hashes {
		elems[i] = rpc.BatchElem{Method: "eth_getTransactionByHash", Args: []any{h}, Result: &raws[i]}
	}
	if err := c.Batch(ctx, elems); err != nil {
		return nil, fmt.Errorf("eth_getTransactionByHash: %w", err)
	}
	out := make([]*Transaction, len(hashes))
	for i, e := range elems {
		if e.Error != nil {
			return nil, fmt.Errorf("eth_getTransactionByHash %s: %w", hashes[i].Hex(), e.Error)
		}
		if len(raws[i]) == 0 || string(raws[i]) == "null" {
			continue
		}
		var t struct {
			Hash        common.Hash     `json:"hash"`
			From        common.Address  `json:"from"`
			To          *common.Address `json:"to"`
			Nonce       hexutil.Uint64  `json:"nonce"`
			Value       *hexutil.Big    `json:"value"`
			Gas         hexutil.Uint64  `json:"gas"`
			Input       hexutil.Bytes   `json:"input"`
			BlockHash   *common.Hash    `json:"blockHash"`
			BlockNumber *hexutil.Uint64 `json:"blockNumber"`
		}
		if err := json.Unmarshal(raws[i], &t); err != nil {
			return nil, fmt.Errorf("eth_getTransactionByHash %s: decode: %w", hashes[i].Hex(), err)
		}
		tx := &Transaction{Hash: t.Hash, From: t.From, To: t.To, Nonce: uint64(t.Nonce), Gas: uint64(t.Gas), Input: t.Input, Value: new(big.Int)}
		if t.Value != nil {
			tx.Value = t.Value.ToInt()
		}
		if t.BlockHash != nil && *t.BlockHash != (common.Hash{}) && t.BlockNumber != nil {
			n := uint64(*t.BlockNumber)
			tx.BlockHash, tx.BlockNumber = t.BlockHash, &n
		}
		out[i] = tx
	}
	return out, nil
}

// NonceAt returns how many transactions addr has mined as of the block
// with hash.
func (c *Chain) NonceAt(ctx context.Context, addr common.Address, hash common.Hash) (uint64, error) {
	var n hexutil.Uint64
	if err := c.Call(ctx, &n, "eth_getTransactionCount", addr, atBlock(hash)); err != nil {
		return 0, fmt.Errorf("eth_getTransactionCount %s: %w", addr.Hex(), err)
	}
	return uint64(n), nil
}

// decimalsCache remembers each token's decimals (or that it has none).
type decimalsCache struct {
	mu sync.Mutex
	m  map[common.Address]int // -1: the token does not answer decimals()
}

// maxCachedTokens bounds the decimals cache; beyond it the cache starts over.
const maxCachedTokens = 100000

var decimalsSelector = []byte{0x31, 0x3c, 0xe5, 0x67}

// Decimals returns a token's decimals() read once and cached for the chain;
// ok is false for a contract that does not answer it (an ERC-721, say).
func (c *Chain) Decimals(ctx context.Context, token common.Address, at common.Hash) (int, bool, error) {
	c.decimals.mu.Lock()
	d, cached := c.decimals.m[token]
	c.decimals.mu.Unlock()
	if cached {
		return d, d >= 0, nil
	}
	res, errs, err := c.CallAt(ctx, at, []CallMsg{{To: token, Data: decimalsSelector}})
	if err != nil {
		return 0, false, fmt.Errorf("decimals() of %s: %w", token.Hex(), err)
	}
	if errs[0] != nil && !isRevert(errs[0]) {
		// Not an answer about the contract (a lagging node, a rate limit,
		// the transport): ask again later.
		return 0, false, fmt.Errorf("decimals() of %s: %w", token.Hex(), errs[0])
	}
	d = -1
	if errs[0] == nil && len(res[0]) == 32 {
		v := new(big.Int).SetBytes(res[0])
		if v.IsUint64() && v.Uint64() <= 255 {
			d = int(v.Uint64())
		}
	}
	c.decimals.mu.Lock()
	if c.decimals.m == nil || len(c.decimals.m) >= maxCachedTokens {
		c.decimals.m = map[common.Address]int{}
	}
	c.decimals.m[token] = d
	c.decimals.mu.Unlock()
	return d, d >= 0, nil
}
