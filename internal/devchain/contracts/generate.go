package contracts

// Regenerates the checked-in <Contract>.abi and <Contract>.bin files from the
// *.sol sources with the solc-js version pinned in package-lock.json. Needs
// node and npm; building and testing this package needs neither.
//go:generate sh -c "npm ci --no-audit --no-fund && node compile.js"
