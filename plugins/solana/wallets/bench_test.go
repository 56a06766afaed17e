package wallets_test

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"

	"github.com/feedd/feedd/channels/client"
	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/chaintest"
	"github.com/feedd/feedd/internal/solanatest"
)

// BenchmarkTransferToClient measures the latency from a slot being
// confirmed on the node (Produce returns; the node then sends its
// notifications) to the wallet's balance update and its transaction
// update (getTransaction read back) arriving at a WebSocket client of the
// daemon.
func BenchmarkTransferToClient(b *testing.B) {
	srv, err := solanatest.New(solanatest.Options{ConfirmDepth: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	env := chaintest.StartSolana(b, chaintest.SolanaOptions{RPC: srv.RPCURL(), WS: srv.WSURL(), Extra: feedsYAML})
	alice, bob := sol.NewWallet().PublicKey(), sol.NewWallet().PublicKey()
	srv.Airdrop(alice, 1_000_000*sol.LAMPORTS_PER_SOL)
	srv.Produce(2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.Dial(ctx, client.Options{URL: env.URL()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	balances := map[string]time.Time{}
	txs := map[string]time.Time{}
	wake := make(chan struct{}, 1)
	_, err = c.Subscribe(ctx, "wallet:"+alice.String(), client.HandlerFuncs{Update: func(u client.Update) {
		var ev feeds.WalletEvent
		if json.Unmarshal(u.Data, &ev) != nil {
			return
		}
		mu.Lock()
		switch ev.Type {
		case feeds.WalletBalance:
			balances[ev.Balance] = time.Now()
		case feeds.WalletTransaction:
			txs[ev.TxHash] = time.Now()
		}
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	wait := func(m map[string]time.Time, key string) time.Time {
		deadline := time.After(10 * time.Second)
		for {
			mu.Lock()
			at, ok := m[key]
			mu.Unlock()
			if ok {
				return at
			}
			select {
			case <-wake:
			case <-deadline:
				b.Fatalf("%s did not reach the client", key)
			}
		}
	}
	wait(balances, "1000000000000000") // the watch is up
	var balLat, txLat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sig := srv.Transfer(alice, bob, 1000)
		srv.Produce(1) // lands
		srv.Produce(1) // confirmed: notifications go out
		confirmed := time.Now()
		want := srv.Balance(alice)
		balLat = append(balLat, wait(balances, itoa(want)).Sub(confirmed))
		txLat = append(txLat, wait(txs, sig.String()).Sub(confirmed))
	}
	b.StopTimer()
	report := func(lat []time.Duration, name string) {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
		b.ReportMetric(q(0.5), name+"-p50-ms")
		b.ReportMetric(q(0.99), name+"-p99-ms")
	}
	report(balLat, "balance")
	report(txLat, "tx")
}

func itoa(v uint64) string {
	b, _ := json.Marshal(v)
	return string(b)
}
