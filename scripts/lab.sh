#!/usr/bin/env bash
# The accuracy lab (docs/lab.md): a client and a server in their own network
# namespaces, joined through a router namespace whose egress queues are the
# bottleneck (htb at --rate, a bfifo of --buffer bytes under it, both ways)
# and through lab/delayline, which adds --delay ms each way. Both ends use
# cubic as their default congestion control. Root only.
#
# Usage:
#   scripts/lab.sh up   [options]            build a lab; prints its settings
#   scripts/lab.sh down --id ID [--purge]    stop and remove it (--purge: its dir too)
#   scripts/lab.sh run  [options] -- CMD...  up, run CMD (in the root namespace,
#                                            LAB_* in its environment), down
#   scripts/lab.sh exec --id ID client|server|router -- CMD...
#   scripts/lab.sh stats --id ID             queue and delay-line counters
# Options:
#   --id ID            1-8 of [a-z0-9] (default: random); names every object
#   --dir DIR          logs, state, the server's spool (default /tmp/netpulse-lab-ID)
#   --rate RATE        bottleneck rate, tc units (default 50mbit)
#   --delay MS         one-way delay added by the delay line (default 20)
#   --buffer BYTES     bfifo limit at each bottleneck (default 1000000)
#   --burst BYTES      htb burst (default 15140: ten 1514-byte frames)
#   --cc ALGO          default congestion control of the namespaces (default cubic)
#   --server-bin PATH  start this netpulse-server in the server namespace
#   --server-flag F    one more flag for it (repeatable)
#   --delayline PATH   default: build/lab/delayline
#   --lifetime S       a watchdog removes the lab after S seconds (default 1800; 0: never)
#   --timeout S        run: the command is killed after S seconds (default 600)
# The server listens on LAB_SERVER_ADDR (10.77.2.2) ports 80 (ws, h2c) and
# 443 (wss, h2); the client namespace's address is 10.77.1.1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
self="$root/scripts/lab.sh"
die() { echo "lab.sh: $*" >&2; exit 1; }

id="" dir="" rate=50mbit delay=20 buffer=1000000 burst=15140 cc=cubic
server_bin="" server_flags=() delayline="$root/build/lab/delayline"
lifetime=1800 timeout_s=600 purge=0 watchdog=0
client_ip=10.77.1.1 router_tun_ip=10.77.1.2 router_veth_ip=10.77.2.1 server_ip=10.77.2.2

[ $# -ge 1 ] || { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
cmd=$1
shift
rest=()
while [ $# -gt 0 ]; do
  case "$1" in
  --id) id=$2; shift 2 ;;
  --dir) dir=$2; shift 2 ;;
  --rate) rate=$2; shift 2 ;;
  --delay) delay=$2; shift 2 ;;
  --buffer) buffer=$2; shift 2 ;;
  --burst) burst=$2; shift 2 ;;
  --cc) cc=$2; shift 2 ;;
  --server-bin) server_bin=$2; shift 2 ;;
  --server-flag) server_flags+=("$2"); shift 2 ;;
  --delayline) delayline=$2; shift 2 ;;
  --lifetime) lifetime=$2; shift 2 ;;
  --timeout) timeout_s=$2; shift 2 ;;
  --purge) purge=1; shift ;;
  --watchdog) watchdog=1; shift ;;
  --) shift; rest+=("$@"); break ;;
  -h | --help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  client | server | router) rest+=("$1"); shift ;;
  *) die "unknown option $1 (--help)" ;;
  esac
done

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, TUN, tc)"
if [ -z "$id" ]; then
  [ "$cmd" = up ] || [ "$cmd" = run ] || die "$cmd needs --id"
  id=$(printf '%04x%04x' $((RANDOM)) $((RANDOM)))
fi
[[ "$id" =~ ^[a-z0-9]{1,8}$ ]] || die "--id must be 1-8 of [a-z0-9]"
[ -n "$dir" ] || dir="/tmp/netpulse-lab-$id"
ns_c="npl-$id-c" ns_r="npl-$id-r" ns_s="npl-$id-s"
tun_c="nplc$id" tun_r="nplr$id" veth_r="nplv${id}r" veth_s="nplv${id}s"
cc_lock=/run/netpulse-lab.cc.lock
allowed=/proc/sys/net/ipv4/tcp_allowed_congestion_control

in_ns() { ip netns exec "$1" "${@:2}"; }

# Waits up to $2 tenths of a second for pid $1 (not necessarily our child) to end.
wait_gone() {
  local i
  for ((i = 0; i < $2; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

stop_pid() { # pid signal-first tenths
  [ -n "$1" ] || return 0
  kill -"$2" "$1" 2>/dev/null || return 0
  wait_gone "$1" "$3" || { kill -KILL "$1" 2>/dev/null || true; wait_gone "$1" 20 || true; }
}

# A namespace's default congestion control must be in the (global) allowed
# list: add it for the moment of setting, under a lock so parallel labs do
# not undo each other, and restore the list at once.
set_cc() {
  modprobe "tcp_$cc" 2>/dev/null || true
  grep -qw "$cc" /proc/sys/net/ipv4/tcp_available_congestion_control ||
    die "congestion control $cc is not available in this kernel"
  (
    flock -w 30 9 || die "could not lock $cc_lock"
    orig=$(cat "$allowed")
    echo "cc_orig='$orig'" >>"$dir/state"
    grep -qw "$cc" "$allowed" || echo "$orig $cc" >"$allowed"
    rc=0
    for ns in "$ns_c" "$ns_r" "$ns_s"; do
      in_ns "$ns" sysctl -qw "net.ipv4.tcp_congestion_control=$cc" || rc=1
    done
    echo "$orig" >"$allowed"
    echo "cc_orig=''" >>"$dir/state"
    exit "$rc"
  ) 9>"$cc_lock" || die "could not set $cc as the namespaces' default"
}

# htb at $rate with a bfifo of $buffer bytes under it, on device $2 in ns $1.
# One class, so its quantum (a DRR share between siblings) changes nothing;
# it is set only because the default (rate/r2q) draws a warning.
# $3: bytes of link header the device's packets lack (a TUN device carries
# bare IP packets; htb then charges them as Ethernet frames, like the veth).
shape() {
  local ovh=()
  [ "$3" -gt 0 ] && ovh=(overhead "$3")
  in_ns "$1" tc qdisc replace dev "$2" root handle 1: htb default 1
  in_ns "$1" tc class add dev "$2" parent 1: classid 1:1 htb rate "$rate" ceil "$rate" \
    burst "$burst" cburst "$burst" quantum 1514 "${ovh[@]}"
  in_ns "$1" tc qdisc add dev "$2" parent 1:1 handle 10: bfifo limit "$buffer"
}

start_server() {
  local log="$dir/server.log" i
  mkdir -p "$dir/spool"
  # Not through in_ns: a function run in the background is a subshell, and
  # $! would name it, not the server (`ip netns exec` execs the server).
  ip netns exec "$ns_s" "$server_bin" --http-addr "$server_ip:80" \
    --https-addr "$server_ip:443" --tls-self-signed --health-addr 127.0.0.1:8000 \
    --prometheus-addr 127.0.0.1:9990 --uuid-prefix-file "$dir/no-uuid-prefix" \
    --datadir "$dir/spool" "${server_flags[@]}" >"$log" 2>&1 &
  local pid=$!
  echo "server_pid=$pid" >>"$dir/state"
  for ((i = 0; i < 100; i++)); do
    [ "$(grep -c 'msg="listening"' "$log" || true)" -ge 2 ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log" >&2
  die "netpulse-server did not start"
}

print_env() {
  cat <<EOF
LAB_ID=$id
LAB_DIR=$dir
LAB_NS_CLIENT=$ns_c
LAB_NS_ROUTER=$ns_r
LAB_NS_SERVER=$ns_s
LAB_CLIENT_ADDR=$client_ip
LAB_SERVER_ADDR=$server_ip
LAB_RATE=$rate
LAB_DELAY_MS=$delay
LAB_BUFFER=$buffer
LAB_DATADIR=$dir/spool
EOF
}

up() {
  command -v flock >/dev/null || die "flock (util-linux) missing"
  [ -x "$delayline" ] || die "no delay line at $delayline (cmake --build build --target delayline)"
  [ -z "$server_bin" ] || [ -x "$server_bin" ] || die "no netpulse-server at $server_bin"
  [ ! -e "$dir/state" ] || die "lab $id is already up ($dir/state)"
  ip netns list | grep -q "^$ns_c\b" && die "namespace $ns_c exists: another lab uses id $id"
  mkdir -p "$dir"
  : >"$dir/state"
  trap 'echo "lab.sh: up failed; removing what was built" >&2; down_quiet' ERR
  for ns in "$ns_c" "$ns_r" "$ns_s"; do
    ip netns add "$ns"
    in_ns "$ns" ip link set lo up
    # No IPv6: no router solicitations or DAD in the measured queues.
    in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  ip link add "$veth_r" netns "$ns_r" type veth peer name "$veth_s" netns "$ns_s"
  # The delay line creates both TUN devices; they vanish when it exits.
  "$delayline" --a "$tun_c" --netns-a "$ns_c" --b "$tun_r" --netns-b "$ns_r" \
    --delay "$delay" --rt >"$dir/delayline.log" 2>&1 &
  echo "delayline_pid=$!" >>"$dir/state"
  local i
  for ((i = 0; i < 50; i++)); do
    grep -q '"ready"' "$dir/delayline.log" && break
    kill -0 "$!" 2>/dev/null || break
    sleep 0.1
  done
  grep -q '"ready"' "$dir/delayline.log" || { cat "$dir/delayline.log" >&2; false; }

  in_ns "$ns_c" ip addr add "$client_ip" peer "$router_tun_ip" dev "$tun_c"
  # A TUN device's ring holds txqueuelen packets between the stack and the
  # delay line; a cubic burst at memory speed overflows 500 (the default)
  # before the line reads it, a loss no real NIC would add.
  in_ns "$ns_c" ip link set "$tun_c" mtu 1500 txqueuelen 10000 up
  in_ns "$ns_c" ip route add default dev "$tun_c"
  in_ns "$ns_r" ip addr add "$router_tun_ip" peer "$client_ip" dev "$tun_r"
  in_ns "$ns_r" ip link set "$tun_r" mtu 1500 txqueuelen 10000 up
  in_ns "$ns_r" ip addr add "$router_veth_ip/24" dev "$veth_r"
  in_ns "$ns_r" ip link set "$veth_r" up
  in_ns "$ns_r" sysctl -qw net.ipv4.ip_forward=1
  # One segment per packet out of the server: a 64 KB GSO packet would pass
  # the veth whole and reach the bottleneck as one 10 ms lump.
  in_ns "$ns_s" ip link set "$veth_s" gso_max_segs 1 gso_max_size 1500 up
  in_ns "$ns_s" ip addr add "$server_ip/24" dev "$veth_s"
  in_ns "$ns_s" ip route add default via "$router_veth_ip"
  # The bottleneck: the router's egress, both ways (download toward the
  # client via the TUN device, upload toward the server via the veth).
  shape "$ns_r" "$tun_r" 14
  shape "$ns_r" "$veth_r" 0
  set_cc
  [ -z "$server_bin" ] || start_server
  if [ "$lifetime" -gt 0 ]; then
    setsid "$self" down --id "$id" --dir "$dir" --watchdog --lifetime "$lifetime" \
      </dev/null >/dev/null 2>&1 &
    echo "watchdog_pid=$!" >>"$dir/state"
  fi
  trap - ERR
  print_env >"$dir/env"
  print_env
}

down_quiet() { down >/dev/null 2>&1 || true; }

down() {
  local server_pid="" delayline_pid="" watchdog_pid="" cc_orig=""
  if [ "$watchdog" = 1 ]; then
    sleep "$lifetime"
    echo "lab.sh: lifetime of lab $id ($lifetime s) is over; removing it" >&2
  fi
  # shellcheck disable=SC1091
  [ -f "$dir/state" ] && . "$dir/state"
  # The watchdog leads its own process group (setsid): end its sleep too.
  if [ "$watchdog" != 1 ] && [ -n "$watchdog_pid" ]; then
    kill -TERM -- "-$watchdog_pid" 2>/dev/null || true
  fi
  stop_pid "$server_pid" TERM 350
  if ip netns list | grep -q "^$ns_r\b"; then
    in_ns "$ns_r" tc -s qdisc show >"$dir/tc-final.txt" 2>&1 || true
  fi
  stop_pid "$delayline_pid" TERM 50
  # Whatever else still runs in the lab's namespaces (a command started by
  # hand, a server that outlived its pid file) ends with them.
  local ns p
  for ns in "$ns_c" "$ns_r" "$ns_s"; do
    for p in $(ip netns pids "$ns" 2>/dev/null); do stop_pid "$p" TERM 50; done
  done
  # A lab killed between adding cc to the allowed list and restoring it.
  [ -z "$cc_orig" ] || echo "$cc_orig" >"$allowed"
  for ns in "$ns_c" "$ns_r" "$ns_s"; do
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -f "$dir/state"
  if [ "$purge" = 1 ]; then rm -rf "$dir"; else echo "lab $id removed; logs in $dir"; fi
}

stats() {
  local delayline_pid=""
  # shellcheck disable=SC1091
  . "$dir/state" 2>/dev/null || die "no lab $id"
  in_ns "$ns_r" tc -s qdisc show dev "$tun_r"
  in_ns "$ns_r" tc -s qdisc show dev "$veth_r"
  local n
  n=$(grep -c '"event"' "$dir/delayline.log" || true)
  kill -USR1 "$delayline_pid"
  for ((i = 0; i < 20; i++)); do
    [ "$(grep -c '"event"' "$dir/delayline.log")" -gt "$n" ] && break
    sleep 0.05
  done
  tail -n 1 "$dir/delayline.log"
}

case "$cmd" in
up) up ;;
down) down ;;
stats) stats ;;
exec)
  [ ${#rest[@]} -ge 2 ] || die "exec --id ID client|server|router -- CMD..."
  case "${rest[0]}" in client) ns=$ns_c ;; server) ns=$ns_s ;; router) ns=$ns_r ;; *) die "exec: client, server or router" ;; esac
  exec ip netns exec "$ns" "${rest[@]:1}"
  ;;
run)
  [ ${#rest[@]} -ge 1 ] || die "run needs -- CMD..."
  trap 'down' EXIT
  trap 'exit 130' INT TERM
  up >/dev/null
  set -a
  # shellcheck disable=SC1091
  . "$dir/env"
  set +a
  status=0
  timeout "$timeout_s" "${rest[@]}" || status=$?
  exit "$status"
  ;;
*) die "unknown command $cmd (up, down, run, exec, stats)" ;;
esac
