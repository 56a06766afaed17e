package daemon

import (
	"strings"
	"testing"

	"github.com/feedd/feedd/internal/config"
)

func TestChainChannelNames(t *testing.T) {
	c := &Config{Chains: []config.Raw{{"name": "devnet", "type": "evm"}, {"name": "sol", "type": "solana"}}}
	byName := map[string]func(string) (string, error){}
	for _, n := range namespaces(c) {
		byName[n.Name] = n.Canon
	}
	const (
		evmHash   = "0xAB00000000000000000000000000000000000000000000000000000000000001"
		signature = "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW"
		solAddr   = "2zPurrd7GLzGyQanTsJmyzc1KUP1XC4PYrS9WdTwkCRP"
	)
	tests := []struct {
		ns, rest, want, err string
	}{
		{"tx", "devnet:" + evmHash, "devnet:" + strings.ToLower(evmHash), ""},
		{"tx", "sol:" + signature, "sol:" + signature, ""},
		{"tx", "devnet:" + signature, "", "Solana signature, but chain \"devnet\" is of type evm"},
		{"tx", "sol:" + evmHash, "", "EVM transaction hash, but chain \"sol\" is a Solana chain"},
		{"tx", "sol:" + signature[:40], "", "base58 of 64 bytes"},
		{"tx", "nope:" + signature, "", "unknown chain \"nope\""},
		{"wallet", solAddr, solAddr, ""},
		{"wallet", "2zPurrd7GLzGyQanTsJmyzc1KUP1XC4PYrS9WdTwk0RP", "", "not base58"}, // '0' is not base58
		{"wallet", solAddr[:30], "", "a Solana address has 32"},
		{"blocks", "sol", "sol", ""},
	}
	for _, tt := range tests {
		got, err := byName[tt.ns](tt.rest)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("%s:%s = %q, %v; want %q", tt.ns, tt.rest, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s:%s: error %v, want one containing %q", tt.ns, tt.rest, err, tt.err)
		}
	}
}
