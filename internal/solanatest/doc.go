// Package solanatest is a hermetic, in-process fake Solana node for tests
// and local development: it serves the documented Solana HTTP JSON-RPC
// methods and the WebSocket pubsub methods on one loopback port, over a
// small modelled ledger (system accounts with lamports, SPL Token and
// Token-2022 mints and token accounts, produced and skipped slots, blocks,
// transactions with metadata and the processed, confirmed and finalized
// commitment levels).
//
// Tests drive the ledger with the Server's methods (Airdrop, Transfer,
// MintTo, Produce, Skip …) and inject faults (DropConnections, Inject,
// RateLimit, FailRPC). Transactions are queued and land in the next produced
// slot, like on a real leader. The fake does not execute real transactions:
// sendTransaction always answers a simulation failure.
//
// The package does not depend on package testing, so a development command
// can run a Server standalone.
package solanatest
