package solanatest

import (
	"github.com/gagliardetto/solana-go"
)

// errCustomFailed is the custom program error code the failing
// transactions report (the token program's "insufficient funds").
const errCustomFailed = 1

// transfer queues a system transfer paid by from. A transfer from an
// account holding less than lamports (after the fee) lands failed.
func (l *ledger) transfer(from, to solana.PublicKey, lamports uint64) *txRecord {
	ix := systemTransferIx(from, to, lamports)
	return l.land(from, []instruction{ix}, func(w *work) *ixFailure {
		if !w.debit(from, lamports) {
			return &ixFailure{index: 0, code: errCustomFailed, logs: []string{
				"Transfer: insufficient lamports",
			}}
		}
		w.credit(to, lamports)
		return nil
	})
}

// createMint creates a mint account owned by program in the pending state,
// with a funded mint authority; it lands in the next produced slot.
func (l *ledger) createMint(decimals uint8, program solana.PublicKey) solana.PublicKey {
	mint, authority := randomKey(), randomKey()
	l.put(authority, systemAccount(mintAuthorityFunding))
	l.put(mint, acctState{
		lamports: mintAccountRent,
		owner:    program,
		kind:     kindMint,
		mint:     mintState{decimals: decimals, authority: authority},
	})
	return mint
}

// decimals returns the decimals of a mint as of the pending state (0 when
// unknown).
func (l *ledger) decimals(mint solana.PublicKey) uint8 {
	if st, ok := l.current(mint); ok && st.kind == kindMint {
		return st.mint.decimals
	}
	return 0
}

// mintTo queues a MintToChecked of amount to owner's token account for
// mint, creating the account in the same transaction when missing. An
// unknown mint makes a failed transaction paid by the faucet.
func (l *ledger) mintTo(mint, owner solana.PublicKey, amount uint64) (solana.PublicKey, *txRecord) {
	mst, ok := l.current(mint)
	if !ok || mst.kind != kindMint {
		return randomKey(), l.failTx(l.faucet)
	}
	program, authority, decimals := mst.owner, mst.mint.authority, mst.mint.decimals
	tokenAccount, exists := l.tokenIdx[[2]solana.PublicKey{mint, owner}]
	var ixs []instruction
	if !exists {
		tokenAccount = randomKey()
		ixs = append(ixs, createATAIx(authority, tokenAccount, owner, mint, program))
	}
	ixs = append(ixs, mintToCheckedIx(program, mint, tokenAccount, authority, amount, decimals))
	rec := l.land(authority, ixs, func(w *work) *ixFailure {
		if !exists {
			if f := createTokenAccount(w, 0, authority, tokenAccount, owner, mint, program); f != nil {
				return f
			}
		}
		m, _ := w.get(mint)
		m.mint.supply += amount
		w.set(mint, m)
		ta, _ := w.get(tokenAccount)
		ta.token.amount += amount
		w.set(tokenAccount, ta)
		return nil
	})
	if rec.err == nil && !exists {
		l.tokenIdx[[2]solana.PublicKey{mint, owner}] = tokenAccount
	}
	return tokenAccount, rec
}

// createTokenAccount makes an initialized token account funded with rent by
// payer, as instruction index ix.
func createTokenAccount(w *work, ix int, payer, tokenAccount, owner, mint, program solana.PublicKey) *ixFailure {
	if !w.debit(payer, tokenAccountRent) {
		return &ixFailure{index: ix, code: errCustomFailed, logs: []string{
			"Transfer: insufficient lamports",
		}}
	}
	w.set(tokenAccount, acctState{
		lamports: tokenAccountRent,
		owner:    program,
		kind:     kindToken,
		token:    tokenState{mint: mint, owner: owner},
	})
	return nil
}

// tokenTransfer queues a TransferChecked of amount from fromOwner's token
// account of mint to toOwner's, creating the destination in the same
// transaction when missing; fromOwner pays. A missing source account or a
// short balance lands failed with custom error 1.
func (l *ledger) tokenTransfer(mint, fromOwner, toOwner solana.PublicKey, amount uint64) *txRecord {
	mst, ok := l.current(mint)
	if !ok || mst.kind != kindMint {
		return l.failTx(fromOwner)
	}
	program, decimals := mst.owner, mst.mint.decimals
	source, srcOK := l.tokenIdx[[2]solana.PublicKey{mint, fromOwner}]
	if !srcOK {
		source = randomKey()
	}
	dest, exists := l.tokenIdx[[2]solana.PublicKey{mint, toOwner}]
	var ixs []instruction
	if !exists {
		dest = randomKey()
		ixs = append(ixs, createATAIx(fromOwner, dest, toOwner, mint, program))
	}
	ixs = append(ixs, transferCheckedIx(program, source, mint, dest, fromOwner, amount, decimals))
	rec := l.land(fromOwner, ixs, func(w *work) *ixFailure {
		if !exists {
			if f := createTokenAccount(w, 0, fromOwner, dest, toOwner, mint, program); f != nil {
				return f
			}
		}
		last := len(ixs) - 1
		src, ok := w.get(source)
		if !ok || src.kind != kindToken || src.token.amount < amount {
			return &ixFailure{index: last, code: errCustomFailed, logs: []string{
				"Program log: Instruction: TransferChecked",
				"Program log: Error: insufficient funds",
			}}
		}
		src.token.amount -= amount
		w.set(source, src)
		dst, _ := w.get(dest)
		dst.token.amount += amount
		w.set(dest, dst)
		return nil
	})
	if rec.err == nil && !exists {
		l.tokenIdx[[2]solana.PublicKey{mint, toOwner}] = dest
	}
	return rec
}

// failTx queues a transaction, paid by payer, whose only instruction fails
// with custom program error 1.
func (l *ledger) failTx(payer solana.PublicKey) *txRecord {
	program := randomKey()
	ix := instruction{
		program:  program,
		accounts: []acctRef{{pubkey: payer, signer: true, writable: true}},
		data:     []byte{1},
		cu:       400,
	}
	return l.land(payer, []instruction{ix}, func(*work) *ixFailure {
		return &ixFailure{index: 0, code: errCustomFailed, logs: []string{"Program log: failing on purpose"}}
	})
}
