package solanatest

import (
	"fmt"
	"sort"

	"github.com/gagliardetto/solana-go"
)

// computeBudget is the compute-unit budget the logs quote per instruction.
const computeBudget = 200000

// keyMeta is one entry of a transaction's account keys.
type keyMeta struct {
	pubkey   solana.PublicKey
	signer   bool
	writable bool
}

// acctRef is an account an instruction uses.
type acctRef struct {
	pubkey   solana.PublicKey
	signer   bool
	writable bool
}

// instruction is one instruction of a modelled transaction.
type instruction struct {
	program  solana.PublicKey
	accounts []acctRef
	data     []byte
	// name is the jsonParsed program name ("system", "spl-token" …); empty
	// when the instruction is not parsed.
	name string
	// parsed is the jsonParsed {"type","info"} object.
	parsed map[string]any
	// logs are the program's log lines between invoke and success.
	logs []string
	// cu is the compute units it consumes.
	cu uint64
}

// tokenBalance is one entry of a transaction's pre/post token balances.
type tokenBalance struct {
	index    int
	mint     solana.PublicKey
	owner    solana.PublicKey
	program  solana.PublicKey
	amount   uint64
	decimals uint8
}

// txRecord is a queued or landed transaction with its metadata.
type txRecord struct {
	sig       solana.Signature
	blockhash solana.Hash
	keys      []keyMeta
	ixs       []instruction
	fee       uint64
	err       any // nil or the JSON error object
	pre, post []uint64
	preTok    []tokenBalance
	postTok   []tokenBalance
	logs      []string
	cu        uint64

	landed    bool
	slot      uint64
	blockTime int64
}

// keyIndex returns the index of pk in the account keys.
func (t *txRecord) keyIndex(pk solana.PublicKey) int {
	for i, k := range t.keys {
		if k.pubkey == pk {
			return i
		}
	}
	return -1
}

// mentions reports whether pk is one of the account keys.
func (t *txRecord) mentions(pk solana.PublicKey) bool { return t.keyIndex(pk) >= 0 }

// header returns numRequiredSignatures, numReadonlySignedAccounts and
// numReadonlyUnsignedAccounts of the (canonically ordered) keys.
func (t *txRecord) header() (signed, roSigned, roUnsigned uint8) {
	for _, k := range t.keys {
		switch {
		case k.signer && k.writable:
			signed++
		case k.signer:
			signed++
			roSigned++
		case !k.writable:
			roUnsigned++
		}
	}
	return signed, roSigned, roUnsigned
}

// ixFailure is how an instruction failed: its index and custom error code
// and the log lines it wrote before failing.
type ixFailure struct {
	index int
	code  uint32
	logs  []string
}

// work is a transaction's scratch view of the accounts it touches.
type work struct {
	l  *ledger
	st map[solana.PublicKey]acctState
}

// get returns an account's state as the transaction sees it.
func (w *work) get(pk solana.PublicKey) (acctState, bool) {
	if st, ok := w.st[pk]; ok {
		return st, true
	}
	return w.l.current(pk)
}

// set records an account's new state.
func (w *work) set(pk solana.PublicKey, st acctState) { w.st[pk] = st }

// debit takes lamports from pk; false when it holds too few.
func (w *work) debit(pk solana.PublicKey, lamports uint64) bool {
	st, ok := w.get(pk)
	if !ok || st.lamports < lamports {
		return false
	}
	st.lamports -= lamports
	w.set(pk, st)
	return true
}

// credit gives lamports to pk, creating a system account when missing.
func (w *work) credit(pk solana.PublicKey, lamports uint64) {
	st, ok := w.get(pk)
	if !ok {
		st = systemAccount(0)
	}
	st.lamports += lamports
	w.set(pk, st)
}

// clone copies the scratch state.
func (w *work) clone() *work {
	c := &work{l: w.l, st: make(map[solana.PublicKey]acctState, len(w.st))}
	for k, v := range w.st {
		c.st[k] = v
	}
	return c
}

// land builds, runs and queues a transaction paid by payer with the given
// instructions; run applies the instructions' effects to w and reports a
// failure. On failure only the fee is charged. It returns the queued record.
func (l *ledger) land(payer solana.PublicKey, ixs []instruction, run func(w *work) *ixFailure) *txRecord {
	rec := &txRecord{
		sig:       randomSignature(),
		blockhash: l.blocks[len(l.blocks)-1].hash,
		ixs:       ixs,
		keys:      orderKeys(payer, ixs),
	}
	w := &work{l: l, st: map[solana.PublicKey]acctState{}}
	for _, k := range rec.keys {
		st, _ := l.current(k.pubkey)
		rec.pre = append(rec.pre, st.lamports)
	}
	rec.preTok = l.tokenBalances(rec, w)
	payerSt, _ := w.get(payer)
	rec.fee = min(feeLamports, payerSt.lamports)
	w.debit(payer, rec.fee)
	afterFee := w.clone()
	fail := run(w)
	if fail != nil {
		w = afterFee
		rec.err = map[string]any{"InstructionError": []any{fail.index, map[string]any{"Custom": fail.code}}}
	}
	rec.logs, rec.cu = ixLogs(ixs, fail)
	for _, k := range rec.keys {
		st, _ := w.get(k.pubkey)
		rec.post = append(rec.post, st.lamports)
	}
	rec.postTok = l.tokenBalances(rec, w)
	keys := make([]solana.PublicKey, 0, len(w.st))
	for k := range w.st {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return rec.keyIndex(keys[i]) < rec.keyIndex(keys[j]) })
	for _, k := range keys {
		l.put(k, w.st[k])
	}
	l.queue = append(l.queue, rec)
	l.txs[rec.sig] = rec
	return rec
}

// tokenBalances returns the token balances of the transaction's token
// accounts as w sees them.
func (l *ledger) tokenBalances(rec *txRecord, w *work) []tokenBalance {
	out := []tokenBalance{}
	for i, k := range rec.keys {
		st, ok := w.get(k.pubkey)
		if !ok || st.kind != kindToken {
			continue
		}
		var decimals uint8
		if m, ok := w.get(st.token.mint); ok && m.kind == kindMint {
			decimals = m.mint.decimals
		}
		out = append(out, tokenBalance{
			index: i, mint: st.token.mint, owner: st.token.owner, program: st.owner,
			amount: st.token.amount, decimals: decimals,
		})
	}
	return out
}

// orderKeys collects the account keys of the instructions in the canonical
// order: the fee payer, then writable signers, read-only signers, writable
// non-signers and read-only non-signers, each in order of first use; flags
// of repeated keys are merged.
func orderKeys(payer solana.PublicKey, ixs []instruction) []keyMeta {
	var keys []keyMeta
	add := func(pk solana.PublicKey, signer, writable bool) {
		for i := range keys {
			if keys[i].pubkey == pk {
				keys[i].signer = keys[i].signer || signer
				keys[i].writable = keys[i].writable || writable
				return
			}
		}
		keys = append(keys, keyMeta{pubkey: pk, signer: signer, writable: writable})
	}
	add(payer, true, true)
	for _, ix := range ixs {
		for _, a := range ix.accounts {
			add(a.pubkey, a.signer, a.writable)
		}
	}
	for _, ix := range ixs {
		add(ix.program, false, false)
	}
	rank := func(k keyMeta) int {
		switch {
		case k.pubkey == payer:
			return 0
		case k.signer && k.writable:
			return 1
		case k.signer:
			return 2
		case k.writable:
			return 3
		default:
			return 4
		}
	}
	sort.SliceStable(keys, func(i, j int) bool { return rank(keys[i]) < rank(keys[j]) })
	return keys
}

// ixLogs returns the transaction's log messages and consumed compute units.
func ixLogs(ixs []instruction, fail *ixFailure) ([]string, uint64) {
	var logs []string
	var cu uint64
	for i, ix := range ixs {
		id := ix.program.String()
		logs = append(logs, fmt.Sprintf("Program %s invoke [1]", id))
		if fail != nil && fail.index == i {
			logs = append(logs, fail.logs...)
			used := ix.cu / 2
			cu += used
			logs = append(logs,
				fmt.Sprintf("Program %s consumed %d of %d compute units", id, used, computeBudget),
				fmt.Sprintf("Program %s failed: custom program error: 0x%x", id, fail.code))
			return logs, cu
		}
		logs = append(logs, ix.logs...)
		cu += ix.cu
		if ix.program != solana.SystemProgramID {
			logs = append(logs, fmt.Sprintf("Program %s consumed %d of %d compute units", id, ix.cu, computeBudget))
		}
		logs = append(logs, fmt.Sprintf("Program %s success", id))
	}
	return logs, cu
}
