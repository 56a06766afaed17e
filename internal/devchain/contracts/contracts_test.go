package contracts

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/params"
	"go.uber.org/goleak"
)

// Backend must stay satisfiable by the clients the package is meant for.
var (
	_ Backend       = bind.ContractBackend(nil)
	_ Backend       = (*ethclient.Client)(nil)
	_ Backend       = simulated.Client(nil)
	_ ReceiptReader = simulated.Client(nil)
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go-ethereum's process-wide transaction sender cache, started once
		// on first use and never stopped.
		goleak.IgnoreAnyFunction("github.com/ethereum/go-ethereum/core.(*txSenderCacher).cache"),
		// Ends about a second after its LevelDB handle is closed (go-ethereum's
		// own leak test of the simulated backend ignores it too).
		goleak.IgnoreAnyFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
	)
}

func TestArtifacts(t *testing.T) {
	tests := []struct {
		c       Contract
		name    string
		ctor    string
		events  []string
		methods []string
	}{
		{
			c: Token, name: "TestToken", ctor: "(string,string,uint8)",
			events: []string{
				"Approval(address indexed owner,address indexed spender,uint256 value)",
				"Transfer(address indexed from,address indexed to,uint256 value)",
			},
			methods: []string{
				"allowance(address,address) returns (uint256)",
				"approve(address,uint256) returns (bool)",
				"balanceOf(address) returns (uint256)",
				"decimals() returns (uint8)",
				"mint(address,uint256) returns ()",
				"name() returns (string)",
				"symbol() returns (string)",
				"totalSupply() returns (uint256)",
				"transfer(address,uint256) returns (bool)",
				"transferFrom(address,address,uint256) returns (bool)",
			},
		},
		{
			c: NFT, name: "TestNFT", ctor: "(string,string)",
			events: []string{
				"Approval(address indexed owner,address indexed approved,uint256 indexed tokenId)",
				"ApprovalForAll(address indexed owner,address indexed operator,bool approved)",
				"Transfer(address indexed from,address indexed to,uint256 indexed tokenId)",
			},
			methods: []string{
				"approve(address,uint256) returns ()",
				"balanceOf(address) returns (uint256)",
				"getApproved(uint256) returns (address)",
				"isApprovedForAll(address,address) returns (bool)",
				"mint(address) returns (uint256)",
				"name() returns (string)",
				"ownerOf(uint256) returns (address)",
				"safeTransferFrom(address,address,uint256) returns ()",
				"safeTransferFrom(address,address,uint256,bytes) returns ()",
				"setApprovalForAll(address,bool) returns ()",
				"supportsInterface(bytes4) returns (bool)",
				"symbol() returns (string)",
				"transferFrom(address,address,uint256) returns ()",
			},
		},
		{
			c: Multi, name: "TestMulti", ctor: "()",
			events: []string{
				"ApprovalForAll(address indexed owner,address indexed operator,bool approved)",
				"TransferBatch(address indexed operator,address indexed from,address indexed to,uint256[] ids,uint256[] values)",
				"TransferSingle(address indexed operator,address indexed from,address indexed to,uint256 id,uint256 value)",
			},
			methods: []string{
				"balanceOf(address,uint256) returns (uint256)",
				"balanceOfBatch(address[],uint256[]) returns (uint256[])",
				"isApprovedForAll(address,address) returns (bool)",
				"mint(address,uint256,uint256) returns ()",
				"mintBatch(address,uint256[],uint256[]) returns ()",
				"safeBatchTransferFrom(address,address,uint256[],uint256[],bytes) returns ()",
				"safeTransferFrom(address,address,uint256,uint256,bytes) returns ()",
				"setApprovalForAll(address,bool) returns ()",
				"supportsInterface(bytes4) returns (bool)",
			},
		},
		{
			c: Aggregator, name: "TestAggregator", ctor: "(uint8,string,int256)",
			events: []string{
				"AnswerUpdated(int256 indexed current,uint256 indexed roundId,uint256 updatedAt)",
				"NewRound(uint256 indexed roundId,address indexed startedBy,uint256 startedAt)",
			},
			methods: []string{
				"decimals() returns (uint8)",
				"description() returns (string)",
				"getRoundData(uint80) returns (uint80,int256,uint256,uint256,uint80)",
				"latestAnswer() returns (int256)",
				"latestRound() returns (uint256)",
				"latestRoundData() returns (uint80,int256,uint256,uint256,uint80)",
				"latestTimestamp() returns (uint256)",
				"updateAnswer(int256) returns (uint256)",
				"version() returns (uint256)",
			},
		},
		{
			c: Pair, name: "TestPair", ctor: "(address,address)",
			events: []string{
				"Swap(address indexed sender,uint256 amount0In,uint256 amount1In,uint256 amount0Out,uint256 amount1Out,address indexed to)",
				"Sync(uint112 reserve0,uint112 reserve1)",
			},
			methods: []string{
				"getAmountOut(uint256,uint256,uint256) returns (uint256)",
				"getReserves() returns (uint112,uint112,uint32)",
				"swap(uint256,uint256,address,bytes) returns ()",
				"swapExactIn(address,uint256,address) returns (uint256)",
				"sync() returns ()",
				"token0() returns (address)",
				"token1() returns (address)",
			},
		},
	}
	var names []string
	for _, c := range All() {
		names = append(names, c.Name)
	}
	if want := []string{"TestAggregator", "TestMulti", "TestNFT", "TestPair", "TestToken"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("All() = %v, want %v", names, want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.c.Name != tt.name {
				t.Fatalf("Name = %q, want %q", tt.c.Name, tt.name)
			}
			if len(tt.c.Bin) == 0 {
				t.Fatal("empty bytecode")
			}
			again, err := Load(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(again.Bin, tt.c.Bin) {
				t.Error("Load returns other bytecode than the package variable")
			}
			if got := "(" + typeList(tt.c.ABI.Constructor.Inputs) + ")"; got != tt.ctor {
				t.Errorf("constructor %s, want %s", got, tt.ctor)
			}
			var events []string
			for _, ev := range tt.c.ABI.Events {
				events = append(events, eventDecl(ev))
			}
			assertSameSet(t, "events", events, tt.events)
			var methods []string
			for _, m := range tt.c.ABI.Methods {
				methods = append(methods, m.Sig+" returns ("+typeList(m.Outputs)+")")
			}
			for _, want := range tt.methods {
				if !contains(methods, want) {
					t.Errorf("no method %s in %v", want, methods)
				}
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	if _, err := Load("NoSuchContract"); err == nil {
		t.Fatal("Load of a missing contract succeeded")
	}
}

func TestPackAndDeployData(t *testing.T) {
	a, b := common.HexToAddress("0xa"), common.HexToAddress("0xb")
	id := big.NewInt(7)
	tests := []struct {
		name    string
		c       Contract
		method  string
		args    []any
		wantSel string // hex selector; "" means an error is expected
	}{
		{"erc20 transfer", Token, "transfer", []any{a, id}, "a9059cbb"},
		{"erc721 safeTransferFrom/3", NFT, "safeTransferFrom", []any{a, b, id}, "42842e0e"},
		{"erc721 safeTransferFrom/4", NFT, "safeTransferFrom", []any{a, b, id, []byte("x")}, "b88d4fde"},
		{"erc1155 safeBatchTransferFrom", Multi, "safeBatchTransferFrom", []any{a, b, []*big.Int{id}, []*big.Int{id}, []byte{}}, "2eb2c2d6"},
		{"aggregator latestRoundData", Aggregator, "latestRoundData", nil, "feaf968c"},
		{"pair swap", Pair, "swap", []any{id, id, a, []byte{}}, "022c0d9f"},
		{"unknown method", Token, "burn", []any{id}, ""},
		{"wrong arity", Token, "transfer", []any{a}, ""},
		{"wrong overload arity", NFT, "safeTransferFrom", []any{a, b}, ""},
		{"wrong type", Token, "transfer", []any{a, "seven"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := tt.c.Pack(tt.method, tt.args...)
			if tt.wantSel == "" {
				if err == nil {
					t.Fatalf("Pack succeeded: %x", data)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := common.Bytes2Hex(data[:4]); got != tt.wantSel {
				t.Errorf("selector %s, want %s", got, tt.wantSel)
			}
		})
	}

	data, err := Token.DeployData("T", "T", uint8(18))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) <= len(Token.Bin) || !reflect.DeepEqual(data[:len(Token.Bin)], Token.Bin) {
		t.Error("DeployData does not start with the bytecode followed by arguments")
	}
	data[0] ^= 0xff
	if data[0] == Token.Bin[0] {
		t.Error("DeployData aliases Bin")
	}
	if _, err := Token.DeployData("T", "T"); err == nil {
		t.Error("DeployData with missing constructor arguments succeeded")
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	n := newDevnet(t)
	alice, bob, carol := n.addr[0], n.addr[1], n.addr[2]
	tok := n.deploy(Token, "Test Token", "TT", uint8(18))

	if got := n.call(tok, Token, "decimals"); got[0] != uint8(18) {
		t.Errorf("decimals = %v", got)
	}
	if got := n.call(tok, Token, "symbol"); got[0] != "TT" {
		t.Errorf("symbol = %v", got)
	}

	r := n.transact(0, tok, Token, "mint", alice, big.NewInt(1000))
	n.checkLogs(r, logWant{tok, Token, "Transfer", fields{"from": common.Address{}, "to": alice, "value": 1000}})

	r = n.transact(0, tok, Token, "transfer", bob, big.NewInt(100))
	n.checkLogs(r, logWant{tok, Token, "Transfer", fields{"from": alice, "to": bob, "value": 100}})

	r = n.transact(0, tok, Token, "approve", bob, big.NewInt(50))
	n.checkLogs(r, logWant{tok, Token, "Approval", fields{"owner": alice, "spender": bob, "value": 50}})

	r = n.transact(1, tok, Token, "transferFrom", alice, carol, big.NewInt(30))
	n.checkLogs(r, logWant{tok, Token, "Transfer", fields{"from": alice, "to": carol, "value": 30}})

	n.checkCall(tok, Token, "allowance", []any{alice, bob}, 20)
	n.checkCall(tok, Token, "totalSupply", nil, 1000)
	for who, want := range map[common.Address]int64{alice: 870, bob: 100, carol: 30} {
		n.checkCall(tok, Token, "balanceOf", []any{who}, want)
	}

	t.Run("revert", func(t *testing.T) {
		n := n.with(t)
		// Gas estimation refuses the call and reports why.
		_, err := Transact(n.ctx, n.client, n.key[1], n.chainID, tok, Token, "transfer", carol, big.NewInt(101))
		if reason, ok := RevertReason(err); !ok || reason != "TestToken: insufficient balance" {
			t.Fatalf("estimate: err %v, reason %q %v", err, reason, ok)
		}
		// An explicit gas limit sends it anyway; it is mined and fails.
		tx, err := TransactWith(n.ctx, n.client, n.key[1], n.chainID, TxOpts{GasLimit: 100_000}, tok, Token, "transfer", carol, big.NewInt(101))
		if err != nil {
			t.Fatal(err)
		}
		r := n.mine(tx)
		if r.Status != types.ReceiptStatusFailed || len(r.Logs) != 0 {
			t.Fatalf("status %d, %d logs, want failed without logs", r.Status, len(r.Logs))
		}
		_, err = ReplayCall(n.ctx, n.client, tx, r.BlockNumber)
		if reason, ok := RevertReason(err); !ok || reason != "TestToken: insufficient balance" {
			t.Fatalf("replay: err %v, reason %q %v", err, reason, ok)
		}
		n.checkCall(tok, Token, "balanceOf", []any{bob}, 100)
		if _, ok := RevertReason(errors.New("plain")); ok {
			t.Error("RevertReason of an error without data reports ok")
		}
		if _, ok := RevertReason(nil); ok {
			t.Error("RevertReason(nil) reports ok")
		}
	})
}

func TestReplacementTransaction(t *testing.T) {
	t.Parallel()
	n := newDevnet(t)
	tok := n.deploy(Token, "Test Token", "TT", uint8(18))
	alice := n.addr[0]

	nonce, err := n.client.PendingNonceAt(n.ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	gwei := big.NewInt(params.GWei)
	first := TxOpts{Nonce: &nonce, GasLimit: 1_000_000, GasTipCap: gwei, GasFeeCap: new(big.Int).Mul(gwei, big.NewInt(10))}
	tx1, err := TransactWith(n.ctx, n.client, n.key[0], n.chainID, first, tok, Token, "mint", alice, big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	if tx1.Nonce() != nonce || tx1.GasTipCap().Cmp(gwei) != 0 || tx1.Gas() != 1_000_000 {
		t.Fatalf("tx1 nonce %d tip %v gas %d", tx1.Nonce(), tx1.GasTipCap(), tx1.Gas())
	}
	// Same fees, other data: the pool refuses it as underpriced.
	if _, err := TransactWith(n.ctx, n.client, n.key[0], n.chainID, first, tok, Token, "mint", alice, big.NewInt(3)); err == nil {
		t.Fatal("replacement without a fee bump accepted")
	}
	bumped := TxOpts{Nonce: &nonce, GasLimit: 1_000_000, GasTipCap: new(big.Int).Mul(gwei, big.NewInt(2)), GasFeeCap: new(big.Int).Mul(gwei, big.NewInt(20))}
	tx2, err := TransactWith(n.ctx, n.client, n.key[0], n.chainID, bumped, tok, Token, "mint", alice, big.NewInt(2))
	if err != nil {
		t.Fatal(err)
	}
	if r := n.mine(tx2); r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("replacement failed: status %d", r.Status)
	}
	ctx, cancel := context.WithTimeout(n.ctx, 50*time.Millisecond)
	defer cancel()
	if r, err := WaitReceipt(ctx, n.client, tx1.Hash()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("replaced transaction: receipt %v, err %v", r, err)
	}
	n.checkCall(tok, Token, "totalSupply", nil, 2)
}

func TestSendValue(t *testing.T) {
	t.Parallel()
	n := newDevnet(t)
	to := common.HexToAddress("0x00000000000000000000000000000000000000aa")
	tx, err := Send(n.ctx, n.client, n.key[0], n.chainID, TxOpts{Value: big.NewInt(12345)}, &to, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := n.mine(tx); r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("status %d", r.Status)
	}
	bal, err := n.client.BalanceAt(n.ctx, to, nil)
	if err != nil || bal.Int64() != 12345 {
		t.Fatalf("balance %v, err %v", bal, err)
	}
	if _, err := Send(n.ctx, n.client, n.key[0], nil, TxOpts{}, &to, nil); err == nil {
		t.Error("Send without a chain ID succeeded")
	}
}

func TestNFT(t *testing.T) {
	t.Parallel()
	n := newDevnet(t)
	alice, bob, carol := n.addr[0], n.addr[1], n.addr[2]
	nft := n.deploy(NFT, "Test NFT", "TNFT")

	r := n.transact(0, nft, NFT, "mint", alice)
	n.checkLogs(r, logWant{nft, NFT, "Transfer", fields{"from": common.Address{}, "to": alice, "tokenId": 1}})
	// A call shows the id the next mint returns.
	n.checkCall(nft, NFT, "mint", []any{alice}, 2)
	r = n.transact(0, nft, NFT, "mint", alice)
	n.checkLogs(r, logWant{nft, NFT, "Transfer", fields{"from": common.Address{}, "to": alice, "tokenId": 2}})

	if _, _, err := Token.UnpackLog(*r.Logs[0]); err == nil {
		t.Error("an ERC-721 Transfer decodes as an ERC-20 Transfer")
	}

	r = n.transact(0, nft, NFT, "transferFrom", alice, bob, big.NewInt(1))
	n.checkLogs(r, logWant{nft, NFT, "Transfer", fields{"from": alice, "to": bob, "tokenId": 1}})

	r = n.transact(0, nft, NFT, "approve", carol, big.NewInt(2))
	n.checkLogs(r, logWant{nft, NFT, "Approval", fields{"owner": alice, "approved": carol, "tokenId": 2}})
	n.checkCall(nft, NFT, "getApproved", []any{big.NewInt(2)}, carol)

	r = n.transact(2, nft, NFT, "safeTransferFrom", alice, bob, big.NewInt(2))
	n.checkLogs(r, logWant{nft, NFT, "Transfer", fields{"from": alice, "to": bob, "tokenId": 2}})
	n.checkCall(nft, NFT, "getApproved", []any{big.NewInt(2)}, common.Address{})

	r = n.transact(1, nft, NFT, "setApprovalForAll", carol, true)
	n.checkLogs(r, logWant{nft, NFT, "ApprovalForAll", fields{"owner": bob, "operator": carol, "approved": true}})
	n.checkCall(nft, NFT, "isApprovedForAll", []any{bob, carol}, true)

	r = n.transact(2, nft, NFT, "safeTransferFrom", bob, alice, big.NewInt(1), []byte("data"))
	n.checkLogs(r, logWant{nft, NFT, "Transfer", fields{"from": bob, "to": alice, "tokenId": 1}})

	n.checkCall(nft, NFT, "ownerOf", []any{big.NewInt(1)}, alice)
	n.checkCall(nft, NFT, "ownerOf", []any{big.NewInt(2)}, bob)
	n.checkCall(nft, NFT, "balanceOf", []any{alice}, 1)
	n.checkCall(nft, NFT, "balanceOf", []any{bob}, 1)
	n.checkCall(nft, NFT, "totalSupply", nil, 2)
	n.checkCall(nft, NFT, "supportsInterface", []any{[4]byte{0x80, 0xac, 0x58, 0xcd}}, true)

	_, err := Call(n.ctx, n.client, nft, NFT, "ownerOf", big.NewInt(3))
	if reason, ok := RevertReason(err); !ok || reason != "TestNFT: nonexistent token" {
		t.Errorf("ownerOf(3): err %v, reason %q", err, reason)
	}
}

func TestMulti(t *testing.T) {
	t.Parallel()
	n := newDevnet(t)
	alice, bob, carol := n.addr[0], n.addr[1], n.addr[2]
	mt := n.deploy(Multi)

	r := n.transact(0, mt, Multi, "mint", alice, big.NewInt(1), big.NewInt(100))
	n.checkLogs(r, logWant{mt, Multi, "TransferSingle", fields{"operator": alice, "from": common.Address{}, "to": alice, "id": 1, "value": 100}})

	r = n.transact(0, mt, Multi, "mintBatch", alice, bigs(2, 3), bigs(20, 30))
	n.checkLogs(r, logWant{mt, Multi, "TransferBatch", fields{"operator": alice, "from": common.Address{}, "to": alice, "ids": []int64{2, 3}, "values": []int64{20, 30}}})

	r = n.transact(0, mt, Multi, "safeTransferFrom", alice, bob, big.NewInt(1), big.NewInt(40), []byte{})
	n.checkLogs(r, logWant{mt, Multi, "TransferSingle", fields{"operator": alice, "from": alice, "to": bob, "id": 1, "value": 40}})

	r = n.transact(0, mt, Multi, "setApprovalForAll", carol, true)
	n.checkLogs(r, logWant{mt, Multi, "ApprovalForAll", fields{"owner": alice, "operator": carol, "approved": true}})

	r = n.transact(2, mt, Multi, "safeBatchTransferFrom", alice, bob, bigs(1, 2, 3), bigs(10, 5, 30), []byte{})
	n.checkLogs(r, logWant{mt, Multi, "TransferBatch", fields{"operator": carol, "from": alice, "to": bob, "ids": []int64{1, 2, 3}, "values": []int64{10, 5, 30}}})

	n.checkCall(mt, Multi, "balanceOfBatch",
		[]any{[]common.Address{alice, bob, alice, bob, alice, bob}, bigs(1, 1, 2, 2, 3, 3)},
		[]int64{50, 50, 15, 5, 0, 30})

	_, err := Transact(n.ctx, n.client, n.key[1], n.chainID, mt, Multi, "safeTransferFrom", alice, bob, big.NewInt(1), big.NewInt(1), []byte{})
	if reason, ok := RevertReason(err); !ok || reason != "TestMulti: caller is not owner nor approved" {
		t.Errorf("unapproved transfer: err %v, reason %q", err, reason)
	}
}

func TestAggregator(t *testing.T) {
	t.Parallel()
	n := newDevnet(t)
	alice, bob := n.addr[0], n.addr[1]
	initial := big.NewInt(3000_00000000)

	addr, tx, err := Deploy(n.ctx, n.client, n.key[0], n.chainID, Aggregator, uint8(8), "ETH / USD", initial)
	if err != nil {
		t.Fatal(err)
	}
	r := n.mine(tx)
	t0 := n.blockTime(r)
	n.checkLogs(r,
		logWant{addr, Aggregator, "NewRound", fields{"roundId": 1, "startedBy": alice, "startedAt": t0}},
		logWant{addr, Aggregator, "AnswerUpdated", fields{"current": initial, "roundId": 1, "updatedAt": t0}},
	)
	n.checkCall(addr, Aggregator, "decimals", nil, uint8(8))
	n.checkCall(addr, Aggregator, "description", nil, "ETH / USD")
	n.checkCall(addr, Aggregator, "version", nil, 4)

	for i, answer := range []*big.Int{big.NewInt(3100_00000000), big.NewInt(-42)} {
		round := int64(i + 2)
		r := n.transact(1, addr, Aggregator, "updateAnswer", answer)
		ts := n.blockTime(r)
		n.checkLogs(r,
			logWant{addr, Aggregator, "NewRound", fields{"roundId": round, "startedBy": bob, "startedAt": ts}},
			logWant{addr, Aggregator, "AnswerUpdated", fields{"current": answer, "roundId": round, "updatedAt": ts}},
		)
		n.checkCall(addr, Aggregator, "latestRoundData", nil, round, answer, ts, ts, round)
		n.checkCall(addr, Aggregator, "latestAnswer", nil, answer)
		n.checkCall(addr, Aggregator, "latestRound", nil, round)
		n.checkCall(addr, Aggregator, "latestTimestamp", nil, ts)
	}
	n.checkCall(addr, Aggregator, "getRoundData", []any{big.NewInt(1)}, 1, initial, t0, t0, 1)

	_, err = Call(n.ctx, n.client, addr, Aggregator, "getRoundData", big.NewInt(9))
	if reason, ok := RevertReason(err); !ok || reason != "No data present" {
		t.Errorf("getRoundData(9): err %v, reason %q", err, reason)
	}
}

func TestPair(t *testing.T) {
	t.Parallel()
	n := newDevnet(t)
	alice, bob, carol := n.addr[0], n.addr[1], n.addr[2]
	tokA := n.deploy(Token, "Alpha", "A", uint8(18))
	tokB := n.deploy(Token, "Beta", "B", uint8(18))
	pair := n.deploy(Pair, tokA, tokB)

	token0, token1 := tokA, tokB
	if tokB.Cmp(tokA) < 0 {
		token0, token1 = tokB, tokA
	}
	n.checkCall(pair, Pair, "token0", nil, token0)
	n.checkCall(pair, Pair, "token1", nil, token1)

	// Seed: 1,000,000 A and 2,000,000 B in the pair, then sync.
	seed := map[common.Address]*big.Int{tokA: big.NewInt(1_000_000), tokB: big.NewInt(2_000_000)}
	n.transact(0, tokA, Token, "mint", pair, seed[tokA])
	n.transact(0, tokB, Token, "mint", pair, seed[tokB])
	r := n.transact(0, pair, Pair, "sync")
	n.checkLogs(r, logWant{pair, Pair, "Sync", fields{"reserve0": seed[token0], "reserve1": seed[token1]}})
	n.checkCall(pair, Pair, "getReserves", nil, seed[token0], seed[token1], uint32(n.blockTime(r)))

	reserves := func() (r0, r1 *big.Int) {
		out := n.call(pair, Pair, "getReserves")
		return out[0].(*big.Int), out[1].(*big.Int)
	}
	// zeroIn tells whether tokenIn is token0.
	swapWant := func(tokenIn common.Address, in, out *big.Int, sender, to common.Address, r0, r1 *big.Int) []logWant {
		f := fields{"sender": sender, "to": to, "amount0In": 0, "amount1In": 0, "amount0Out": 0, "amount1Out": 0}
		if tokenIn == token0 {
			f["amount0In"], f["amount1Out"] = in, out
		} else {
			f["amount1In"], f["amount0Out"] = in, out
		}
		return []logWant{
			{pair, Pair, "Sync", fields{"reserve0": r0, "reserve1": r1}},
			{pair, Pair, "Swap", f},
		}
	}

	t.Run("swapExactIn", func(t *testing.T) {
		n := n.with(t)
		for _, tc := range []struct {
			tokenIn, tokenOut common.Address
			amountIn          int64
		}{{tokA, tokB, 10_000}, {tokB, tokA, 55_555}} {
			in := big.NewInt(tc.amountIn)
			n.transact(0, tc.tokenIn, Token, "mint", alice, in)
			n.transact(0, tc.tokenIn, Token, "approve", pair, in)

			r0, r1 := reserves()
			reserveIn, reserveOut := r0, r1
			if tc.tokenIn != token0 {
				reserveIn, reserveOut = r1, r0
			}
			out := v2AmountOut(in, reserveIn, reserveOut)
			n.checkCall(pair, Pair, "getAmountOut", []any{in, reserveIn, reserveOut}, out)
			newIn, newOut := new(big.Int).Add(reserveIn, in), new(big.Int).Sub(reserveOut, out)
			new0, new1 := newIn, newOut
			if tc.tokenIn != token0 {
				new0, new1 = newOut, newIn
			}
			balBefore := n.call(tc.tokenOut, Token, "balanceOf", bob)[0].(*big.Int)

			r := n.transact(0, pair, Pair, "swapExactIn", tc.tokenIn, in, bob)
			n.checkLogs(r, append([]logWant{
				{tc.tokenIn, Token, "Transfer", fields{"from": alice, "to": pair, "value": in}},
				{tc.tokenOut, Token, "Transfer", fields{"from": pair, "to": bob, "value": out}},
			}, swapWant(tc.tokenIn, in, out, alice, bob, new0, new1)...)...)

			n.checkCall(pair, Pair, "getReserves", nil, new0, new1, uint32(n.blockTime(r)))
			n.checkCall(tc.tokenOut, Token, "balanceOf", []any{bob}, new(big.Int).Add(balBefore, out))
			if k0, k1 := new(big.Int).Mul(r0, r1), new(big.Int).Mul(new0, new1); k1.Cmp(k0) < 0 {
				t.Errorf("K fell from %v to %v", k0, k1)
			}
		}
	})

	t.Run("swap", func(t *testing.T) {
		n := n.with(t)
		// Uniswap V2 style: transfer the input in, then ask for the output.
		in := big.NewInt(5_000)
		n.transact(0, tokB, Token, "mint", alice, in)
		n.transact(0, tokB, Token, "transfer", pair, in)
		r0, r1 := reserves()
		reserveIn, reserveOut := r1, r0
		if tokB == token0 {
			reserveIn, reserveOut = r0, r1
		}
		out := v2AmountOut(in, reserveIn, reserveOut)

		// One more than the formula allows breaks K.
		tooMuch := new(big.Int).Add(out, big.NewInt(1))
		a0, a1 := tooMuch, new(big.Int)
		if tokA == token1 {
			a0, a1 = a1, a0
		}
		tx, err := TransactWith(n.ctx, n.client, n.key[0], n.chainID, TxOpts{GasLimit: 300_000}, pair, Pair, "swap", a0, a1, carol, []byte{})
		if err != nil {
			t.Fatal(err)
		}
		r := n.mine(tx)
		if r.Status != types.ReceiptStatusFailed {
			t.Fatalf("swap breaking K: status %d", r.Status)
		}
		_, err = ReplayCall(n.ctx, n.client, tx, r.BlockNumber)
		if reason, ok := RevertReason(err); !ok || reason != "TestPair: K" {
			t.Fatalf("replay: err %v, reason %q", err, reason)
		}

		a0, a1 = out, new(big.Int)
		if tokA == token1 {
			a0, a1 = a1, a0
		}
		newIn, newOut := new(big.Int).Add(reserveIn, in), new(big.Int).Sub(reserveOut, out)
		new0, new1 := newOut, newIn
		if tokB == token0 {
			new0, new1 = newIn, newOut
		}
		r = n.transact(0, pair, Pair, "swap", a0, a1, carol, []byte{})
		n.checkLogs(r, append([]logWant{
			{tokA, Token, "Transfer", fields{"from": pair, "to": carol, "value": out}},
		}, swapWant(tokB, in, out, alice, carol, new0, new1)...)...)
		n.checkCall(tokA, Token, "balanceOf", []any{carol}, out)
	})
}

func TestWaitReceiptContext(t *testing.T) {
	t.Parallel()
	n := newDevnet(t)
	ctx, cancel := context.WithTimeout(n.ctx, 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := WaitReceipt(ctx, n.client, common.HexToHash("0x1234"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("WaitReceipt returned %v after its deadline", d)
	}
	failing := receiptFunc(func(context.Context, common.Hash) (*types.Receipt, error) {
		return nil, errors.New("boom")
	})
	if _, err := WaitReceipt(n.ctx, failing, common.Hash{}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("err %v, want the client's error", err)
	}
}

type receiptFunc func(context.Context, common.Hash) (*types.Receipt, error)

func (f receiptFunc) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	return f(ctx, h)
}

// devnet is a simulated chain with three funded accounts.
type devnet struct {
	t       *testing.T
	ctx     context.Context
	sim     *simulated.Backend
	client  simulated.Client
	chainID *big.Int
	key     []*ecdsa.PrivateKey
	addr    []common.Address
}

func newDevnet(t *testing.T) *devnet {
	t.Helper()
	n := &devnet{t: t, ctx: t.Context()}
	alloc := types.GenesisAlloc{}
	for range 3 {
		key, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		addr := crypto.PubkeyToAddress(key.PublicKey)
		n.key = append(n.key, key)
		n.addr = append(n.addr, addr)
		alloc[addr] = types.Account{Balance: new(big.Int).Mul(big.NewInt(1000), big.NewInt(params.Ether))}
	}
	n.sim = simulated.NewBackend(alloc)
	t.Cleanup(func() {
		if err := n.sim.Close(); err != nil {
			t.Errorf("close simulated backend: %v", err)
		}
	})
	n.client = n.sim.Client()
	// The genesis block has timestamp 0, and eth_estimateGas runs in the
	// latest block's context: a contract storing block.timestamp would be
	// estimated without the storage a real timestamp needs. Seal one block so
	// estimates run with a real timestamp.
	n.sim.Commit()
	id, err := n.client.ChainID(n.ctx)
	if err != nil {
		t.Fatal(err)
	}
	n.chainID = id
	return n
}

// with returns n reporting to the subtest t.
func (n *devnet) with(t *testing.T) *devnet {
	c := *n
	c.t, c.ctx = t, t.Context()
	return &c
}

// mine seals a block and returns the receipt of tx, whatever its status.
func (n *devnet) mine(tx *types.Transaction) *types.Receipt {
	n.t.Helper()
	n.sim.Commit()
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	r, err := WaitReceipt(ctx, n.client, tx.Hash())
	if err != nil {
		n.t.Fatalf("receipt of %s: %v", tx.Hash(), err)
	}
	return r
}

// deploy deploys c from the first account and returns its address.
func (n *devnet) deploy(c Contract, args ...any) common.Address {
	n.t.Helper()
	addr, tx, err := Deploy(n.ctx, n.client, n.key[0], n.chainID, c, args...)
	if err != nil {
		n.t.Fatal(err)
	}
	r := n.mine(tx)
	if r.Status != types.ReceiptStatusSuccessful || r.ContractAddress != addr {
		n.t.Fatalf("deploy %s: status %d, address %s, want %s", c.Name, r.Status, r.ContractAddress, addr)
	}
	return addr
}

// transact sends a transaction from account who, mines it and requires success.
func (n *devnet) transact(who int, to common.Address, c Contract, method string, args ...any) *types.Receipt {
	n.t.Helper()
	tx, err := Transact(n.ctx, n.client, n.key[who], n.chainID, to, c, method, args...)
	if err != nil {
		n.t.Fatal(err)
	}
	r := n.mine(tx)
	if r.Status != types.ReceiptStatusSuccessful {
		n.t.Fatalf("%s.%s: status %d", c.Name, method, r.Status)
	}
	return r
}

func (n *devnet) call(to common.Address, c Contract, method string, args ...any) []any {
	n.t.Helper()
	out, err := Call(n.ctx, n.client, to, c, method, args...)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

// checkCall calls method and compares its outputs with want (see sameValue).
func (n *devnet) checkCall(to common.Address, c Contract, method string, args []any, want ...any) {
	n.t.Helper()
	got := n.call(to, c, method, args...)
	if len(got) != len(want) {
		n.t.Fatalf("%s.%s = %v, want %v", c.Name, method, got, want)
	}
	for i := range got {
		if !sameValue(got[i], want[i]) {
			n.t.Errorf("%s.%s output %d = %v, want %v", c.Name, method, i, got[i], want[i])
		}
	}
}

func (n *devnet) blockTime(r *types.Receipt) int64 {
	n.t.Helper()
	h, err := n.client.HeaderByNumber(n.ctx, r.BlockNumber)
	if err != nil {
		n.t.Fatal(err)
	}
	return int64(h.Time)
}

type fields map[string]any

type logWant struct {
	addr  common.Address
	c     Contract
	event string
	args  fields
}

// checkLogs requires the receipt's logs to be exactly want, in order.
func (n *devnet) checkLogs(r *types.Receipt, want ...logWant) {
	n.t.Helper()
	if len(r.Logs) != len(want) {
		n.t.Fatalf("%d logs, want %d", len(r.Logs), len(want))
	}
	for i, w := range want {
		log := r.Logs[i]
		if log.Address != w.addr {
			n.t.Errorf("log %d from %s, want %s", i, log.Address, w.addr)
		}
		event, args, err := w.c.UnpackLog(*log)
		if err != nil {
			n.t.Errorf("log %d: %v", i, err)
			continue
		}
		if event != w.event || len(args) != len(w.args) {
			n.t.Errorf("log %d: %s%v, want %s%v", i, event, args, w.event, w.args)
			continue
		}
		for k, v := range w.args {
			if !sameValue(args[k], v) {
				n.t.Errorf("log %d %s.%s = %v, want %v", i, event, k, args[k], v)
			}
		}
	}
}

// sameValue compares a decoded ABI value with an expected one, where
// integers and []int64 stand for *big.Int and []*big.Int.
func sameValue(got, want any) bool {
	switch w := want.(type) {
	case int:
		want = big.NewInt(int64(w))
	case int64:
		want = big.NewInt(w)
	case []int64:
		want = bigs(w...)
	}
	switch w := want.(type) {
	case *big.Int:
		g, ok := got.(*big.Int)
		return ok && g.Cmp(w) == 0
	case []*big.Int:
		g, ok := got.([]*big.Int)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range g {
			if g[i].Cmp(w[i]) != 0 {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(got, want)
}

func bigs(v ...int64) []*big.Int {
	out := make([]*big.Int, len(v))
	for i, x := range v {
		out[i] = big.NewInt(x)
	}
	return out
}

// v2AmountOut is Uniswap V2's getAmountOut (0.3% fee).
func v2AmountOut(in, reserveIn, reserveOut *big.Int) *big.Int {
	inWithFee := new(big.Int).Mul(in, big.NewInt(997))
	num := new(big.Int).Mul(inWithFee, reserveOut)
	den := new(big.Int).Add(new(big.Int).Mul(reserveIn, big.NewInt(1000)), inWithFee)
	return num.Div(num, den)
}

func eventDecl(ev abi.Event) string {
	parts := make([]string, len(ev.Inputs))
	for i, in := range ev.Inputs {
		parts[i] = in.Type.String()
		if in.Indexed {
			parts[i] += " indexed"
		}
		parts[i] += " " + in.Name
	}
	return ev.RawName + "(" + strings.Join(parts, ",") + ")"
}

func typeList(args abi.Arguments) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = a.Type.String()
	}
	return strings.Join(parts, ",")
}

func assertSameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
		return
	}
	for _, w := range want {
		if !contains(got, w) {
			t.Errorf("%s: %q missing from %v", what, w, got)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
