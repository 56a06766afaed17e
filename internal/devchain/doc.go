// Package devchain runs a real go-ethereum development chain inside the
// current process, for tests and for the cmd/devchain command.
//
// A Chain is the same wiring `geth --dev` uses — a node.Node with the eth
// service, the filter API (eth_subscribe newHeads/logs, eth_newFilter, ...)
// and a catalyst.SimulatedBeacon driving block production — with an
// in-memory database, no p2p networking, and JSON-RPC served over HTTP and
// WebSocket on one port of 127.0.0.1 (random unless Options.Addr names
// one). Starting one takes tens of
// milliseconds, so every test can have its own chain.
//
// Blocks are produced in one of three modes (see Options): as soon as a
// transaction arrives (the default), every Options.Period, or only when the
// caller calls Commit (Options.Manual). Commit, Fork, Rollback and
// AdjustTime drive the chain directly in every mode, which is how tests
// build reorgs and move chain time.
//
// One deviation from geth's wiring: eth_subscribe "newHeads" and "logs" are
// served by this package on go-ethereum's own filters.EventSystem, so that
// Close can wait for every subscription goroutine (go-ethereum's filter API
// can leave one blocked forever when the node stops while a subscriber is
// still connected). Notifications are the same.
//
// Proxy is a TCP proxy that sits between a client and the chain's RPC port
// and can cut every connection and refuse new ones on demand, to test how a
// WebSocket client survives a lost node.
//
// Logging: go-ethereum's package-level code (eth, core, txpool, miner) logs
// through go-ethereum's global logger (log.Root), which discards everything
// unless a program installs one with log.SetDefault. This package never
// changes that global; Options.Logger only receives this package's own
// messages and the node's.
package devchain
