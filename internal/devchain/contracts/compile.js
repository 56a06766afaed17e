#!/usr/bin/env node
// Compiles every *.sol in this folder with the solc-js version pinned in
// package.json and writes, next to the sources, for every deployable contract:
//   <Contract>.abi  the ABI as indented JSON (solc's order), with a final newline
//   <Contract>.bin  the creation bytecode as lowercase hex WITHOUT a 0x prefix,
//                   with a final newline
// Stale .abi/.bin files of contracts that no longer exist are removed.
//
// The output is deterministic: sources are fed in sorted order under their
// base names, settings are fixed here, and the metadata hash is left out of
// the bytecode (bytecodeHash "none"), so comment-only edits and re-runs do not
// change the files. Run it through `go generate` (see generate.go).
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

const dir = __dirname;
const pinned = require('./package.json').dependencies.solc;

if (!solc.version().startsWith(pinned + '+')) {
  console.error(`compile.js: solc ${solc.version()} loaded, package.json pins ${pinned}; run npm ci`);
  process.exit(1);
}

const files = fs.readdirSync(dir).filter((f) => f.endsWith('.sol')).sort();
const sources = {};
for (const f of files) {
  sources[f] = { content: fs.readFileSync(path.join(dir, f), 'utf8') };
}

const input = {
  language: 'Solidity',
  sources,
  settings: {
    // Cancun opcodes run on every current go-ethereum dev chain.
    evmVersion: 'cancun',
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: 'none' },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));
let failed = false;
for (const e of output.errors || []) {
  console.error(e.formattedMessage || e.message);
  if (e.severity === 'error') failed = true;
}
if (failed) process.exit(1);

const written = new Set();
for (const file of Object.keys(output.contracts).sort()) {
  for (const name of Object.keys(output.contracts[file]).sort()) {
    const c = output.contracts[file][name];
    const bin = c.evm.bytecode.object;
    if (!bin) continue; // interfaces and abstract contracts
    if (/[^0-9a-f]/.test(bin)) {
      console.error(`compile.js: ${name} needs library linking, which is not supported`);
      process.exit(1);
    }
    if (written.has(name)) {
      console.error(`compile.js: contract name ${name} defined twice`);
      process.exit(1);
    }
    writeIfChanged(name + '.abi', JSON.stringify(c.abi, null, 2) + '\n');
    writeIfChanged(name + '.bin', bin + '\n');
    written.add(name);
  }
}

for (const f of fs.readdirSync(dir).sort()) {
  const ext = path.extname(f);
  if ((ext === '.abi' || ext === '.bin') && !written.has(path.basename(f, ext))) {
    fs.unlinkSync(path.join(dir, f));
    console.log(`removed stale ${f}`);
  }
}
console.log(`solc ${solc.version()}: ${[...written].join(', ')}`);

function writeIfChanged(file, content) {
  const p = path.join(dir, file);
  if (fs.existsSync(p) && fs.readFileSync(p, 'utf8') === content) return;
  fs.writeFileSync(p, content);
}
