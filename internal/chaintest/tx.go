package chaintest

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/feedd/feedd/internal/devchain"
	"github.com/feedd/feedd/internal/devchain/contracts"
)

// Gas is the limit Deploy and Send give transactions: generous, because the
// dev chain's fork prices first storage writes high, and explicit, so that
// transactions that revert are sent too.
const Gas = 3_000_000

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// Commit seals a block (manual mode) and returns its hash.
func (e *Env) Commit(t testing.TB) common.Hash {
	t.Helper()
	h, err := e.Dev.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Deploy deploys c from account from, seals it and returns its address.
func (e *Env) Deploy(t testing.TB, from devchain.Account, c contracts.Contract, args ...any) common.Address {
	t.Helper()
	data, err := c.DeployData(args...)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := e.Dev.Send(ctx(t), from, devchain.TxRequest{Data: data, Gas: Gas})
	if err != nil {
		t.Fatalf("deploy %s: %v", c.Name, err)
	}
	r := e.Mine(t, tx)
	if r.Status != 1 {
		t.Fatalf("deploy %s failed", c.Name)
	}
	return r.ContractAddress
}

// Send sends a call of method on the contract at to, without sealing.
func (e *Env) Send(t testing.TB, from devchain.Account, to common.Address, c contracts.Contract, method string, args ...any) *types.Transaction {
	t.Helper()
	data, err := c.Pack(method, args...)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := e.Dev.Send(ctx(t), from, devchain.TxRequest{To: &to, Data: data, Gas: Gas})
	if err != nil {
		t.Fatalf("%s.%s: %v", c.Name, method, err)
	}
	return tx
}

// Transfer sends wei without sealing.
func (e *Env) Transfer(t testing.TB, from devchain.Account, to common.Address, wei *big.Int) *types.Transaction {
	t.Helper()
	tx, err := e.Dev.Transfer(ctx(t), from, to, wei)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// Mine seals a block (manual mode) and returns tx's receipt.
func (e *Env) Mine(t testing.TB, tx *types.Transaction) *types.Receipt {
	t.Helper()
	e.Commit(t)
	r, err := e.Dev.WaitReceipt(ctx(t), tx.Hash())
	if err != nil {
		t.Fatalf("receipt of %s: %v", tx.Hash(), err)
	}
	return r
}
