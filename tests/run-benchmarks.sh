#!/usr/bin/env bash
# Runs every gracewire benchmark and writes what they print to BENCHMARKS.md (as root: the
# receivers and feeders bind loopback addresses and BIRD/FRR/gobgpd need port 179).
#
#   bash tests/run-benchmarks.sh            # everything: ~43 minutes on 2 cores (gobgpd alone
#                                           # takes half a minute to announce to 10 peers)
#   QUICK=1 bash tests/run-benchmarks.sh    # smaller tables, gracewire and BIRD only, one
#                                           # health-check interval, 100 churn cycles
set -euo pipefail
cd "$(dirname "$0")/.."
# OUT=/tmp/b.md writes elsewhere (a QUICK run should not replace the committed file).
out=${OUT:-BENCHMARKS.md}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/gracewire-target}
cargo build --release -q -p gracewire -p gracewire-e2e --bins
bin=$CARGO_TARGET_DIR/release

started=$SECONDS
section() { printf '\n## %s\n\n`%s`\n\n```text\n' "$1" "$2" >>"$out"; t0=$SECONDS; }
# Each section ends with how long it took, so the run's length can be read off the file.
took() { printf '```\n\n(%d s)\n' $((SECONDS - t0)) >>"$out"; }
run() { "$@" 2>&1 | grep --line-buffered -v '^\[plugin' | tee -a "$out"; took; }
# criterion's progress and outlier lines are noise here: keep names, times and throughputs.
criterion() { "$@" 2>&1 | grep -E '^[a-z_]+/|time:|thrpt:' | grep -v '%' | tee -a "$out"; took; }

{
  echo "# gracewire benchmarks"
  echo
  echo "Written by \`bash tests/run-benchmarks.sh\` on $(date -u +%Y-%m-%d): $(nproc) cores,"
  echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)."
  echo "Peers: $(bird --version 2>&1 | head -1); $(dpkg-query -W -f='FRR ${Version}' frr 2>/dev/null);"
  echo "$(dpkg-query -W -f='gobgpd ${Version}' gobgpd 2>/dev/null). Receivers and speakers run one at a time."
  echo "docs/performance.md reads these figures."
} >"$out"

if [[ -n ${QUICK:-} ]]; then
  tables=("100000 20000") receivers=gracewire,bird
else
  tables=("100000 20000" "300000 60000" "1000000 200000") receivers=gracewire,bird,frr
fi
for t in "${tables[@]}"; do
  read -r v4 v6 <<<"$t"
  # gobgpd takes minutes per 100k paths: only the smallest table.
  if [[ $v4 == 100000 && -z ${QUICK:-} ]]; then receivers=gracewire,bird,frr,gobgp; else receivers=${receivers%,gobgp}; fi
  section "Ingest: $v4 IPv4 + $v6 IPv6 prefixes from one feeder" "route-bench $t $receivers"
  # shellcheck disable=SC2086
  run "$bin/route-bench" $t "$receivers"
done
section "bgperf2's shape: N feeders x 100k prefixes each into one receiver" "bgperf-bench 2 10"
# shellcheck disable=SC2046
RECEIVERS=$([[ -n ${QUICK:-} ]] && echo gracewire,bird || echo gracewire,bird,frr,gobgpd) \
  run "$bin/bgperf-bench" $([[ -n ${QUICK:-} ]] && echo 2 || echo 2 10)
section "Announce, restart and idle sessions, next to BIRD" "announce-bench all"
if [[ -n ${QUICK:-} ]]; then export PEERS=10; fi
run "$bin/announce-bench" all
# gobgpd takes ~8 s per speaker to bring a session up again: past 10 speakers its rolls take
# most of an hour, so it rolls 10 only.
section "Fleet: a rolling update of N speakers, FRR as the router" "ROUTERS=frr fleet-bench 10 50 200"
# shellcheck disable=SC2046
ROUTERS=frr run "$bin/fleet-bench" $([[ -n ${QUICK:-} ]] && echo 10 || echo 10 50 200)
if [[ -z ${QUICK:-} ]]; then
  section "Fleet: a rolling update of 10 speakers, gobgpd as the router" "ROUTERS=gobgpd fleet-bench 10"
  ROUTERS=gobgpd run "$bin/fleet-bench" 10
fi
# The idle part is 10 minutes (30 s in a QUICK run), all four speakers side by side.
section "Footprint on a load-balancer node: 50 service IPs to 2 peers" "footprint-bench"
SPEAKERS=$([[ -n ${QUICK:-} ]] && echo gracewire,bird || echo gracewire,bird,frr,gobgpd) \
  IDLE_SECS=$([[ -n ${QUICK:-} ]] && echo 30 || echo 600) run "$bin/footprint-bench"
section "Hitless upgrade: sessions taken over by a new process" "takeover-bench"
run "$bin/takeover-bench"
section "Health checks: time to withdraw and return, and the cost of 1,000 checks" "health-bench"
INTERVALS=$([[ -n ${QUICK:-} ]] && echo 100 || echo 100,1000,5000) run "$bin/health-bench"
section "Churn: memory over 1,000 cycles of new attributes and withdrawals" "churn-bench 1000 10000"
run "$bin/churn-bench" "${CHURN_CYCLES:-$([[ -n ${QUICK:-} ]] && echo 100 || echo 1000)}" 10000 "$bin/gracewire"
section "Control API: SetAnnouncements, AddAnnouncements and 100 event watchers, next to FRR" "api-bench"
run "$bin/api-bench"
section "Plugins: per-route cost and swap latency" "plugin-bench"
run "$bin/plugin-bench"
section "Codec and Adj-RIB-Out (criterion)" "cargo bench -p gracewire"
criterion cargo bench -q -p gracewire --bench update_codec --bench rib -- --noplot
printf '\nThe whole run took %d min.\n' $(((SECONDS - started + 30) / 60)) >>"$out"
echo "wrote $out"
