package feeds

import "testing"

func TestCanonAddress(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		kind     AddressKind
		err      string
	}{
		{"0xAbCdEf0123456789abcdef0123456789ABCDEF01", "0xabcdef0123456789abcdef0123456789abcdef01", AddressEVM, ""},
		{"0Xabcdef0123456789abcdef0123456789abcdef01", "0xabcdef0123456789abcdef0123456789abcdef01", AddressEVM, ""},
		{"0xabc", "", "", `address "0xabc": want 0x and 40 hex digits`},
		{"0xZZcdef0123456789abcdef0123456789abcdef01", "", "", `address "0xZZcdef0123456789abcdef0123456789abcdef01": want 0x and 40 hex digits`},
		{"11111111111111111111111111111111", "11111111111111111111111111111111", AddressSolana, ""}, // the system program
		{"TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", AddressSolana, ""},
		{"So11111111111111111111111111111111111111112", "So11111111111111111111111111111111111111112", AddressSolana, ""},
		{"abc", "", "", `address "abc": base58 of 3 bytes, a Solana address has 32`},
		{"0OIl", "", "", `address "0OIl": not an EVM (0x…) or Solana (base58) address: character '0' is not base58`},
		{"", "", "", `address "": not an EVM (0x…) or Solana (base58) address: empty`},
	} {
		got, kind, err := CanonAddress(tc.in)
		es := ""
		if err != nil {
			es = err.Error()
		}
		if got != tc.want || kind != tc.kind || es != tc.err {
			t.Errorf("CanonAddress(%q) = %q, %q, %q; want %q, %q, %q", tc.in, got, kind, es, tc.want, tc.kind, tc.err)
		}
	}
}

func TestCanonTxHash(t *testing.T) {
	h := "0x" + "AB" + "00112233445566778899aabbccddeeff00112233445566778899aabbccddee"
	if got, kind, err := CanonTxHash(h); err != nil || kind != AddressEVM || got != "0xab00112233445566778899aabbccddeeff00112233445566778899aabbccddee" {
		t.Fatalf("CanonTxHash(%q) = %q, %q, %v", h, got, kind, err)
	}
	sig := "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW"
	if got, kind, err := CanonTxHash(sig); err != nil || kind != AddressSolana || got != sig {
		t.Fatalf("CanonTxHash(signature) = %q, %q, %v", got, kind, err)
	}
	if _, _, err := CanonTxHash("0x12"); err == nil {
		t.Fatal("short hash accepted")
	}
}

func FuzzCanonAddress(f *testing.F) {
	for _, s := range []string{"0xAbCdEf0123456789abcdef0123456789ABCDEF01", "11111111111111111111111111111111", "", "1", "zzzz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, kind, err := CanonAddress(s)
		if err != nil {
			return
		}
		again, kind2, err := CanonAddress(got)
		if err != nil || again != got || kind2 != kind {
			t.Fatalf("canonical form %q of %q does not round-trip: %q %v", got, s, again, err)
		}
	})
}
