package evm

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
)

// Block is a block as the head stream hands it to consumers: the header
// fields they use and every transaction in it, without input data.
type Block struct {
	Number       uint64
	Hash         common.Hash
	ParentHash   common.Hash
	Time         uint64 // Unix seconds
	Bloom        types.Bloom
	Miner        common.Address
	Transactions []Tx
}

// Tx is a transaction of a block.
type Tx struct {
	Hash  common.Hash
	From  common.Address
	To    *common.Address // nil for a contract creation
	Value *big.Int
	Nonce uint64
	Index uint
}

// Ref returns b's number and hash.
func (b *Block) Ref() BlockRef { return BlockRef{Number: b.Number, Hash: b.Hash} }

// BlockRef names one block.
type BlockRef struct {
	Number uint64
	Hash   common.Hash
}

// errNotFound is a block, transaction or receipt the node does not have.
var errNotFound = errors.New("not found")

// IsNotFound reports whether err says the node does not have the thing asked
// for (a null answer).
func IsNotFound(err error) bool { return errors.Is(err, errNotFound) }

type rpcTx struct {
	Hash  *common.Hash    `json:"hash"`
	From  *common.Address `json:"from"`
	To    *common.Address `json:"to"`
	Value *hexutil.Big    `json:"value"`
	Nonce *hexutil.Uint64 `json:"nonce"`
	Index *hexutil.Uint64 `json:"transactionIndex"`
}

type rpcBlock struct {
	Number       *hexutil.Uint64 `json:"number"`
	Hash         *common.Hash    `json:"hash"`
	ParentHash   *common.Hash    `json:"parentHash"`
	Timestamp    *hexutil.Uint64 `json:"timestamp"`
	Bloom        *types.Bloom    `json:"logsBloom"`
	Miner        common.Address  `json:"miner"`
	Transactions []rpcTx         `json:"transactions"`
}

// decodeBlock decodes an eth_getBlockBy* answer with full transactions. A
// null answer is errNotFound; a block missing a field it needs is an error.
func decodeBlock(raw json.RawMessage) (*Block, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errNotFound
	}
	var rb rpcBlock
	if err := json.Unmarshal(raw, &rb); err != nil {
		return nil, fmt.Errorf("decode block: %w", err)
	}
	if rb.Number == nil || rb.Hash == nil || rb.ParentHash == nil || rb.Timestamp == nil {
		return nil, errors.New("decode block: missing number, hash, parentHash or timestamp (is it a pending block?)")
	}
	b := &Block{Number: uint64(*rb.Number), Hash: *rb.Hash, ParentHash: *rb.ParentHash, Time: uint64(*rb.Timestamp), Miner: rb.Miner}
	if rb.Bloom != nil {
		b.Bloom = *rb.Bloom
	}
	b.Transactions = make([]Tx, 0, len(rb.Transactions))
	for i, t := range rb.Transactions {
		if t.Hash == nil || t.From == nil || t.Nonce == nil {
			return nil, fmt.Errorf("decode block %d: transaction %d: missing hash, from or nonce (ask with full transactions)", b.Number, i)
		}
		tx := Tx{Hash: *t.Hash, From: *t.From, To: t.To, Nonce: uint64(*t.Nonce), Index: uint(i), Value: new(big.Int)}
		if t.Value != nil {
			tx.Value = t.Value.ToInt()
		}
		if t.Index != nil {
			tx.Index = uint(*t.Index)
		}
		b.Transactions = append(b.Transactions, tx)
	}
	return b, nil
}

// header is the part of a newHeads notification or block the tracker needs
// to decide whether to fetch the block.
type header struct {
	Number     hexutil.Uint64 `json:"number"`
	Hash       common.Hash    `json:"hash"`
	ParentHash common.Hash    `json:"parentHash"`
}

func decodeHeader(raw json.RawMessage) (header, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return header{}, errNotFound
	}
	var h struct {
		Number *hexutil.Uint64 `json:"number"`
		Hash   *common.Hash    `json:"hash"`
		Parent *common.Hash    `json:"parentHash"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return header{}, fmt.Errorf("decode header: %w", err)
	}
	if h.Number == nil || h.Hash == nil || h.Parent == nil {
		return header{}, errors.New("decode header: missing number, hash or parentHash")
	}
	return header{Number: *h.Number, Hash: *h.Hash, ParentHash: *h.Parent}, nil
}

// unixTime converts a block timestamp.
func unixTime(sec uint64) time.Time { return time.Unix(int64(sec), 0) }
