package events

import (
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
)

// mustParse parses a declaration or fails the test.
func mustParse(t testing.TB, sig string) abi.Event {
	t.Helper()
	ev, err := ParseSignature(sig)
	if err != nil {
		t.Fatalf("ParseSignature(%q): %v", sig, err)
	}
	return ev
}

// packLog builds a log of ev with go-ethereum: abi.MakeTopics for the
// indexed arguments (or a common.Hash given as is) and Arguments.Pack for
// the others. values are in argument order.
func packLog(t testing.TB, ev abi.Event, values ...any) ([]common.Hash, []byte) {
	t.Helper()
	if len(values) != len(ev.Inputs) {
		t.Fatalf("%d values for %d arguments", len(values), len(ev.Inputs))
	}
	var topics []common.Hash
	if !ev.Anonymous {
		topics = append(topics, ev.ID)
	}
	var plain []any
	for i, in := range ev.Inputs {
		if !in.Indexed {
			plain = append(plain, values[i])
			continue
		}
		ts, err := abi.MakeTopics([]any{values[i]})
		if err != nil {
			t.Fatalf("MakeTopics(%s = %v): %v", in.Name, values[i], err)
		}
		topics = append(topics, ts[0][0])
	}
	data, err := ev.Inputs.NonIndexed().Pack(plain...)
	if err != nil {
		t.Fatalf("Pack: %v", err)
	}
	return topics, data
}

func bigInt(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 0)
	if !ok {
		panic("bad number " + s)
	}
	return v
}

var (
	alice = common.HexToAddress("0xAb5801a7D398351b8bE11C439e05C5B3259aeC9B")
	bob   = common.HexToAddress("0x742D35CC6634C0532925A3B844BC454E4438F44E")
	carol = common.HexToAddress("0x00000000000000000000000000000000000000fF")
)

const (
	aliceHex = "0xab5801a7d398351b8be11c439e05c5b3259aec9b"
	bobHex   = "0x742d35cc6634c0532925a3b844bc454e4438f44e"
	carolHex = "0x00000000000000000000000000000000000000ff"
)

// Go values go-ethereum packs for the tuple test events.
type (
	orderT struct {
		Maker  common.Address
		Amount *big.Int
	}
	fillT struct {
		Token  common.Address
		Amount *big.Int
	}
	innerT struct {
		X    uint8
		Arg1 bool
	}
	nestedT struct {
		Inner innerT
		S     string
	}
	dynT struct {
		Name  string
		Ids   []*big.Int
		Owner common.Address
	}
)

const (
	sigTypes  = "Types(bool a, bytes4 b, bytes c, string d, int8 e, uint8 f, bytes32 g, address[2] h, string[2] i, uint256[2][] j, string[][] k, int256 l, uint256 m, function n, int16 o, uint64 p)"
	sigTuples = "Order(bytes32 indexed id, (address maker, uint256 amount) order, tuple(address token, uint amount)[] fills, ((uint8 x, bool) inner, string s) nested, (string name, uint256[] ids, address owner)[2] dyn)"
	sigHashed = "Named(string indexed name, bytes indexed blob, uint256[] indexed ids, (uint256 a) indexed t, uint256[2] plain) anonymous"
	sigAnon   = "event Log(address indexed a, uint indexed b, bytes32 indexed c, bool indexed d) anonymous;"
)

func TestDecode(t *testing.T) {
	maxU256 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	minI256 := new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 255))
	hashA := crypto.Keccak256Hash([]byte("a"))
	hashB := crypto.Keccak256Hash([]byte("b"))
	var fn [24]byte
	copy(fn[:], alice[:])
	copy(fn[20:], []byte{0xa9, 0x05, 0x9c, 0xbb})

	tests := []struct {
		name   string
		sig    string
		values []any
		want   map[string]any
	}{
		{
			name:   "ERC-20 Transfer",
			sig:    sigTransfer,
			values: []any{alice, bob, bigInt("1000000000000000000000000")},
			want:   map[string]any{"from": aliceHex, "to": bobHex, "value": "1000000000000000000000000"},
		},
		{
			name:   "ERC-20 Approval, max allowance",
			sig:    sigApproval,
			values: []any{alice, carol, maxU256},
			want:   map[string]any{"owner": aliceHex, "spender": carolHex, "value": maxU256.String()},
		},
		{
			name:   "ERC-721 Transfer, no data",
			sig:    sigTransfer721,
			values: []any{common.Address{}, bob, big.NewInt(42)},
			want:   map[string]any{"from": "0x0000000000000000000000000000000000000000", "to": bobHex, "tokenId": "42"},
		},
		{
			name:   "ERC-1155 TransferSingle",
			sig:    sigTransferSingle,
			values: []any{carol, alice, bob, big.NewInt(1), big.NewInt(5)},
			want:   map[string]any{"operator": carolHex, "from": aliceHex, "to": bobHex, "id": "1", "value": "5"},
		},
		{
			name:   "ERC-1155 TransferBatch",
			sig:    sigTransferBatch,
			values: []any{carol, alice, bob, []*big.Int{big.NewInt(1), big.NewInt(2), big.NewInt(3)}, []*big.Int{big.NewInt(10), bigInt("0x100000000000000000000000000000000000000000000000000")}},
			want: map[string]any{"operator": carolHex, "from": aliceHex, "to": bobHex,
				"ids":    []any{"1", "2", "3"},
				"values": []any{"10", bigInt("0x100000000000000000000000000000000000000000000000000").String()}},
		},
		{
			name:   "ERC-1155 TransferBatch, empty arrays",
			sig:    sigTransferBatch,
			values: []any{carol, alice, bob, []*big.Int{}, []*big.Int{}},
			want:   map[string]any{"operator": carolHex, "from": aliceHex, "to": bobHex, "ids": []any{}, "values": []any{}},
		},
		{
			name:   "Chainlink AnswerUpdated, negative indexed answer",
			sig:    sigAnswerUpdated,
			values: []any{big.NewInt(-123456789), bigInt("18446744073709551621"), big.NewInt(1700000000)},
			want:   map[string]any{"current": "-123456789", "roundId": "18446744073709551621", "updatedAt": "1700000000"},
		},
		{
			name:   "Chainlink AnswerUpdated, huge answer",
			sig:    sigAnswerUpdated,
			values: []any{bigInt("-99999999999999999999999999"), big.NewInt(1), big.NewInt(2)},
			want:   map[string]any{"current": "-99999999999999999999999999", "roundId": "1", "updatedAt": "2"},
		},
		{
			name:   "Uniswap V2 Swap",
			sig:    sigSwapV2,
			values: []any{alice, big.NewInt(0), bigInt("2500000000000000000"), big.NewInt(7400000000), big.NewInt(0), bob},
			want:   map[string]any{"sender": aliceHex, "amount0In": "0", "amount1In": "2500000000000000000", "amount0Out": "7400000000", "amount1Out": "0", "to": bobHex},
		},
		{
			name:   "Uniswap V2 Sync, max uint112",
			sig:    sigSync,
			values: []any{bigInt("0xffffffffffffffffffffffffffff"), big.NewInt(0)},
			want:   map[string]any{"reserve0": "5192296858534827628530496329220095", "reserve1": "0"},
		},
		{
			name: "Uniswap V3 Swap, negative amount and tick",
			sig:  sigSwapV3,
			values: []any{alice, bob, bigInt("-1000000000000000000"), bigInt("3000000000"),
				bigInt("1461446703485210103287273052203988822378723970341"), bigInt("340282366920938463463374607431768211455"), big.NewInt(-887272)},
			want: map[string]any{"sender": aliceHex, "recipient": bobHex, "amount0": "-1000000000000000000", "amount1": "3000000000",
				"sqrtPriceX96": "1461446703485210103287273052203988822378723970341", "liquidity": "340282366920938463463374607431768211455", "tick": "-887272"},
		},
		{
			name: "Uniswap V3 Swap, positive tick",
			sig:  sigSwapV3,
			values: []any{alice, bob, bigInt("5"), bigInt("-5"),
				big.NewInt(1), big.NewInt(0), big.NewInt(887272)},
			want: map[string]any{"sender": aliceHex, "recipient": bobHex, "amount0": "5", "amount1": "-5",
				"sqrtPriceX96": "1", "liquidity": "0", "tick": "887272"},
		},
		{
			name: "elementary types and arrays",
			sig:  sigTypes,
			values: []any{true, [4]byte{0xde, 0xad, 0xbe, 0xef}, []byte("hello, bytes that are longer than one word of thirty-two"), "héllo ✓",
				int8(-128), uint8(255), hashA, [2]common.Address{alice, bob}, [2]string{"x", ""},
				[][2]*big.Int{{big.NewInt(1), big.NewInt(2)}, {big.NewInt(3), maxU256}},
				[][]string{{"a", "bc"}, {}, {"def"}}, minI256, maxU256, fn, int16(-300), uint64(1<<63 + 1)},
			want: map[string]any{
				"a": true, "b": "0xdeadbeef",
				"c": hexutil.Encode([]byte("hello, bytes that are longer than one word of thirty-two")),
				"d": "héllo ✓", "e": "-128", "f": "255", "g": hashA.Hex(),
				"h": []any{aliceHex, bobHex}, "i": []any{"x", ""},
				"j": []any{[]any{"1", "2"}, []any{"3", maxU256.String()}},
				"k": []any{[]any{"a", "bc"}, []any{}, []any{"def"}},
				"l": minI256.String(), "m": maxU256.String(),
				"n": "0xab5801a7d398351b8be11c439e05c5b3259aec9ba9059cbb",
				"o": "-300", "p": "9223372036854775809",
			},
		},
		{
			name: "tuples",
			sig:  sigTuples,
			values: []any{hashB,
				orderT{Maker: alice, Amount: big.NewInt(100)},
				[]fillT{{Token: bob, Amount: big.NewInt(1)}, {Token: carol, Amount: big.NewInt(2)}},
				nestedT{Inner: innerT{X: 7, Arg1: true}, S: "nested"},
				[2]dynT{{Name: "first", Ids: []*big.Int{big.NewInt(9)}, Owner: alice}, {Name: "", Ids: nil, Owner: bob}},
			},
			want: map[string]any{
				"id":     hashB.Hex(),
				"order":  map[string]any{"maker": aliceHex, "amount": "100"},
				"fills":  []any{map[string]any{"token": bobHex, "amount": "1"}, map[string]any{"token": carolHex, "amount": "2"}},
				"nested": map[string]any{"inner": map[string]any{"x": "7", "arg1": true}, "s": "nested"},
				"dyn": []any{
					map[string]any{"name": "first", "ids": []any{"9"}, "owner": aliceHex},
					map[string]any{"name": "", "ids": []any{}, "owner": bobHex},
				},
			},
		},
		{
			name:   "indexed dynamic types are their topic",
			sig:    sigHashed,
			values: []any{"alice", []byte{1, 2, 3}, hashA, hashB, [2]*big.Int{big.NewInt(1), big.NewInt(2)}},
			want: map[string]any{
				"name": crypto.Keccak256Hash([]byte("alice")).Hex(), "blob": crypto.Keccak256Hash([]byte{1, 2, 3}).Hex(),
				"ids": hashA.Hex(), "t": hashB.Hex(), "plain": []any{"1", "2"},
			},
		},
		{
			name:   "anonymous, four indexed",
			sig:    sigAnon,
			values: []any{alice, big.NewInt(3), hashA, true},
			want:   map[string]any{"a": aliceHex, "b": "3", "c": hashA.Hex(), "d": true},
		},
		{
			name:   "unnamed arguments",
			sig:    "Transfer(address indexed, address indexed, uint256)",
			values: []any{alice, bob, big.NewInt(1)},
			want:   map[string]any{"arg0": aliceHex, "arg1": bobHex, "arg2": "1"},
		},
		{
			name: "no arguments", sig: "Paused()", values: []any{}, want: map[string]any{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := mustParse(t, tt.sig)
			topics, data := packLog(t, ev, tt.values...)
			got, err := Decode(ev, topics, data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode =\n%#v\nwant\n%#v", got, tt.want)
			}
			if _, err := json.Marshal(got); err != nil {
				t.Errorf("json.Marshal: %v", err)
			}
			// Extra bytes after the encoding are ignored.
			again, err := Decode(ev, topics, append(data, make([]byte, 64)...))
			if err != nil || !reflect.DeepEqual(again, tt.want) {
				t.Errorf("Decode with trailing bytes = %v, %v", again, err)
			}
			checkAgainstGoEthereum(t, ev, topics, data, got)
		})
	}
}

// checkAgainstGoEthereum decodes with go-ethereum's own unpacker and checks
// that every value it reads matches ours.
func checkAgainstGoEthereum(t *testing.T, ev abi.Event, topics []common.Hash, data []byte, got map[string]any) {
	t.Helper()
	theirs, err := gethDecode(ev, data)
	if err != nil {
		t.Fatalf("go-ethereum cannot decode the data: %v", err)
	}
	for name, v := range theirs {
		if !reflect.DeepEqual(got[name], v) {
			t.Errorf("%s: we decode %#v, go-ethereum %#v", name, got[name], v)
		}
	}
	var indexed abi.Arguments
	tuples := false
	for _, in := range ev.Inputs {
		if in.Indexed {
			indexed = append(indexed, in)
			tuples = tuples || in.Type.T == abi.TupleTy
		}
	}
	if !tuples { // go-ethereum does not take indexed tuples
		ts := topics
		if !ev.Anonymous {
			ts = ts[1:]
		}
		m := map[string]any{}
		if err := abi.ParseTopicsIntoMap(m, indexed, ts); err != nil {
			t.Fatalf("ParseTopicsIntoMap: %v", err)
		}
		for _, in := range indexed {
			if want := gethValue(in.Type, reflect.ValueOf(m[in.Name])); !reflect.DeepEqual(got[in.Name], want) {
				t.Errorf("topic %s: we decode %#v, go-ethereum %#v", in.Name, got[in.Name], want)
			}
		}
	}
}

// gethDecode unpacks data with go-ethereum and converts the values to our
// JSON-friendly forms. A panic in go-ethereum is returned as an error.
func gethDecode(ev abi.Event, data []byte) (out map[string]any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("go-ethereum panicked: %v", r)
		}
	}()
	args := ev.Inputs.NonIndexed()
	if len(args) == 0 {
		return map[string]any{}, nil
	}
	vals, err := args.UnpackValues(data)
	if err != nil {
		return nil, err
	}
	out = make(map[string]any, len(vals))
	for i, a := range args {
		out[a.Name] = gethValue(a.Type, reflect.ValueOf(vals[i]))
	}
	return out, nil
}

// gethValue converts a value go-ethereum unpacked into our form.
func gethValue(t abi.Type, v reflect.Value) any {
	if h, ok := v.Interface().(common.Hash); ok {
		return h.Hex() // an indexed dynamic type
	}
	switch t.T {
	case abi.UintTy, abi.IntTy:
		if b, ok := v.Interface().(*big.Int); ok {
			return b.String()
		}
		return fmt.Sprint(v.Interface())
	case abi.BoolTy:
		return v.Bool()
	case abi.StringTy:
		return v.String()
	case abi.AddressTy:
		return strings.ToLower(v.Interface().(common.Address).Hex())
	case abi.BytesTy:
		return hexutil.Encode(v.Bytes())
	case abi.FixedBytesTy, abi.FunctionTy:
		b := make([]byte, v.Len())
		reflect.Copy(reflect.ValueOf(b), v)
		return hexutil.Encode(b)
	case abi.SliceTy, abi.ArrayTy:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = gethValue(*t.Elem, v.Index(i))
		}
		return out
	case abi.TupleTy:
		out := make(map[string]any, len(t.TupleElems))
		for i, name := range t.TupleRawNames {
			out[name] = gethValue(*t.TupleElems[i], v.Field(i))
		}
		return out
	}
	return fmt.Sprintf("unhandled %v", v)
}

// word is a 32-byte big-endian word of a number given in any base.
func word(n string) []byte {
	return common.LeftPadBytes(bigInt(n).Bytes(), 32)
}

func words(ws ...[]byte) []byte {
	var out []byte
	for _, w := range ws {
		out = append(out, w...)
	}
	return out
}

func hashOf(b []byte) common.Hash { return common.BytesToHash(b) }

func TestDecodeErrors(t *testing.T) {
	transfer := mustParse(t, sigTransfer)
	okTopics, okData := packLog(t, transfer, alice, bob, big.NewInt(1))
	batch := mustParse(t, sigTransferBatch)
	batchTopics, _ := packLog(t, batch, carol, alice, bob, []*big.Int{}, []*big.Int{})
	anon := mustParse(t, sigAnon)
	nested := mustParse(t, "E(uint256[][] x)")
	blobs := mustParse(t, "E(bytes[] x)")
	str := mustParse(t, "E(string s)")
	types := mustParse(t, "E(bool a, bytes4 b, uint8 c, int24 d, function f)")
	tuple := mustParse(t, "E((uint256 a, string s)[] xs)")
	id := func(ev abi.Event) []common.Hash { return []common.Hash{ev.ID} }
	minus := func(n int64) []byte { return common.LeftPadBytes(new(big.Int).Add(two256, big.NewInt(n)).Bytes(), 32) }

	// Offsets that all point at one inner array make a small log decode
	// to N*M values.
	const n, m = 2000, 2000
	alias := words(word("32"), word(fmt.Sprint(n)))
	for range n {
		alias = append(alias, word(fmt.Sprint(n*32))...)
	}
	alias = append(alias, word(fmt.Sprint(m))...)
	alias = append(alias, make([]byte, m*32)...)
	// Likewise for byte strings: 1000 references to one 64 KiB blob.
	blobAlias := words(word("32"), word("1000"))
	for range 1000 {
		blobAlias = append(blobAlias, word(fmt.Sprint(1000*32))...)
	}
	blobAlias = append(blobAlias, word(fmt.Sprint(64<<10))...)
	blobAlias = append(blobAlias, make([]byte, 64<<10)...)

	tests := []struct {
		name   string
		ev     abi.Event
		topics []common.Hash
		data   []byte
		want   []string
	}{
		{"too few topics", transfer, okTopics[:2], okData, []string{"Transfer(address,address,uint256)", "has 2 topics, want 3"}},
		{"too many topics", transfer, append(okTopics[:3:3], common.Hash{}), okData, []string{"has 4 topics, want 3"}},
		{"no topics", transfer, nil, okData, []string{"has 0 topics, want 3"}},
		{"wrong topic 0", transfer, []common.Hash{common.HexToHash(topicApproval), okTopics[1], okTopics[2]}, okData, []string{"topic 0 is " + topicApproval, "not the event's ID " + topicTransfer}},
		{"anonymous, wrong count", anon, okTopics, nil, []string{"has 3 topics, want 4", "anonymous"}},
		{"no data", transfer, okTopics, nil, []string{`argument "value"`, "data too short"}},
		{"short data", transfer, okTopics, okData[:31], []string{`argument "value"`, "data too short"}},
		{"dirty address topic", transfer, []common.Hash{transfer.ID, hashOf(minus(-1)), okTopics[2]}, okData, []string{`indexed argument "from" (topic 1)`, "not an address"}},
		{"array offset past the end", batch, batchTopics, words(word("4096"), word("64"), word("0"), word("0")), []string{`argument "ids"`, "offset 4096 at byte 0 points past the end"}},
		{"array offset huge", batch, batchTopics, words(minus(-1), word("64"), word("0")), []string{`argument "ids"`, "offset 0xffff"}},
		{"array length huge", batch, batchTopics, words(word("64"), word("96"), word("0x10000000000000000"), word("0")), []string{`argument "ids"`, "array length 0x10000000000000000 is larger than the data"}},
		{"array length beyond the data", batch, batchTopics, words(word("64"), word("96"), word("3"), word("0")), []string{`argument "ids"`, "3 elements of 32 bytes need 96 bytes, have 32"}},
		{"second array offset missing", batch, batchTopics, words(word("0")), []string{`argument "values"`, "need a 32-byte offset"}},
		{"string length beyond the data", str, id(str), words(word("32"), word("33"), word("0")), []string{`argument "s"`, "length 33 is larger than the 32 bytes"}},
		{"string length without room", str, id(str), words(word("32")), []string{`argument "s"`, "need a 32-byte length"}},
		{"bool 2", types, id(types), words(word("2"), word("0"), word("0"), word("0"), word("0")), []string{`argument "a"`, "is not a bool"}},
		{"bytes4 dirty padding", types, id(types), words(word("0"), word("0xdeadbeef01"), word("0"), word("0"), word("0")), []string{`argument "b"`, "not a bytes4"}},
		{"uint8 too big", types, id(types), words(word("0"), word("0"), word("256"), word("0"), word("0")), []string{`argument "c"`, "does not fit uint8"}},
		{"int24 not sign-extended", types, id(types), words(word("0"), word("0"), word("0"), word("0x800000"), word("0")), []string{`argument "d"`, "does not fit int24"}},
		{"int24 negative too small", types, id(types), words(word("0"), word("0"), word("0"), minus(-0x800001), word("0")), []string{`argument "d"`, "does not fit int24"}},
		{"function dirty", types, id(types), words(word("0"), word("0"), word("0"), word("0"), word("1")), []string{`argument "f"`, "not a function"}},
		{"nested element at fault", nested, id(nested), words(word("32"), word("2"), word("64"), word("128"), word("1"), word("5"), word("9"), word("1")), []string{`argument "x"[1]`, "data too short"}},
		{"tuple component at fault", tuple, id(tuple), words(word("32"), word("1"), word("32"), word("7"), word("999")), []string{`argument "xs"[0].s`, "offset 999"}},
		{"offsets reuse one array", nested, id(nested), alias, []string{"far more values than its size allows"}},
		{"offsets reuse one byte string", blobs, id(blobs), blobAlias, []string{"more string and bytes content than its size allows"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.ev, tt.topics, tt.data)
			if err == nil {
				t.Fatalf("Decode = %v, want an error", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestDecodeHandBuiltEvents checks events not made by this package (broken
// or odd types) give errors rather than panics.
func TestDecodeHandBuiltEvents(t *testing.T) {
	u256 := abi.Type{T: abi.UintTy, Size: 256}
	cyclic := abi.Type{T: abi.SliceTy}
	cyclic.Elem = &cyclic
	deep := word("32")
	for range 100 {
		deep = append(deep, words(word("1"), word("32"))...)
	}
	tests := []struct {
		name string
		in   abi.Arguments
		data []byte
		want string
	}{
		{"array without element type", abi.Arguments{{Name: "a", Type: abi.Type{T: abi.ArrayTy, Size: 2}}}, make([]byte, 64), "malformed array type"},
		{"slice without element type", abi.Arguments{{Name: "a", Type: abi.Type{T: abi.SliceTy}}}, words(word("32"), word("1"), word("0")), "malformed slice type"},
		{"tuple without types", abi.Arguments{{Name: "a", Type: abi.Type{T: abi.TupleTy, TupleElems: []*abi.Type{nil}, TupleRawNames: []string{"x"}}}}, make([]byte, 64), "malformed tuple type"},
		{"tuple names mismatch", abi.Arguments{{Name: "a", Type: abi.Type{T: abi.TupleTy, TupleElems: []*abi.Type{&u256}}}}, make([]byte, 64), "0 names for 1 components"},
		{"tuple duplicate names", abi.Arguments{{Name: "a", Type: abi.Type{T: abi.TupleTy, TupleElems: []*abi.Type{&u256, &u256}, TupleRawNames: []string{"x", "x"}}}}, make([]byte, 64), "not unique"},
		{"cyclic type", abi.Arguments{{Name: "a", Type: cyclic}}, deep, "nests deeper"},
		{"duplicate argument names", abi.Arguments{{Name: "a", Type: u256}, {Name: "a", Type: u256}}, make([]byte, 64), "names are not unique"},
		{"zero-size elements", abi.Arguments{{Name: "a", Type: abi.Type{T: abi.SliceTy, Elem: &abi.Type{T: abi.ArrayTy, Size: 0, Elem: &u256}}}}, words(word("32"), word("0xffffffffffff")), "larger than the data"},
		{"zero-size elements within data", abi.Arguments{{Name: "a", Type: abi.Type{T: abi.SliceTy, Elem: &abi.Type{T: abi.ArrayTy, Size: 0, Elem: &u256}}}}, words(word("32"), word("1000"), make([]byte, 1000)), "far more values"},
		{"huge static array", abi.Arguments{{Name: "a", Type: abi.Type{T: abi.ArrayTy, Size: 1 << 62, Elem: &abi.Type{T: abi.ArrayTy, Size: 1 << 62, Elem: &u256}}}}, make([]byte, 64), "data too short"},
		{"odd integer size", abi.Arguments{{Name: "a", Type: abi.Type{T: abi.UintTy, Size: 300}}}, make([]byte, 32), "unsupported integer size"},
		{"fixed point", abi.Arguments{{Name: "a", Type: abi.Type{T: abi.FixedPointTy}}}, make([]byte, 32), "unsupported type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := abi.Event{Name: "E", Inputs: tt.in, Anonymous: true}
			got, err := Decode(ev, nil, tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode = %v, %v; want an error containing %q", got, err, tt.want)
			}
		})
	}
	// An unnamed argument of a hand-built event is keyed by position.
	ev := abi.Event{Name: "E", Anonymous: true, Inputs: abi.Arguments{{Type: u256}, {Type: abi.Type{T: abi.HashTy}}}}
	got, err := Decode(ev, nil, words(word("7"), word("1")))
	if err != nil || got["arg0"] != "7" || got["arg1"] != common.BigToHash(big.NewInt(1)).Hex() {
		t.Errorf("Decode = %v, %v", got, err)
	}
}

func TestHexString(t *testing.T) {
	for _, n := range []int{0, 1, 20, 32, 33, 64, 65, 1000} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		if got, want := hexString(b), hexutil.Encode(b); got != want {
			t.Errorf("hexString(%d bytes) = %s, want %s", n, got, want)
		}
	}
}

func TestIntText(t *testing.T) {
	for _, s := range []string{"0", "1", "-1", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
		"18446744073709551615", "18446744073709551616", "-57896044618658097711785492504343953926634992332820282019728792003956564819968"} {
		v := bigInt(s)
		w := make([]byte, 32)
		new(big.Int).Mod(v, two256).FillBytes(w)
		if got := intText(w); got != s {
			t.Errorf("intText(%s) = %s", s, got)
		}
		if v.Sign() >= 0 {
			if got := uintText(w); got != s {
				t.Errorf("uintText(%s) = %s", s, got)
			}
		}
	}
}

// TestDecimalRandom checks the limb-based formatting against big.Int on
// random words of every magnitude.
func TestDecimalRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	w := make([]byte, 32)
	for i := range 20000 {
		clear(w)
		n := i % 33 // significant bytes
		for j := 32 - n; j < 32; j++ {
			w[j] = byte(rng.Uint32())
		}
		if i%2 == 1 { // negative numbers of every magnitude
			if v := new(big.Int).SetBytes(w); v.Sign() != 0 {
				new(big.Int).Sub(two256, v).FillBytes(w)
			}
		}
		u := new(big.Int).SetBytes(w)
		if got := uintText(w); got != u.String() {
			t.Fatalf("uintText(%x) = %s, want %s", w, got, u)
		}
		s := new(big.Int).Set(u)
		if w[0]&0x80 != 0 {
			s.Sub(s, two256)
		}
		if got := intText(w); got != s.String() {
			t.Fatalf("intText(%x) = %s, want %s", w, got, s)
		}
	}
}
