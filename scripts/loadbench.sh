#!/usr/bin/env bash
# loadbench.sh: a scripted load run of the real daemon with `feedctl load`.
#
# Builds bin/feedd and bin/feedctl, starts the daemon on a free loopback port
# with a temporary configuration (a "load" namespace writable through the
# publish API), runs the scenarios of issue 3 one after another, prints a
# summary table and stops the daemon. The load generator runs on the same
# machine and reports its own CPU use.
#
#   scripts/loadbench.sh              the full scenarios (about 2 minutes)
#   QUICK=1 scripts/loadbench.sh      a small version (under a minute)
#
# Knobs (environment):
#   SCENARIOS   which scenarios, in order (default: "idle 1msg 10msg max many"; idle first, while the
#               daemon's heap holds no garbage of earlier runs)
#                 1msg   CONNS connections on one channel, 1 publication/s
#                 10msg  CONNS connections on one channel, 10 publications/s
#                 max    MAX_CONNS connections on one channel, publishing as fast as possible
#                 many   CONNS connections over MANY_CHANNELS channels, MANY_RATE/s per channel
#                 idle   CONNS idle connections: the daemon's memory per connection
#   CONNS=10000 MAX_CONNS=1000 MANY_CHANNELS=100 MANY_RATE=10 DURATION=15s SIZE=100
#   MAX_RATE=1500   rate of the "max" scenario (0: as fast as the API takes them, which overloads
#                   the subscribers: event-channel clients that fall behind are closed with 4008)
#   BATCH=50 PUBLISHERS=2   publish requests: publications per request, concurrent requests
#   WRITE_DELAY=    server.write_delay for the daemon (default: the daemon's)
#   CONNECT_RATE=3000       new connections per second
#   LOAD_FLAGS=     more flags for every `feedctl load`, e.g. "--reader goroutine" (the
#                   goroutine-per-connection reader instead of epoll) or "--readers 2"
#   PROFILE=NAME    CPU-profile scenario NAME: the daemon (server.pprof on, PROFILE_SECONDS
#                   of /debug/pprof/profile, default 10) and the generator; files in OUT
#   OUT=DIR         keep the configuration, daemon log, JSON results and profiles there
#   GO=go           the go command
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	: "${CONNS:=1000}" "${MAX_CONNS:=200}" "${MANY_CHANNELS:=10}" "${DURATION:=4s}" "${SETTLE:=2s}"
else
	: "${CONNS:=10000}" "${MAX_CONNS:=1000}" "${MANY_CHANNELS:=100}" "${DURATION:=15s}" "${SETTLE:=3s}"
fi
SCENARIOS=${SCENARIOS:-"idle 1msg 10msg max many"}
MANY_RATE=${MANY_RATE:-10}
MAX_RATE=${MAX_RATE:-1500}
SIZE=${SIZE:-100}
BATCH=${BATCH:-50}
PUBLISHERS=${PUBLISHERS:-2}
CONNECT_RATE=${CONNECT_RATE:-3000}
WRITE_DELAY=${WRITE_DELAY:-}
PROFILE=${PROFILE:-}
PROFILE_SECONDS=${PROFILE_SECONDS:-10}
read -r -a LOAD_FLAGS <<<"${LOAD_FLAGS:-}"

OUT=${OUT:-}
if [[ -z $OUT ]]; then
	OUT=$(mktemp -d "${TMPDIR:-/tmp}/loadbench.XXXXXX")
	cleanup_dir=1
else
	mkdir -p "$OUT"
	cleanup_dir=0
fi

echo "loadbench: building bin/feedd and bin/feedctl" >&2
"$GO" build -o bin/feedd ./cmd/feedd
"$GO" build -o bin/feedctl ./cmd/feedctl

free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
		return
	fi
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 10000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "loadbench: no free port found" >&2
	exit 1
}

PORT=$(free_port)
KEY=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
CFG=$OUT/feedd.yaml
{
	echo "server:"
	echo "  listen: 127.0.0.1:$PORT"
	echo "  watch_config: false"
	[[ -n $WRITE_DELAY ]] && echo "  write_delay: $WRITE_DELAY"
	[[ -n $PROFILE ]] && echo "  pprof: true"
	echo "  limits:"
	echo "    max_requests_per_second: 0"
	echo "log:"
	echo "  level: warn"
	echo "channels:"
	echo "  namespaces:"
	echo "    - name: load"
	echo "      publish: api"
	echo "      history: {size: 100, ttl: 1m}"
	echo "  api_keys: [\"$KEY\"]"
} >"$CFG"

bin/feedd validate -c "$CFG" >/dev/null
bin/feedd run -c "$CFG" >"$OUT/feedd.log" 2>&1 &
PID=$!

stop_daemon() {
	if kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$PID" 2>/dev/null || true
	fi
	wait "$PID" 2>/dev/null || true
	if [[ $cleanup_dir == 1 ]]; then
		rm -rf "$OUT"
	fi
}
trap stop_daemon EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 100); do
	if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
		break
	fi
	if ! kill -0 "$PID" 2>/dev/null; then
		echo "loadbench: the daemon exited:" >&2
		cat "$OUT/feedd.log" >&2
		exit 1
	fi
	sleep 0.1
done
echo "loadbench: daemon pid $PID on 127.0.0.1:$PORT (config $CFG); results in $OUT" >&2

# jget FILE KEY: the first number following "KEY": in an indented JSON report.
jget() {
	local v
	v=$(grep -m1 "\"$2\":" "$1" | sed -E 's/.*": *//; s/[",]//g') || true
	echo "${v:-0}"
}

# wait_idle: until the daemon has no WebSocket connection left from the last run.
wait_idle() {
	for _ in $(seq 1 100); do
		local n
		n=$(ss -Htn state established "( sport = :$PORT )" 2>/dev/null | wc -l)
		[[ $n -le 1 ]] && return
		sleep 0.1
	done
}

run_scenario() {
	local name=$1
	shift
	local file=$OUT/$name.json
	echo "loadbench: $name: feedctl load ${LOAD_FLAGS[*]+${LOAD_FLAGS[*]} }$*" >&2
	wait_idle
	local rc=0 prof=() curlpid=
	if [[ $name == "$PROFILE" ]]; then
		prof=(--cpuprofile "$OUT/$name.feedctl.pprof")
		# The daemon's profile starts once the connections are likely open.
		(sleep 5 && curl -fsS -o "$OUT/$name.feedd.pprof" \
			"http://127.0.0.1:$PORT/debug/pprof/profile?seconds=$PROFILE_SECONDS") &
		curlpid=$!
	fi
	bin/feedctl load --url "ws://127.0.0.1:$PORT/ws" --key "$KEY" --pid "$PID" --json "${prof[@]}" \
		--size "$SIZE" --batch "$BATCH" --publishers "$PUBLISHERS" --connect-rate "$CONNECT_RATE" ${LOAD_FLAGS[@]+"${LOAD_FLAGS[@]}"} "$@" >"$file" || rc=$?
	if [[ -n $curlpid ]]; then
		wait "$curlpid" || echo "loadbench: daemon profile failed" >&2
		echo "loadbench: profiles: $GO tool pprof -top bin/feedd $OUT/$name.feedd.pprof; $GO tool pprof -top bin/feedctl $OUT/$name.feedctl.pprof" >&2
	fi
	if [[ $rc != 0 ]]; then
		echo "loadbench: $name: feedctl load exited with $rc" >&2
	fi
	if ! kill -0 "$PID" 2>/dev/null; then
		echo "loadbench: the daemon died during $name:" >&2
		tail -20 "$OUT/feedd.log" >&2
		exit 1
	fi
}

for s in $SCENARIOS; do
	case $s in
	1msg) run_scenario 1msg --conns "$CONNS" --channels 1 --rate 1 --duration "$DURATION" ;;
	10msg) run_scenario 10msg --conns "$CONNS" --channels 1 --rate 10 --duration "$DURATION" ;;
	max) run_scenario max --conns "$MAX_CONNS" --channels 1 --rate "$MAX_RATE" --duration "$DURATION" ;;
	many) run_scenario many --conns "$CONNS" --channels "$MANY_CHANNELS" --rate "$MANY_RATE" --duration "$DURATION" ;;
	idle) run_scenario idle --conns "$CONNS" --idle --settle "$SETTLE" ;;
	*)
		echo "loadbench: unknown scenario $s" >&2
		exit 2
		;;
	esac
done

# Summary.
echo
printf '%-6s %6s %4s %7s %9s %11s %8s %9s %5s %8s %8s %8s %8s %7s %8s %9s %9s\n' \
	scen conns ch rate/ch pub/s deliv/s expected received lost p50ms p90ms p99ms maxms gen-cpu dmn-cpu us/deliv rss-MiB
for s in $SCENARIOS; do
	f=$OUT/$s.json
	[[ -s $f ]] || {
		echo "$s: no result"
		continue
	}
	rss=$(awk -v a="$(jget "$f" rss_after_kib)" -v c="$(jget "$f" rss_connected_kib)" 'BEGIN { printf "%.0f", (a > c ? a : c) / 1024 }')
	if [[ $s == idle ]]; then
		perconn=$(awk -v b="$(jget "$f" idle_bytes_per_conn)" 'BEGIN { printf "%.1f", b / 1024 }')
		printf '%-6s %6s %4s %7s %9s %11s %8s %9s %5s %8s %8s %8s %8s %7.2f %8s %9s %9s  idle: %s KiB/conn (RSS %s -> %s MiB)\n' \
			"$s" "$(jget "$f" subscribed)" "$(jget "$f" channels)" - - - - - - - - - - \
			"$(jget "$f" generator_cpu_seconds)" - - "$rss" "$perconn" \
			"$(awk -v v="$(jget "$f" rss_before_kib)" 'BEGIN { printf "%.0f", v / 1024 }')" \
			"$(awk -v v="$(jget "$f" rss_connected_kib)" 'BEGIN { printf "%.0f", v / 1024 }')"
		continue
	fi
	printf '%-6s %6s %4s %7s %9.0f %11.0f %8s %9s %5s %8.1f %8.1f %8.1f %8.1f %7.2f %8.2f %9.2f %9s\n' \
		"$s" "$(jget "$f" subscribed)" "$(jget "$f" channels)" "$(jget "$f" rate_per_channel)" \
		"$(jget "$f" publish_rate)" "$(jget "$f" deliveries_per_second)" \
		"$(jget "$f" expected_deliveries)" "$(jget "$f" received)" "$(jget "$f" lost)" \
		"$(jget "$f" p50)" "$(jget "$f" p90)" "$(jget "$f" p99)" "$(jget "$f" max)" \
		"$(jget "$f" generator_cpu_seconds)" "$(jget "$f" cpu_seconds)" "$(jget "$f" cpu_us_per_delivery)" "$rss"
	if [[ $(jget "$f" disconnected) != 0 ]]; then
		echo "       disconnected by the daemon: $(jget "$f" disconnected) $(grep -A3 '"close_codes"' "$f" | tr -d '\n ' | sed 's/"close_codes"://')"
	fi
done
echo "(rate/ch 0: as fast as possible; gen-cpu: the load generator's CPU seconds; dmn-cpu: the daemon's while publishing and draining)"
