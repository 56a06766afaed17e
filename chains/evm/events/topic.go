package events

import (
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// two256 is 2^256, for two's complement.
var two256 = new(big.Int).Lsh(big.NewInt(1), 256)

// EncodeTopic turns a filter value written as a string (as it comes from
// YAML) into the topic an indexed argument arg holds when it has that value.
//
// Accepted values by type:
//
//	address         40 hex digits, 0x optional, any case (no checksum check)
//	uintN, intN     decimal or 0x hex, optionally signed ("-5", "-0x10"),
//	                within the type's range; stored in two's complement
//	bool            true or false (or anything strconv.ParseBool accepts)
//	bytesN          exactly N bytes in hex, 0x optional
//	function        24 bytes in hex (address and selector), 0x optional
//	string          any text; the topic is its keccak256
//	bytes           hex, 0x optional; the topic is the keccak256 of the bytes
//	arrays, tuples  the topic itself, 0x and 64 hex digits: the EVM stores
//	                the keccak256 of the value's ABI encoding
//
// Surrounding spaces are trimmed except for strings, which are hashed as
// given. Errors name the argument and quote the value; an argument that is
// not indexed is an error, since only indexed arguments are in topics.
func EncodeTopic(arg abi.Argument, value string) (common.Hash, error) {
	if !arg.Indexed {
		return common.Hash{}, fmt.Errorf("topic filter on argument %q (%s): the argument is not indexed, so it is not in the log's topics", arg.Name, arg.Type.String())
	}
	h, err := encodeTopic(&arg.Type, value)
	if err != nil {
		return common.Hash{}, fmt.Errorf("topic filter on argument %q (%s): value %s: %w", arg.Name, arg.Type.String(), quote(value), err)
	}
	return h, nil
}

func encodeTopic(t *abi.Type, value string) (common.Hash, error) {
	var h common.Hash
	if t.T == abi.StringTy {
		return crypto.Keccak256Hash([]byte(value)), nil
	}
	value = strings.TrimSpace(value)
	switch t.T {
	case abi.AddressTy:
		b, err := parseHex(value, 20)
		if err != nil {
			return h, err
		}
		copy(h[12:], b)
	case abi.UintTy, abi.IntTy:
		v, err := parseInteger(value, t.T == abi.IntTy, t.Size)
		if err != nil {
			return h, err
		}
		if v.Sign() < 0 {
			v.Add(v, two256)
		}
		v.FillBytes(h[:])
	case abi.BoolTy:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return h, fmt.Errorf("want true or false")
		}
		if b {
			h[31] = 1
		}
	case abi.FixedBytesTy:
		if t.Size < 1 || t.Size > 32 {
			return h, fmt.Errorf("unsupported fixed bytes size %d", t.Size)
		}
		b, err := parseHex(value, t.Size)
		if err != nil {
			return h, err
		}
		copy(h[:], b)
	case abi.FunctionTy:
		b, err := parseHex(value, 24)
		if err != nil {
			return h, err
		}
		copy(h[:], b)
	case abi.BytesTy:
		b, err := parseHex(value, -1)
		if err != nil {
			return h, err
		}
		return crypto.Keccak256Hash(b), nil
	case abi.SliceTy, abi.ArrayTy, abi.TupleTy:
		b, err := parseHex(value, 32)
		if err != nil {
			return h, fmt.Errorf("%w: give the topic itself, the keccak256 of the value's ABI encoding", err)
		}
		copy(h[:], b)
	default:
		return h, fmt.Errorf("unsupported type")
	}
	return h, nil
}

// parseHex decodes hex with an optional 0x prefix; size is the exact number
// of bytes wanted, or -1 for any.
func parseHex(s string, size int) ([]byte, error) {
	digits := s
	if len(digits) >= 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X') {
		digits = digits[2:]
	}
	b, err := hex.DecodeString(digits)
	if err != nil || size >= 0 && len(b) != size {
		if size < 0 {
			return nil, fmt.Errorf("want hex bytes (0x and an even number of hex digits)")
		}
		return nil, fmt.Errorf("want %d bytes in hex (0x and %d hex digits)", size, 2*size)
	}
	return b, nil
}

// parseInteger parses a decimal or 0x hex integer, optionally signed, and
// checks it fits uintN (signed false) or intN.
func parseInteger(s string, signed bool, bits int) (*big.Int, error) {
	kind := "uint"
	if signed {
		kind = "int"
	}
	if bits < 1 || bits > 256 {
		return nil, fmt.Errorf("unsupported integer size %s%d", kind, bits)
	}
	if len(s) > 200 {
		return nil, fmt.Errorf("too long for a %s%d", kind, bits)
	}
	digits := s
	neg := false
	if digits != "" && (digits[0] == '-' || digits[0] == '+') {
		neg = digits[0] == '-'
		digits = digits[1:]
	}
	base := 10
	if len(digits) >= 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X') {
		base = 16
		digits = digits[2:]
	}
	// SetString would take another sign; a digit first rules it out.
	v, ok := new(big.Int), digits != "" && digits[0] != '-' && digits[0] != '+'
	if ok {
		_, ok = v.SetString(digits, base)
	}
	if !ok {
		return nil, fmt.Errorf("want a decimal or 0x hex integer")
	}
	if neg {
		v.Neg(v)
	}
	switch {
	case !signed && v.Sign() < 0:
		return nil, fmt.Errorf("negative, but %s%d is unsigned", kind, bits)
	case !signed && v.BitLen() > bits:
		return nil, fmt.Errorf("does not fit %s%d", kind, bits)
	case signed && v.Sign() >= 0 && v.BitLen() > bits-1:
		return nil, fmt.Errorf("does not fit %s%d", kind, bits)
	case signed && v.Sign() < 0 && new(big.Int).Not(v).BitLen() > bits-1: // Not(v) = -v-1
		return nil, fmt.Errorf("does not fit %s%d", kind, bits)
	}
	return v, nil
}

// TopicFilter builds the topics of a log filter for event ev (as
// eth_getLogs and eth_subscribe take them, and ethereum.FilterQuery.Topics
// holds them) from operator filters: indexed argument name to the values
// any of which may match, each encoded with EncodeTopic.
//
// Position 0 is the event's ID for a non-anonymous event; then each indexed
// argument in order has its values, or nil (any value) when not filtered.
// Trailing nil positions are left out. An argument name the event does not
// have, an argument that is not indexed, or an empty value list is an error
// naming it; so is any value EncodeTopic rejects.
func TopicFilter(ev abi.Event, filters map[string][]string) ([][]common.Hash, error) {
	var indexed []string
	pos := make(map[string]int)
	for i := range ev.Inputs {
		if ev.Inputs[i].Indexed {
			pos[ev.Inputs[i].Name] = i
			indexed = append(indexed, ev.Inputs[i].Name)
		}
	}
	names := make([]string, 0, len(filters))
	for name := range filters {
		names = append(names, name)
	}
	slices.Sort(names)
	offset := 0
	if !ev.Anonymous {
		offset = 1
	}
	topics := make([][]common.Hash, offset+len(indexed))
	if !ev.Anonymous {
		topics[0] = []common.Hash{ev.ID}
	}
	for _, name := range names {
		i, ok := pos[name]
		if !ok {
			for j := range ev.Inputs {
				if ev.Inputs[j].Name == name {
					return nil, fmt.Errorf("topic filter on %q: the argument is not indexed, so it is not in the log's topics (%s)", name, indexedList(indexed))
				}
			}
			return nil, fmt.Errorf("topic filter on %q: event %s has no indexed argument of that name (%s)", name, eventName(&ev), indexedList(indexed))
		}
		values := filters[name]
		if len(values) == 0 {
			return nil, fmt.Errorf("topic filter on %q: no values given", name)
		}
		slot := offset + slices.Index(indexed, name)
		for _, v := range values {
			h, err := EncodeTopic(ev.Inputs[i], v)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(topics[slot], h) {
				topics[slot] = append(topics[slot], h)
			}
		}
	}
	for len(topics) > 0 && topics[len(topics)-1] == nil {
		topics = topics[:len(topics)-1]
	}
	if len(topics) == 0 {
		return nil, nil
	}
	return topics, nil
}

func indexedList(names []string) string {
	if len(names) == 0 {
		return "it has none"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return "indexed: " + strings.Join(q, ", ")
}
