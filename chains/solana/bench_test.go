package solana_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/ws"

	"github.com/feedd/feedd/chains/solana"
	"github.com/feedd/feedd/internal/solanatest"
	"github.com/feedd/feedd/plugins"
)

// heap returns the live heap after a collection.
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkSubscriptionMemory measures the client-side memory of an
// account subscription held open on a node: feedd's pubsub (a Sub in the
// chain's maps) against solana-go's ws.Client, for the same subscriptions
// on the same fake node (2000 subscriptions; 200 for solana-go, whose
// subscriptions each allocate a 200,000-deep channel).
func BenchmarkSubscriptionMemory(b *testing.B) {
	const n = 2000
	srv, err := solanatest.New(solanatest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	keys := make([]sol.PublicKey, n)
	for i := range keys {
		keys[i] = sol.NewWallet().PublicKey()
	}
	b.Run("feedd", func(b *testing.B) {
		for range b.N {
			c, err := solana.New("bench", config(srv), plugins.Env{})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { c.Run(ctx); close(done) }()
			in := solana.NewInbox(n * 2)
			before := heap()
			subs := make([]*solana.Sub, n)
			for i, k := range keys {
				subs[i] = accountSub(c, k, in)
			}
			deadline := time.Now().Add(30 * time.Second)
			for c.Subscriptions() < n+2 {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d subscriptions active", c.Subscriptions(), n)
				}
				time.Sleep(5 * time.Millisecond)
			}
			in.Take()
			after := heap()
			b.ReportMetric(float64(after-before)/n, "B/sub")
			for _, s := range subs {
				s.Close()
			}
			cancel()
			<-done
		}
	})
	b.Run("solana-go-ws", func(b *testing.B) {
		for range b.N {
			ctx := context.Background()
			before := heap()
			cl, err := ws.Connect(ctx, srv.WSURL())
			if err != nil {
				b.Fatal(err)
			}
			const m = n / 10 // each takes ~25 ms to allocate
			subs := make([]*ws.AccountSubscription, m)
			for i, k := range keys[:m] {
				if subs[i], err = cl.AccountSubscribe(k, rpc.CommitmentConfirmed); err != nil {
					b.Fatal(fmt.Errorf("subscribe %d: %w", i, err))
				}
			}
			after := heap()
			b.ReportMetric(float64(after-before)/m, "B/sub")
			cl.Close()
		}
	})
}
