package logs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/feedd/feedd/chains/evm"
	"github.com/feedd/feedd/internal/chaintest"
	"github.com/feedd/feedd/internal/daemon"
	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/internal/devchain/contracts"
	"github.com/feedd/feedd/plugins"
	"github.com/feedd/feedd/plugins/evm/logs"
)

const (
	transferSig = "Transfer(address indexed from, address indexed to, uint256 value)"
	answerSig   = "AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt)"
	// confirmations is chaintest's default for the dev chain.
	confirmations = 3
)

// deployer is account 0 of the dev chain, whose nonces start at 0 on a
// fresh chain: the addresses of the contracts it deploys are known before
// the daemon starts, so that the configuration can name them.
var deployer = devchain.DeriveAccount("", 0)

// contractAt is the address of the contract deployed with the deployer's
// nonce n.
func contractAt(n uint64) common.Address { return crypto.CreateAddress(deployer.Address, n) }

func lower(a common.Address) string { return strings.ToLower(a.Hex()) }

// feed is one evm.logs entry of the configuration.
type feed struct {
	ID        string
	Addresses []common.Address
	Event     string
	ABI       string
	Filters   map[string][]string
	Channel   string
}

// yaml is the entry as a list item (JSON is YAML's flow style).
func (f feed) yaml() string {
	m := map[string]any{"id": f.ID, "type": "evm.logs", "chain": "devnet", "event": f.Event, "channel": f.Channel}
	if len(f.Addresses) > 0 {
		var as []string
		for _, a := range f.Addresses {
			as = append(as, a.Hex())
		}
		m["addresses"] = as
	}
	if f.ABI != "" {
		m["abi"] = f.ABI
	}
	if len(f.Filters) > 0 {
		m["filters"] = f.Filters
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return "  - " + string(b) + "\n"
}

// start runs a manual dev chain and the daemon with feeds, their namespace
// declared.
func start(t *testing.T, feeds ...feed) *chaintest.Env {
	t.Helper()
	extra := "channels:\n  namespaces: [{name: events, read: public, publish: none, coalesce: false}]\nfeeds:\n"
	for _, f := range feeds {
		extra += f.yaml()
	}
	return chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true}, Extra: extra})
}

// send sends a transaction and waits until the node's pool holds it as
// executable. The pool takes transactions in the background: without the
// wait the sender's next transaction may get the same nonce, and a Commit
// right after the send may seal a block without it.
func send(t *testing.T, env *chaintest.Env, from devchain.Account, to *common.Address, data []byte) *types.Transaction {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tx, err := env.Dev.Send(ctx, from, devchain.TxRequest{To: to, Data: data, Gas: chaintest.Gas})
	if err != nil {
		t.Fatal(err)
	}
	for {
		n, err := env.Dev.Client().PendingNonceAt(ctx, from.Address)
		if err != nil {
			t.Fatalf("transaction %s not pending: %v", tx.Hash().Hex(), err)
		}
		if n > tx.Nonce() {
			return tx
		}
		time.Sleep(time.Millisecond)
	}
}

// sendCall sends a call of method on the contract c at to (see send).
func sendCall(t *testing.T, env *chaintest.Env, from devchain.Account, to common.Address, c contracts.Contract, method string, args ...any) *types.Transaction {
	t.Helper()
	data, err := c.Pack(method, args...)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, env, from, &to, data)
}

// deploy deploys c, seals it and returns its address.
func deploy(t *testing.T, env *chaintest.Env, from devchain.Account, c contracts.Contract, args ...any) common.Address {
	t.Helper()
	data, err := c.DeployData(args...)
	if err != nil {
		t.Fatal(err)
	}
	return mine(t, env, send(t, env, from, nil, data)).ContractAddress
}

// mine seals a block and returns tx's receipt.
func mine(t *testing.T, env *chaintest.Env, tx *types.Transaction) *types.Receipt {
	t.Helper()
	env.Commit(t)
	return receipt(t, env, tx)
}

func receipt(t *testing.T, env *chaintest.Env, tx *types.Transaction) *types.Receipt {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	r, err := env.Dev.WaitReceipt(ctx, tx.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("transaction %s failed", tx.Hash().Hex())
	}
	return r
}

// logsOf returns the logs of receipts, ordered as on the chain.
func logsOf(rs ...*types.Receipt) []types.Log {
	var out []types.Log
	for _, r := range rs {
		for _, lg := range r.Logs {
			out = append(out, *lg)
		}
	}
	slices.SortFunc(out, func(a, b types.Log) int {
		if a.BlockNumber != b.BlockNumber {
			return int(a.BlockNumber) - int(b.BlockNumber)
		}
		return int(a.Index) - int(b.Index)
	})
	return out
}

// expect is the payload evm.logs should publish for lg, with the arguments
// decoded by go-ethereum's abi package from c's ABI, in the payload's forms.
func expect(t *testing.T, env *chaintest.Env, c contracts.Contract, lg types.Log, status string, confs uint64) logs.Payload {
	t.Helper()
	name, raw, err := c.UnpackLog(lg)
	if err != nil {
		t.Fatal(err)
	}
	args := map[string]any{}
	for k, v := range raw {
		switch v := v.(type) {
		case common.Address:
			args[k] = lower(v)
		case *big.Int:
			args[k] = v.String()
		default:
			t.Fatalf("argument %s of %s: unexpected %T", k, name, v)
		}
	}
	h, err := env.Dev.Client().HeaderByHash(t.Context(), lg.BlockHash)
	if err != nil {
		t.Fatal(err)
	}
	return logs.Payload{Chain: "devnet", Address: lower(lg.Address), Event: name, Args: args, TxHash: lg.TxHash.Hex(),
		LogIndex: lg.Index, Block: lg.BlockNumber, BlockHash: lg.BlockHash.Hex(), Status: status, Confirmations: confs,
		TS: int64(h.Time) * 1000}
}

// sequence is what a channel carries for the matching logs when the blocks
// first..last are sealed one after the other: each block's events as
// included, then those that block confirms.
func sequence(t *testing.T, env *chaintest.Env, c contracts.Contract, matched []types.Log, first, last uint64) []logs.Payload {
	t.Helper()
	var out []logs.Payload
	for b := first; b <= last; b++ {
		for _, lg := range matched {
			if lg.BlockNumber == b {
				out = append(out, expect(t, env, c, lg, "included", 1))
			}
		}
		for _, lg := range matched {
			if lg.BlockNumber+confirmations-1 == b {
				out = append(out, expect(t, env, c, lg, "confirmed", confirmations))
			}
		}
	}
	return out
}

// check waits until w has len(want) updates and compares them with want.
// Every update of an event channel reaches the client, in order, so more
// updates than wanted, or other ones, would be among those.
func check(t *testing.T, w *chaintest.Watch, want []logs.Payload) {
	t.Helper()
	ups := w.WaitFor(t, fmt.Sprintf("%d updates", len(want)), func(ups []json.RawMessage) bool { return len(ups) >= len(want) })
	got := chaintest.Decode[logs.Payload](t, ups)
	if len(got) != len(want) {
		t.Errorf("got %d updates, want %d", len(got), len(want))
	}
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("update %d missing; want %s", i, js(want[i]))
		case i >= len(want):
			t.Errorf("update %d %s not wanted", i, ups[i])
		case !reflect.DeepEqual(got[i], want[i]):
			t.Errorf("update %d:\n got %s\nwant %s", i, ups[i], js(want[i]))
		}
	}
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// writeFile writes data to name in a temporary folder and returns its
// absolute path.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// contractABI returns the ABI JSON compiled for a contract of
// internal/devchain/contracts.
func contractABI(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "internal", "devchain", "contracts", name+".abi"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestTransfersIncludedThenConfirmed follows TestToken's Transfer events to
// events:token:{to}, with the event given in Solidity syntax or taken from
// an ABI file.
func TestTransfersIncludedThenConfirmed(t *testing.T) {
	tokenABI := contractABI(t, "TestToken")
	artifact, err := json.Marshal(map[string]any{"contractName": "TestToken", "abi": json.RawMessage(tokenABI)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		event, abi string
	}{
		{"solidity signature", transferSig, ""},
		{"solidity declaration", "event " + transferSig + ";", ""},
		{"abi file, event name", "Transfer", writeFile(t, "TestToken.abi", tokenABI)},
		{"artifact file, canonical signature", "Transfer(address,address,uint256)", writeFile(t, "TestToken.json", artifact)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := contractAt(0)
			env := start(t, feed{ID: "transfers", Addresses: []common.Address{token}, Event: tc.event, ABI: tc.abi, Channel: "events:token:{to}"})
			accts := env.Dev.Accounts()
			alice, bob := accts[1], accts[2]
			if got := deploy(t, env, accts[0], contracts.Token, "Test USD", "TUSD", uint8(6)); got != token {
				t.Fatalf("token deployed at %s, want %s", got.Hex(), token.Hex())
			}
			// Mixed-case channel names are different channels: the template
			// writes addresses in lower case.
			wa := env.Subscribe(t, "events:token:"+lower(alice.Address))
			wb := env.Subscribe(t, "events:token:"+lower(bob.Address))

			// Block n: mints to alice and bob; n+1: a mint to alice; n+2:
			// bob sends alice some; then two empty blocks.
			tx1 := sendCall(t, env, deployer, token, contracts.Token, "mint", alice.Address, big.NewInt(100))
			tx2 := sendCall(t, env, deployer, token, contracts.Token, "mint", bob.Address, big.NewInt(7))
			env.Commit(t)
			tx3 := sendCall(t, env, deployer, token, contracts.Token, "mint", alice.Address, new(big.Int).Lsh(big.NewInt(1), 200))
			env.Commit(t)
			tx4 := sendCall(t, env, bob, token, contracts.Token, "transfer", alice.Address, big.NewInt(3))
			env.Commit(t)
			env.Commit(t)
			env.Commit(t)
			r1, r2, r3, r4 := receipt(t, env, tx1), receipt(t, env, tx2), receipt(t, env, tx3), receipt(t, env, tx4)
			if r1.BlockNumber.Cmp(r2.BlockNumber) != 0 || r3.BlockNumber.Uint64() != r1.BlockNumber.Uint64()+1 || r4.BlockNumber.Uint64() != r1.BlockNumber.Uint64()+2 {
				t.Fatalf("mined in blocks %v %v %v %v", r1.BlockNumber, r2.BlockNumber, r3.BlockNumber, r4.BlockNumber)
			}
			n := r1.BlockNumber.Uint64()
			check(t, wa, sequence(t, env, contracts.Token, logsOf(r1, r3, r4), n, n+4))
			check(t, wb, sequence(t, env, contracts.Token, logsOf(r2), n, n+4))
			// For the record, the exact shape of one update.
			got := chaintest.Decode[map[string]any](t, wa.Updates()[:1])[0]
			want := map[string]any{"chain": "devnet", "address": lower(token), "event": "Transfer",
				"args":   map[string]any{"from": lower(common.Address{}), "to": lower(alice.Address), "value": "100"},
				"txHash": tx1.Hash().Hex(), "logIndex": float64(r1.Logs[0].Index), "block": float64(n), "blockHash": r1.BlockHash.Hex(),
				"status": "included", "confirmations": float64(1), "ts": got["ts"]}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("first update %v\nwant %v", got, want)
			}
		})
	}
}

// TestSignedIntegersAndIndexedChannel follows TestAggregator's
// AnswerUpdated events, whose indexed int256 and uint256 come from topics,
// one channel per round.
func TestSignedIntegersAndIndexedChannel(t *testing.T) {
	agg := contractAt(0)
	env := start(t, feed{ID: "answers", Addresses: []common.Address{agg}, Event: answerSig, Channel: "events:oracle:{event}:{roundId}"})
	accts := env.Dev.Accounts()
	var ws []*chaintest.Watch
	for round := 1; round <= 4; round++ {
		ws = append(ws, env.Subscribe(t, fmt.Sprintf("events:oracle:AnswerUpdated:%d", round)))
	}
	minInt256 := new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 255))
	maxInt256 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(1))
	if got := deploy(t, env, accts[0], contracts.Aggregator, uint8(8), "ETH / USD", big.NewInt(-5)); got != agg {
		t.Fatalf("aggregator deployed at %s, want %s", got.Hex(), agg.Hex())
	}
	var rs []*types.Receipt
	for _, answer := range []*big.Int{big.NewInt(300_000_000_000), minInt256, maxInt256} {
		rs = append(rs, mine(t, env, sendCall(t, env, accts[1], agg, contracts.Aggregator, "updateAnswer", answer)))
	}
	env.Commit(t)
	env.Commit(t)
	// Round 1 is the constructor's.
	first, err := env.Dev.Client().HeaderByNumber(t.Context(), new(big.Int).Sub(rs[0].BlockNumber, big.NewInt(1)))
	if err != nil {
		t.Fatal(err)
	}
	deployBlock, err := env.Dev.Client().BlockByHash(t.Context(), first.Hash())
	if err != nil {
		t.Fatal(err)
	}
	rs = append([]*types.Receipt{receipt(t, env, deployBlock.Transactions()[0])}, rs...)
	answerID := contracts.Aggregator.ABI.Events["AnswerUpdated"].ID
	wantCurrent := []string{"-5", "300000000000", minInt256.String(), maxInt256.String()}
	for i, r := range rs {
		var matched []types.Log
		for _, lg := range logsOf(r) {
			if lg.Topics[0] == answerID {
				matched = append(matched, lg)
			}
		}
		if len(matched) != 1 {
			t.Fatalf("round %d: %d AnswerUpdated logs", i+1, len(matched))
		}
		n := r.BlockNumber.Uint64()
		want := sequence(t, env, contracts.Aggregator, matched, n, n+confirmations-1)
		if c := want[0].Args["current"]; c != wantCurrent[i] || want[0].Args["roundId"] != fmt.Sprint(i+1) {
			t.Fatalf("round %d: go-ethereum decodes current %v round %v", i+1, c, want[0].Args["roundId"])
		}
		check(t, ws[i], want)
	}
}

// TestFiltersAndAddresses runs feeds with topic filters and address lists
// side by side, each to its own channel, on the same Transfer events of two
// token contracts, and ERC-721 Transfer events, which share the ERC-20
// event's ID but not its indexed arguments.
func TestFiltersAndAddresses(t *testing.T) {
	tokenA, tokenB, nft := contractAt(0), contractAt(1), contractAt(2)
	accts := make([]devchain.Account, 4)
	for i := range accts {
		accts[i] = devchain.DeriveAccount("", i)
	}
	alice, bob, carol := accts[1].Address, accts[2].Address, accts[3].Address
	zero := common.Address{}
	type transfer struct{ token, from, to common.Address }
	cases := []struct {
		name      string
		addresses []common.Address
		filters   map[string][]string
		match     func(transfer) bool
	}{
		{"any contract, no filter", nil, nil,
			func(transfer) bool { return true }},
		{"token A only", []common.Address{tokenA}, nil,
			func(x transfer) bool { return x.token == tokenA }},
		{"token B only, address in lower case", []common.Address{common.HexToAddress(lower(tokenB))}, nil,
			func(x transfer) bool { return x.token == tokenB }},
		{"to alice", nil, map[string][]string{"to": {alice.Hex()}},
			func(x transfer) bool { return x.to == alice }},
		{"to alice or carol, any letter case, without 0x", nil, map[string][]string{"to": {strings.ToUpper(alice.Hex()[2:]), lower(carol)}},
			func(x transfer) bool { return x.to == alice || x.to == carol }},
		{"mints: from the zero address", nil, map[string][]string{"from": {zero.Hex()}},
			func(x transfer) bool { return x.from == zero }},
		{"token A, from alice or bob, to carol", []common.Address{tokenA}, map[string][]string{"from": {alice.Hex(), bob.Hex()}, "to": {carol.Hex()}},
			func(x transfer) bool { return x.token == tokenA && (x.from == alice || x.from == bob) && x.to == carol }},
	}
	var feeds []feed
	for i, c := range cases {
		feeds = append(feeds, feed{ID: fmt.Sprintf("f%d", i), Addresses: c.addresses, Event: transferSig, Filters: c.filters,
			Channel: fmt.Sprintf("events:case%d", i)})
	}
	env := start(t, feeds...)
	ws := make([]*chaintest.Watch, len(cases))
	for i := range cases {
		ws[i] = env.Subscribe(t, fmt.Sprintf("events:case%d", i))
	}
	if a, b, c := deploy(t, env, accts[0], contracts.Token, "A", "A", uint8(18)), deploy(t, env, accts[0], contracts.Token, "B", "B", uint8(18)),
		deploy(t, env, accts[0], contracts.NFT, "N", "N"); a != tokenA || b != tokenB || c != nft {
		t.Fatalf("contracts at %s %s %s, want %s %s %s", a.Hex(), b.Hex(), c.Hex(), tokenA.Hex(), tokenB.Hex(), nft.Hex())
	}
	send := func(from devchain.Account, token common.Address, method string, args ...any) *types.Transaction {
		return sendCall(t, env, from, token, contracts.Token, method, args...)
	}
	txs := []*types.Transaction{
		send(accts[0], tokenA, "mint", alice, big.NewInt(100)),
		send(accts[0], tokenA, "mint", bob, big.NewInt(200)),
		send(accts[0], tokenA, "mint", carol, big.NewInt(300)),
		send(accts[0], tokenB, "mint", alice, big.NewInt(7)),
		sendCall(t, env, accts[0], nft, contracts.NFT, "mint", alice),
	}
	env.Commit(t)
	txs = append(txs,
		send(accts[1], tokenA, "transfer", bob, big.NewInt(4)),
		send(accts[2], tokenA, "transfer", carol, big.NewInt(5)),
		send(accts[3], tokenA, "transfer", alice, big.NewInt(6)),
		send(accts[1], tokenB, "transfer", carol, big.NewInt(1)),
		sendCall(t, env, accts[1], nft, contracts.NFT, "transferFrom", alice, carol, big.NewInt(1)),
	)
	env.Commit(t)
	env.Commit(t)
	env.Commit(t)
	var rs []*types.Receipt
	for _, tx := range txs {
		rs = append(rs, receipt(t, env, tx))
	}
	var all []types.Log // the ERC-20 transfers
	for _, lg := range logsOf(rs...) {
		if lg.Address != nft {
			all = append(all, lg)
		}
	}
	if len(all) != 8 {
		t.Fatalf("%d ERC-20 logs, want 8", len(all))
	}
	n := all[0].BlockNumber
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var matched []types.Log
			for _, lg := range all {
				if c.match(transfer{token: lg.Address, from: common.BytesToAddress(lg.Topics[1][:]), to: common.BytesToAddress(lg.Topics[2][:])}) {
					matched = append(matched, lg)
				}
			}
			if len(matched) == 0 {
				t.Fatal("no transfer matches: the case tests nothing")
			}
			// Every matching event is confirmed two blocks after the last
			// one; any other event would have been published before that.
			check(t, ws[i], sequence(t, env, contracts.Token, matched, n, n+3))
		})
	}
	// An ERC-721 Transfer is another event with the same ID: not a
	// problem worth a warning per log.
	if l := env.Logs.String(); strings.Contains(l, "WARN") {
		t.Errorf("warnings logged:\n%s", l)
	}
}

// TestReorg republishes events of blocks a reorg replaced as removed, and
// those the new branch includes again with its block.
func TestReorg(t *testing.T) {
	for _, tc := range []struct {
		name   string
		blocks int  // blocks replaced, each with one event
		remine bool // the new branch includes the transactions again
	}{
		{"one block, mined again", 1, true},
		{"two blocks, mined again in one", 2, true},
		{"one block, dropped", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := contractAt(0)
			env := start(t, feed{ID: "transfers", Addresses: []common.Address{token}, Event: transferSig, Channel: "events:token:{to}"})
			accts := env.Dev.Accounts()
			alice := accts[1].Address
			deploy(t, env, accts[0], contracts.Token, "Test USD", "TUSD", uint8(6))
			w := env.Subscribe(t, "events:token:"+lower(alice))
			base := env.Commit(t)
			var txs []*types.Transaction
			var old []*types.Receipt
			for i := range tc.blocks {
				tx := sendCall(t, env, accts[0], token, contracts.Token, "mint", alice, big.NewInt(int64(10+i)))
				txs = append(txs, tx)
				old = append(old, mine(t, env, tx))
			}
			// The daemon saw the old branch before the fork.
			w.WaitFor(t, "the old branch's events", func(ups []json.RawMessage) bool { return len(ups) == tc.blocks })
			if err := env.Dev.Fork(base); err != nil {
				t.Fatal(err)
			}
			var want []logs.Payload
			n := old[0].BlockNumber.Uint64()
			for _, r := range old {
				want = append(want, expect(t, env, contracts.Token, *r.Logs[0], "included", 1))
			}
			for i := len(old) - 1; i >= 0; i-- {
				want = append(want, expect(t, env, contracts.Token, *old[i].Logs[0], "removed", 0))
			}
			var again []*types.Receipt
			if tc.remine {
				env.Commit(t)
				for _, tx := range txs {
					again = append(again, receipt(t, env, tx))
				}
			} else {
				if err := env.Dev.Rollback(); err != nil {
					t.Fatal(err)
				}
				// Another event after the fork, to see that nothing else
				// comes before it.
				again = append(again, mine(t, env, sendCall(t, env, accts[0], token, contracts.Token, "mint", alice, big.NewInt(99))))
			}
			env.Commit(t)
			env.Commit(t)
			if again[0].BlockNumber.Uint64() != n || again[0].BlockHash == old[0].BlockHash {
				t.Fatalf("new branch block %d %s, want a new block at %d", again[0].BlockNumber, again[0].BlockHash.Hex(), n)
			}
			want = append(want, sequence(t, env, contracts.Token, logsOf(again...), n, n+2)...)
			check(t, w, want)
		})
	}
}

// TestCutAndRestoreLosesNoEvent cuts the daemon's connection to the node
// while blocks with events are sealed: after the reconnect every event is
// published once, in order, and confirmed.
func TestCutAndRestoreLosesNoEvent(t *testing.T) {
	token := contractAt(0)
	var proxy *devchain.Proxy
	extra := "channels:\n  namespaces: [{name: events, read: public, publish: none, coalesce: false}]\nfeeds:\n" +
		feed{ID: "transfers", Addresses: []common.Address{token}, Event: transferSig, Channel: "events:token:{to}"}.yaml()
	env := chaintest.Start(t, chaintest.Options{Dev: devchain.Options{Manual: true}, Extra: extra,
		Endpoint: func(dev *devchain.Chain) string {
			p, err := devchain.NewProxy(dev.Addr())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			proxy = p
			return p.WSURL()
		}})
	accts := env.Dev.Accounts()
	alice := accts[1].Address
	deploy(t, env, accts[0], contracts.Token, "Test USD", "TUSD", uint8(6))
	w := env.Subscribe(t, "events:token:"+lower(alice))
	mint := func(v int64) *types.Receipt {
		return mine(t, env, sendCall(t, env, accts[0], token, contracts.Token, "mint", alice, big.NewInt(v)))
	}
	rs := []*types.Receipt{mint(1)}
	w.WaitFor(t, "the first event", func(ups []json.RawMessage) bool { return len(ups) == 1 })
	proxy.Cut()
	waitDisconnected(t, env)
	for v := range int64(3) {
		rs = append(rs, mint(2+v))
	}
	env.Commit(t) // confirms the first event, unseen yet
	proxy.Restore()
	rs = append(rs, mint(5))
	env.Commit(t)
	env.Commit(t)
	n := rs[0].BlockNumber.Uint64()
	check(t, w, sequence(t, env, contracts.Token, logsOf(rs...), n, n+7))
}

// waitDisconnected waits until the daemon reports no endpoint in use for
// devnet (GET /api/v1/chains).
func waitDisconnected(t *testing.T, env *chaintest.Env) {
	t.Helper()
	url := "http://" + env.Daemon.Addr().String() + "/api/v1/chains"
	deadline := time.Now().Add(10 * time.Second)
	for {
		var body struct {
			Chains []plugins.ChainStatus `json:"chains"`
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(body.Chains) == 1 && body.Chains[0].Endpoint == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon still reports a connection: %+v", body)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestConfigErrors checks that mistakes in an evm.logs entry are refused
// when the configuration is read, each naming its YAML path and line.
func TestConfigErrors(t *testing.T) {
	const head = `chains:
  - {name: devnet, type: evm, chain_id: 1337, endpoints: ["ws://127.0.0.1:8545"]}
channels:
  namespaces: [{name: events}]
feeds:
  - type: evm.logs
`
	good := map[string]string{
		"chain":   "devnet",
		"event":   `"` + transferSig + `"`,
		"channel": `"events:token:{to}"`,
	}
	for _, tc := range []struct {
		name  string
		set   map[string]string // keys replacing or adding to good
		path  string            // of the problem, below feeds[0]
		parts []string          // the message holds these
	}{
		{"signature with a syntax error", map[string]string{"event": `"Transfer(address indexed from, address to"`},
			"event", []string{"Transfer(address indexed from, address to"}},
		{"signature with an unknown type", map[string]string{"event": `"Transfer(address indexed from, adress indexed to, uint256 value)"`},
			"event", []string{"adress"}},
		{"template naming an unknown argument", map[string]string{"channel": `"events:token:{recipient}"`},
			"channel", []string{"{recipient} is not an argument of Transfer", "from, to, value"}},
		{"template without a namespace", map[string]string{"channel": `"{to}"`},
			"channel", []string{"want <namespace>:<rest>"}},
		{"filter on a non-indexed argument", map[string]string{"filters": `{value: ["1"]}`},
			"filters", []string{`"value"`, "not indexed"}},
		{"filter on an unknown argument", map[string]string{"filters": `{recipient: ["0x28C6c06298d514Db089934071355E5743bf21d60"]}`},
			"filters", []string{`"recipient"`, "no indexed argument"}},
		{"filter value that is not an address", map[string]string{"filters": `{to: ["0x1234"]}`},
			"filters", []string{`"to"`, "0x1234"}},
		{"filter without values", map[string]string{"filters": `{to: []}`},
			"filters", []string{`"to"`, "no values"}},
		{"address that is not one", map[string]string{"addresses": `["0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB4"]`},
			"addresses[0]", []string{"not an EVM address"}},
		{"abi file outside the configuration's folder", map[string]string{"abi": `"../abi/token.json"`, "event": "Transfer"},
			"abi", []string{"leaves the configuration file's folder"}},
		{"undeclared chain", map[string]string{"chain": "mainnet"},
			"chain", []string{"mainnet"}},
		{"missing event", map[string]string{"event": `""`},
			"event", []string{"required"}},
		{"undeclared namespace", map[string]string{"channel": `"nope:{to}"`},
			"channel", []string{`"nope" is not declared under channels.namespaces`, "declared: events"}},
		{"built-in namespace", map[string]string{"channel": `"wallet:{to}"`},
			"channel", []string{`"wallet" is built in`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := map[string]string{}
			for k, v := range good {
				keys[k] = v
			}
			for k, v := range tc.set {
				keys[k] = v
			}
			var b bytes.Buffer
			b.WriteString(head)
			line := strings.Count(head, "\n")
			want := 0
			for _, k := range slices.Sorted(maps.Keys(keys)) {
				line++
				if k == strings.Split(tc.path, "[")[0] {
					want = line
				}
				fmt.Fprintf(&b, "    %s: %s\n", k, keys[k])
			}
			_, err := daemon.Parse("c.yaml", b.Bytes(), nil, plugins.Default)
			ps, ok := daemon.Problems(err)
			if !ok {
				t.Fatalf("Parse = %v, want problems\n%s", err, b.String())
			}
			if len(ps) != 1 {
				t.Fatalf("%d problems, want 1: %v", len(ps), err)
			}
			p := ps[0]
			if p.Path != "feeds[0]."+tc.path || p.Line != want {
				t.Errorf("problem %q at %s line %d, want feeds[0].%s line %d", p.Error(), p.Path, p.Line, tc.path, want)
			}
			if !strings.HasPrefix(p.Error(), fmt.Sprintf("c.yaml:%d: feeds[0].%s: ", want, tc.path)) {
				t.Errorf("problem %q does not start with its file, line and path", p.Error())
			}
			for _, part := range tc.parts {
				if !strings.Contains(p.Msg, part) {
					t.Errorf("problem %q does not say %q", p.Error(), part)
				}
			}
		})
	}
}

// TestABIFileAtStart checks what evm.logs reads from an ABI file when the
// instance is made (the configuration check cannot read files): a path
// relative to the configuration's folder, and the problems found only then.
func TestABIFileAtStart(t *testing.T) {
	chain, err := evm.New("devnet", evm.Config{ChainID: 1337, Endpoints: []string{"ws://127.0.0.1:1"}, Confirmations: 3, ReorgDepth: 64,
		MaxBackfill: 256, PollInterval: time.Second, RequestTimeout: time.Second, BatchSize: 1, BackoffInitial: time.Second, BackoffMax: time.Second},
		plugins.Env{})
	if err != nil {
		t.Fatal(err)
	}
	files := fstest.MapFS{"abi/TestToken.abi": {Data: contractABI(t, "TestToken")}}
	for _, tc := range []struct {
		name string
		cfg  logs.Config
		err  []string // the error says these; none: no error
	}{
		{"relative to the configuration's folder", logs.Config{ABI: "abi/TestToken.abi", Event: "Transfer", Channel: "events:token:{to}",
			Filters: map[string][]string{"from": {"0x0000000000000000000000000000000000000000"}}}, nil},
		{"relative, not clean", logs.Config{ABI: "./abi/../abi/TestToken.abi", Event: "Approval", Channel: "events:approvals:{owner}"}, nil},
		{"missing file", logs.Config{ABI: "abi/TestTokn.abi", Event: "Transfer", Channel: "events:token:{to}"},
			[]string{"abi abi/TestTokn.abi", "file does not exist"}},
		{"event not in the ABI", logs.Config{ABI: "abi/TestToken.abi", Event: "Transfers", Channel: "events:token:{to}"},
			[]string{`"Transfers" is not in the ABI`, "Transfer(address,address,uint256)"}},
		{"template naming an unknown argument", logs.Config{ABI: "abi/TestToken.abi", Event: "Transfer", Channel: "events:token:{recipient}"},
			[]string{"channel: {recipient} is not an argument of Transfer"}},
		{"filter on a non-indexed argument", logs.Config{ABI: "abi/TestToken.abi", Event: "Transfer", Channel: "events:token:{to}",
			Filters: map[string][]string{"value": {"1"}}}, []string{"filters: ", `"value"`, "not indexed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Chain = "devnet"
			_, err := logs.New(tc.cfg, chain, plugins.Env{Files: files})
			if len(tc.err) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one saying %q", tc.err)
			}
			for _, part := range tc.err {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q does not say %q", err, part)
				}
			}
		})
	}
}
