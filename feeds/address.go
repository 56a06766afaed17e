package feeds

import (
	"errors"
	"fmt"
	"strings"
)

// AddressKind is the family of an account address.
type AddressKind string

// The address families.
const (
	AddressEVM    AddressKind = "evm"
	AddressSolana AddressKind = "solana"
)

// CanonAddress checks an account address and returns its canonical form and
// family: an EVM address (0x and 40 hex digits, any letter case) in lower
// case, or a Solana address (base58 of 32 bytes) as it is.
func CanonAddress(s string) (string, AddressKind, error) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		if len(s) != 42 || !isHex(s[2:]) {
			return "", "", fmt.Errorf("address %q: want 0x and 40 hex digits", s)
		}
		return "0x" + strings.ToLower(s[2:]), AddressEVM, nil
	}
	n, err := base58Len(s)
	if err != nil {
		return "", "", fmt.Errorf("address %q: not an EVM (0x…) or Solana (base58) address: %v", s, err)
	}
	if n != 32 {
		return "", "", fmt.Errorf("address %q: base58 of %d bytes, a Solana address has 32", s, n)
	}
	return s, AddressSolana, nil
}

// CanonTxHash checks a transaction id: an EVM hash (0x and 64 hex digits, any
// case, returned in lower case) or a Solana signature (base58 of 64 bytes).
func CanonTxHash(s string) (string, AddressKind, error) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		if len(s) != 66 || !isHex(s[2:]) {
			return "", "", fmt.Errorf("transaction hash %q: want 0x and 64 hex digits", s)
		}
		return "0x" + strings.ToLower(s[2:]), AddressEVM, nil
	}
	n, err := base58Len(s)
	if err != nil || n != 64 {
		return "", "", fmt.Errorf("transaction id %q: want an EVM hash (0x and 64 hex digits) or a Solana signature (base58 of 64 bytes)", s)
	}
	return s, AddressSolana, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// base58Len decodes s as Bitcoin-alphabet base58 and returns the byte length.
func base58Len(s string) (int, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	if len(s) > 128 {
		return 0, errors.New("too long")
	}
	var out []byte // big-endian bytes of the number
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(base58Alphabet, s[i])
		if d < 0 {
			return 0, fmt.Errorf("character %q is not base58", s[i])
		}
		carry := d
		for j := len(out) - 1; j >= 0; j-- {
			carry += int(out[j]) * 58
			out[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			out = append([]byte{byte(carry)}, out...)
			carry >>= 8
		}
	}
	return zeros + len(out), nil
}
