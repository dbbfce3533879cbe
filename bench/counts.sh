#!/usr/bin/env bash
# Load-independent costs per request: user-space instructions (valgrind's callgrind) and
# system calls (strace -c), for rproxy and HAProxy on the same config, on loopback.
# Wall-clock figures on a shared 2-core machine move with whatever else runs; these counts
# do not, so they show what a change to the code does. See bench/README.md.
#
# Usage: bench/counts.sh
# Environment:
#   MODES="tcp http httplog"   tcp: mode tcp; http: mode http keep-alive; httplog: http with
#                     option httplog to a loopback UDP sink (bound, never read)
#   TARGETS="haproxy rproxy"
#   RPROXY=path       rproxy binary (default: target/release/rproxy under the repo root)
#   DURATION=6        seconds of measured load per run (wrk -t1 -c10, keep-alive)
#   BENCH_PORT_BASE=19300   first loopback port to try
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
RPROXY=${RPROXY:-$ROOT/target/release/rproxy}
MODES=${MODES:-tcp http httplog}
TARGETS=${TARGETS:-haproxy rproxy}
DURATION=${DURATION:-6}
BASE=${BENCH_PORT_BASE:-19300}

die() { echo "counts.sh: $*" >&2; exit 1; }
for t in valgrind callgrind_control strace wrk nginx python3; do
    command -v "$t" >/dev/null 2>&1 || die "$t is required (apt-get install -y valgrind strace wrk nginx)"
done
[[ -x $RPROXY ]] || die "no rproxy binary at $RPROXY (cargo build --release)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rproxy-counts.XXXXXX") || die "mktemp failed"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() {
    local p=$1
    while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    echo "$p"
}
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}

ORIGIN=$(free_port "$BASE")
PROXY=$(free_port $((ORIGIN + 1)))
SINK=$(free_port $((PROXY + 1)))
cat >"$WORK/origin.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/origin.pid;
error_log $WORK/origin.err;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/body;
  proxy_temp_path $WORK/proxy;
  fastcgi_temp_path $WORK/fastcgi;
  uwsgi_temp_path $WORK/uwsgi;
  scgi_temp_path $WORK/scgi;
  server { listen 127.0.0.1:$ORIGIN; location / { return 200 "$(printf '%0100d' 0)"; } }
}
EOF
nginx -c "$WORK/origin.conf" >/dev/null 2>&1 &
PIDS+=($!)
wait_port "$ORIGIN" || die "the origin does not start"
# The log sink: bound, never read (the kernel drops what its buffer cannot hold).
python3 -c "import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('127.0.0.1',$SINK)); time.sleep(86400)" &
PIDS+=($!)

config() { # config MODE FILE
    local mode=tcp log=""
    [[ $1 != tcp ]] && mode=http
    [[ $1 == httplog ]] && log="    log 127.0.0.1:$SINK local0
    option httplog"
    cat >"$2" <<EOF
global
    nbthread 1
defaults
    mode $mode
    timeout connect 5s
    timeout client 30s
    timeout server 30s
listen t
    bind 127.0.0.1:$PROXY
$log
    server s1 127.0.0.1:$ORIGIN
EOF
}

binary() { [[ $1 == haproxy ]] && command -v haproxy || echo "$RPROXY"; }

# instructions TARGET CFG: user-space instructions per request under callgrind.
instructions() {
    local out=$WORK/cg.out bin
    bin=$(binary "$1")
    rm -f "$out"*
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" -f "$2" -db >/dev/null 2>"$WORK/vg.err" &
    local pid=$!
    wait_port "$PROXY" || { kill $pid; echo "-"; return; }
    wrk -t1 -c10 -d2s "http://127.0.0.1:$PROXY/" >/dev/null # warm-up
    callgrind_control -z $pid >/dev/null 2>&1
    wrk -t1 -c10 -d"${DURATION}s" "http://127.0.0.1:$PROXY/" >"$WORK/wrk.out"
    callgrind_control -d $pid >/dev/null 2>&1
    kill $pid
    wait $pid 2>/dev/null
    local req ir
    req=$(awk '/requests in/{print $1}' "$WORK/wrk.out")
    ir=$(awk '/^(summary|totals):/{print $2; exit}' "$out.1" 2>/dev/null)
    [[ -n $req && -n $ir && $req -gt 0 ]] && echo $((ir / req)) || echo "-"
}

# syscalls TARGET CFG: system calls per request (strace -c -f over the measured load).
syscalls() {
    local bin
    bin=$(binary "$1")
    "$bin" -f "$2" -db >/dev/null 2>&1 &
    local pid=$!
    wait_port "$PROXY" || { kill $pid; echo "-"; return; }
    wrk -t1 -c10 -d1s "http://127.0.0.1:$PROXY/" >/dev/null
    strace -c -f -p $pid -o "$WORK/strace.out" 2>/dev/null &
    local st=$!
    sleep 0.5
    wrk -t1 -c10 -d"${DURATION}s" "http://127.0.0.1:$PROXY/" >"$WORK/wrk.out"
    kill -INT $st
    wait $st 2>/dev/null
    kill $pid
    wait $pid 2>/dev/null
    local req
    req=$(awk '/requests in/{print $1}' "$WORK/wrk.out")
    awk -v r="$req" '$NF=="total"{printf "%.2f", $4/r}' "$WORK/strace.out"
}

printf '%-8s %-8s %14s %14s\n' mode target "instr/req" "syscalls/req"
for m in $MODES; do
    config "$m" "$WORK/$m.cfg"
    declare -A IR=()
    for t in $TARGETS; do
        [[ $t == haproxy ]] && ! command -v haproxy >/dev/null && continue
        IR[$t]=$(instructions "$t" "$WORK/$m.cfg")
        sc=$(syscalls "$t" "$WORK/$m.cfg")
        printf '%-8s %-8s %14s %14s\n' "$m" "$t" "${IR[$t]}" "$sc"
    done
    if [[ ${IR[haproxy]:--} != - && ${IR[rproxy]:--} != - ]]; then
        awk -v a="${IR[rproxy]}" -v b="${IR[haproxy]}" -v m="$m" \
            'BEGIN{printf "%-8s rproxy/haproxy instructions x%.2f\n", m, a/b}'
    fi
    unset IR
done
