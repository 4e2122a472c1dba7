#!/usr/bin/env bash
# Installs what gracewire and its tests need, builds gracewire, and shows it working: gracewire
# runs on examples/gracewire.toml and announces two service IPs to a real FRR router (bgpd on
# 127.0.0.2, standalone), with the reference community plugin tagging them; then the plugin's
# rules change and a new instance is swapped in live: FRR shows the new community on the same
# session. It prints what FRR learned at each step, stops both, and fails if any step did not
# happen (tests/tests/deploy.rs runs it with DEMO_PROFILE=dev, the tests' own build).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for p in gobgpd frr bird2 exabgp prometheus curl; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v rustup >/dev/null && rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
# Python plugins and their tests: componentize-py builds them, pytest runs their native tests;
# grpcio and grpcio-tools are the tests' Python client of the control API.
python3 -c "import componentize_py, pytest, grpc, grpc_tools" 2>/dev/null ||
  python3 -m pip install -q --disable-pip-version-check componentize-py==0.25.1 pytest \
    grpcio==1.76.0 grpcio-tools==1.76.0

echo "== building gracewire and its reference community plugin"
profile=${DEMO_PROFILE:-release}
cargo build --profile "$profile" -q -p gracewire
cargo build --release -q -p gracewire-plugin-communities --target wasm32-wasip2 \
  --config profile.release.debug=false
target=${CARGO_TARGET_DIR:-target}
if [ "$profile" = dev ]; then bin=$target/debug/gracewire; else bin=$target/$profile/gracewire; fi
"$bin" check --config examples/gracewire.toml

dir=$(mktemp -d)
cleanup() {
  [ -n "${gw:-}" ] && kill "$gw" 2>/dev/null
  [ -f "$dir/bgpd.pid" ] && kill "$(cat "$dir/bgpd.pid")" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
cat > "$dir/bgpd.conf" <<CONF
router bgp 65001
 bgp router-id 192.0.2.2
 no bgp ebgp-requires-policy
 bgp graceful-restart
 neighbor 127.0.0.1 remote-as 64512
 neighbor 127.0.0.1 update-source 127.0.0.2
 neighbor 127.0.0.1 timers connect 1
 address-family ipv6 unicast
  neighbor 127.0.0.1 activate
 exit-address-family
CONF
echo "== starting FRR bgpd on 127.0.0.2 (AS 65001)"
/usr/lib/frr/bgpd -f "$dir/bgpd.conf" -l 127.0.0.2 -n -Z -S --vty_socket "$dir" -i "$dir/bgpd.pid" \
  -z "$dir/zserv.api" >"$dir/bgpd.log" 2>&1 &
# examples/gracewire.toml with the community plugin: routes of pool "public" get COMMUNITY.
cp "$target/wasm32-wasip2/release/gracewire_plugin_communities.wasm" "$dir/communities.wasm"
config() {
  cat examples/gracewire.toml
  printf '\n[plugins.communities]\npath = "communities.wasm"\n'
  printf 'config = { rules = [{ pools = ["public"], add = ["%s"] }] }\n' "$1"
}
config 64512:200 >"$dir/gracewire.toml"
"$bin" check --config "$dir/gracewire.toml"
echo "== starting gracewire (AS 64512, 127.0.0.1) with the community plugin adding 64512:200"
"$bin" run --config "$dir/gracewire.toml" 2>"$dir/gracewire.log" &
gw=$!

vty() { vtysh --vty_socket "$dir" -d bgpd -c "$1"; }
frr_has() { vty "show bgp ipv4 unicast 198.51.100.10/32 json" 2>/dev/null | grep -q "$1"; }
wait_for_community() {
  for _ in $(seq 1 150); do frr_has "$1" && return 0; sleep 0.2; done
  echo "demo: FRR never saw $1 on 198.51.100.10/32; gracewire's log:" >&2
  cat "$dir/gracewire.log" >&2
  exit 1
}
wait_for_community 64512:200
echo "== gracewire's view of its peer"
"$bin" show neighbors --config "$dir/gracewire.toml"
"$bin" show neighbors tor1 --config "$dir/gracewire.toml"
echo "== what FRR learned from gracewire"
vty 'show bgp ipv4 unicast 198.51.100.10/32'
vty 'show bgp ipv6 unicast 2001:db8:100::10/128'
sessions() { vty 'show bgp neighbors 127.0.0.1 json' | grep -o '"connectionsEstablished":[0-9]*'; }
before=$(sessions)

echo "== the plugin's rules change (64512:300): a new instance is swapped in, the session stays"
config 64512:300 >"$dir/gracewire.toml"
kill -HUP "$gw"
wait_for_community 64512:300
vty 'show bgp ipv4 unicast 198.51.100.10/32'
"$bin" show plugins --config "$dir/gracewire.toml"
after=$(sessions)
echo "FRR sessions with gracewire: before the swap $before, after $after"
[ "$before" = "$after" ] || { echo "demo: the swap cost a session" >&2; exit 1; }
echo "demo: ok"
