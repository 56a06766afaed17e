// Package contracts holds the Solidity contracts deployed on the local
// go-ethereum dev chain (an ERC-20, an ERC-721, an ERC-1155, a Chainlink-style
// aggregator and a Uniswap-V2-style pair), their compiled ABI and bytecode, and
// helpers to deploy them, send transactions to them and decode their logs.
//
// The .abi and .bin files next to the sources are produced by compile.js with
// the solc-js version pinned in package.json (run `go generate` in this
// folder); they are checked in and embedded, so building and testing this
// package needs neither node nor solc. Each .bin holds the creation bytecode as
// hex without a 0x prefix.
package contracts

import (
	"bytes"
	"embed"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/core/types"
)

//go:embed *.abi *.bin
var artifacts embed.FS

// Contract is one compiled contract: its ABI and creation bytecode. Values are
// read-only and safe for concurrent use; do not modify ABI or Bin.
type Contract struct {
	// Name is the Solidity contract name, e.g. "TestToken".
	Name string
	// ABI is the parsed ABI. Overloaded functions appear under their Solidity
	// name for the first overload and name0, name1, ... for the others, as
	// go-ethereum's abi package resolves them; Pack also finds an overload by
	// its Solidity name and argument count.
	ABI abi.ABI
	// Bin is the creation bytecode, without constructor arguments.
	Bin []byte
}

var (
	// Token is TestToken, an ERC-20 with constructor (string name, string
	// symbol, uint8 decimals) and an open mint(address to, uint256 amount).
	// Failing calls revert with "TestToken: ..." reasons, e.g.
	// "TestToken: insufficient balance".
	Token = mustLoad("TestToken")
	// NFT is TestNFT, an ERC-721 with constructor (string name, string symbol)
	// and an open mint(address to) returning sequential ids from 1.
	NFT = mustLoad("TestNFT")
	// Multi is TestMulti, an ERC-1155 without constructor arguments, with open
	// mint(address to, uint256 id, uint256 amount) and mintBatch(address to,
	// uint256[] ids, uint256[] amounts). It calls no receiver hooks.
	Multi = mustLoad("TestMulti")
	// Aggregator is TestAggregator, a Chainlink AggregatorV3-style feed with
	// constructor (uint8 decimals, string description, int256 initialAnswer),
	// which becomes round 1, and an open updateAnswer(int256) that starts the
	// next round and emits NewRound and AnswerUpdated.
	Aggregator = mustLoad("TestAggregator")
	// Pair is TestPair, a Uniswap-V2-style pair with constructor (address
	// tokenA, address tokenB); token0 is the lower address. Seed it by
	// transferring both tokens in and calling sync(); swapExactIn(address
	// tokenIn, uint256 amountIn, address to) swaps in one transaction after an
	// approve. Emits Uniswap V2's Sync and Swap events.
	Pair = mustLoad("TestPair")
)

// All returns every contract of the package, ordered by name.
func All() []Contract {
	all := []Contract{Token, NFT, Multi, Aggregator, Pair}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return all
}

// Load reads the embedded <name>.abi and <name>.bin and returns the contract.
// It fails if either file is missing or does not parse, or the bytecode is
// empty.
func Load(name string) (Contract, error) {
	abiJSON, err := artifacts.ReadFile(name + ".abi")
	if err != nil {
		return Contract{}, fmt.Errorf("contracts: %s: %w", name, err)
	}
	parsed, err := abi.JSON(bytes.NewReader(abiJSON))
	if err != nil {
		return Contract{}, fmt.Errorf("contracts: %s.abi: %w", name, err)
	}
	binHex, err := artifacts.ReadFile(name + ".bin")
	if err != nil {
		return Contract{}, fmt.Errorf("contracts: %s: %w", name, err)
	}
	bin, err := hex.DecodeString(string(bytes.TrimPrefix(bytes.TrimSpace(binHex), []byte("0x"))))
	if err != nil {
		return Contract{}, fmt.Errorf("contracts: %s.bin: %w", name, err)
	}
	if len(bin) == 0 {
		return Contract{}, fmt.Errorf("contracts: %s.bin: empty bytecode", name)
	}
	return Contract{Name: name, ABI: parsed, Bin: bin}, nil
}

func mustLoad(name string) Contract {
	c, err := Load(name)
	if err != nil {
		panic(err)
	}
	return c
}

// DeployData returns the data of a contract-creation transaction: the creation
// bytecode followed by the ABI-encoded constructor arguments. The result is a
// fresh slice.
func (c Contract) DeployData(args ...any) ([]byte, error) {
	packed, err := c.ABI.Pack("", args...)
	if err != nil {
		return nil, fmt.Errorf("contracts: %s constructor: %w", c.Name, err)
	}
	return slices.Concat(c.Bin, packed), nil
}

// Pack returns the call data (selector and ABI-encoded arguments) of method.
// method is an ABI method key (e.g. "safeTransferFrom0") or, for an
// overloaded function, its Solidity name: the overload taking len(args)
// arguments is used.
func (c Contract) Pack(method string, args ...any) ([]byte, error) {
	m, err := c.method(method, len(args))
	if err != nil {
		return nil, err
	}
	packed, err := m.Inputs.Pack(args...)
	if err != nil {
		return nil, fmt.Errorf("contracts: %s.%s: %w", c.Name, m.Name, err)
	}
	return slices.Concat(m.ID, packed), nil
}

// method finds the method Pack encodes for name and nargs arguments.
func (c Contract) method(name string, nargs int) (abi.Method, error) {
	if m, ok := c.ABI.Methods[name]; ok && len(m.Inputs) == nargs {
		return m, nil
	}
	var found []abi.Method
	for _, m := range c.ABI.Methods {
		if m.RawName == name && len(m.Inputs) == nargs {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		if m, ok := c.ABI.Methods[name]; ok {
			return abi.Method{}, fmt.Errorf("contracts: %s.%s takes %d arguments, got %d", c.Name, name, len(m.Inputs), nargs)
		}
		return abi.Method{}, fmt.Errorf("contracts: %s has no method %q taking %d arguments", c.Name, name, nargs)
	default:
		return abi.Method{}, fmt.Errorf("contracts: %s.%s is ambiguous with %d arguments: use the ABI key", c.Name, name, nargs)
	}
}

// Unpack decodes the return data of method (an ABI method key) into its
// output values, in declaration order, as go-ethereum's abi package types
// them (e.g. *big.Int for uint256, common.Address for address).
func (c Contract) Unpack(method string, data []byte) ([]any, error) {
	m, ok := c.ABI.Methods[method]
	if !ok {
		return nil, fmt.Errorf("contracts: %s has no method %q", c.Name, method)
	}
	out, err := m.Outputs.Unpack(data)
	if err != nil {
		return nil, fmt.Errorf("contracts: %s.%s: %w", c.Name, method, err)
	}
	return out, nil
}

// UnpackLog identifies the event of log by its first topic and returns the
// event name and every argument by name, indexed ones decoded from the topics
// and the others from the data. It fails if the contract declares no such
// event or the topics do not match the event's indexed arguments (so an
// ERC-721 Transfer does not decode as an ERC-20 Transfer). It does not check
// log.Address.
func (c Contract) UnpackLog(log types.Log) (event string, args map[string]any, err error) {
	if len(log.Topics) == 0 {
		return "", nil, fmt.Errorf("contracts: %s: log without topics", c.Name)
	}
	ev, err := c.ABI.EventByID(log.Topics[0])
	if err != nil {
		return "", nil, fmt.Errorf("contracts: %s: %w", c.Name, err)
	}
	args = make(map[string]any, len(ev.Inputs))
	var indexed abi.Arguments
	for _, in := range ev.Inputs {
		if in.Indexed {
			indexed = append(indexed, in)
		}
	}
	if err := abi.ParseTopicsIntoMap(args, indexed, log.Topics[1:]); err != nil {
		return "", nil, fmt.Errorf("contracts: %s.%s topics: %w", c.Name, ev.Name, err)
	}
	if err := ev.Inputs.UnpackIntoMap(args, log.Data); err != nil {
		return "", nil, fmt.Errorf("contracts: %s.%s data: %w", c.Name, ev.Name, err)
	}
	return ev.Name, args, nil
}
