package solanatest

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/gagliardetto/solana-go"
)

// SPL account sizes.
const (
	mintSize         = 82
	tokenAccountSize = 165
)

// SPL Token instruction tags.
const (
	tagTransferChecked = 12
	tagMintToChecked   = 14
)

// isTokenProgram reports whether p is the Token or the Token-2022 program.
func isTokenProgram(p solana.PublicKey) bool {
	return p == solana.TokenProgramID || p == solana.Token2022ProgramID
}

// tokenProgramName returns the jsonParsed program name of a token program.
func tokenProgramName(p solana.PublicKey) string {
	if p == solana.Token2022ProgramID {
		return "spl-token-2022"
	}
	return "spl-token"
}

// accountData returns the binary data of an account.
func accountData(st acctState) []byte {
	switch st.kind {
	case kindMint:
		d := make([]byte, mintSize)
		binary.LittleEndian.PutUint32(d[0:], 1) // mint authority: Some
		copy(d[4:36], st.mint.authority[:])
		binary.LittleEndian.PutUint64(d[36:], st.mint.supply)
		d[44] = st.mint.decimals
		d[45] = 1 // initialized; freeze authority None
		return d
	case kindToken:
		d := make([]byte, tokenAccountSize)
		copy(d[0:32], st.token.mint[:])
		copy(d[32:64], st.token.owner[:])
		binary.LittleEndian.PutUint64(d[64:], st.token.amount)
		d[108] = 1 // AccountState::Initialized
		return d
	default:
		return []byte{}
	}
}

// uiAmount renders a token amount as the RPC's uiTokenAmount object.
func uiAmount(amount uint64, decimals uint8) map[string]any {
	s := uiAmountString(amount, decimals)
	f, _ := strconv.ParseFloat(s, 64) // s is a well-formed decimal
	return map[string]any{
		"amount":         strconv.FormatUint(amount, 10),
		"decimals":       decimals,
		"uiAmount":       f,
		"uiAmountString": s,
	}
}

// uiAmountString renders amount/10^decimals without trailing zeros.
func uiAmountString(amount uint64, decimals uint8) string {
	s := strconv.FormatUint(amount, 10)
	d := int(decimals)
	if d == 0 {
		return s
	}
	if len(s) <= d {
		s = strings.Repeat("0", d-len(s)+1) + s
	}
	whole, frac := s[:len(s)-d], strings.TrimRight(s[len(s)-d:], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// parsedAccountData returns the jsonParsed data of a mint or token account
// and false for other accounts. decimals looks up a mint's decimals.
func parsedAccountData(st acctState, decimals func(solana.PublicKey) uint8) (map[string]any, bool) {
	switch st.kind {
	case kindMint:
		return map[string]any{
			"program": tokenProgramName(st.owner),
			"parsed": map[string]any{
				"type": "mint",
				"info": map[string]any{
					"decimals":        st.mint.decimals,
					"supply":          strconv.FormatUint(st.mint.supply, 10),
					"mintAuthority":   st.mint.authority.String(),
					"freezeAuthority": nil,
					"isInitialized":   true,
				},
			},
			"space": mintSize,
		}, true
	case kindToken:
		return map[string]any{
			"program": tokenProgramName(st.owner),
			"parsed": map[string]any{
				"type": "account",
				"info": map[string]any{
					"mint":        st.token.mint.String(),
					"owner":       st.token.owner.String(),
					"tokenAmount": uiAmount(st.token.amount, decimals(st.token.mint)),
					"state":       "initialized",
					"isNative":    false,
				},
			},
			"space": tokenAccountSize,
		}, true
	default:
		return nil, false
	}
}

// createATAIx returns the associated-token-account create instruction that
// makes tokenAccount for (owner, mint), paid by payer.
func createATAIx(payer, tokenAccount, owner, mint, program solana.PublicKey) instruction {
	return instruction{
		program: solana.SPLAssociatedTokenAccountProgramID,
		accounts: []acctRef{
			{pubkey: payer, signer: true, writable: true},
			{pubkey: tokenAccount, writable: true},
			{pubkey: owner},
			{pubkey: mint},
			{pubkey: solana.SystemProgramID},
			{pubkey: program},
		},
		data: []byte{0},
		name: "spl-associated-token-account",
		parsed: map[string]any{
			"type": "create",
			"info": map[string]any{
				"account":       tokenAccount.String(),
				"mint":          mint.String(),
				"source":        payer.String(),
				"systemProgram": solana.SystemProgramID.String(),
				"tokenProgram":  program.String(),
				"wallet":        owner.String(),
			},
		},
		logs: []string{"Program log: Create"},
		cu:   20000,
	}
}

// mintToCheckedIx returns the token program's MintToChecked instruction.
func mintToCheckedIx(program, mint, tokenAccount, authority solana.PublicKey, amount uint64, decimals uint8) instruction {
	data := binary.LittleEndian.AppendUint64([]byte{tagMintToChecked}, amount)
	return instruction{
		program: program,
		accounts: []acctRef{
			{pubkey: mint, writable: true},
			{pubkey: tokenAccount, writable: true},
			{pubkey: authority, signer: true},
		},
		data: append(data, decimals),
		name: tokenProgramName(program),
		parsed: map[string]any{
			"type": "mintToChecked",
			"info": map[string]any{
				"account":       tokenAccount.String(),
				"mint":          mint.String(),
				"mintAuthority": authority.String(),
				"tokenAmount":   uiAmount(amount, decimals),
			},
		},
		logs: []string{"Program log: Instruction: MintToChecked"},
		cu:   4500,
	}
}

// transferCheckedIx returns the token program's TransferChecked instruction.
func transferCheckedIx(program, source, mint, dest, authority solana.PublicKey, amount uint64, decimals uint8) instruction {
	data := binary.LittleEndian.AppendUint64([]byte{tagTransferChecked}, amount)
	return instruction{
		program: program,
		accounts: []acctRef{
			{pubkey: source, writable: true},
			{pubkey: mint},
			{pubkey: dest, writable: true},
			{pubkey: authority, signer: true},
		},
		data: append(data, decimals),
		name: tokenProgramName(program),
		parsed: map[string]any{
			"type": "transferChecked",
			"info": map[string]any{
				"source":      source.String(),
				"destination": dest.String(),
				"mint":        mint.String(),
				"authority":   authority.String(),
				"tokenAmount": uiAmount(amount, decimals),
			},
		},
		logs: []string{"Program log: Instruction: TransferChecked"},
		cu:   6200,
	}
}

// systemTransferIx returns the system program's Transfer instruction.
func systemTransferIx(from, to solana.PublicKey, lamports uint64) instruction {
	data := binary.LittleEndian.AppendUint32(nil, 2)
	return instruction{
		program: solana.SystemProgramID,
		accounts: []acctRef{
			{pubkey: from, signer: true, writable: true},
			{pubkey: to, writable: true},
		},
		data: binary.LittleEndian.AppendUint64(data, lamports),
		name: "system",
		parsed: map[string]any{
			"type": "transfer",
			"info": map[string]any{
				"source":      from.String(),
				"destination": to.String(),
				"lamports":    lamports,
			},
		},
		cu: 150,
	}
}
