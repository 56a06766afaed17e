package events

import (
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Known topic 0 values of widely used events.
const (
	topicTransfer       = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
	topicApproval       = "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"
	topicTransferSingle = "0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62"
	topicTransferBatch  = "0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb"
	topicSync           = "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1"
	topicSwapV2         = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
	topicSwapV3         = "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67"
	topicAnswerUpdated  = "0x0559884fd3a460db3073b7fc896cc77986f16e378210ded43186175bf646fc5f"
)

// Declarations used across the tests.
const (
	sigTransfer       = "event Transfer(address indexed from, address indexed to, uint256 value);"
	sigApproval       = "Approval(address indexed owner, address indexed spender, uint256 value)"
	sigTransfer721    = "Transfer(address indexed from, address indexed to, uint256 indexed tokenId)"
	sigTransferSingle = "TransferSingle(address indexed operator, address indexed from, address indexed to, uint256 id, uint256 value)"
	sigTransferBatch  = "TransferBatch(address indexed operator, address indexed from, address indexed to, uint256[] ids, uint256[] values)"
	sigAnswerUpdated  = "AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt)"
	sigSwapV2         = "Swap(address indexed sender, uint amount0In, uint amount1In, uint amount0Out, uint amount1Out, address indexed to)"
	sigSync           = "Sync(uint112 reserve0, uint112 reserve1)"
	sigSwapV3         = "Swap(address indexed sender, address indexed recipient, int256 amount0, int256 amount1, uint160 sqrtPriceX96, uint128 liquidity, int24 tick)"
)

type wantArg struct {
	name    string
	typ     string
	indexed bool
}

func TestParseSignature(t *testing.T) {
	tests := []struct {
		name      string
		sig       string
		canonical string
		id        string // known topic 0, if any
		anonymous bool
		args      []wantArg
	}{
		{
			name: "ERC-20 Transfer", sig: sigTransfer,
			canonical: "Transfer(address,address,uint256)", id: topicTransfer,
			args: []wantArg{{"from", "address", true}, {"to", "address", true}, {"value", "uint256", false}},
		},
		{
			name: "ERC-20 Approval", sig: sigApproval,
			canonical: "Approval(address,address,uint256)", id: topicApproval,
			args: []wantArg{{"owner", "address", true}, {"spender", "address", true}, {"value", "uint256", false}},
		},
		{
			name: "ERC-721 Transfer", sig: sigTransfer721,
			canonical: "Transfer(address,address,uint256)", id: topicTransfer,
			args: []wantArg{{"from", "address", true}, {"to", "address", true}, {"tokenId", "uint256", true}},
		},
		{
			name: "ERC-1155 TransferSingle", sig: sigTransferSingle,
			canonical: "TransferSingle(address,address,address,uint256,uint256)", id: topicTransferSingle,
			args: []wantArg{{"operator", "address", true}, {"from", "address", true}, {"to", "address", true}, {"id", "uint256", false}, {"value", "uint256", false}},
		},
		{
			name: "ERC-1155 TransferBatch", sig: sigTransferBatch,
			canonical: "TransferBatch(address,address,address,uint256[],uint256[])", id: topicTransferBatch,
			args: []wantArg{{"operator", "address", true}, {"from", "address", true}, {"to", "address", true}, {"ids", "uint256[]", false}, {"values", "uint256[]", false}},
		},
		{
			name: "Chainlink AnswerUpdated", sig: sigAnswerUpdated,
			canonical: "AnswerUpdated(int256,uint256,uint256)", id: topicAnswerUpdated,
			args: []wantArg{{"current", "int256", true}, {"roundId", "uint256", true}, {"updatedAt", "uint256", false}},
		},
		{
			name: "Uniswap V2 Swap", sig: sigSwapV2,
			canonical: "Swap(address,uint256,uint256,uint256,uint256,address)", id: topicSwapV2,
			args: []wantArg{{"sender", "address", true}, {"amount0In", "uint256", false}, {"amount1In", "uint256", false}, {"amount0Out", "uint256", false}, {"amount1Out", "uint256", false}, {"to", "address", true}},
		},
		{
			name: "Uniswap V2 Sync", sig: sigSync,
			canonical: "Sync(uint112,uint112)", id: topicSync,
			args: []wantArg{{"reserve0", "uint112", false}, {"reserve1", "uint112", false}},
		},
		{
			name: "Uniswap V3 Swap", sig: sigSwapV3,
			canonical: "Swap(address,address,int256,int256,uint160,uint128,int24)", id: topicSwapV3,
			args: []wantArg{{"sender", "address", true}, {"recipient", "address", true}, {"amount0", "int256", false}, {"amount1", "int256", false}, {"sqrtPriceX96", "uint160", false}, {"liquidity", "uint128", false}, {"tick", "int24", false}},
		},
		{
			name: "canonical form, unnamed arguments", sig: "Transfer(address,address,uint256)",
			canonical: "Transfer(address,address,uint256)", id: topicTransfer,
			args: []wantArg{{"arg0", "address", false}, {"arg1", "address", false}, {"arg2", "uint256", false}},
		},
		{
			name: "unnamed indexed and mixed", sig: "Transfer(address indexed, address indexed to, uint)",
			canonical: "Transfer(address,address,uint256)", id: topicTransfer,
			args: []wantArg{{"arg0", "address", true}, {"to", "address", true}, {"arg2", "uint256", false}},
		},
		{
			name: "whitespace everywhere", sig: "  event\tTransfer (\n address  indexed  from ,address indexed to,uint256 value ) ; ",
			canonical: "Transfer(address,address,uint256)", id: topicTransfer,
			args: []wantArg{{"from", "address", true}, {"to", "address", true}, {"value", "uint256", false}},
		},
		{
			name:      "aliases and elementary types",
			sig:       "E(uint a, int b, byte c, bytes d, bytes32 e, bytes1 f, bool g, string h, address payable i, function j, uint8 k, int8 l, uint24 m)",
			canonical: "E(uint256,int256,bytes1,bytes,bytes32,bytes1,bool,string,address,function,uint8,int8,uint24)",
			args:      []wantArg{{"a", "uint256", false}, {"b", "int256", false}, {"c", "bytes1", false}, {"d", "bytes", false}, {"e", "bytes32", false}, {"f", "bytes1", false}, {"g", "bool", false}, {"h", "string", false}, {"i", "address", false}, {"j", "function", false}, {"k", "uint8", false}, {"l", "int8", false}, {"m", "uint24", false}},
		},
		{
			name:      "arrays, fixed, dynamic and nested",
			sig:       "A(uint256[] a, address[3] b, uint[2][] c, string[][3] d, bytes32 [ ] e)",
			canonical: "A(uint256[],address[3],uint256[2][],string[][3],bytes32[])",
			args:      []wantArg{{"a", "uint256[]", false}, {"b", "address[3]", false}, {"c", "uint256[2][]", false}, {"d", "string[][3]", false}, {"e", "bytes32[]", false}},
		},
		{
			name:      "tuples, bare and with the tuple keyword",
			sig:       "Order(bytes32 indexed id, (address maker, uint256 amount) order, tuple(address token, uint amount)[] fills, ((uint8 x, bool) inner, string s) nested)",
			canonical: "Order(bytes32,(address,uint256),(address,uint256)[],((uint8,bool),string))",
			args:      []wantArg{{"id", "bytes32", true}, {"order", "(address,uint256)", false}, {"fills", "(address,uint256)[]", false}, {"nested", "((uint8,bool),string)", false}},
		},
		{
			name: "anonymous with four indexed", sig: "event Log(address indexed a, uint indexed b, bytes32 indexed c, bool indexed d) anonymous;",
			canonical: "Log(address,uint256,bytes32,bool)", anonymous: true,
			args: []wantArg{{"a", "address", true}, {"b", "uint256", true}, {"c", "bytes32", true}, {"d", "bool", true}},
		},
		{
			name: "no arguments", sig: "Paused()", canonical: "Paused()",
		},
		{
			name: "identifiers with $ and _", sig: "E_1(uint $amount, address _to)", canonical: "E_1(uint256,address)",
			args: []wantArg{{"$amount", "uint256", false}, {"_to", "address", false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseSignature(tt.sig)
			if err != nil {
				t.Fatalf("ParseSignature(%q): %v", tt.sig, err)
			}
			if ev.Sig != tt.canonical {
				t.Errorf("Sig = %q, want %q", ev.Sig, tt.canonical)
			}
			if want := crypto.Keccak256Hash([]byte(tt.canonical)); ev.ID != want {
				t.Errorf("ID = %s, want keccak256(%q) = %s", ev.ID.Hex(), tt.canonical, want.Hex())
			}
			if tt.id != "" && ev.ID != common.HexToHash(tt.id) {
				t.Errorf("ID = %s, want the known %s", ev.ID.Hex(), tt.id)
			}
			if ev.Anonymous != tt.anonymous {
				t.Errorf("Anonymous = %v, want %v", ev.Anonymous, tt.anonymous)
			}
			if len(ev.Inputs) != len(tt.args) {
				t.Fatalf("%d inputs, want %d: %v", len(ev.Inputs), len(tt.args), ev)
			}
			for i, w := range tt.args {
				in := ev.Inputs[i]
				if in.Name != w.name || in.Type.String() != w.typ || in.Indexed != w.indexed {
					t.Errorf("input %d = {%q %s indexed=%v}, want {%q %s indexed=%v}", i, in.Name, in.Type.String(), in.Indexed, w.name, w.typ, w.indexed)
				}
			}
			// The canonical signature parses back to the same event ID.
			again, err := ParseSignature(ev.Sig)
			if err != nil || again.ID != ev.ID {
				t.Errorf("ParseSignature(%q) = %v, %v; want ID %s", ev.Sig, again.ID.Hex(), err, ev.ID.Hex())
			}
		})
	}
}

func TestParseSignatureTupleNames(t *testing.T) {
	ev, err := ParseSignature("E((uint256, address who)[] xs)")
	if err != nil {
		t.Fatal(err)
	}
	typ := ev.Inputs[0].Type.Elem
	if got := strings.Join(typ.TupleRawNames, ","); got != "arg0,who" {
		t.Errorf("tuple component names %q, want arg0,who", got)
	}
}

func TestParseSignatureErrors(t *testing.T) {
	tests := []struct {
		name string
		sig  string
		want []string // substrings of the error
	}{
		{"empty", "", []string{"empty signature"}},
		{"blank", "   ", []string{"empty signature"}},
		{"unknown type", "Foo(uint7 a)", []string{`"Foo(uint7 a)"`, `unknown type "uint7"`}},
		{"unknown type name", "Foo(IERC20 token)", []string{`unknown type "IERC20"`}},
		{"uint too big", "Foo(uint264 a)", []string{`unknown type "uint264"`}},
		{"uint leading zero", "Foo(uint08 a)", []string{`unknown type "uint08"`}},
		{"bytes33", "Foo(bytes33 a)", []string{`unknown type "bytes33"`}},
		{"bytes0", "Foo(bytes0 a)", []string{`unknown type "bytes0"`}},
		{"fixed point", "Foo(fixed128x18 a)", []string{`"fixed128x18"`, "not supported"}},
		{"ufixed", "Foo(ufixed a)", []string{`"ufixed"`, "not supported"}},
		{"four indexed", "Foo(uint indexed a, uint indexed b, uint indexed c, uint indexed d)", []string{"4 indexed arguments", `"d"`, "at most 3"}},
		{"five indexed anonymous", "Foo(uint indexed a, uint indexed b, uint indexed c, uint indexed d, uint indexed e) anonymous", []string{"5 indexed arguments", "anonymous event has at most 4"}},
		{"duplicate names", "Foo(uint a, address a)", []string{`duplicate argument name "a"`}},
		{"duplicate with generated name", "Foo(uint arg1, address)", []string{`duplicate argument name "arg1"`}},
		{"duplicate tuple component", "Foo((uint a, bool a) t)", []string{`duplicate tuple component name "a"`}},
		{"unclosed paren", "Foo(uint a", []string{"unbalanced parentheses", `"(" at offset 3`}},
		{"extra close paren", "Foo(uint a))", []string{"unbalanced parentheses", `")" at offset 11`}},
		{"unclosed tuple", "Foo((uint a, bool b x)", []string{"unbalanced parentheses"}},
		{"missing name", "(uint256 a)", []string{"missing event name"}},
		{"missing name after event", "event (uint256 a)", []string{"missing event name"}},
		{"only event", "event", []string{"missing event name"}},
		{"no parens", "Transfer", []string{`expected "("`, "end of input"}},
		{"name is a number", "1Foo(uint a)", []string{"expected an event name", `"1Foo"`}},
		{"bad character", "Foo(uint a, uint* b)", []string{`unexpected character '*' at offset 16`}},
		{"missing comma", "Foo(address from to)", []string{`"to"`}},
		{"trailing comma", "Foo(uint a,)", []string{"expected a type", `")"`}},
		{"trailing junk", "Foo(uint a) bar", []string{`"bar"`, "after the argument list"}},
		{"data location", "Foo(string memory s)", []string{`"memory"`, "data location"}},
		{"indexed twice", "Foo(uint indexed indexed a)", []string{"repeated indexed"}},
		{"indexed in tuple", "Foo((uint indexed a) t)", []string{"cannot be indexed"}},
		{"empty tuple", "Foo(() t)", []string{"empty tuple"}},
		{"tuple keyword without parens", "Foo(tuple t)", []string{`after "tuple"`}},
		{"array size zero", "Foo(uint[0] a)", []string{`array size "0"`}},
		{"array size not a number", "Foo(uint[N] a)", []string{"array size", `"N"`}},
		{"array size hex", "Foo(uint[0x2] a)", []string{`array size "0x2"`}},
		{"unclosed bracket", "Foo(uint[2 a)", []string{`expected "]"`}},
		{"huge array", "Foo(uint256[131072][131072] x)", []string{`"x"`, "more than a log can hold"}},
		{"huge arguments", "Foo(uint256[131072] x, uint256 y)", []string{"more than a log can hold"}},
		{"too deep", "Foo(uint" + strings.Repeat("[]", MaxTypeDepth+1) + " x)", []string{"nests deeper"}},
		{"too deep tuples", "Foo(" + strings.Repeat("(", MaxTypeDepth+1) + "uint a" + strings.Repeat(") a", MaxTypeDepth+1) + ")", []string{"nests deeper"}},
		{"tuple component invalid for go-ethereum", "Foo((uint $a) t)", []string{`"t"`, `component name "$a" is not supported`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseSignature(tt.sig)
			if err == nil {
				t.Fatalf("ParseSignature(%q) = %v, want an error", tt.sig, ev)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestFromABI(t *testing.T) {
	const erc20 = `[
	  {"type":"function","name":"transfer","inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],"outputs":[{"type":"bool"}],"stateMutability":"nonpayable"},
	  {"type":"function","name":"weird","inputs":[{"name":"x","type":"fixed128x18"}],"outputs":[]},
	  {"type":"event","name":"Transfer","anonymous":false,"inputs":[{"indexed":true,"name":"from","type":"address"},{"indexed":true,"name":"to","type":"address"},{"indexed":false,"name":"value","type":"uint256"}]},
	  {"type":"event","name":"Transfer","anonymous":false,"inputs":[{"indexed":true,"name":"from","type":"address"},{"indexed":true,"name":"to","type":"address"},{"indexed":false,"name":"value","type":"uint256"},{"indexed":false,"name":"data","type":"bytes"}]},
	  {"type":"event","name":"Approval","anonymous":false,"inputs":[{"indexed":true,"name":"owner","type":"address","internalType":"address"},{"indexed":true,"name":"spender","type":"address"},{"indexed":false,"name":"","type":"uint256"}]},
	  {"type":"event","name":"Filled","anonymous":false,"inputs":[{"indexed":false,"name":"order","type":"tuple","internalType":"struct Exchange.Order","components":[{"name":"maker","type":"address"},{"name":"amounts","type":"uint256[]"}]},{"indexed":false,"name":"legs","type":"tuple[2]","components":[{"name":"token","type":"address","internalType":"contract IERC20"},{"name":"side","type":"uint8","internalType":"enum Side"}]}]},
	  {"type":"event","name":"Broken","inputs":[{"name":"x","type":"fixed128x18"}]},
	  {"type":"event","name":"Anon","anonymous":true,"inputs":[{"indexed":true,"name":"a","type":"address"},{"indexed":true,"name":"b","type":"address"},{"indexed":true,"name":"c","type":"address"},{"indexed":true,"name":"d","type":"address"}]}
	]`
	artifact := `{"contractName":"Token","abi":` + erc20 + `,"bytecode":"0x"}`

	ok := []struct {
		name, doc, pick, sig string
		anonymous            bool
		args                 []wantArg
	}{
		{name: "by name", doc: erc20, pick: "Approval", sig: "Approval(address,address,uint256)",
			args: []wantArg{{"owner", "address", true}, {"spender", "address", true}, {"arg2", "uint256", false}}},
		{name: "overloaded by canonical signature", doc: erc20, pick: "Transfer(address,address,uint256)", sig: "Transfer(address,address,uint256)",
			args: []wantArg{{"from", "address", true}, {"to", "address", true}, {"value", "uint256", false}}},
		{name: "overloaded by declaration", doc: erc20, pick: "Transfer(address indexed from, address indexed to, uint value, bytes data)", sig: "Transfer(address,address,uint256,bytes)",
			args: []wantArg{{"from", "address", true}, {"to", "address", true}, {"value", "uint256", false}, {"data", "bytes", false}}},
		{name: "tuples", doc: erc20, pick: "Filled", sig: "Filled((address,uint256[]),(address,uint8)[2])",
			args: []wantArg{{"order", "(address,uint256[])", false}, {"legs", "(address,uint8)[2]", false}}},
		{name: "anonymous", doc: erc20, pick: "Anon", sig: "Anon(address,address,address,address)", anonymous: true,
			args: []wantArg{{"a", "address", true}, {"b", "address", true}, {"c", "address", true}, {"d", "address", true}}},
		{name: "artifact object", doc: artifact, pick: " Approval ", sig: "Approval(address,address,uint256)",
			args: []wantArg{{"owner", "address", true}, {"spender", "address", true}, {"arg2", "uint256", false}}},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := FromABI([]byte(tt.doc), tt.pick)
			if err != nil {
				t.Fatalf("FromABI(%q): %v", tt.pick, err)
			}
			if ev.Sig != tt.sig || ev.ID != crypto.Keccak256Hash([]byte(tt.sig)) || ev.Anonymous != tt.anonymous {
				t.Errorf("got %s %s anonymous=%v, want %s anonymous=%v", ev.Sig, ev.ID.Hex(), ev.Anonymous, tt.sig, tt.anonymous)
			}
			if len(ev.Inputs) != len(tt.args) {
				t.Fatalf("%d inputs, want %d", len(ev.Inputs), len(tt.args))
			}
			for i, w := range tt.args {
				in := ev.Inputs[i]
				if in.Name != w.name || in.Type.String() != w.typ || in.Indexed != w.indexed {
					t.Errorf("input %d = {%q %s indexed=%v}, want {%q %s indexed=%v}", i, in.Name, in.Type.String(), in.Indexed, w.name, w.typ, w.indexed)
				}
			}
		})
	}

	bad := []struct {
		name, doc, pick string
		want            []string
	}{
		{"ambiguous name", erc20, "Transfer", []string{`"Transfer" is ambiguous`, "Transfer(address,address,uint256)", "Transfer(address,address,uint256,bytes)"}},
		{"unknown name", erc20, "Swap", []string{`"Swap" is not in the ABI`, "Approval(address,address,uint256)", "Filled((address,uint256[]),(address,uint8)[2])", "Broken(?)"}},
		{"unknown signature", erc20, "Transfer(address,uint256)", []string{`"Transfer(address,uint256)"`, "not in the ABI", "Transfer(address,address,uint256,bytes)"}},
		{"bad signature", erc20, "Transfer(address,uint7)", []string{`unknown type "uint7"`}},
		{"unsupported type in the chosen event", erc20, "Broken", []string{`"Broken"`, `"fixed128x18"`}},
		{"empty name", erc20, " ", []string{"no event name"}},
		{"not JSON", "{nope", "Transfer", []string{"ABI JSON"}},
		{"empty document", "  ", "Transfer", []string{"ABI JSON is empty"}},
		{"object without abi", `{"bytecode":"0x"}`, "Transfer", []string{`without an "abi" field`}},
		{"not an array", `"x"`, "Transfer", []string{"want an array"}},
		{"no events", `[{"type":"function","name":"f","inputs":[]}]`, "Transfer", []string{"the ABI has no events"}},
		{"event inputs not an array", `[{"type":"event","name":"E","inputs":{}}]`, "E", []string{`ABI JSON event "E"`}},
		{"tuple without components", `[{"type":"event","name":"E","inputs":[{"name":"t","type":"tuple"}]}]`, "E", []string{`tuple type "tuple" has no components`}},
		{"components on a non-tuple", `[{"type":"event","name":"E","inputs":[{"name":"t","type":"uint256","components":[{"name":"a","type":"bool"}]}]}]`, "E", []string{"not a tuple"}},
		{"bad array suffix", `[{"type":"event","name":"E","inputs":[{"name":"t","type":"uint256[x]"}]}]`, "E", []string{`"uint256[x]"`}},
		{"junk after type", `[{"type":"event","name":"E","inputs":[{"name":"t","type":"uint256 x"}]}]`, "E", []string{`"uint256 x"`, `unexpected "x"`}},
		{"tuple component without name", `[{"type":"event","name":"E","inputs":[{"name":"t","type":"tuple","components":[{"name":"","type":"bool"}]}]}]`, "E", []string{"component 0 has no name"}},
		{"too many indexed", `[{"type":"event","name":"E","inputs":[{"name":"a","type":"bool","indexed":true},{"name":"b","type":"bool","indexed":true},{"name":"c","type":"bool","indexed":true},{"name":"d","type":"bool","indexed":true}]}]`, "E", []string{"4 indexed arguments"}},
		{"duplicate names", `[{"type":"event","name":"E","inputs":[{"name":"a","type":"bool"},{"name":"a","type":"uint8"}]}]`, "E", []string{`duplicate argument name "a"`}},
		{"huge array", `[{"type":"event","name":"E","inputs":[{"name":"a","type":"uint256[100000][100000][100000]"}]}]`, "E", []string{"more than a log can hold"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := FromABI([]byte(tt.doc), tt.pick)
			if err == nil {
				t.Fatalf("FromABI(%q) = %v, want an error", tt.pick, ev)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestFromABIMatchesGoEthereum checks FromABI builds the same event as
// go-ethereum's own ABI parser.
func TestFromABIMatchesGoEthereum(t *testing.T) {
	const doc = `[{"type":"event","name":"Filled","anonymous":false,"inputs":[{"indexed":true,"name":"maker","type":"address"},{"indexed":false,"name":"order","type":"tuple","internalType":"struct Exchange.Order","components":[{"name":"maker","type":"address"},{"name":"amounts","type":"uint256[]"}]},{"indexed":false,"name":"","type":"int24[3]"}]}]`
	ours, err := FromABI([]byte(doc), "Filled")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := abi.JSON(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	theirs := parsed.Events["Filled"]
	if ours.Sig != theirs.Sig || ours.ID != theirs.ID || ours.String() != theirs.String() {
		t.Errorf("FromABI = %s %s, go-ethereum %s %s", ours.Sig, ours, theirs.Sig, theirs)
	}
}
