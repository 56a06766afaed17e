package devchain

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/core/types"
)

// Two seconds of traffic on a Period-mode chain: every kind is sent, every
// transaction but the replaced ones is mined (the failing ones with status
// 0), the replaced ones never are, and nothing the node refused.
func TestTraffic(t *testing.T) {
	verifyNoLeaks(t)
	ctx := testCtx(t)
	c := startChain(t, Options{Accounts: 5, Period: 250 * time.Millisecond})
	d, err := DeployAll(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		sent []SentTx
		logs bytes.Buffer
	)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	const rate = 25
	stats, err := RunTraffic(rctx, c, d, TrafficOptions{
		Rate:   rate,
		Seed:   7,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		OnSend: func(s SentTx) {
			mu.Lock()
			sent = append(sent, s)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d in %v (%.1f tx/s, asked %d), errors %d, by kind %v",
		stats.Total, stats.Elapsed.Round(time.Millisecond), stats.Rate(), rate, stats.Errors, stats.Sent)
	if stats.Errors != 0 {
		t.Errorf("%d errors:\n%s", stats.Errors, logs.String())
	}
	if stats.Rate() < rate/2 || stats.Rate() > rate*1.1 {
		t.Errorf("rate %.1f tx/s, asked %d", stats.Rate(), rate)
	}
	if stats.Total != len(sent) {
		t.Errorf("stats count %d, OnSend saw %d", stats.Total, len(sent))
	}
	for _, k := range TrafficKinds() {
		if stats.Sent[k] == 0 {
			t.Errorf("no %s transaction", k)
		}
	}
	if n := strings.Count(logs.String(), "traffic: sent"); n != len(sent) {
		t.Errorf("%d log lines for %d transactions", n, len(sent))
	}

	// Every receipt, once the last one is mined.
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	var replaced []SentTx
	mined := map[TxKind]int{}
	maxUsed := map[TxKind]uint64{}
	for _, s := range sent {
		if s.Kind == KindReplaced {
			replaced = append(replaced, s)
			continue
		}
		r, err := c.WaitReceipt(wctx, s.Hash)
		if err != nil {
			t.Fatalf("%s %s: %v", s.Kind, s.Hash, err)
		}
		wantStatus := types.ReceiptStatusSuccessful
		if s.Kind == KindFailing {
			wantStatus = types.ReceiptStatusFailed
		}
		if r.Status != wantStatus {
			t.Errorf("%s %s: status %d, gas used %d", s.Kind, s.Hash, r.Status, r.GasUsed)
		}
		mined[s.Kind]++
		// The explicit gas limits keep a margin over what is used.
		if tx, _, err := c.Client().TransactionByHash(ctx, s.Hash); err != nil {
			t.Errorf("%s %s: %v", s.Kind, s.Hash, err)
		} else if r.GasUsed > tx.Gas()*4/5 && tx.Gas() != gasTransfer {
			t.Errorf("%s %s: gas used %d of %d", s.Kind, s.Hash, r.GasUsed, tx.Gas())
		} else {
			maxUsed[s.Kind] = max(maxUsed[s.Kind], r.GasUsed)
		}
	}
	t.Logf("mined by kind: %v; most gas used by kind: %v", mined, maxUsed)
	for _, s := range replaced {
		if _, err := c.Client().TransactionReceipt(ctx, s.Hash); !errors.Is(err, ethereum.NotFound) {
			t.Errorf("replaced %s: receipt err %v, want NotFound", s.Hash, err)
		}
		if _, _, err := c.Client().TransactionByHash(ctx, s.Hash); !errors.Is(err, ethereum.NotFound) {
			t.Errorf("replaced %s still known: %v", s.Hash, err)
		}
	}
	if pending, queued := c.PoolStats(); pending != 0 || queued != 0 {
		t.Errorf("pool holds %d pending, %d queued", pending, queued)
	}
}

// The same seed sends the same sequence of kinds and senders.
func TestTrafficDeterministic(t *testing.T) {
	verifyNoLeaks(t)
	run := func() []SentTx {
		ctx := testCtx(t)
		c := startChain(t, Options{Accounts: 3})
		d, err := DeployAll(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		var sent []SentTx
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		_, err = RunTraffic(rctx, c, d, TrafficOptions{Rate: MaxTrafficRate, Seed: 42, OnSend: func(s SentTx) {
			sent = append(sent, s)
			if len(sent) == 30 {
				cancel()
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		return sent
	}
	a, b := run(), run()
	if len(a) != 30 || len(b) != 30 {
		t.Fatalf("sent %d and %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Kind != b[i].Kind || a[i].From != b[i].From || a[i].Nonce != b[i].Nonce {
			t.Fatalf("tx %d: %+v vs %+v", i, a[i], b[i])
		}
	}
}

func TestTrafficOptions(t *testing.T) {
	c := startChain(t, Options{Accounts: 1, Manual: true})
	d := PredictDeployment(c.Accounts()[0].Address, 0)
	for _, o := range []TrafficOptions{
		{Rate: -1}, {Rate: MaxTrafficRate + 1}, {FailPercent: 60, ReplacePercent: 50},
		{Accounts: c.Accounts()[:1]},
	} {
		if _, err := NewTraffic(c, d, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	tr, err := NewTraffic(c, d, TrafficOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.opts.Rate != DefaultTrafficRate || !tr.replacements {
		t.Errorf("defaults: rate %v, replacements %v", tr.opts.Rate, tr.replacements)
	}
	c0 := startChain(t, Options{Accounts: 1})
	if tr, err := NewTraffic(c0, d, TrafficOptions{}); err != nil || tr.replacements {
		t.Errorf("instant sealing: replacements %v, %v", tr != nil && tr.replacements, err)
	}
}
