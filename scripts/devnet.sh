#!/usr/bin/env bash
# devnet.sh: what `make run` does. Starts the local dev chains in the
# background (bin/devchain run: chain id 1337, test contracts, random
# traffic; bin/devchain solana: a Solana node with demo wallets, token mints
# and random transfers), waits until their ports answer and the EVM
# contracts are deployed, then runs the daemon in the foreground on
# configs/devnet.yaml. When the daemon exits (Ctrl-C stops it), the dev
# chains are stopped too, by their pids.
#
#   scripts/devnet.sh                          after `make build`
#   CONFIG=my.yaml scripts/devnet.sh           another daemon configuration
#   DEVCHAIN_FLAGS="-rate 10 -period 2s" scripts/devnet.sh
#
# Knobs (environment):
#   BIN=bin                  where devchain and feedd are
#   CONFIG=configs/devnet.yaml
#   DEVCHAIN_LISTEN=127.0.0.1:8545   configs/devnet.yaml expects this address
#   DEVCHAIN_FLAGS=          more flags for `devchain run` (devchain run -h lists them)
#   DEVCHAIN_WAIT=30         seconds to wait for the dev chain to be ready
#   SOLANA_LISTEN=127.0.0.1:8899     configs/devnet.yaml expects this address
#   SOLANA_FLAGS=            more flags for `devchain solana` (devchain solana -h lists them)
# The dev chain's log (a line per transaction) goes to $BIN/devchain.log, and
# what it deployed to $BIN/devchain.json.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
CONFIG=${CONFIG:-configs/devnet.yaml}
LISTEN=${DEVCHAIN_LISTEN:-127.0.0.1:8545}
WAIT=${DEVCHAIN_WAIT:-30}
LOG=$BIN/devchain.log
INFO=$BIN/devchain.json
OUT=$BIN/devchain.out
host=${LISTEN%:*}
port=${LISTEN##*:}
[[ -z $host || $host == 0.0.0.0 ]] && host=127.0.0.1
SOLANA_LISTEN=${SOLANA_LISTEN:-127.0.0.1:8899}
SOLANA_LOG=$BIN/solana.log
SOLANA_INFO=$BIN/solana.json
SOLANA_OUT=$BIN/solana.out
shost=${SOLANA_LISTEN%:*}
sport=${SOLANA_LISTEN##*:}
[[ -z $shost || $shost == 0.0.0.0 ]] && shost=127.0.0.1

for b in devchain feedd; do
	if [[ ! -x $BIN/$b ]]; then
		echo "devnet.sh: $BIN/$b is missing: run make build" >&2
		exit 1
	fi
done

# answers: whether something accepts TCP connections on host:port.
answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }
solana_answers() { (exec 3<>"/dev/tcp/$shost/$sport") 2>/dev/null; }

if answers; then
	echo "devnet.sh: $host:$port is already taken (an earlier devchain?); stop it or set DEVCHAIN_LISTEN" >&2
	exit 1
fi
if solana_answers; then
	echo "devnet.sh: $shost:$sport is already taken (an earlier devchain solana?); stop it or set SOLANA_LISTEN" >&2
	exit 1
fi

rm -f "$INFO" "$SOLANA_INFO"
# In its own session when setsid is there, so that a Ctrl-C in the terminal
# reaches the daemon only, which then shuts down while the chain still
# answers; the chain is stopped after it. (setsid execs in place: $! is
# devchain's pid.)
launcher=()
if command -v setsid >/dev/null; then
	launcher=(setsid)
fi
# shellcheck disable=SC2086 # DEVCHAIN_FLAGS is a list of flags
"${launcher[@]}" "$BIN/devchain" run -listen "$LISTEN" -info "$INFO" ${DEVCHAIN_FLAGS:-} >"$OUT" 2>"$LOG" &
devchain=$!
# shellcheck disable=SC2086 # SOLANA_FLAGS is a list of flags
"${launcher[@]}" "$BIN/devchain" solana -listen "$SOLANA_LISTEN" -info "$SOLANA_INFO" ${SOLANA_FLAGS:-} >"$SOLANA_OUT" 2>"$SOLANA_LOG" &
solana=$!

stop_devchain() {
	for pid in "$devchain" "$solana"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
}
trap stop_devchain EXIT
# A Ctrl-C before the daemon runs: stop here (the EXIT trap stops devchain).
trap 'exit 130' INT TERM

# Ready: the port answers and the info file, written after the contracts
# are deployed, exists.
deadline=$((SECONDS + WAIT))
until answers && [[ -s $INFO ]] && solana_answers && [[ -s $SOLANA_INFO ]]; do
	if ! kill -0 "$devchain" 2>/dev/null; then
		echo "devnet.sh: devchain exited; its log ($LOG):" >&2
		tail -n 20 "$LOG" >&2
		exit 1
	fi
	if ! kill -0 "$solana" 2>/dev/null; then
		echo "devnet.sh: devchain solana exited; its log ($SOLANA_LOG):" >&2
		tail -n 20 "$SOLANA_LOG" >&2
		exit 1
	fi
	if ((SECONDS >= deadline)); then
		echo "devnet.sh: devchain not ready after ${WAIT}s; its log ($LOG):" >&2
		tail -n 20 "$LOG" >&2
		exit 1
	fi
	sleep 0.1
done
cat "$OUT"
echo "devchain: pid $devchain, log $LOG, details $INFO"
echo
cat "$SOLANA_OUT"
echo "devchain solana: pid $solana, log $SOLANA_LOG, details $SOLANA_INFO"
echo

# From here a Ctrl-C reaches the daemon, which shuts down gracefully; the
# script waits for it, then stops devchain in its EXIT trap. (A no-op trap,
# not an ignored signal: the daemon must not inherit an ignored SIGINT.)
trap ':' INT TERM
status=0
"$BIN/feedd" run -c "$CONFIG" || status=$?
exit "$status"
