#!/usr/bin/env node
// Compiles TestPoolV3.sol into TestPoolV3.abi and TestPoolV3.bin with the
// solc-js of internal/devchain/contracts (run `npm ci` there first) and its
// settings. Run from this folder: node compile.js
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require(path.join(__dirname, '../../../../internal/devchain/contracts/node_modules/solc'));
process.chdir(__dirname);
const src = fs.readFileSync('TestPoolV3.sol', 'utf8');
const input = {language: 'Solidity', sources: {'TestPoolV3.sol': {content: src}},
  settings: {evmVersion: 'cancun', optimizer: {enabled: true, runs: 200}, metadata: {bytecodeHash: 'none'},
  outputSelection: {'*': {'*': ['abi', 'evm.bytecode.object']}}}};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
if (out.errors && out.errors.some(e => e.severity === 'error')) { console.error(out.errors); process.exit(1); }
const c = out.contracts['TestPoolV3.sol'].TestPoolV3;
fs.writeFileSync('TestPoolV3.abi', JSON.stringify(c.abi, null, 2) + '\n');
fs.writeFileSync('TestPoolV3.bin', c.evm.bytecode.object + '\n');
