package events

import (
	"bytes"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
)

var (
	// errorSelector is the first 4 bytes of keccak256("Error(string)").
	errorSelector = []byte{0x08, 0xc3, 0x79, 0xa0}
	// panicSelector is the first 4 bytes of keccak256("Panic(uint256)").
	panicSelector = []byte{0x4e, 0x48, 0x7b, 0x71}

	stringType = abi.Type{T: abi.StringTy}
)

// panicReasons names Solidity's panic codes
// (https://docs.soliditylang.org/en/latest/control-structures.html#panic-via-assert-and-error-via-require).
var panicReasons = map[uint64]string{
	0x00: "generic panic",
	0x01: "assertion failed",
	0x11: "arithmetic overflow",
	0x12: "division or modulo by zero",
	0x21: "invalid enum value",
	0x22: "invalid storage byte array encoding",
	0x31: "pop on empty array",
	0x32: "array index out of bounds",
	0x41: "out of memory",
	0x51: "call to an uninitialized function",
}

// DecodeRevert reads the revert reason from the data of a reverted call (the
// "data" of an eth_call error), and reports whether it found one.
//
// Error(string) data (selector 0x08c379a0, from require and revert with a
// message) gives the message, with invalid UTF-8 replaced by U+FFFD.
// Panic(uint256) data (0x4e487b71, from failed asserts, overflows and the
// like) gives "panic 0x11 (arithmetic overflow)", naming Solidity's codes,
// or "panic 0x99 (unknown code)" for others. Anything else, including
// malformed Error or Panic data and custom errors, gives "", false.
// DecodeRevert never panics.
func DecodeRevert(data []byte) (string, bool) {
	if len(data) < 4 {
		return "", false
	}
	body := data[4:]
	d := decoder{nodes: 4, bytes: len(body)}
	switch {
	case bytes.Equal(data[:4], errorSelector):
		v, err := d.value(&stringType, true, body, 0, 0)
		s, isString := v.(string)
		if err != nil || !isString {
			return "", false
		}
		return strings.ToValidUTF8(s, "\uFFFD"), true
	case bytes.Equal(data[:4], panicSelector):
		if len(body) < 32 {
			return "", false
		}
		w := body[:32]
		code, ok := readSize(w)
		var hexCode string
		if ok && code <= 0xff {
			hexCode = fmt.Sprintf("0x%02x", code)
		} else {
			hexCode = "0x" + new(big.Int).SetBytes(w).Text(16)
		}
		if ok {
			if reason, known := panicReasons[uint64(code)]; known {
				return "panic " + hexCode + " (" + reason + ")", true
			}
		}
		return "panic " + hexCode + " (unknown code)", true
	}
	return "", false
}
