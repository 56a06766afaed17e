package solanatest

import (
	"encoding/json"
	"testing"
)

// FuzzRequest feeds arbitrary bytes to the JSON-RPC handler: it must never
// panic and must always answer valid JSON.
func FuzzRequest(f *testing.F) {
	seeds := []string{
		`{"jsonrpc":"2.0","id":1,"method":"getSlot"}`,
		`{"jsonrpc":"2.0","id":18446744073709551615,"method":"getBalance","params":["11111111111111111111111111111111",{"commitment":"confirmed"}]}`,
		`[{"jsonrpc":"2.0","id":1,"method":"getBlock","params":[0,{"encoding":"jsonParsed","transactionDetails":"full"}]}]`,
		`{"jsonrpc":"2.0","id":"x","method":"getTokenAccountsByOwner","params":["11111111111111111111111111111111",{"mint":"So11111111111111111111111111111111111111112"}]}`,
		`{"jsonrpc":"2.0","id":1,"method":"getSignaturesForAddress","params":["11111111111111111111111111111111",{"limit":0}]}`,
		`{"jsonrpc":"2.0","id":1,"method":"getBlocks","params":[0,{"commitment":"confirmed"}]}`,
		`{"jsonrpc":"2.0","id":1,"method":"getAccountInfo","params":["11111111111111111111111111111111",{"dataSlice":{"offset":99,"length":5}}]}`,
		`{"jsonrpc":"2.0","id":1,"method":"requestAirdrop","params":["11111111111111111111111111111111",1]}`,
		`{"id":{},"method":1}`, `[]`, `[1]`, `null`, `"x"`, ``, `{`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	s, err := New(Options{})
	if err != nil {
		f.Fatalf("New: %v", err)
	}
	f.Cleanup(s.Close)
	s.Airdrop(s.l.faucet, 1)
	s.Produce(2)
	f.Fuzz(func(t *testing.T, body []byte) {
		out := s.serveBody(body)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON answer %q to %q", out, body)
		}
	})
}
