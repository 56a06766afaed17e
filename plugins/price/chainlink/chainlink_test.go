package chainlink_test

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/feedd/feedd/feeds"
	"github.com/feedd/feedd/internal/config"
	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/internal/devchain/contracts"
	"github.com/feedd/feedd/plugins"
	_ "github.com/feedd/feedd/plugins/price/chainlink"
)

func feedYAML(d *devchain.Deployment, heartbeat string) string {
	return fmt.Sprintf(`
- type: price.chainlink
  id: cl
  chain: devnet
  grace: 1s
  feeds:
    - address: %q
      symbol: ETH-USD
      heartbeat: %s
`, d.Aggregator.Hex(), heartbeat)
}

// update sends updateAnswer(answer) and seals it; it returns the block time.
func update(t *testing.T, dev *devchain.Chain, d *devchain.Deployment, answer *big.Int) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	data, err := contracts.Aggregator.Pack("updateAnswer", answer)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := dev.Send(ctx, dev.Accounts()[1], devchain.TxRequest{To: &d.Aggregator, Data: data, Gas: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, dev)
	rc, err := dev.WaitReceipt(ctx, tx.Hash())
	if err != nil || rc.Status != 1 {
		t.Fatalf("updateAnswer: %v %+v", err, rc)
	}
	return dev.Head().Time
}

func e8(p int64) *big.Int { return new(big.Int).Mul(big.NewInt(p), big.NewInt(100_000_000)) }

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func TestAnswersAndStaleness(t *testing.T) {
	dev, d := startDev(t)
	r := run(t, dev, d, feedYAML(d, "1m"))

	first, n := r.waitTick(t, "initial answer", 0, func(tk feeds.Tick) bool { return true })
	if first.Source != "cl" || first.Symbol != "ETH-USD" || !near(first.Price, 3000) {
		t.Fatalf("initial tick %+v, want cl ETH-USD 3000", first)
	}
	if first.VenueTime.IsZero() || first.VenueTime.After(time.Unix(int64(dev.Head().Time), 0)) || first.ReceiveTime.IsZero() {
		t.Fatalf("initial tick times %v / %v", first.VenueTime, first.ReceiveTime)
	}

	at := update(t, dev, d, big.NewInt(312345678901)) // 3123.45678901 with 8 decimals
	tk, n := r.waitTick(t, "updated answer", n, func(tk feeds.Tick) bool { return true })
	if !near(tk.Price, 3123.45678901) || !tk.VenueTime.Equal(time.Unix(int64(at), 0)) {
		t.Fatalf("tick %+v (venue %v), want 3123.45678901 at %v", tk, tk.VenueTime, time.Unix(int64(at), 0))
	}

	// The tick's source.receive span is a child of the block's span.
	var blockSpan, receive bool
	for deadline := time.Now().Add(wait); !receive && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		ended := r.spans.Ended()
		for _, sp := range ended {
			if sp.Name() != "price.chainlink.block" {
				continue
			}
			blockSpan = true
			for _, c := range ended {
				if c.Name() == "source.receive" && c.Parent().SpanID() == sp.SpanContext().SpanID() {
					receive = true
				}
			}
		}
	}
	if !blockSpan || !receive {
		t.Errorf("spans: block %v, source.receive under it %v", blockSpan, receive)
	}

	// An empty block is no new round: no tick.
	commit(t, dev)
	// Chain time moves past heartbeat + grace: the feed is reported stale,
	// without a tick that would look fresh.
	if err := dev.AdjustTime(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	r.waitLog(t, "feed is stale")
	if got := r.sink.got(); len(got) != n {
		t.Fatalf("ticks after staleness %+v, want none new", got[n:])
	}
	if c := strings.Count(r.logs.String(), "feed is stale"); c != 1 {
		t.Fatalf("stale logged %d times", c)
	}
	commit(t, dev)

	// A new round makes it fresh again.
	at = update(t, dev, d, e8(2990))
	tk, _ = r.waitTick(t, "fresh answer", n, func(tk feeds.Tick) bool { return true })
	if !near(tk.Price, 2990) || !tk.VenueTime.Equal(time.Unix(int64(at), 0)) {
		t.Fatalf("tick %+v", tk)
	}
	r.waitLog(t, "feed is fresh again")
	if c := strings.Count(r.logs.String(), "feed is stale"); c != 1 {
		t.Fatalf("stale logged %d times", c)
	}
}

func TestStaleAtStart(t *testing.T) {
	dev, d := startDev(t)
	if err := dev.AdjustTime(5 * time.Minute); err != nil {
		t.Fatal(err)
	}
	r := run(t, dev, d, feedYAML(d, "1m"))
	tk, _ := r.waitTick(t, "initial answer", 0, func(tk feeds.Tick) bool { return true })
	// Emitted with the round's own time, so the aggregator sees its age.
	if age := time.Unix(int64(dev.Head().Time), 0).Sub(tk.VenueTime); age < 5*time.Minute {
		t.Fatalf("venue time %v is only %v old", tk.VenueTime, age)
	}
	r.waitLog(t, "feed is stale")
}

func TestReorgRereads(t *testing.T) {
	dev, d := startDev(t)
	r := run(t, dev, d, feedYAML(d, "1h"))
	_, n := r.waitTick(t, "initial answer", 0, func(tk feeds.Tick) bool { return near(tk.Price, 3000) })
	base := dev.Head().Hash()
	update(t, dev, d, e8(3100))
	_, n = r.waitTick(t, "3100", n, func(tk feeds.Tick) bool { return near(tk.Price, 3100) })

	// The block with the update leaves the chain; the new branch has none.
	if err := dev.Fork(base); err != nil {
		t.Fatal(err)
	}
	if err := dev.Rollback(); err != nil {
		t.Fatal(err)
	}
	commit(t, dev)
	commit(t, dev)
	tk, _ := r.waitTick(t, "re-read after the reorg", n, func(tk feeds.Tick) bool { return true })
	if !near(tk.Price, 3000) {
		t.Fatalf("after the reorg %+v, want 3000 again", tk)
	}
	r.waitLog(t, "reorg; reading every feed")
}

func TestExampleAndValidation(t *testing.T) {
	typ, ok := plugins.Default.Lookup("price.chainlink")
	if !ok {
		t.Fatal("price.chainlink not registered")
	}
	var doc struct {
		Feeds []config.Raw `yaml:"feeds"`
	}
	if err := yaml.Unmarshal([]byte(typ.Example), &doc); err != nil {
		t.Fatal(err)
	}
	var ps config.Problems
	if specs := plugins.Default.Sources("feeds", doc.Feeds, nil, &ps); len(ps) > 0 || len(specs) != 1 {
		t.Fatalf("example: %v", ps)
	}

	bad := `
- type: price.chainlink
  id: bad
  chain: devnet
  feeds:
    - address: "0x1234"
      symbol: ETH-USD
      heartbeat: 1h
    - address: "0x5f4eC3Df9cbd43714FE2740f5E3616155c5b8419"
      symbol: eth/usd
      heartbeat: 1h
    - address: "0xF4030086522a5bEEa4988F8cA5B36dbC97BeE88c"
      symbol: BTC-USD
`
	var entries []config.Raw
	if err := yaml.Unmarshal([]byte(bad), &entries); err != nil {
		t.Fatal(err)
	}
	ps = nil
	plugins.Default.Sources("feeds", entries, nil, &ps)
	msg := fmt.Sprint(ps)
	for _, want := range []string{"feeds[0].feeds[0].address", "feeds[0].feeds[1].symbol", "feeds[0].feeds[2].heartbeat"} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems do not name %s:\n%s", want, msg)
		}
	}
}
