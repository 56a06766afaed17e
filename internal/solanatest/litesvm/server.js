'use strict';
// JSON-RPC (HTTP) and pubsub (WebSocket) facade over LiteSVM, for tests.
//
// Every transaction sent with sendTransaction (and every requestAirdrop) is
// executed at once in LiteSVM and lands in a block of its own: the slot moves
// forward by one and the blockhash is expired. Every slot is processed,
// confirmed and finalized at once (root == slot).
//
// Usage: node server.js [port]   (or PORT=...; 0 picks a free port)
// Prints {"rpc":"http://127.0.0.1:P","ws":"ws://127.0.0.1:P"} when listening;
// exits when stdin closes or on SIGTERM/SIGINT.

const http = require('http');
const crypto = require('crypto');
const { WebSocketServer } = require('ws');
const { LiteSVM } = require('litesvm');

// ---------------------------------------------------------------- constants

const SYSTEM_PROGRAM = '11111111111111111111111111111111';
const TOKEN_PROGRAM = 'TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA';
const TOKEN_2022_PROGRAM = 'TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb';
const ATA_PROGRAM = 'ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL';
const FEE_PER_SIGNATURE = 5000n;
const RENT_EPOCH_MAX = 18446744073709551615n;
const MAX_PROCESSING_AGE = 150;
const VERSION = { 'solana-core': '2.2.0', 'feature-set': 3294202862 };

const TX_ERRORS = ('AccountInUse AccountLoadedTwice AccountNotFound ProgramAccountNotFound ' +
  'InsufficientFundsForFee InvalidAccountForFee AlreadyProcessed BlockhashNotFound CallChainTooDeep ' +
  'MissingSignatureForFee InvalidAccountIndex SignatureFailure InvalidProgramForExecution SanitizeFailure ' +
  'ClusterMaintenance AccountBorrowOutstanding WouldExceedMaxBlockCostLimit UnsupportedVersion ' +
  'InvalidWritableAccount WouldExceedMaxAccountCostLimit WouldExceedAccountDataBlockLimit TooManyAccountLocks ' +
  'AddressLookupTableNotFound InvalidAddressLookupTableOwner InvalidAddressLookupTableData ' +
  'InvalidAddressLookupTableIndex InvalidRentPayingAccount WouldExceedMaxVoteCostLimit ' +
  'WouldExceedAccountDataTotalLimit MaxLoadedAccountsDataSizeExceeded ResanitizationNeeded ' +
  'InvalidLoadedAccountsDataSizeLimit UnbalancedTransaction ProgramCacheHitMaxLimit CommitCancelled').split(' ');
const IX_ERRORS = ('GenericError InvalidArgument InvalidInstructionData InvalidAccountData AccountDataTooSmall ' +
  'InsufficientFunds IncorrectProgramId MissingRequiredSignature AccountAlreadyInitialized UninitializedAccount ' +
  'UnbalancedInstruction ModifiedProgramId ExternalAccountLamportSpend ExternalAccountDataModified ' +
  'ReadonlyLamportChange ReadonlyDataModified DuplicateAccountIndex ExecutableModified RentEpochModified ' +
  'NotEnoughAccountKeys AccountDataSizeChanged AccountNotExecutable AccountBorrowFailed AccountBorrowOutstanding ' +
  'DuplicateAccountOutOfSync InvalidError ExecutableDataModified ExecutableLamportChange ' +
  'ExecutableAccountNotRentExempt UnsupportedProgramId CallDepth MissingAccount ReentrancyNotAllowed ' +
  'MaxSeedLengthExceeded InvalidSeeds InvalidRealloc ComputationalBudgetExceeded PrivilegeEscalation ' +
  'ProgramEnvironmentSetupFailure ProgramFailedToComplete ProgramFailedToCompile Immutable IncorrectAuthority ' +
  'AccountNotRentExempt InvalidAccountOwner ArithmeticOverflow UnsupportedSysvar IllegalOwner ' +
  'MaxAccountsDataAllocationsExceeded MaxAccountsExceeded MaxInstructionTraceLengthExceeded ' +
  'BuiltinProgramsMustConsumeComputeUnits BorshIoError').split(' ');

// ---------------------------------------------------------------- base58

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const B58_MAP = new Map([...B58].map((c, i) => [c, i]));

function b58encode(bytes) {
  const digits = [];
  for (const byte of bytes) {
    let carry = byte;
    for (let i = 0; i < digits.length; i++) {
      carry += digits[i] << 8;
      digits[i] = carry % 58;
      carry = (carry / 58) | 0;
    }
    while (carry > 0) {
      digits.push(carry % 58);
      carry = (carry / 58) | 0;
    }
  }
  let out = '';
  for (const byte of bytes) {
    if (byte !== 0) break;
    out += '1';
  }
  for (let i = digits.length - 1; i >= 0; i--) out += B58[digits[i]];
  return out;
}

function b58decode(str) {
  const bytes = [];
  for (const c of str) {
    let carry = B58_MAP.get(c);
    if (carry === undefined) throw new Error('invalid base58 character');
    for (let i = 0; i < bytes.length; i++) {
      carry += bytes[i] * 58;
      bytes[i] = carry & 0xff;
      carry >>= 8;
    }
    while (carry > 0) {
      bytes.push(carry & 0xff);
      carry >>= 8;
    }
  }
  for (const c of str) {
    if (c !== '1') break;
    bytes.push(0);
  }
  return Uint8Array.from(bytes.reverse());
}

function isPubkey(s) {
  if (typeof s !== 'string') return false;
  try {
    return b58decode(s).length === 32;
  } catch (_) {
    return false;
  }
}

// ---------------------------------------------------------------- JSON with u64

// stringify renders BigInt values as bare JSON numbers (exact u64) and
// RawJSON values (request ids) verbatim.
class RawJSON {
  constructor(text) { this.text = text; }
}
function stringify(v) {
  const raws = [];
  const s = JSON.stringify(v, (_, x) => {
    if (typeof x === 'bigint') return `\u0000big${x.toString()}\u0000`;
    if (x instanceof RawJSON) { raws.push(x.text); return `\u0000raw${raws.length - 1}\u0000`; }
    return x;
  });
  return s.replace(/"\\u0000big(-?\d+)\\u0000"/g, '$1')
    .replace(/"\\u0000raw(\d+)\\u0000"/g, (_, i) => raws[Number(i)]);
}

// parseRequest parses a JSON-RPC message keeping every "id" as its raw text
// (solana-go ids are uint64 above 2^53, which JSON.parse would round).
function parseRequest(text) {
  const ids = [];
  const marked = text.replace(/"id"\s*:\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|"(?:[^"\\]|\\.)*"|null)/g, (_, raw) => {
    ids.push(raw);
    return `"id":{"__litesvm_rawid__":${ids.length - 1}}`;
  });
  return JSON.parse(marked, (k, v) => {
    if (k === 'id' && v && typeof v === 'object' && '__litesvm_rawid__' in v) return new RawJSON(ids[v.__litesvm_rawid__]);
    return v;
  });
}

// ---------------------------------------------------------------- wire format

function readShortVec(buf, off) {
  let len = 0;
  let size = 0;
  for (;;) {
    const b = buf[off + size];
    if (b === undefined) throw new Error('truncated compact-u16');
    len |= (b & 0x7f) << (7 * size);
    size++;
    if ((b & 0x80) === 0) break;
    if (size > 3) throw new Error('bad compact-u16');
  }
  return [len, off + size];
}

function shortVec(n) {
  const out = [];
  for (;;) {
    let b = n & 0x7f;
    n >>= 7;
    if (n === 0) { out.push(b); return out; }
    out.push(b | 0x80);
  }
}

// decodeTransaction parses a legacy or v0 wire transaction.
function decodeTransaction(raw) {
  let off = 0;
  let n;
  [n, off] = readShortVec(raw, off);
  const signatures = [];
  for (let i = 0; i < n; i++, off += 64) signatures.push(b58encode(raw.subarray(off, off + 64)));
  const msgStart = off;
  let version = 'legacy';
  if (raw[off] & 0x80) {
    version = raw[off] & 0x7f;
    off++;
    if (version !== 0) throw new Error(`unsupported transaction version ${version}`);
  }
  const header = {
    numRequiredSignatures: raw[off],
    numReadonlySignedAccounts: raw[off + 1],
    numReadonlyUnsignedAccounts: raw[off + 2],
  };
  off += 3;
  [n, off] = readShortVec(raw, off);
  const accountKeys = [];
  for (let i = 0; i < n; i++, off += 32) accountKeys.push(b58encode(raw.subarray(off, off + 32)));
  const recentBlockhash = b58encode(raw.subarray(off, off + 32));
  off += 32;
  [n, off] = readShortVec(raw, off);
  const instructions = [];
  for (let i = 0; i < n; i++) {
    const programIdIndex = raw[off++];
    let m;
    [m, off] = readShortVec(raw, off);
    const accounts = Array.from(raw.subarray(off, off + m));
    off += m;
    [m, off] = readShortVec(raw, off);
    const data = Uint8Array.from(raw.subarray(off, off + m));
    off += m;
    instructions.push({ programIdIndex, accounts, data });
  }
  const addressTableLookups = [];
  if (version === 0) {
    [n, off] = readShortVec(raw, off);
    for (let i = 0; i < n; i++) {
      const accountKey = b58encode(raw.subarray(off, off + 32));
      off += 32;
      let m;
      [m, off] = readShortVec(raw, off);
      const writableIndexes = Array.from(raw.subarray(off, off + m));
      off += m;
      [m, off] = readShortVec(raw, off);
      const readonlyIndexes = Array.from(raw.subarray(off, off + m));
      off += m;
      addressTableLookups.push({ accountKey, writableIndexes, readonlyIndexes });
    }
  }
  if (off > raw.length) throw new Error('truncated transaction');
  if (signatures.length !== header.numRequiredSignatures) throw new Error('signature count mismatch');
  return { signatures, version, header, accountKeys, recentBlockhash, instructions, addressTableLookups, message: raw.subarray(msgStart, off) };
}

function isWritable(msg, i) {
  const h = msg.header;
  const nKeys = msg.accountKeys.length;
  if (i < h.numRequiredSignatures) return i < h.numRequiredSignatures - h.numReadonlySignedAccounts;
  return i < nKeys - h.numReadonlyUnsignedAccounts;
}

// ---------------------------------------------------------------- errors

function txErrorJSON(e) {
  if (e === null || e === undefined) return null;
  if (typeof e === 'number') return TX_ERRORS[e] || `TransactionError${e}`;
  const name = e.constructor && e.constructor.name;
  if (name === 'TransactionErrorInstructionError') {
    const ie = e.err();
    let inner;
    if (typeof ie === 'number') inner = IX_ERRORS[ie] || `InstructionError${ie}`;
    else if (ie && 'code' in ie) inner = { Custom: ie.code };
    else if (ie && 'msg' in ie) inner = { BorshIoError: ie.msg };
    else inner = String(ie);
    return { InstructionError: [e.index, inner] };
  }
  if (name === 'TransactionErrorDuplicateInstruction') return { DuplicateInstruction: e.index };
  if (name === 'TransactionErrorInsufficientFundsForRent') return { InsufficientFundsForRent: { account_index: e.accountIndex } };
  if (name === 'TransactionErrorProgramExecutionTemporarilyRestricted') {
    return { ProgramExecutionTemporarilyRestricted: { account_index: e.accountIndex } };
  }
  return String(e);
}

function txErrorMessage(err) {
  if (typeof err === 'string') {
    const known = {
      AccountNotFound: 'Attempt to debit an account but found no record of a prior credit.',
      BlockhashNotFound: 'Blockhash not found',
      AlreadyProcessed: 'This transaction has already been processed',
      InsufficientFundsForFee: 'Insufficient funds for fee',
      SignatureFailure: 'Transaction did not pass signature verification',
    };
    return known[err] || err;
  }
  if (err && err.InsufficientFundsForRent) {
    return `Transaction results in an account (${err.InsufficientFundsForRent.account_index}) with insufficient funds for rent`;
  }
  if (err && err.InstructionError) {
    const [idx, ie] = err.InstructionError;
    let s;
    if (ie && typeof ie === 'object' && 'Custom' in ie) s = `custom program error: 0x${ie.Custom.toString(16)}`;
    else s = typeof ie === 'string' ? ie : JSON.stringify(ie);
    return `Error processing Instruction ${idx}: ${s}`;
  }
  return JSON.stringify(err);
}

class RPCError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

// ---------------------------------------------------------------- chain state

const svm = new LiteSVM().withBlockhashCheck(false).withTransactionHistory(0n);
const faucet = crypto.generateKeyPairSync('ed25519');
const faucetPubkey = b58encode(Buffer.from(faucet.publicKey.export({ format: 'jwk' }).x, 'base64url'));
svm.setAccount({
  address: faucetPubkey,
  lamports: 1000000000000000000n,
  data: new Uint8Array(0),
  programAddress: SYSTEM_PROGRAM,
  executable: false,
  space: 0n,
});

const blocks = new Map(); // slot -> block
const txs = new Map(); // signature -> tx record
const sigsByAddress = new Map(); // address -> [signature] (oldest first)
const recentBlockhashes = new Set();
let slot = 0;

function setClock(s, unix) {
  const c = svm.getClock();
  c.slot = BigInt(s);
  c.unixTimestamp = BigInt(unix);
  svm.setClock(c);
}

{
  const now = Math.floor(Date.now() / 1000);
  setClock(0, now);
  const genesisHash = svm.latestBlockhash();
  blocks.set(0, {
    slot: 0, blockhash: genesisHash, previousBlockhash: genesisHash, parentSlot: 0,
    blockTime: now, blockHeight: 0, txs: [],
  });
  recentBlockhashes.add(genesisHash);
}
const genesisHash = blocks.get(0).blockhash;

function latestBlock() { return blocks.get(slot); }

// snapshot reads lamports, data and owner of the given keys.
function snapshot(keys) {
  return keys.map((k) => {
    const a = svm.getAccount(k);
    if (!a.exists) return { lamports: 0n, data: new Uint8Array(0), owner: SYSTEM_PROGRAM, executable: false, exists: false };
    return { lamports: BigInt(a.lamports), data: Uint8Array.from(a.data), owner: a.programAddress, executable: a.executable, exists: true };
  });
}

function readU64(data, off) {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).readBigUInt64LE(off);
}

function isTokenProgram(p) { return p === TOKEN_PROGRAM || p === TOKEN_2022_PROGRAM; }

// decodeTokenAccount decodes an SPL token account (Token or Token-2022) or returns null.
function decodeTokenAccount(acc) {
  if (!acc.exists || !isTokenProgram(acc.owner) || acc.data.length < 165) return null;
  if (acc.data.length > 165 && acc.data[165] !== 2) return null; // Token-2022 account type: 2 = Account
  const state = acc.data[108];
  if (state === 0) return null;
  return {
    mint: b58encode(acc.data.subarray(0, 32)),
    owner: b58encode(acc.data.subarray(32, 64)),
    amount: readU64(acc.data, 64),
    state: state === 2 ? 'frozen' : 'initialized',
    delegate: readU32(acc.data, 72) ? b58encode(acc.data.subarray(76, 108)) : null,
    isNative: readU32(acc.data, 109) !== 0,
    delegatedAmount: readU64(acc.data, 121),
    programId: acc.owner,
  };
}

function readU32(data, off) {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).readUInt32LE(off);
}

// decodeMint decodes an SPL mint or returns null.
function decodeMint(acc) {
  if (!acc.exists || !isTokenProgram(acc.owner) || acc.data.length < 82) return null;
  if (acc.data.length >= 165 && !(acc.data.length > 165 && acc.data[165] === 1)) return null;
  if (acc.data[45] !== 1) return null;
  return {
    mintAuthority: readU32(acc.data, 0) ? b58encode(acc.data.subarray(4, 36)) : null,
    supply: readU64(acc.data, 36),
    decimals: acc.data[44],
    isInitialized: true,
    freezeAuthority: readU32(acc.data, 46) ? b58encode(acc.data.subarray(50, 82)) : null,
  };
}

function mintDecimals(mint) {
  const a = svm.getAccount(mint);
  if (!a.exists || a.data.length < 45) return 0;
  return a.data[44];
}

function uiTokenAmount(amount, decimals) {
  const s = amount.toString();
  let uiAmountString;
  if (decimals === 0) uiAmountString = s;
  else {
    const padded = s.padStart(decimals + 1, '0');
    const int = padded.slice(0, padded.length - decimals);
    const frac = padded.slice(padded.length - decimals).replace(/0+$/, '');
    uiAmountString = frac ? `${int}.${frac}` : int;
  }
  return { amount: s, decimals, uiAmount: Number(uiAmountString), uiAmountString };
}

function tokenBalances(keys, snap) {
  const out = [];
  snap.forEach((acc, i) => {
    const t = decodeTokenAccount(acc);
    if (!t) return;
    out.push({
      accountIndex: i, mint: t.mint, owner: t.owner, programId: t.programId,
      uiTokenAmount: uiTokenAmount(t.amount, mintDecimals(t.mint)),
    });
  });
  return out;
}

// produceBlock advances to a new slot holding the given transactions.
function produceBlock(records) {
  const parent = latestBlock();
  const newSlot = slot + 1;
  const now = Math.max(Math.floor(Date.now() / 1000), parent.blockTime);
  setClock(newSlot, now);
  svm.expireBlockhash();
  const blockhash = svm.latestBlockhash();
  const block = {
    slot: newSlot, blockhash, previousBlockhash: parent.blockhash, parentSlot: parent.slot,
    blockTime: now, blockHeight: parent.blockHeight + 1, txs: records.map((r) => r.signature),
  };
  for (const r of records) {
    r.slot = newSlot;
    r.blockTime = now;
    txs.set(r.signature, r);
    for (const k of new Set(r.msg.accountKeys)) {
      let l = sigsByAddress.get(k);
      if (!l) sigsByAddress.set(k, (l = []));
      l.push(r.signature);
    }
  }
  blocks.set(newSlot, block);
  slot = newSlot;
  recentBlockhashes.add(blockhash);
  const stale = blocks.get(newSlot - MAX_PROCESSING_AGE - 1);
  if (stale) recentBlockhashes.delete(stale.blockhash);
  return block;
}

// execute runs a wire transaction; it returns the landed record or throws RPCError.
function execute(raw, skipPreflight) {
  let msg;
  try {
    msg = decodeTransaction(raw);
  } catch (e) {
    throw new RPCError(-32602, `invalid transaction: ${e.message}`);
  }
  const signature = msg.signatures[0];
  if (txs.has(signature)) {
    if (skipPreflight) return txs.get(signature);
    throw simulationError('AlreadyProcessed', [], 0n);
  }
  if (!recentBlockhashes.has(msg.recentBlockhash)) {
    throw simulationError('BlockhashNotFound', [], 0n);
  }
  if (!skipPreflight) {
    // Preflight: a real node simulates and rejects failing transactions
    // without charging them (LiteSVM's sendTransaction would charge the fee).
    const sim = msg.version === 'legacy' ? svm.inner.simulateLegacyTransaction(raw) : svm.inner.simulateVersionedTransaction(raw);
    if (sim.constructor.name === 'FailedTransactionMetadata') {
      const m = sim.meta();
      throw simulationError(txErrorJSON(sim.err()), m.logs(), m.computeUnitsConsumed());
    }
  }
  const keys = msg.accountKeys;
  const pre = snapshot(keys);
  const preToken = tokenBalances(keys, pre);
  const res = msg.version === 'legacy' ? svm.inner.sendLegacyTransaction(raw) : svm.inner.sendVersionedTransaction(raw);
  const failed = res.constructor.name === 'FailedTransactionMetadata';
  const meta = failed ? res.meta() : res;
  const err = failed ? txErrorJSON(res.err()) : null;
  const logs = meta.logs();
  const cu = meta.computeUnitsConsumed();
  if (failed && !skipPreflight) throw simulationError(err, logs, cu);
  const fee = FEE_PER_SIGNATURE * BigInt(msg.header.numRequiredSignatures);
  if (failed && pre[0].exists) {
    // LiteSVM does not commit failed transactions; charge the fee like a node does.
    const a = svm.getAccount(keys[0]);
    if (a.exists && BigInt(a.lamports) === pre[0].lamports && pre[0].lamports >= fee) {
      svm.setAccount({ ...a, lamports: pre[0].lamports - fee });
    }
  }
  const post = snapshot(keys);
  const record = {
    signature, raw: Uint8Array.from(raw), msg, err, fee, logs, computeUnitsConsumed: cu,
    preBalances: pre.map((a) => a.lamports), postBalances: post.map((a) => a.lamports),
    preTokenBalances: preToken, postTokenBalances: tokenBalances(keys, post),
  };
  const block = produceBlock([record]);
  notifyAfterBlock(block, [record], pre, post);
  return record;
}

function simulationError(err, logs, cu) {
  return new RPCError(-32002, `Transaction simulation failed: ${txErrorMessage(err)}`, {
    accounts: null, err, innerInstructions: null, loadedAccountsDataSize: 0, logs,
    replacementBlockhash: null, returnData: null, unitsConsumed: cu,
  });
}

// airdrop sends a real system transfer from the facade's faucet.
function airdrop(to, lamports) {
  const toBytes = b58decode(to);
  if (toBytes.length !== 32) throw new RPCError(-32602, 'Invalid param: Invalid');
  const data = Buffer.alloc(12);
  data.writeUInt32LE(2, 0);
  data.writeBigUInt64LE(BigInt(lamports), 4);
  const msg = Buffer.concat([
    Buffer.from([1, 0, 1]),
    Buffer.from(shortVec(3)), Buffer.from(b58decode(faucetPubkey)), Buffer.from(toBytes), Buffer.alloc(32),
    Buffer.from(b58decode(latestBlock().blockhash)),
    Buffer.from(shortVec(1)), Buffer.from([2]), Buffer.from(shortVec(2)), Buffer.from([0, 1]),
    Buffer.from(shortVec(data.length)), data,
  ]);
  const sig = crypto.sign(null, msg, faucet.privateKey);
  const raw = Buffer.concat([Buffer.from(shortVec(1)), sig, msg]);
  return execute(raw, false);
}

// ---------------------------------------------------------------- encoding

function commitmentCtx() { return { slot: BigInt(slot), apiVersion: VERSION['solana-core'] }; }

function accountJSON(address, acc, encoding, dataSlice) {
  if (!acc.exists) return null;
  let data = acc.data;
  if (dataSlice) data = data.subarray(dataSlice.offset || 0, (dataSlice.offset || 0) + (dataSlice.length || 0));
  let out;
  if (encoding === 'jsonParsed' && !dataSlice) out = parsedAccountData(acc);
  if (!out) {
    if (encoding === 'base58') out = [b58encode(data), 'base58'];
    else if (encoding === 'base64+zstd') throw new RPCError(-32602, 'base64+zstd encoding is not supported');
    else out = [Buffer.from(data).toString('base64'), 'base64'];
  }
  return {
    data: out, executable: acc.executable, lamports: acc.lamports, owner: acc.owner,
    rentEpoch: RENT_EPOCH_MAX, space: acc.data.length,
  };
}

function parsedAccountData(acc) {
  const program = acc.owner === TOKEN_2022_PROGRAM ? 'spl-token-2022' : 'spl-token';
  const t = decodeTokenAccount(acc);
  if (t) {
    const info = {
      isNative: t.isNative, mint: t.mint, owner: t.owner, state: t.state,
      tokenAmount: uiTokenAmount(t.amount, mintDecimals(t.mint)),
    };
    if (t.delegate) {
      info.delegate = t.delegate;
      info.delegatedAmount = uiTokenAmount(t.delegatedAmount, info.tokenAmount.decimals);
    }
    return { program, parsed: { type: 'account', info }, space: acc.data.length };
  }
  const m = decodeMint(acc);
  if (m) {
    return {
      program,
      parsed: {
        type: 'mint',
        info: {
          decimals: m.decimals, freezeAuthority: m.freezeAuthority, isInitialized: true,
          mintAuthority: m.mintAuthority, supply: m.supply.toString(),
        },
      },
      space: acc.data.length,
    };
  }
  return null;
}

function getAccount(address) {
  return snapshot([address])[0];
}

function instructionJSON(ix) {
  return { programIdIndex: ix.programIdIndex, accounts: ix.accounts, data: b58encode(ix.data), stackHeight: null };
}

function parsedInstruction(msg, ix) {
  const programId = msg.accountKeys[ix.programIdIndex];
  const acct = (i) => msg.accountKeys[ix.accounts[i]];
  const d = Buffer.from(ix.data);
  try {
    if (programId === SYSTEM_PROGRAM && d.length >= 4) {
      const kind = d.readUInt32LE(0);
      if (kind === 2 && d.length >= 12) {
        return { program: 'system', programId, parsed: { type: 'transfer', info: { destination: acct(1), lamports: d.readBigUInt64LE(4), source: acct(0) } }, stackHeight: null };
      }
      if (kind === 0 && d.length >= 52) {
        return {
          program: 'system', programId,
          parsed: { type: 'createAccount', info: { lamports: d.readBigUInt64LE(4), newAccount: acct(1), owner: b58encode(d.subarray(20, 52)), source: acct(0), space: d.readBigUInt64LE(12) } },
          stackHeight: null,
        };
      }
    }
    if (isTokenProgram(programId) && d.length >= 1) {
      const program = programId === TOKEN_2022_PROGRAM ? 'spl-token-2022' : 'spl-token';
      const p = (type, info) => ({ program, programId, parsed: { type, info }, stackHeight: null });
      switch (d[0]) {
        case 3: // Transfer
          return p('transfer', { amount: d.readBigUInt64LE(1).toString(), authority: acct(2), destination: acct(1), source: acct(0) });
        case 7: // MintTo
          return p('mintTo', { account: acct(1), amount: d.readBigUInt64LE(1).toString(), mint: acct(0), mintAuthority: acct(2) });
        case 12: // TransferChecked
          return p('transferChecked', { authority: acct(3), destination: acct(2), mint: acct(1), source: acct(0), tokenAmount: uiTokenAmount(d.readBigUInt64LE(1), d[9]) });
        case 14: // MintToChecked
          return p('mintToChecked', { account: acct(1), mint: acct(0), mintAuthority: acct(2), tokenAmount: uiTokenAmount(d.readBigUInt64LE(1), d[9]) });
        case 20: // InitializeMint2
          return p('initializeMint2', { decimals: d[1], mint: acct(0), mintAuthority: b58encode(d.subarray(2, 34)) });
        default:
      }
    }
  } catch (_) {
    // fall through to the unparsed form
  }
  return { accounts: ix.accounts.map((i) => msg.accountKeys[i]), data: b58encode(ix.data), programId, stackHeight: null };
}

function transactionJSON(r, encoding) {
  const msg = r.msg;
  if (encoding === 'base64') return [Buffer.from(r.raw).toString('base64'), 'base64'];
  if (encoding === 'base58') return [b58encode(r.raw), 'base58'];
  const message = { recentBlockhash: msg.recentBlockhash };
  if (encoding === 'jsonParsed') {
    message.accountKeys = msg.accountKeys.map((pubkey, i) => ({
      pubkey, signer: i < msg.header.numRequiredSignatures, source: 'transaction', writable: isWritable(msg, i),
    }));
    message.instructions = msg.instructions.map((ix) => parsedInstruction(msg, ix));
  } else {
    message.accountKeys = msg.accountKeys;
    message.header = msg.header;
    message.instructions = msg.instructions.map(instructionJSON);
  }
  if (msg.version === 0) message.addressTableLookups = msg.addressTableLookups;
  return { message, signatures: msg.signatures };
}

function metaJSON(r) {
  return {
    computeUnitsConsumed: r.computeUnitsConsumed,
    err: r.err,
    fee: r.fee,
    innerInstructions: [],
    loadedAddresses: { readonly: [], writable: [] },
    logMessages: r.logs,
    postBalances: r.postBalances,
    postTokenBalances: r.postTokenBalances,
    preBalances: r.preBalances,
    preTokenBalances: r.preTokenBalances,
    rewards: [],
    status: r.err === null ? { Ok: null } : { Err: r.err },
  };
}

function checkVersion(r, cfg) {
  if (r.msg.version !== 'legacy' && (cfg.maxSupportedTransactionVersion === undefined || cfg.maxSupportedTransactionVersion === null)) {
    throw new RPCError(-32015, 'Transaction version (0) is not supported by the requesting client. Please try the request again with the following configuration parameter: "maxSupportedTransactionVersion": 0');
  }
}

function txWithMeta(r, cfg) {
  checkVersion(r, cfg);
  const out = { meta: metaJSON(r), transaction: transactionJSON(r, cfg.encoding || 'json') };
  if (cfg.maxSupportedTransactionVersion !== undefined && cfg.maxSupportedTransactionVersion !== null) out.version = r.msg.version;
  return out;
}

function signatureStatus(r) {
  return {
    confirmationStatus: 'finalized', confirmations: null, err: r.err, slot: BigInt(r.slot),
    status: r.err === null ? { Ok: null } : { Err: r.err },
  };
}

// ---------------------------------------------------------------- RPC methods

function cfgAt(params, i) {
  const c = params[i];
  return c && typeof c === 'object' && !Array.isArray(c) ? c : {};
}

function needPubkey(s) {
  if (!isPubkey(s)) throw new RPCError(-32602, 'Invalid param: Invalid');
  return s;
}

function tokenAccountsByOwner(params, ownerField) {
  const owner = needPubkey(params[0]);
  const filter = cfgAt(params, 1);
  const cfg = cfgAt(params, 2);
  let programs = [TOKEN_PROGRAM, TOKEN_2022_PROGRAM];
  if (filter.programId) {
    if (!isTokenProgram(filter.programId)) throw new RPCError(-32602, `Invalid param: unrecognized Token program id`);
    programs = [filter.programId];
  } else if (filter.mint) {
    const m = getAccount(needPubkey(filter.mint));
    if (!m.exists || !isTokenProgram(m.owner)) throw new RPCError(-32602, 'Invalid param: not a Token mint');
    programs = [m.owner];
  } else {
    throw new RPCError(-32602, 'Invalid params: expected a mint or programId filter');
  }
  const value = [];
  for (const prog of programs) {
    for (const a of svm.getProgramAccounts(prog)) {
      const acc = { exists: true, lamports: BigInt(a.lamports), data: Uint8Array.from(a.data), owner: a.programAddress, executable: a.executable };
      const t = decodeTokenAccount(acc);
      if (!t || t[ownerField] !== owner || (filter.mint && t.mint !== filter.mint)) continue;
      value.push({ account: accountJSON(a.address, acc, cfg.encoding || 'binary', cfg.dataSlice), pubkey: a.address });
    }
  }
  return { context: commitmentCtx(), value };
}

function blockJSON(b, cfg) {
  const details = cfg.transactionDetails || 'full';
  const out = {
    blockHeight: BigInt(b.blockHeight), blockTime: b.blockTime, blockhash: b.blockhash,
    parentSlot: BigInt(b.parentSlot), previousBlockhash: b.previousBlockhash,
  };
  if (cfg.rewards !== false) out.rewards = [];
  if (details === 'full') out.transactions = b.txs.map((s) => txWithMeta(txs.get(s), cfg));
  else if (details === 'signatures') out.signatures = b.txs.slice();
  else if (details === 'accounts') {
    out.transactions = b.txs.map((s) => {
      const r = txs.get(s);
      checkVersion(r, cfg);
      const t = transactionJSON(r, 'jsonParsed');
      const m = metaJSON(r);
      const o = {
        meta: { err: m.err, fee: m.fee, postBalances: m.postBalances, postTokenBalances: m.postTokenBalances, preBalances: m.preBalances, preTokenBalances: m.preTokenBalances, status: m.status },
        transaction: { accountKeys: t.message.accountKeys, signatures: t.signatures },
      };
      if (cfg.maxSupportedTransactionVersion !== undefined && cfg.maxSupportedTransactionVersion !== null) o.version = r.msg.version;
      return o;
    });
  }
  return out;
}

function blockOrError(s) {
  const b = blocks.get(Number(s));
  if (!b) {
    if (Number(s) > slot) throw new RPCError(-32004, `Block not available for slot ${s}`);
    throw new RPCError(-32009, `Slot ${s} was skipped, or missing in long-term storage`);
  }
  return b;
}

const methods = {
  getHealth: () => 'ok',
  getVersion: () => VERSION,
  getGenesisHash: () => genesisHash,
  getSlot: () => BigInt(slot),
  getBlockHeight: () => BigInt(latestBlock().blockHeight),
  getFirstAvailableBlock: () => 0,
  getEpochInfo: () => ({
    absoluteSlot: BigInt(slot), blockHeight: BigInt(latestBlock().blockHeight), epoch: 0,
    slotIndex: BigInt(slot), slotsInEpoch: 432000, transactionCount: BigInt(txs.size),
  }),
  getLatestBlockhash: () => ({
    context: commitmentCtx(),
    value: { blockhash: latestBlock().blockhash, lastValidBlockHeight: BigInt(latestBlock().blockHeight + MAX_PROCESSING_AGE) },
  }),
  isBlockhashValid: (p) => ({ context: commitmentCtx(), value: recentBlockhashes.has(p[0]) }),
  getMinimumBalanceForRentExemption: (p) => svm.minimumBalanceForRentExemption(BigInt(p[0] || 0)),
  getBalance: (p) => ({ context: commitmentCtx(), value: getAccount(needPubkey(p[0])).lamports }),
  getAccountInfo: (p) => {
    const cfg = cfgAt(p, 1);
    const a = needPubkey(p[0]);
    return { context: commitmentCtx(), value: accountJSON(a, getAccount(a), cfg.encoding || 'binary', cfg.dataSlice) };
  },
  getMultipleAccounts: (p) => {
    const cfg = cfgAt(p, 1);
    const keys = Array.isArray(p[0]) ? p[0] : [];
    return { context: commitmentCtx(), value: keys.map((k) => accountJSON(k, getAccount(needPubkey(k)), cfg.encoding || 'binary', cfg.dataSlice)) };
  },
  getTokenAccountsByOwner: (p) => tokenAccountsByOwner(p, 'owner'),
  getTokenAccountBalance: (p) => {
    const t = decodeTokenAccount(getAccount(needPubkey(p[0])));
    if (!t) throw new RPCError(-32602, 'Invalid param: not a Token account');
    return { context: commitmentCtx(), value: uiTokenAmount(t.amount, mintDecimals(t.mint)) };
  },
  requestAirdrop: (p) => {
    const lamports = p[1];
    if (typeof lamports !== 'number' || lamports <= 0) throw new RPCError(-32602, 'Invalid params: lamports');
    return airdrop(needPubkey(p[0]), lamports).signature;
  },
  sendTransaction: (p) => {
    const cfg = cfgAt(p, 1);
    const enc = cfg.encoding || 'base58';
    let raw;
    if (typeof p[0] !== 'string') throw new RPCError(-32602, 'Invalid params: transaction');
    if (enc === 'base64') raw = Buffer.from(p[0], 'base64');
    else if (enc === 'base58') raw = Buffer.from(b58decode(p[0]));
    else throw new RPCError(-32602, `unsupported encoding: ${enc}. Supported encodings: base58, base64`);
    return execute(raw, !!cfg.skipPreflight).signature;
  },
  simulateTransaction: (p) => {
    const cfg = cfgAt(p, 1);
    const raw = cfg.encoding === 'base64' ? Buffer.from(p[0], 'base64') : Buffer.from(b58decode(p[0]));
    const msg = decodeTransaction(raw);
    const res = msg.version === 'legacy' ? svm.inner.simulateLegacyTransaction(raw) : svm.inner.simulateVersionedTransaction(raw);
    const failed = res.constructor.name === 'FailedTransactionMetadata';
    const meta = res.meta();
    return {
      context: commitmentCtx(),
      value: {
        accounts: null, err: failed ? txErrorJSON(res.err()) : null, innerInstructions: null,
        logs: meta.logs(), replacementBlockhash: null, returnData: null, unitsConsumed: meta.computeUnitsConsumed(),
      },
    };
  },
  getTransaction: (p) => {
    const cfg = typeof p[1] === 'string' ? { encoding: p[1] } : cfgAt(p, 1);
    const r = txs.get(p[0]);
    if (!r) return null;
    return { blockTime: r.blockTime, slot: BigInt(r.slot), ...txWithMeta(r, cfg) };
  },
  getSignatureStatuses: (p) => ({
    context: commitmentCtx(),
    value: (Array.isArray(p[0]) ? p[0] : []).map((s) => (txs.has(s) ? signatureStatus(txs.get(s)) : null)),
  }),
  getSignaturesForAddress: (p) => {
    const cfg = cfgAt(p, 1);
    const all = sigsByAddress.get(needPubkey(p[0])) || [];
    const limit = Math.min(cfg.limit || 1000, 1000);
    let i = all.length - 1;
    if (cfg.before) {
      const j = all.lastIndexOf(cfg.before);
      i = j >= 0 ? j - 1 : (txs.has(cfg.before) ? lastBeforeSlot(all, txs.get(cfg.before).slot) : -1);
    }
    const out = [];
    for (; i >= 0 && out.length < limit; i--) {
      if (cfg.until && all[i] === cfg.until) break;
      const r = txs.get(all[i]);
      if (cfg.minContextSlot && r.slot < cfg.minContextSlot) continue;
      out.push({ blockTime: r.blockTime, confirmationStatus: 'finalized', err: r.err, memo: null, signature: r.signature, slot: BigInt(r.slot) });
    }
    return out;
  },
  getBlocks: (p) => {
    const start = Number(p[0] || 0);
    const end = typeof p[1] === 'number' ? Math.min(p[1], slot) : slot;
    if (end - start > 500000) throw new RPCError(-32602, 'Slot range too large; max 500000');
    const out = [];
    for (let s = start; s <= end; s++) if (blocks.has(s)) out.push(BigInt(s));
    return out;
  },
  getBlocksWithLimit: (p) => {
    const out = [];
    for (let s = Number(p[0] || 0); s <= slot && out.length < Number(p[1] || 0); s++) if (blocks.has(s)) out.push(BigInt(s));
    return out;
  },
  getBlock: (p) => {
    const cfg = typeof p[1] === 'string' ? { encoding: p[1] } : cfgAt(p, 1);
    return blockJSON(blockOrError(p[0]), cfg);
  },
  getBlockTime: (p) => blockOrError(p[0]).blockTime,
  litesvm_dropConnections: () => {
    let n = 0;
    for (const c of wss.clients) {
      c.terminate();
      n++;
    }
    return n;
  },
};

function lastBeforeSlot(all, s) {
  let i = all.length - 1;
  while (i >= 0 && txs.get(all[i]).slot >= s) i--;
  return i;
}

function handleCall(req) {
  const base = { jsonrpc: '2.0', id: req && req.id !== undefined ? req.id : null };
  if (!req || typeof req !== 'object' || typeof req.method !== 'string') {
    return { ...base, error: { code: -32600, message: 'Invalid request' } };
  }
  const fn = methods[req.method];
  if (!fn) return { ...base, error: { code: -32601, message: 'Method not found' } };
  try {
    const result = fn(Array.isArray(req.params) ? req.params : []);
    return { ...base, result };
  } catch (e) {
    if (e instanceof RPCError) {
      const error = { code: e.code, message: e.message };
      if (e.data !== undefined) error.data = e.data;
      return { ...base, error };
    }
    return { ...base, error: { code: -32603, message: `Internal error: ${e && e.message}` } };
  }
}

// ---------------------------------------------------------------- pubsub

let nextSubId = 1;
const subs = new Map(); // subId -> {ws, kind, key, cfg}

function send(ws, obj) {
  if (ws.readyState === ws.OPEN) ws.send(stringify(obj));
}

function notify(sub, method, result) {
  send(sub.ws, { jsonrpc: '2.0', method, params: { result, subscription: sub.id } });
}

const subscribeKinds = {
  accountSubscribe: 'account', logsSubscribe: 'logs', signatureSubscribe: 'signature',
  slotSubscribe: 'slot', rootSubscribe: 'root',
};
const unsubscribeKinds = {
  accountUnsubscribe: 'account', logsUnsubscribe: 'logs', signatureUnsubscribe: 'signature',
  slotUnsubscribe: 'slot', rootUnsubscribe: 'root',
};

function handleWSCall(ws, req) {
  const base = { jsonrpc: '2.0', id: req && req.id !== undefined ? req.id : null };
  const params = req && Array.isArray(req.params) ? req.params : [];
  const method = req && req.method;
  const fail = (code, message) => send(ws, { ...base, error: { code, message } });
  if (subscribeKinds[method]) {
    const kind = subscribeKinds[method];
    let key = null;
    const cfg = cfgAt(params, kind === 'logs' || kind === 'account' || kind === 'signature' ? 1 : 0);
    if (kind === 'account') {
      if (!isPubkey(params[0])) return fail(-32602, 'Invalid Request: Invalid pubkey provided');
      key = params[0];
    } else if (kind === 'signature') {
      try {
        if (b58decode(params[0]).length !== 64) throw new Error('bad');
      } catch (_) {
        return fail(-32602, 'Invalid Request: Invalid signature provided');
      }
      key = params[0];
    } else if (kind === 'logs') {
      const f = params[0];
      if (f === 'all' || f === 'allWithVotes') key = null;
      else if (f && Array.isArray(f.mentions) && f.mentions.length === 1 && isPubkey(f.mentions[0])) key = f.mentions[0];
      else return fail(-32602, 'Invalid Request: Only 1 address supported');
    }
    const sub = { id: nextSubId++, ws, kind, key, cfg };
    subs.set(sub.id, sub);
    ws.subIds.add(sub.id);
    send(ws, { ...base, result: sub.id });
    if (kind === 'signature' && txs.has(key)) {
      const r = txs.get(key);
      notify(sub, 'signatureNotification', { context: { slot: BigInt(r.slot) }, value: { err: r.err } });
      removeSub(sub.id);
    }
    return undefined;
  }
  if (unsubscribeKinds[method]) {
    const id = Number(params[0]);
    const sub = subs.get(id);
    if (!sub || sub.ws !== ws || sub.kind !== unsubscribeKinds[method]) return fail(-32602, 'Invalid subscription id.');
    removeSub(id);
    return send(ws, { ...base, result: true });
  }
  // Plain RPC methods work over the WebSocket too.
  return send(ws, handleCall(req));
}

function removeSub(id) {
  const sub = subs.get(id);
  if (!sub) return;
  subs.delete(id);
  sub.ws.subIds.delete(id);
}

function notifyAfterBlock(block, records, pre, post) {
  if (subs.size === 0) return;
  const ctx = { slot: BigInt(block.slot) };
  // Changed accounts.
  const changed = new Map();
  for (const r of records) {
    r.msg.accountKeys.forEach((k, i) => {
      const a = pre[i];
      const b = post[i];
      if (a.lamports !== b.lamports || a.owner !== b.owner || !Buffer.from(a.data).equals(Buffer.from(b.data))) changed.set(k, b);
    });
  }
  for (const sub of [...subs.values()]) {
    switch (sub.kind) {
      case 'account': {
        const acc = changed.get(sub.key);
        if (acc) {
          let value = accountJSON(sub.key, acc, sub.cfg.encoding || 'binary', sub.cfg.dataSlice);
          if (value === null) {
            value = { data: ['', 'base64'], executable: false, lamports: 0n, owner: SYSTEM_PROGRAM, rentEpoch: 0n, space: 0 };
          }
          notify(sub, 'accountNotification', { context: ctx, value });
        }
        break;
      }
      case 'logs':
        for (const r of records) {
          if (sub.key === null || r.msg.accountKeys.includes(sub.key)) {
            notify(sub, 'logsNotification', { context: ctx, value: { err: r.err, logs: r.logs, signature: r.signature } });
          }
        }
        break;
      case 'signature':
        for (const r of records) {
          if (r.signature === sub.key) {
            notify(sub, 'signatureNotification', { context: ctx, value: { err: r.err } });
            removeSub(sub.id);
          }
        }
        break;
      case 'slot':
        notify(sub, 'slotNotification', { parent: BigInt(block.parentSlot), root: BigInt(block.slot), slot: BigInt(block.slot) });
        break;
      case 'root':
        notify(sub, 'rootNotification', BigInt(block.slot));
        break;
      default:
    }
  }
}

// ---------------------------------------------------------------- servers

function respond(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(body);
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') return respond(res, 200, '"ok"');
  if (req.method !== 'POST') return respond(res, 405, stringify({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'POST only' } }));
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let parsed;
    try {
      parsed = parseRequest(Buffer.concat(chunks).toString('utf8'));
    } catch (_) {
      return respond(res, 200, stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } }));
    }
    const out = Array.isArray(parsed) ? parsed.map(handleCall) : handleCall(parsed);
    return respond(res, 200, stringify(out));
  });
  return undefined;
});

const wss = new WebSocketServer({ server, path: '/' });
wss.on('connection', (ws) => {
  ws.subIds = new Set();
  ws.on('message', (data) => {
    let req;
    try {
      req = parseRequest(data.toString('utf8'));
    } catch (_) {
      return send(ws, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
    }
    if (Array.isArray(req)) return req.forEach((r) => handleWSCall(ws, r));
    return handleWSCall(ws, req);
  });
  ws.on('close', () => {
    for (const id of [...ws.subIds]) removeSub(id);
  });
  ws.on('error', () => {});
});

function shutdown() {
  for (const c of wss.clients) c.terminate();
  server.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('end', shutdown);
process.stdin.on('close', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();

const port = Number(process.argv[2] || process.env.PORT || 0);
server.listen(port, '127.0.0.1', () => {
  const p = server.address().port;
  process.stdout.write(`${JSON.stringify({ rpc: `http://127.0.0.1:${p}`, ws: `ws://127.0.0.1:${p}` })}\n`);
});
