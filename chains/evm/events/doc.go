// Package events turns operator-written EVM event declarations into
// go-ethereum abi.Events and decodes logs into JSON-friendly named fields.
//
// An event comes either from a Solidity declaration (ParseSignature) or from
// an ABI JSON document (FromABI). Decode turns a log's topics and data into a
// map of argument name to value; EncodeTopic and TopicFilter turn operator
// filter values (strings from YAML) into log topics. DecodeRevert reads the
// reason out of eth_call revert data.
//
// Decoded values are JSON friendly and lose no precision:
//
//	address            "0x" + 40 lower-case hex digits
//	uintN, intN        decimal string, e.g. "1000000000000000000" or "-5"
//	bool               bool
//	string             string
//	bytes, bytesN      "0x" + lower-case hex
//	function           "0x" + 48 lower-case hex digits (address + selector)
//	T[k], T[]          []any of the element values
//	tuple              map[string]any keyed by component name
//
// An indexed argument of a dynamic or composite type (string, bytes, any
// array, tuple) is stored by the EVM as the keccak256 hash of its encoding;
// Decode returns that topic as "0x" + 64 hex digits, the only thing the log
// holds.
//
// Decoding is strict, like Solidity's own ABI decoder: a word whose value
// does not fit the declared type (dirty high bits in an address or uint8, a
// bool other than 0 or 1, non-zero padding after a bytesN) is an error, which
// usually means the declared signature does not match what the contract
// emits.
//
// All functions are safe for concurrent use; none keeps state.
//
// Types are bounded so that no declaration can make the decoder or
// go-ethereum's reflection allocate without limit: types nest at most
// MaxTypeDepth levels, and the smallest encoding of any declared argument list
// is at most MaxEncodedSize bytes (larger could never fit in a block).
package events
