package feeds

import (
	"strings"
	"testing"
)

func TestParseSymbol(t *testing.T) {
	for _, tc := range []struct {
		in          string
		base, quote string
		err         string
	}{
		{"ETH-USD", "ETH", "USD", ""},
		{"1INCH-USDT", "1INCH", "USDT", ""},
		{"eth-usd", "", "", `symbol "eth-usd": want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD`},
		{"ETHUSD", "", "", `symbol "ETHUSD": want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD`},
		{"ETH-", "", "", `symbol "ETH-": want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD`},
		{"ETH-USD-X", "", "", `symbol "ETH-USD-X": want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD`},
		{"ETH/USD", "", "", `symbol "ETH/USD": want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD`},
		{strings.Repeat("A", 17) + "-USD", "", "", `symbol "AAAAAAAAAAAAAAAAA-USD": want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD`},
	} {
		base, quote, err := ParseSymbol(tc.in)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if base != tc.base || quote != tc.quote || got != tc.err {
			t.Errorf("ParseSymbol(%q) = %q, %q, %q; want %q, %q, %q", tc.in, base, quote, got, tc.base, tc.quote, tc.err)
		}
	}
}

func FuzzParseSymbol(f *testing.F) {
	for _, s := range []string{"ETH-USD", "", "-", "A-B-C", "é-USD"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		base, quote, err := ParseSymbol(s)
		if err != nil {
			return
		}
		if base+"-"+quote != s || base == "" || quote == "" {
			t.Fatalf("ParseSymbol(%q) accepted as %q, %q", s, base, quote)
		}
	})
}
