package wallets_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/chaintest"
	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/internal/devchain/contracts"
)

// BenchmarkBlocks10kWatched measures how many blocks per second evm.wallets
// gets through while watching 10,000 addresses: the node's WebSocket is cut
// while blocks of traffic are sealed, then restored, and the time from the
// restore until the last block's activity reaches a subscribed client is
// taken. Each block holds native transfers and ERC-20 transfers between
// watched accounts, so every block costs a bloom check over 10,000
// addresses, receipts, a log query and balance reads.
func BenchmarkBlocks10kWatched(b *testing.B) {
	const blocks, perBlock, watched = 100, 10, 10_000 // 100: within the 128 recent states the node keeps
	var proxy *devchain.Proxy
	var addrs []string
	for i := 0; i < watched-devchain.DefaultAccounts-1; i++ {
		var a common.Address
		rand.Read(a[:])
		addrs = append(addrs, strings.ToLower(a.Hex()))
	}
	var sb strings.Builder
	sb.WriteString("feeds:\n  - id: wallets\n    type: evm.wallets\n    chain: devnet\n    max_watched: 20000\n    addresses:\n")
	for _, a := range addrs {
		fmt.Fprintf(&sb, "      - %q\n", a)
	}
	env := chaintest.Start(b, chaintest.Options{Dev: devchain.Options{Manual: true}, Extra: sb.String(), MaxBackfill: blocks + 10,
		Endpoint: func(d *devchain.Chain) string {
			var err error
			if proxy, err = devchain.NewProxy(d.Addr()); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { proxy.Close() })
			return proxy.WSURL()
		}})
	accts := env.Dev.Accounts()
	token := env.Deploy(b, accts[0], contracts.Token, "Test USD", "TUSD", uint8(6))
	for _, a := range accts {
		env.Send(b, accts[0], token, contracts.Token, "mint", a.Address, big.NewInt(1e15))
	}
	env.Commit(b)
	// The funded accounts are watched through subscriptions, as a
	// dashboard's would be: 10,000 watched in all.
	var w *chaintest.Watch
	for _, a := range accts {
		w = env.Subscribe(b, "wallet:"+a.Address.Hex())
	}

	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		proxy.Cut()
		var lastHash common.Hash
		for i := 0; i < blocks; i++ {
			for j := 0; j < perBlock; j++ {
				from, to := accts[1+(i+j)%(len(accts)-1)], accts[1+(i+j+1)%(len(accts)-1)]
				if j%2 == 0 {
					env.Transfer(b, from, to.Address, big.NewInt(1e12))
				} else {
					env.Send(b, from, token, contracts.Token, "transfer", to.Address, big.NewInt(1000))
				}
			}
			lastHash = env.Commit(b)
		}
		checked := len(w.Updates())
		b.StartTimer()
		start := time.Now()
		proxy.Restore()
		w.WaitFor(b, "the last block's activity", func(ups []json.RawMessage) bool {
			from := checked
			checked = len(ups)
			for _, u := range ups[from:] {
				var ev feeds.WalletEvent
				if json.Unmarshal(u, &ev) == nil && ev.BlockHash == lastHash.Hex() && ev.Status == feeds.StatusIncluded {
					return true
				}
			}
			return false
		})
		el := time.Since(start)
		b.ReportMetric(float64(blocks)/el.Seconds(), "blocks/s")
		b.ReportMetric(float64(blocks*perBlock)/el.Seconds(), "txs/s")
	}
}
