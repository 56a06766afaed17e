package events

import (
	"bytes"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// revertData packs a call to Error(string) or Panic(uint256) as Solidity
// does for a revert.
func revertData(t testing.TB, sig string, v any) []byte {
	t.Helper()
	typ := "string"
	if strings.HasPrefix(sig, "Panic") {
		typ = "uint256"
	}
	ty, err := abi.NewType(typ, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := abi.Arguments{{Type: ty}}.Pack(v)
	if err != nil {
		t.Fatal(err)
	}
	return append(crypto.Keccak256([]byte(sig))[:4], body...)
}

func TestDecodeRevertSelectors(t *testing.T) {
	if !bytes.Equal(errorSelector, crypto.Keccak256([]byte("Error(string)"))[:4]) {
		t.Errorf("errorSelector %x is wrong", errorSelector)
	}
	if !bytes.Equal(panicSelector, crypto.Keccak256([]byte("Panic(uint256)"))[:4]) {
		t.Errorf("panicSelector %x is wrong", panicSelector)
	}
}

func TestDecodeRevert(t *testing.T) {
	long := strings.Repeat("long reason ", 20)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"Error", revertData(t, "Error(string)", "ERC20: transfer amount exceeds balance"), "ERC20: transfer amount exceeds balance"},
		{"Error, empty", revertData(t, "Error(string)", ""), ""},
		{"Error, long", revertData(t, "Error(string)", long), long},
		{"Error, invalid UTF-8", revertData(t, "Error(string)", "bad \xff byte"), "bad \uFFFD byte"},
		{"Panic generic", revertData(t, "Panic(uint256)", big.NewInt(0x00)), "panic 0x00 (generic panic)"},
		{"Panic assert", revertData(t, "Panic(uint256)", big.NewInt(0x01)), "panic 0x01 (assertion failed)"},
		{"Panic overflow", revertData(t, "Panic(uint256)", big.NewInt(0x11)), "panic 0x11 (arithmetic overflow)"},
		{"Panic division", revertData(t, "Panic(uint256)", big.NewInt(0x12)), "panic 0x12 (division or modulo by zero)"},
		{"Panic enum", revertData(t, "Panic(uint256)", big.NewInt(0x21)), "panic 0x21 (invalid enum value)"},
		{"Panic storage", revertData(t, "Panic(uint256)", big.NewInt(0x22)), "panic 0x22 (invalid storage byte array encoding)"},
		{"Panic pop", revertData(t, "Panic(uint256)", big.NewInt(0x31)), "panic 0x31 (pop on empty array)"},
		{"Panic index", revertData(t, "Panic(uint256)", big.NewInt(0x32)), "panic 0x32 (array index out of bounds)"},
		{"Panic memory", revertData(t, "Panic(uint256)", big.NewInt(0x41)), "panic 0x41 (out of memory)"},
		{"Panic function", revertData(t, "Panic(uint256)", big.NewInt(0x51)), "panic 0x51 (call to an uninitialized function)"},
		{"Panic unknown", revertData(t, "Panic(uint256)", big.NewInt(0x99)), "panic 0x99 (unknown code)"},
		{"Panic unknown large", revertData(t, "Panic(uint256)", big.NewInt(0x1234)), "panic 0x1234 (unknown code)"},
		{"Panic huge", revertData(t, "Panic(uint256)", new(big.Int).Lsh(big.NewInt(1), 200)), "panic 0x1" + strings.Repeat("0", 50) + " (unknown code)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := DecodeRevert(tt.data)
			if !ok || got != tt.want {
				t.Errorf("DecodeRevert = %q, %v; want %q, true", got, ok, tt.want)
			}
		})
	}
}

func TestDecodeRevertGarbage(t *testing.T) {
	errSel := append([]byte(nil), errorSelector...)
	panSel := append([]byte(nil), panicSelector...)
	custom := crypto.Keccak256([]byte("InsufficientBalance(uint256,uint256)"))[:4]
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"short selector", errSel[:3]},
		{"Error selector only", errSel},
		{"Error, offset past the end", append(errSel, words(word("64"), word("1"))...)},
		{"Error, length past the end", append(errSel, words(word("32"), word("33"), word("0"))...)},
		{"Error, huge length", append(errSel, words(word("32"), word("0xffffffffffffffffffffffff"))...)},
		{"Panic selector only", panSel},
		{"Panic, short code", append(panSel, make([]byte, 31)...)},
		{"custom error", append(custom, words(word("1"), word("2"))...)},
		{"plain bytes", []byte("execution reverted")},
		{"selector-like prefix", append([]byte{0x08, 0xc3, 0x79, 0xa1}, revertData(t, "Error(string)", "x")[4:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := DecodeRevert(tt.data); ok || got != "" {
				t.Errorf("DecodeRevert = %q, %v; want \"\", false", got, ok)
			}
		})
	}
	// Trailing bytes after a well-formed reason are ignored.
	data := append(revertData(t, "Error(string)", "ok"), common.Hash{1}.Bytes()...)
	if got, ok := DecodeRevert(data); !ok || got != "ok" {
		t.Errorf("DecodeRevert with trailing bytes = %q, %v", got, ok)
	}
}
