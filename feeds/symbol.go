package feeds

import (
	"fmt"
	"strings"
)

// ParseSymbol checks that s is a pair written BASE-QUOTE in upper-case
// letters and digits (e.g. "ETH-USD", "1INCH-USDT") and returns its parts.
func ParseSymbol(s string) (base, quote string, err error) {
	base, quote, ok := strings.Cut(s, "-")
	if !ok || !assetCode(base) || !assetCode(quote) {
		return "", "", fmt.Errorf("symbol %q: want BASE-QUOTE in upper-case letters and digits, e.g. ETH-USD", s)
	}
	return base, quote, nil
}

func assetCode(s string) bool {
	if len(s) == 0 || len(s) > 16 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
