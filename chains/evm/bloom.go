package evm

import (
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

// BloomBits are the three bits a value sets in a block's logs bloom,
// computed once so that testing many watched values per block costs no
// hashing.
type BloomBits [3]struct {
	Index int  // byte index in types.Bloom
	Mask  byte // bit within it
}

// BloomBitsOf returns the bits of data (a log's address, or a topic).
func BloomBitsOf(data []byte) BloomBits {
	h := crypto.Keccak256(data)
	var b BloomBits
	for i := 0; i < 3; i++ {
		v := (uint(h[2*i])<<8 | uint(h[2*i+1])) & 2047
		b[i].Index = types.BloomByteLength - 1 - int(v/8)
		b[i].Mask = 1 << (v % 8)
	}
	return b
}

// AddressTopicBits returns the bits of an address as an indexed event
// argument (left-padded to 32 bytes).
func AddressTopicBits(a common.Address) BloomBits {
	return BloomBitsOf(common.BytesToHash(a.Bytes()).Bytes())
}

// In reports whether every bit is set in bloom: false means the value is
// certainly not in the block's logs.
func (b BloomBits) In(bloom *types.Bloom) bool {
	for _, x := range b {
		if bloom[x.Index]&x.Mask == 0 {
			return false
		}
	}
	return true
}
