package events

import (
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// indexedArg makes an indexed argument of a type written in Solidity.
func indexedArg(t *testing.T, typ string) abi.Argument {
	t.Helper()
	ev := mustParse(t, "E("+typ+" indexed x)")
	return ev.Inputs[0]
}

// makeTopic is go-ethereum's topic for a value.
func makeTopic(t *testing.T, v any) common.Hash {
	t.Helper()
	ts, err := abi.MakeTopics([]any{v})
	if err != nil {
		t.Fatal(err)
	}
	return ts[0][0]
}

func TestEncodeTopic(t *testing.T) {
	maxU256 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	hash := crypto.Keccak256Hash([]byte("x"))
	tests := []struct {
		typ, value string
		want       any // a value for abi.MakeTopics, or a common.Hash
	}{
		{"address", "0xab5801a7d398351b8be11c439e05c5b3259aec9b", alice},
		{"address", "0xAB5801A7D398351B8BE11C439E05C5B3259AEC9B", alice},
		{"address", "0xAb5801a7D398351b8bE11C439e05C5B3259aeC9B", alice},
		{"address", "0XAb5801a7D398351b8bE11C439e05C5B3259aeC9B", alice},
		{"address", "ab5801a7d398351b8be11c439e05c5b3259aec9b", alice},
		{"address", "  0xab5801a7d398351b8be11c439e05c5b3259aec9b\n", alice},
		{"uint256", "1000000000000000000", big.NewInt(1e18)},
		{"uint256", "0xde0b6b3a7640000", big.NewInt(1e18)},
		{"uint256", "+42", big.NewInt(42)},
		{"uint256", "0x" + strings.Repeat("f", 64), maxU256},
		{"uint8", "255", uint8(255)},
		{"uint", "0", big.NewInt(0)},
		{"int256", "-1", big.NewInt(-1)},
		{"int256", "-0x10", big.NewInt(-16)},
		{"int24", "-887272", big.NewInt(-887272)},
		{"int24", "8388607", big.NewInt(8388607)},
		{"int24", "-8388608", big.NewInt(-8388608)},
		{"int8", "-128", int8(-128)},
		{"int64", "-9223372036854775808", int64(-9223372036854775808)},
		{"bool", "true", true},
		{"bool", "false", false},
		{"bool", "TRUE", true},
		{"bytes32", hash.Hex(), hash},
		{"bytes4", "0xdeadbeef", [4]byte{0xde, 0xad, 0xbe, 0xef}},
		{"bytes1", "ff", [1]byte{0xff}},
		{"string", "hello", "hello"},
		{"string", " spaced ", " spaced "},
		{"string", "", ""},
		{"bytes", "0x010203", []byte{1, 2, 3}},
		{"bytes", "0x", []byte{}},
		{"uint256[]", hash.Hex(), hash},
		{"address[2]", hash.Hex(), hash},
		{"(uint a, bool b)", hash.Hex(), hash},
		{"function", "0xab5801a7d398351b8be11c439e05c5b3259aec9ba9059cbb", [24]byte{0xab, 0x58, 0x01, 0xa7, 0xd3, 0x98, 0x35, 0x1b, 0x8b, 0xe1, 0x1c, 0x43, 0x9e, 0x05, 0xc5, 0xb3, 0x25, 0x9a, 0xec, 0x9b, 0xa9, 0x05, 0x9c, 0xbb}},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"="+tt.value, func(t *testing.T) {
			got, err := EncodeTopic(indexedArg(t, tt.typ), tt.value)
			if err != nil {
				t.Fatalf("EncodeTopic: %v", err)
			}
			if want := makeTopic(t, tt.want); got != want {
				t.Errorf("EncodeTopic = %s, want %s", got.Hex(), want.Hex())
			}
		})
	}
}

func TestEncodeTopicErrors(t *testing.T) {
	tests := []struct {
		typ, value string
		want       string
	}{
		{"address", "0xab5801a7d398351b8be11c439e05c5b3259aec", "want 20 bytes in hex"},
		{"address", "0xzz5801a7d398351b8be11c439e05c5b3259aec9b", "want 20 bytes in hex"},
		{"address", "alice.eth", "want 20 bytes in hex"},
		{"address", "", "want 20 bytes in hex"},
		{"uint256", "-1", "negative, but uint256 is unsigned"},
		{"uint256", "0x1" + strings.Repeat("0", 64), "does not fit uint256"},
		{"uint8", "256", "does not fit uint8"},
		{"int8", "128", "does not fit int8"},
		{"int8", "-129", "does not fit int8"},
		{"int24", "8388608", "does not fit int24"},
		{"uint256", "1.5", "want a decimal or 0x hex integer"},
		{"uint256", "1e18", "want a decimal or 0x hex integer"},
		{"uint256", "1_000", "want a decimal or 0x hex integer"},
		{"uint256", "--1", "want a decimal or 0x hex integer"},
		{"int256", "-+1", "want a decimal or 0x hex integer"},
		{"int256", "-0x-1", "want a decimal or 0x hex integer"},
		{"uint256", "", "want a decimal or 0x hex integer"},
		{"uint256", "0x", "want a decimal or 0x hex integer"},
		{"uint256", strings.Repeat("9", 201), "too long"},
		{"bool", "yes", "want true or false"},
		{"bytes32", "0x1234", "want 32 bytes in hex"},
		{"bytes4", "0xdeadbeef00", "want 4 bytes in hex"},
		{"bytes", "0x123", "want hex bytes"},
		{"bytes", "hello", "want hex bytes"},
		{"uint256[]", "1,2,3", "give the topic itself"},
		{"function", "0x12", "want 24 bytes in hex"},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"="+tt.value, func(t *testing.T) {
			got, err := EncodeTopic(indexedArg(t, tt.typ), tt.value)
			if err == nil {
				t.Fatalf("EncodeTopic = %s, want an error", got.Hex())
			}
			for _, w := range []string{`argument "x"`, quote(tt.value), tt.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	ev := mustParse(t, sigTransfer)
	if _, err := EncodeTopic(ev.Inputs[2], "1"); err == nil || !strings.Contains(err.Error(), `argument "value" (uint256): the argument is not indexed`) {
		t.Errorf("non-indexed argument: %v", err)
	}
}

func TestTopicFilter(t *testing.T) {
	transfer := mustParse(t, sigTransfer)
	anon := mustParse(t, sigAnon)
	id := transfer.ID
	a, b := makeTopic(t, alice), makeTopic(t, bob)

	tests := []struct {
		name    string
		ev      abi.Event
		filters map[string][]string
		want    [][]common.Hash
	}{
		{"no filters", transfer, nil, [][]common.Hash{{id}}},
		{"first argument", transfer, map[string][]string{"from": {aliceHex}}, [][]common.Hash{{id}, {a}}},
		{"second argument, any of two", transfer, map[string][]string{"to": {aliceHex, bobHex, strings.ToUpper(bobHex[2:])}}, [][]common.Hash{{id}, nil, {a, b}}},
		{"both", transfer, map[string][]string{"to": {bobHex}, "from": {aliceHex}}, [][]common.Hash{{id}, {a}, {b}}},
		{"anonymous, none", anon, nil, nil},
		{"anonymous, third", anon, map[string][]string{"c": {common.Hash{1}.Hex()}}, [][]common.Hash{nil, nil, {{1}}}},
		{"anonymous, first", anon, map[string][]string{"a": {bobHex}, "d": {"true"}}, [][]common.Hash{{b}, nil, nil, {common.BigToHash(big.NewInt(1))}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TopicFilter(tt.ev, tt.filters)
			if err != nil {
				t.Fatalf("TopicFilter: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("TopicFilter = %v, want %v", got, tt.want)
			}
		})
	}

	bad := []struct {
		name    string
		filters map[string][]string
		want    []string
	}{
		{"unknown argument", map[string][]string{"sender": {aliceHex}}, []string{`"sender"`, "no indexed argument", `indexed: "from", "to"`}},
		{"not indexed", map[string][]string{"value": {"1"}}, []string{`"value"`, "not indexed"}},
		{"no values", map[string][]string{"to": {}}, []string{`"to"`, "no values"}},
		{"bad value", map[string][]string{"to": {"bob"}}, []string{`argument "to" (address)`, `"bob"`}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TopicFilter(transfer, tt.filters)
			if err == nil {
				t.Fatalf("TopicFilter = %v, want an error", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestEncodeTopicMatchesDecode checks a topic made from a value decodes
// back to it.
func TestEncodeTopicMatchesDecode(t *testing.T) {
	ev := mustParse(t, "E(int24 indexed tick, address indexed who, bytes8 indexed tag) anonymous")
	values := []string{"-887272", aliceHex, "0x0102030405060708"}
	topics := make([]common.Hash, len(values))
	for i, v := range values {
		h, err := EncodeTopic(ev.Inputs[i], v)
		if err != nil {
			t.Fatal(err)
		}
		topics[i] = h
	}
	got, err := Decode(ev, topics, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"tick": "-887272", "who": aliceHex, "tag": "0x0102030405060708"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode = %v, want %v", got, want)
	}
}
