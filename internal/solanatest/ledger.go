package solanatest

import (
	"crypto/rand"
	"sort"
	"time"

	"github.com/gagliardetto/solana-go"
)

// level is a commitment level: how settled a slot is.
type level int

const (
	levelProcessed level = iota
	levelConfirmed
	levelFinalized
	numLevels
)

// String returns the JSON-RPC name of the level ("processed" …).
func (l level) String() string {
	switch l {
	case levelProcessed:
		return "processed"
	case levelConfirmed:
		return "confirmed"
	default:
		return "finalized"
	}
}

// Lamport amounts the ledger charges.
const (
	feeLamports          = 5000
	tokenAccountRent     = 2039280
	mintAccountRent      = 1461600
	lamportsPerSol       = 1_000_000_000
	faucetLamports       = 500_000_000 * lamportsPerSol
	mintAuthorityFunding = 1000 * lamportsPerSol
	maxRentEpoch         = ^uint64(0)
)

// acctKind says how an account's data is laid out.
type acctKind int

const (
	kindSystem acctKind = iota
	kindMint
	kindToken
)

// mintState is the content of an SPL mint account.
type mintState struct {
	decimals  uint8
	supply    uint64
	authority solana.PublicKey
}

// tokenState is the content of an SPL token account.
type tokenState struct {
	mint   solana.PublicKey
	owner  solana.PublicKey
	amount uint64
}

// acctState is one account's whole state at one moment. It is a value:
// copies never share mutable memory.
type acctState struct {
	lamports uint64
	owner    solana.PublicKey // the owning program
	kind     acctKind
	mint     mintState
	token    tokenState
}

// version is an account's state from slot on.
type version struct {
	slot uint64
	st   acctState
}

// account is an account's history, oldest first.
type account struct {
	versions []version
}

// block is a produced slot's block.
type block struct {
	slot     uint64
	parent   uint64
	hash     solana.Hash
	prevHash solana.Hash
	time     int64
	height   uint64
	txs      []*txRecord
	changed  []solana.PublicKey // accounts changed in this slot, first change first
}

// ledger is the modelled chain state. The Server's mutex guards it.
type ledger struct {
	confirmDepth  uint64
	finalizeDepth uint64

	genesisHash solana.Hash
	faucet      solana.PublicKey

	slots  []*block // index: slot number; nil: skipped
	blocks []*block // produced blocks in order

	accounts map[solana.PublicKey]*account
	order    []solana.PublicKey // accounts in creation order

	// pending holds the states the queued transactions leave behind; they
	// land in the next produced slot.
	pending      map[solana.PublicKey]acctState
	pendingOrder []solana.PublicKey
	queue        []*txRecord

	txs      map[solana.Signature]*txRecord
	byAddr   map[solana.PublicKey][]*txRecord         // landed, oldest first
	tokenIdx map[[2]solana.PublicKey]solana.PublicKey // (mint, owner) → token account, pending included
}

// newLedger returns a ledger holding the genesis block at slot 0.
func newLedger(confirmDepth, finalizeDepth uint64, now time.Time) *ledger {
	l := &ledger{
		confirmDepth:  confirmDepth,
		finalizeDepth: finalizeDepth,
		genesisHash:   randomHash(),
		faucet:        randomKey(),
		accounts:      map[solana.PublicKey]*account{},
		pending:       map[solana.PublicKey]acctState{},
		txs:           map[solana.Signature]*txRecord{},
		byAddr:        map[solana.PublicKey][]*txRecord{},
		tokenIdx:      map[[2]solana.PublicKey]solana.PublicKey{},
	}
	genesis := &block{hash: randomHash(), prevHash: l.genesisHash, time: now.Unix()}
	l.slots = append(l.slots, genesis)
	l.blocks = append(l.blocks, genesis)
	l.accounts[l.faucet] = &account{versions: []version{{slot: 0, st: systemAccount(faucetLamports)}}}
	l.order = append(l.order, l.faucet)
	return l
}

// systemAccount returns the state of a system-owned account.
func systemAccount(lamports uint64) acctState {
	return acctState{lamports: lamports, owner: solana.SystemProgramID, kind: kindSystem}
}

// newest returns the newest slot, skipped slots included.
func (l *ledger) newest() uint64 { return uint64(len(l.slots) - 1) }

// depth returns how many later slots a slot needs to reach lv.
func (l *ledger) depth(lv level) uint64 {
	switch lv {
	case levelConfirmed:
		return l.confirmDepth
	case levelFinalized:
		return l.finalizeDepth
	default:
		return 0
	}
}

// limit returns the newest slot (possibly skipped) that has reached lv.
func (l *ledger) limit(lv level) uint64 {
	n, d := l.newest(), l.depth(lv)
	if n < d {
		return 0
	}
	return n - d
}

// newestBlock returns the newest produced block at or below slot.
func (l *ledger) newestBlock(slot uint64) *block {
	for s := int(min(slot, l.newest())); s >= 0; s-- {
		if b := l.slots[s]; b != nil {
			return b
		}
	}
	return l.blocks[0]
}

// root returns the newest finalized produced slot.
func (l *ledger) root() uint64 { return l.newestBlock(l.limit(levelFinalized)).slot }

// levelOf returns the commitment a slot has reached.
func (l *ledger) levelOf(slot uint64) level {
	switch {
	case slot <= l.limit(levelFinalized):
		return levelFinalized
	case slot <= l.limit(levelConfirmed):
		return levelConfirmed
	default:
		return levelProcessed
	}
}

// stateAt returns an account's state as of slot; false when it did not
// exist yet.
func (l *ledger) stateAt(key solana.PublicKey, slot uint64) (acctState, bool) {
	a := l.accounts[key]
	if a == nil {
		return acctState{}, false
	}
	i := sort.Search(len(a.versions), func(i int) bool { return a.versions[i].slot > slot })
	if i == 0 {
		return acctState{}, false
	}
	return a.versions[i-1].st, true
}

// current returns an account's state with the queued transactions applied.
func (l *ledger) current(key solana.PublicKey) (acctState, bool) {
	if st, ok := l.pending[key]; ok {
		return st, true
	}
	return l.stateAt(key, l.newest())
}

// put records an account's state in the pending overlay.
func (l *ledger) put(key solana.PublicKey, st acctState) {
	if _, ok := l.pending[key]; !ok {
		l.pendingOrder = append(l.pendingOrder, key)
	}
	l.pending[key] = st
}

// produce appends a produced slot holding the queued transactions and the
// pending account states, and returns its block.
func (l *ledger) produce(now time.Time) *block {
	prev := l.blocks[len(l.blocks)-1]
	b := &block{
		slot:     uint64(len(l.slots)),
		parent:   prev.slot,
		hash:     randomHash(),
		prevHash: prev.hash,
		time:     now.Unix(),
		height:   prev.height + 1,
		txs:      l.queue,
		changed:  l.pendingOrder,
	}
	for _, key := range l.pendingOrder {
		a := l.accounts[key]
		if a == nil {
			a = &account{}
			l.accounts[key] = a
			l.order = append(l.order, key)
		}
		a.versions = append(a.versions, version{slot: b.slot, st: l.pending[key]})
	}
	for _, tx := range b.txs {
		tx.landed, tx.slot, tx.blockTime = true, b.slot, b.time
		for _, k := range tx.keys {
			l.byAddr[k.pubkey] = append(l.byAddr[k.pubkey], tx)
		}
	}
	l.queue, l.pending, l.pendingOrder = nil, map[solana.PublicKey]acctState{}, nil
	l.slots = append(l.slots, b)
	l.blocks = append(l.blocks, b)
	return b
}

// skip appends a skipped slot.
func (l *ledger) skip() { l.slots = append(l.slots, nil) }

// block returns the block of a produced slot, nil when skipped or not yet
// reached.
func (l *ledger) block(slot uint64) *block {
	if slot > l.newest() {
		return nil
	}
	return l.slots[slot]
}

// randomHash returns 32 random bytes.
func randomHash() solana.Hash {
	var h solana.Hash
	_, _ = rand.Read(h[:]) // crypto/rand.Read never fails
	return h
}

// randomKey returns a random public key (not necessarily on the curve,
// which does not matter to the fake).
func randomKey() solana.PublicKey { return solana.PublicKey(randomHash()) }

// randomSignature returns 64 random bytes.
func randomSignature() solana.Signature {
	var s solana.Signature
	_, _ = rand.Read(s[:])
	return s
}
