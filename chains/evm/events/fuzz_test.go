package events

import (
	"bytes"
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

func FuzzParseSignature(f *testing.F) {
	for _, s := range []string{
		sigTransfer, sigApproval, sigTransfer721, sigTransferSingle, sigTransferBatch, sigAnswerUpdated,
		sigSwapV2, sigSync, sigSwapV3, sigTypes, sigTuples, sigHashed, sigAnon,
		"Transfer(address,address,uint256)", "Paused()", "E((uint256, address who)[] xs)",
		"E(uint256[2][] a, string[][3] b) anonymous;", "E(tuple(uint a, (bool b)[] c)[2] t)",
		"Foo(uint7 a)", "Foo(uint a", "(uint a)", "Foo(uint a, uint a)", "Foo(uint[0] a)",
		"Foo(uint256[131072][131072] x)", "Foo(((((uint a) a) a) a) a)", "event", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sig string) {
		ev, err := ParseSignature(sig)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if ev.ID != crypto.Keccak256Hash([]byte(ev.Sig)) {
			t.Fatalf("ID %s is not keccak256(%q)", ev.ID.Hex(), ev.Sig)
		}
		// The canonical signature parses to the same event.
		again, err := ParseSignature(ev.Sig)
		if err != nil {
			t.Fatalf("ParseSignature(%q) of the canonical signature of %q: %v", ev.Sig, sig, err)
		}
		if again.Sig != ev.Sig || again.ID != ev.ID {
			t.Fatalf("canonical %q parses to %q", ev.Sig, again.Sig)
		}
		// So does the declaration go-ethereum writes, with names and
		// indexed flags.
		decl := ev.String()
		if ev.Anonymous {
			decl += " anonymous"
		}
		again, err = ParseSignature(decl)
		if err != nil {
			t.Fatalf("ParseSignature(%q) of the declaration of %q: %v", decl, sig, err)
		}
		if again.Sig != ev.Sig || again.Anonymous != ev.Anonymous || len(again.Inputs) != len(ev.Inputs) {
			t.Fatalf("declaration %q parses to %v", decl, again)
		}
		for i := range ev.Inputs {
			if again.Inputs[i].Name != ev.Inputs[i].Name || again.Inputs[i].Indexed != ev.Inputs[i].Indexed {
				t.Fatalf("declaration %q: argument %d differs", decl, i)
			}
		}
		// Decoding anything with it does not panic.
		topics := make([]common.Hash, 0, 5)
		if !ev.Anonymous {
			topics = append(topics, ev.ID)
		}
		for _, in := range ev.Inputs {
			if in.Indexed {
				topics = append(topics, common.Hash{})
			}
		}
		_, _ = Decode(ev, topics, make([]byte, 256))
	})
}

// fuzzEvents are the events FuzzDecode decodes with.
var fuzzEvents = sync.OnceValue(func() []abi.Event {
	var evs []abi.Event
	for _, s := range []string{
		sigTransfer, sigTransferBatch, sigSwapV3, sigTypes, sigTuples, sigHashed, sigAnon,
		"E(uint256[][] x, bytes[] b)",
		"E((uint256[] a, string s)[2][] x)",
		"E(string[][2] x, (bytes b, (uint8 c, string[] d)[] e) y, int40 z)",
		"E(bool[3][2] a, (address p, bytes3 q)[2] b, int8[] c)",
	} {
		ev, err := ParseSignature(s)
		if err != nil {
			panic(err)
		}
		evs = append(evs, ev)
	}
	return evs
})

func FuzzDecode(f *testing.F) {
	evs := fuzzEvents()
	maxU256 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	seeds := map[int][]any{
		0: {alice, bob, big.NewInt(1)},
		1: {carol, alice, bob, []*big.Int{big.NewInt(1), big.NewInt(2)}, []*big.Int{maxU256}},
		2: {alice, bob, big.NewInt(-5), big.NewInt(5), big.NewInt(1), big.NewInt(2), big.NewInt(-887272)},
		3: {true, [4]byte{0xde, 0xad, 0xbe, 0xef}, []byte("bytes"), "héllo", int8(-128), uint8(255), common.Hash{2},
			[2]common.Address{alice, bob}, [2]string{"x", ""}, [][2]*big.Int{{big.NewInt(1), big.NewInt(2)}},
			[][]string{{"a", "bc"}, {}}, big.NewInt(-1), maxU256, [24]byte{1}, int16(-300), uint64(1 << 63)},
		4: {common.Hash{3}, orderT{Maker: alice, Amount: big.NewInt(100)}, []fillT{{Token: bob, Amount: big.NewInt(1)}},
			nestedT{Inner: innerT{X: 7, Arg1: true}, S: "nested"},
			[2]dynT{{Name: "first", Ids: []*big.Int{big.NewInt(9)}, Owner: alice}, {Name: "", Ids: nil, Owner: bob}}},
		5: {"alice", []byte{1}, common.Hash{4}, common.Hash{5}, [2]*big.Int{big.NewInt(1), big.NewInt(2)}},
		6: {alice, big.NewInt(3), common.Hash{1}, true},
	}
	for i, ev := range evs {
		vals, ok := seeds[i]
		if !ok {
			continue
		}
		topics, data := packLog(f, ev, vals...)
		var raw []byte
		for _, h := range topics {
			raw = append(raw, h[:]...)
		}
		f.Add(uint8(i), raw, data)
	}
	// Hand-made encodings for the nested events.
	f.Add(uint8(7), make([]byte, 32), words(word("64"), word("192"), word("2"), word("64"), word("96"), word("0"), word("1"), word("7"), word("0")))
	f.Add(uint8(8), make([]byte, 32), words(word("32"), word("1"), word("32"), word("64"), word("160"), word("32"), word("1"), word("5"), word("0")))
	f.Add(uint8(9), make([]byte, 32), words(word("96"), word("160"), word("0xffffffffff"), word("64"), word("96"), word("0"), word("0")))
	f.Add(uint8(10), make([]byte, 32), make([]byte, 11*32))
	f.Add(uint8(0x80), []byte{1, 2, 3}, []byte{4, 5})

	f.Fuzz(func(t *testing.T, which uint8, rawTopics, data []byte) {
		ev := evs[int(which&0x7f)%len(evs)]
		var topics []common.Hash
		for len(rawTopics) >= 32 && len(topics) < 5 {
			topics = append(topics, common.BytesToHash(rawTopics[:32]))
			rawTopics = rawTopics[32:]
		}
		if which&0x80 == 0 {
			// Mostly explore the data: the right number of topics, with
			// the event's ID first.
			want := 0
			if !ev.Anonymous {
				want++
			}
			for _, in := range ev.Inputs {
				if in.Indexed {
					want++
				}
			}
			for len(topics) < want {
				topics = append(topics, common.Hash{})
			}
			topics = topics[:want]
			if !ev.Anonymous {
				topics[0] = ev.ID
			}
		}
		got, err := Decode(ev, topics, data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if _, err := json.Marshal(got); err != nil {
			t.Fatalf("json.Marshal(%v): %v", got, err)
		}
		// Where go-ethereum's decoder also reads the data, it reads the same.
		theirs, err := gethDecode(ev, data)
		if err != nil {
			return
		}
		for name, v := range theirs {
			if !reflect.DeepEqual(got[name], v) {
				t.Fatalf("%s: we decode %#v, go-ethereum %#v", name, got[name], v)
			}
		}
	})
}

func FuzzDecodeRevert(f *testing.F) {
	f.Add(revertData(f, "Error(string)", "ERC20: transfer amount exceeds balance"))
	f.Add(revertData(f, "Error(string)", ""))
	f.Add(revertData(f, "Panic(uint256)", big.NewInt(0x11)))
	f.Add(revertData(f, "Panic(uint256)", new(big.Int).Lsh(big.NewInt(1), 255)))
	f.Add(append([]byte(nil), errorSelector...))
	f.Add([]byte("execution reverted"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := DecodeRevert(data)
		if !ok && got != "" {
			t.Fatalf("DecodeRevert = %q, false", got)
		}
		if len(data) < 4 {
			if ok {
				t.Fatal("ok without a selector")
			}
			return
		}
		switch {
		case bytes.Equal(data[:4], errorSelector):
			if ok && !utf8.ValidString(got) {
				t.Fatalf("invalid UTF-8 %q", got)
			}
			// go-ethereum reads the same message from the same data.
			theirs, err := abi.UnpackRevert(data)
			if ok != (err == nil) {
				t.Fatalf("DecodeRevert ok=%v, go-ethereum %v", ok, err)
			}
			if ok && got != strings.ToValidUTF8(theirs, "\uFFFD") {
				t.Fatalf("DecodeRevert = %q, go-ethereum %q", got, theirs)
			}
		case bytes.Equal(data[:4], panicSelector):
			if ok != (len(data) >= 36) || ok && !strings.HasPrefix(got, "panic 0x") {
				t.Fatalf("DecodeRevert(%x) = %q, %v", data, got, ok)
			}
		default:
			if ok {
				t.Fatalf("DecodeRevert(%x) = %q, true for an unknown selector", data, got)
			}
		}
	})
}
