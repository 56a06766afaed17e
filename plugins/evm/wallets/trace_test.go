package wallets_test

import (
	"math/big"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/chaintest"
	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/internal/telemetry"
)

// TestBlockTrace checks that one block's handling is one trace: the
// plugin's block span, the RPC calls it made, and each event's
// source.receive → publish.
func TestBlockTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	env := chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true}, Extra: feedsYAML,
		Telemetry: telemetry.Options{SpanExporter: exp}})
	accts := env.Dev.Accounts()
	w := env.Subscribe(t, "wallet:"+accts[1].Address.Hex())
	tx := env.Transfer(t, accts[1], accts[2].Address, big.NewInt(1e15))
	env.Mine(t, tx)
	waitEvent(t, w, "the transfer", func(e feeds.WalletEvent) bool { return e.TxHash == tx.Hash().Hex() })

	deadline := time.Now().Add(10 * time.Second)
	for {
		spans := exp.GetSpans().Snapshots()
		byID := map[string]sdktrace.ReadOnlySpan{}
		for _, s := range spans {
			byID[s.SpanContext().SpanID().String()] = s
		}
		parentName := func(s sdktrace.ReadOnlySpan) string {
			if p, ok := byID[s.Parent().SpanID().String()]; ok {
				return p.Name()
			}
			return ""
		}
		found := map[string]bool{}
		for _, s := range spans {
			switch {
			case s.Name() == "jsonrpc/eth_getTransactionReceipt" || s.Name() == "jsonrpc/batch" || s.Name() == "jsonrpc/eth_getLogs":
				if parentName(s) == "evm.wallets.block" {
					found["rpc"] = true
				}
			case s.Name() == "source.receive" && parentName(s) == "evm.wallets.block":
				found["receive"] = true
			case s.Name() == "publish" && parentName(s) == "source.receive":
				found["publish"] = true
			}
		}
		if found["rpc"] && found["receive"] && found["publish"] {
			return
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range spans {
				names = append(names, s.Name()+"<"+parentName(s))
			}
			t.Fatalf("trace incomplete (%v); spans: %v", found, names)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
