#!/usr/bin/env bash
# HTTP reverse-proxy benchmark: HAProxy, nginx, rproxy and the origin alone ("direct"),
# on loopback only. See bench/README.md, section "HTTP proxy benchmark".
#
# Usage: bench/http.sh
# Environment:
#   DURATION=10       seconds per measured wrk run (QUICK=1 sets 3)
#   QUICK=1           smoke test: 3-second runs
#   CONNECTIONS=50    wrk connections (-c); wrk always uses one thread (-t1)
#   BENCH_PIN=1       pin the proxy to CPU 0 and wrk to CPU 1 with taskset (0: no pinning)
#   BENCH_PIN_ORIGIN=0   1: pin the origins to CPU 1 too (with BENCH_PIN=1), the same place
#                     in every row, "direct" included
#   RPROXY=path       rproxy binary (default: target/release/rproxy under the repo root)
#   TARGETS="haproxy nginx rproxy direct"   which rows to run, in this order
#                     (BENCH_MODE=tcp: "haproxy rproxy direct"); "haproxy-splice" and
#                     "rproxy-splice" are haproxy and rproxy with "option splice-auto";
#                     "haproxy-log" and "rproxy-log" log every request (option httplog, or
#                     tcplog in mode tcp) to a UDP syslog sink on loopback
#   BENCH_MODE=http   http, or tcp: haproxy.cfg and rproxy.cfg run in "mode tcp" (a server
#                     per client connection, bytes forwarded both ways), or tls-handshake:
#                     HTTPS with "Connection: close" (a full TLS handshake per request), or
#                     https: HTTPS keep-alive; the TLS modes use one RSA-2048 self-signed
#                     certificate for every target (for "direct", a TLS listener on origin 1)
#   BENCH_TLS_RESUME=0   TLS modes: 1 leaves session resumption (tickets, caches) as each
#                     server ships it; 0 turns it off everywhere (wrk resumes when it can)
#   SCENARIOS="keep-alive close"   which scenarios (tls-handshake: close; https: keep-alive)
#   BENCH_PATH=/      what wrk requests: "/" (100-byte answers) or "/1m" (1 MiB objects,
#                     for throughput: the report adds MiB/s and CPU per MiB)
#   BENCH_PORT_BASE=18000   first loopback port to try; the script takes 5 free ones
#   BENCH_HTTP_REUSE=always   http-reuse mode in haproxy.cfg / rproxy.cfg (safe: HAProxy's default)
#   BENCH_QUIET_WAIT=0   up to this many seconds, wait before each target until the
#                     machine is idle (other processes under 0.15 CPU over one second)
#   IDLE_CONNS=1000   idle keep-alive connections held open to measure memory per connection
#                     (0: skip)
#   BENCH_KEEP=1      keep the temporary directory (configs, logs, wrk outputs)
set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
HELPER="$HERE/http_report.py"

if [[ "${QUICK:-0}" == 1 ]]; then
    DURATION=3
else
    DURATION=${DURATION:-10}
fi
CONNECTIONS=${CONNECTIONS:-50}
BENCH_PIN=${BENCH_PIN:-1}
RPROXY=${RPROXY:-$ROOT/target/release/rproxy}
BENCH_MODE=${BENCH_MODE:-http}
SCHEME=http
case $BENCH_MODE in
http) TARGETS=${TARGETS:-haproxy nginx rproxy direct} ;;
tcp) TARGETS=${TARGETS:-haproxy rproxy direct} ;;
tls-handshake) TARGETS=${TARGETS:-haproxy nginx rproxy direct}; SCENARIOS=${SCENARIOS:-close}; SCHEME=https ;;
https) TARGETS=${TARGETS:-haproxy nginx rproxy direct}; SCENARIOS=${SCENARIOS:-keep-alive}; SCHEME=https ;;
*) echo "http.sh: BENCH_MODE must be http, tcp, tls-handshake or https" >&2; exit 1 ;;
esac
SCENARIOS=${SCENARIOS:-keep-alive close}
BENCH_TLS_RESUME=${BENCH_TLS_RESUME:-0}
BENCH_PATH=${BENCH_PATH:-/}
BENCH_PORT_BASE=${BENCH_PORT_BASE:-18000}
BENCH_HTTP_REUSE=${BENCH_HTTP_REUSE:-always}
BENCH_QUIET_WAIT=${BENCH_QUIET_WAIT:-0}
if [[ $SCHEME == https ]]; then
    IDLE_CONNS=${IDLE_CONNS:-0}   # the holder speaks plain HTTP only
else
    IDLE_CONNS=${IDLE_CONNS:-1000}
fi
WARMUP=1            # seconds of unmeasured keep-alive load before each target's runs
START_TIMEOUT=5     # seconds for a server to start listening

log() { printf '%s\n' "$*" >&2; }
die() { log "http.sh: $*"; exit 1; }

# ---- tools ----------------------------------------------------------------------------
missing=()
for tool in wrk nginx haproxy; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
command -v python3 >/dev/null 2>&1 || die "python3 is required (for $HELPER)"
if ((${#missing[@]})); then
    log "Missing: ${missing[*]}"
    log "Install them with:  apt-get install -y wrk nginx haproxy"
    for tool in "${missing[@]}"; do
        case $tool in
        wrk) die "wrk is required (it generates the load)" ;;
        nginx) die "nginx is required (it is the origin server)" ;;
        haproxy) log "haproxy is missing: its rows are skipped." ;;
        esac
    done
fi

PIN_PROXY=()
PIN_WRK=()
if [[ "$BENCH_PIN" == 1 ]]; then
    if command -v taskset >/dev/null 2>&1 && (($(nproc) >= 2)); then
        PIN_PROXY=(taskset -c 0)
        PIN_WRK=(taskset -c 1)
    else
        log "BENCH_PIN=1 but taskset or a second CPU is missing: not pinning."
        BENCH_PIN=0
    fi
fi

CLK_TCK=$(getconf CLK_TCK)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- scratch directory and cleanup ------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rproxy-bench.XXXXXX") || die "mktemp failed"
PIDS=()      # every server started and not yet stopped
WRK_PID=""   # the wrk run in progress, if any

# stop_pid PID: TERM the process, KILL it and what is left of its children after 5 s.
stop_pid() {
    local pid=$1 tree p rest=()
    mapfile -t tree < <(proc_tree "$pid")
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    for p in "${tree[@]}"; do
        kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    done
    wait "$pid" 2>/dev/null
    for p in "${PIDS[@]}"; do
        [[ "$p" != "$pid" ]] && rest+=("$p")
    done
    PIDS=("${rest[@]}")
    return 0
}

cleanup() {
    local pid
    trap - EXIT INT TERM HUP
    [[ -n "$WRK_PID" ]] && kill -TERM "$WRK_PID" 2>/dev/null
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid"
    done
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        log "Scratch directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---- /proc readings ---------------------------------------------------------------------

# The pids of PID and all its descendants.
proc_tree() {
    local pid=$1 child
    [[ -d /proc/$pid ]] || return 0
    echo "$pid"
    for child in $(pgrep -P "$pid" 2>/dev/null); do
        proc_tree "$child"
    done
}

# utime + stime (fields 14 and 15 of /proc/PID/stat, clock ticks), summed over PIDS.
cpu_ticks() {
    local total=0 pid line f
    for pid in "$@"; do
        read -r line 2>/dev/null </proc/"$pid"/stat || continue
        # the command name (field 2) may contain spaces: split after its closing paren;
        # f[0] is then field 3, so fields 14 and 15 are f[11] and f[12]
        read -r -a f <<<"${line##*) }"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

# VmRSS in KiB, summed over PIDS.
rss_kib() {
    local total=0 pid key val rest
    for pid in "$@"; do
        [[ -r /proc/$pid/status ]] || continue
        while read -r key val rest; do
            [[ "$key" == VmRSS: ]] && total=$((total + val))
        done </proc/"$pid"/status 2>/dev/null
    done
    echo "$total"
}

# Busy time of the whole machine in clock ticks: user + nice + system + steal from the
# "cpu" line of /proc/stat (idle, iowait and interrupt time left out).
host_busy_ticks() {
    local user nice system steal
    # cpu user nice system idle iowait irq softirq steal ...
    read -r _ user nice system _ _ _ _ steal _ </proc/stat
    echo $((user + nice + system + steal))
}

# CPU time (ms) of this shell's finished children (bash's "times", second line), into
# KIDS_MS: not through $(...), whose subshell would report its own children.
children_cpu_ms() {
    local u s
    times >"$WORK/times"
    { read -r _; read -r u s; } <"$WORK/times"
    KIDS_MS=$(($(dur_ms "$u") + $(dur_ms "$s")))
}
dur_ms() {   # "1m2.345s" -> 62345
    local m=${1%%m*} rest=${1#*m}
    local sec=${rest%s}
    local whole=${sec%.*} frac=${sec#*.}000
    echo $((10#$m * 60000 + 10#$whole * 1000 + 10#${frac:0:3}))
}

# wait_quiet: with BENCH_QUIET_WAIT > 0, wait (that long at most) for a second in which the
# machine's busy time stays under 0.15 CPU. Our servers are idle meanwhile.
wait_quiet() {
    local start=$SECONDS b0 b1 busy
    ((BENCH_QUIET_WAIT > 0)) || return 0
    while :; do
        b0=$(host_busy_ticks)
        sleep 1
        b1=$(host_busy_ticks)
        busy=$(((b1 - b0) * 100 / CLK_TCK))   # hundredths of a CPU
        ((busy < 15)) && return 0
        if ((SECONDS - start >= BENCH_QUIET_WAIT)); then
            log "  machine still busy ($((busy / 100)).$(printf %02d $((busy % 100))) CPU besides ours) after ${BENCH_QUIET_WAIT}s: going on"
            return 0
        fi
    done
}

# ---- servers ----------------------------------------------------------------------------

# render TEMPLATE OUT KEY=VALUE...: copy a config from bench/configs with @KEY@ replaced.
render() {
    local template=$1 out=$2 kv args=()
    shift 2
    for kv in "$@"; do
        args+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
    done
    sed "${args[@]}" "$HERE/configs/$template" >"$out"
}

# tcpify FILE: with BENCH_MODE=tcp, the same proxy in "mode tcp" (HTTP-only lines dropped).
tcpify() {
    [[ "$BENCH_MODE" == tcp ]] || return 0
    sed -i -e 's/^\( *\)mode http/\1mode tcp/' -e '/http-reuse/d' -e '/http-keep-alive/d' "$1"
}

# tlsify FILE: in the TLS modes, haproxy's and rproxy's bind line terminates TLS with the
# bench certificate (defaults otherwise: session tickets and caches as each ships them).
# Unless BENCH_TLS_RESUME=1, no session tickets nor session cache: every handshake is full.
tlsify() {
    [[ $SCHEME == https ]] || return 0
    sed -i -e "s|^\( *bind 127.0.0.1:[0-9]*\)\$|\1 ssl crt $WORK/bench.pem|" "$1"
    [[ $BENCH_TLS_RESUME == 1 ]] && return 0
    sed -i -e 's/^global$/&\n    ssl-default-bind-options no-tls-tickets\n    tune.ssl.cachesize 0/' "$1"
}

# logify FILE: the "-log" targets send one HAProxy-format line per request to a loopback UDP
# socket that never reads (the kernel drops what overflows its queue), so the figure is the
# proxy's own cost of logging, with no syslog daemon competing for the CPUs.
logify() {
    local style=httplog
    [[ "$BENCH_MODE" == tcp ]] && style=tcplog
    sed -i -e "s/^\( *\)mode \(tcp\|http\)\$/&\n\1log 127.0.0.1:$LOG_PORT local0\n\1option $style/" "$1"
}

# splicify FILE: the "-splice" targets add "option splice-auto" to the defaults section.
splicify() {
    sed -i -e 's/^\( *\)mode \(tcp\|http\)$/&\n\1option splice-auto/' "$1"
}

# When run as root, nginx would hand its workers to "nobody": keep them as the current user.
if (($(id -u) == 0)); then
    NGINX_USER="user $(id -un) $(id -gn);"
else
    NGINX_USER=""
fi

# set_affinity CPULIST PID: move PID and its descendants (all threads) to CPULIST.
set_affinity() {
    local cpus=$1 p
    for p in $(proc_tree "$2"); do
        taskset -a -p -c "$cpus" "$p" >/dev/null 2>&1
    done
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# wait_listen PID PORT: wait until PORT accepts connections while PID lives.
wait_listen() {
    local pid=$1 port=$2
    for _ in $(seq $((START_TIMEOUT * 10))); do
        kill -0 "$pid" 2>/dev/null || return 1
        port_open "$port" && return 0
        sleep 0.1
    done
    return 1
}

# start_server NAME PORT CMD...: start CMD in the background (stdout/stderr to a log in the
# scratch directory), record its pid in SERVER_PID and wait for PORT. On failure prints the
# reason, the end of the log, and returns 1.
start_server() {
    local name=$1 port=$2 rc
    shift 2
    port_open "$port" && { FAIL_DETAIL="port $port already in use"; return 1; }
    "$@" >"$WORK/$name.log" 2>&1 </dev/null &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    if ! wait_listen "$SERVER_PID" "$port"; then
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            FAIL_DETAIL="not listening on port $port after ${START_TIMEOUT}s"
            stop_pid "$SERVER_PID"
        else
            wait "$SERVER_PID"
            rc=$?
            FAIL_DETAIL="exit status $rc"
        fi
        log "  $name failed to start ($FAIL_DETAIL); end of its output:"
        tail -n 5 "$WORK/$name.log" | sed 's/^/    | /' >&2
        return 1
    fi
    return 0
}

# ---- ports, origins ---------------------------------------------------------------------
mapfile -t PORTS < <(python3 "$HELPER" ports 7 "$BENCH_PORT_BASE")
((${#PORTS[@]} == 7)) || die "could not find 7 free loopback ports from $BENCH_PORT_BASE"
ORIGIN1_PORT=${PORTS[0]}
ORIGIN2_PORT=${PORTS[1]}
declare -A PROXY_PORT=([haproxy]=${PORTS[2]} [nginx]=${PORTS[3]} [rproxy]=${PORTS[4]})
ORIGIN_TLS_PORT=${PORTS[5]}   # origin 1 over TLS: the "direct" row of the TLS modes
LOG_PORT=${PORTS[6]}          # the "-log" targets' syslog sink

# The TLS modes: one RSA-2048 self-signed certificate for every target (haproxy and rproxy
# read the key and the certificate from one file, nginx from two).
if [[ $SCHEME == https ]]; then
    command -v openssl >/dev/null 2>&1 || die "openssl is required for BENCH_MODE=$BENCH_MODE"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
        -keyout "$WORK/bench.key" -out "$WORK/bench.crt" >/dev/null 2>&1 || die "openssl req failed"
    cat "$WORK/bench.crt" "$WORK/bench.key" >"$WORK/bench.pem"
    NGINX_SSL_LISTEN="ssl "
    printf 'ssl_certificate %s;\nssl_certificate_key %s;\n' "$WORK/bench.crt" "$WORK/bench.key" >"$WORK/nginx-tls.conf"
    [[ $BENCH_TLS_RESUME == 1 ]] || printf 'ssl_session_tickets off;\nssl_session_cache off;\n' >>"$WORK/nginx-tls.conf"
    { printf 'listen 127.0.0.1:%s ssl backlog=4096;\n' "$ORIGIN_TLS_PORT"; cat "$WORK/nginx-tls.conf"; } >"$WORK/origin1-tls.conf"
else
    NGINX_SSL_LISTEN=""
    : >"$WORK/nginx-tls.conf"
    : >"$WORK/origin1-tls.conf"
fi
: >"$WORK/origin2-tls.conf"

# The 1 MiB object the origins serve at /1m (BENCH_PATH=/1m).
mkdir -p "$WORK/www"
head -c 1048576 /dev/urandom >"$WORK/www/1m"

ORIGIN_PIDS=()
for id in 1 2; do
    port_var=ORIGIN${id}_PORT
    render nginx-origin.conf "$WORK/origin$id.conf" \
        "DIR=$WORK" "ID=$id" "PORT=${!port_var}" "USER=$NGINX_USER"
    start_server "origin$id" "${!port_var}" \
        nginx -p "$WORK" -c "$WORK/origin$id.conf" -e "$WORK/origin$id-error.log" -g 'daemon off;' \
        || die "origin $id (nginx) did not start"
    ORIGIN_PIDS+=("$SERVER_PID")
    # BENCH_PIN_ORIGIN=1: the origins share wrk's CPU in every row, so that "direct" and the
    # proxied rows place the origin alike (unpinned, it gets a CPU of its own only when no
    # proxy runs, which measures the kernel's placement rather than the proxy).
    if [[ ${BENCH_PIN_ORIGIN:-0} == 1 && $BENCH_PIN == 1 ]]; then
        set_affinity 1 "$SERVER_PID"
    fi
done
python3 "$HELPER" check "$ORIGIN1_PORT" 1 >/dev/null || die "origin 1 answers wrongly"
# The "-log" targets' syslog sink: bound, never read.
if [[ " $TARGETS " == *-log\ * ]]; then
    python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
time.sleep(1e6)' "$LOG_PORT" &
    PIDS+=("$!")
fi
python3 "$HELPER" check "$ORIGIN2_PORT" 1 >/dev/null || die "origin 2 answers wrongly"
if [[ $SCHEME == https ]]; then
    wait_listen "${ORIGIN_PIDS[0]}" "$ORIGIN_TLS_PORT" || die "origin 1 does not listen for TLS"
    python3 "$HELPER" check "$ORIGIN_TLS_PORT" 1 tls >/dev/null || die "origin 1 answers wrongly over TLS"
fi

# ---- metadata ---------------------------------------------------------------------------
STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS_DIR="$HERE/results"
mkdir -p "$RESULTS_DIR"
OUT_JSON="$RESULTS_DIR/http-$STAMP.json"
RECORDS="$WORK/records.jsonl"
: >"$RECORDS"

json_str() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
first_line() { "$@" 2>&1 | head -n 1; }
rproxy_version="(not found)"
[[ -x "$RPROXY" ]] && rproxy_version=$(first_line "$RPROXY" -v)
cat >"$WORK/meta.json" <<EOF
{
  "date": $(json_str "$(date -Is)"),
  "host": {
    "kernel": $(json_str "$(uname -sr)"),
    "cpus": $(nproc),
    "cpu_model": $(json_str "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"),
    "clk_tck": $CLK_TCK
  },
  "duration_s": $DURATION,
  "warmup_s": $WARMUP,
  "connections": $CONNECTIONS,
  "http_reuse": $(json_str "$BENCH_HTTP_REUSE"),
  "mode": $(json_str "$BENCH_MODE"),
  "scenarios": $(json_str "$SCENARIOS"),
  "path": $(json_str "$BENCH_PATH"),
  "loadavg_at_start": $(json_str "$(cut -d' ' -f1-3 /proc/loadavg)"),
  "wrk_threads": 1,
  "pinned": $([[ "$BENCH_PIN" == 1 ]] && { [[ ${BENCH_PIN_ORIGIN:-0} == 1 ]] && echo '"proxy on CPU 0, wrk and the origins on CPU 1 (direct too)"' || echo '"proxy (for direct: the origin) on CPU 0, wrk on CPU 1, origins unpinned"'; } || echo null),
  "versions": {
    "wrk": $(json_str "$(first_line wrk -v)"),
    "nginx": $(json_str "$(first_line nginx -v)"),
    "haproxy": $(json_str "$(command -v haproxy >/dev/null && first_line haproxy -v || echo missing)"),
    "rproxy": $(json_str "$rproxy_version"),
    "rproxy_binary": $(json_str "$RPROXY"),
    "repo_commit": $(json_str "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)")
  },
  "ports": {"origin1": $ORIGIN1_PORT, "origin2": $ORIGIN2_PORT, "haproxy": ${PROXY_PORT[haproxy]}, "nginx": ${PROXY_PORT[nginx]}, "rproxy": ${PROXY_PORT[rproxy]}}
}
EOF

# record TARGET SCENARIO STATUS [DETAIL]: a row without measurements.
record_status() {
    printf '{"target": "%s", "scenario": "%s", "status": "%s", "detail": %s}\n' \
        "$1" "$2" "$3" "$(json_str "${4:-}")" >>"$RECORDS"
}

# ---- one target -------------------------------------------------------------------------

# measure TARGET SCENARIO PORT PIDS...: one wrk run against PORT; PIDS are the processes
# whose CPU time is charged to the target (the proxy's, or the origin's for "direct").
measure() {
    local target=$1 scenario=$2 port=$3
    shift 3
    local pids=("$@") extra=() rss_idle=null rss_peak=null rss
    [[ "$scenario" == close ]] && extra=(-H 'Connection: close')
    local out="$WORK/wrk-$target-$scenario.txt"
    local cmd=(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${extra[@]}" "$SCHEME://127.0.0.1:$port$BENCH_PATH")

    if [[ "$scenario" == keep-alive ]]; then
        rss_idle=$IDLE_RSS
        rss_peak=0
    fi
    local cpu0 ocpu0 cpu1 ocpu1 wrk_pid
    local host0 host1 kids0 kids1
    children_cpu_ms
    kids0=$KIDS_MS
    host0=$(host_busy_ticks)
    cpu0=$(cpu_ticks "${pids[@]}")
    ocpu0=$(cpu_ticks "${ORIGIN_TREE[@]}")
    "${PIN_WRK[@]}" "${cmd[@]}" >"$out" 2>&1 &
    wrk_pid=$!
    WRK_PID=$wrk_pid
    if [[ "$scenario" == keep-alive ]]; then
        # sample RSS while the connections are open; keep the peak
        sleep 0.5
        while kill -0 "$wrk_pid" 2>/dev/null; do
            rss=$(rss_kib "${pids[@]}")
            ((rss > rss_peak)) && rss_peak=$rss
            sleep 0.5
        done
    fi
    wait "$wrk_pid"
    WRK_PID=""
    cpu1=$(cpu_ticks "${pids[@]}")
    ocpu1=$(cpu_ticks "${ORIGIN_TREE[@]}")
    host1=$(host_busy_ticks)
    children_cpu_ms
    kids1=$KIDS_MS
    # For "direct" the origin is the measured process: no separate origin figure.
    local origin_ticks=$((ocpu1 - ocpu0))
    [[ "$target" == direct ]] && origin_ticks=null
    # CPU time of the rest of the machine during the run: all busy time less the target's,
    # the origins' and wrk's (and this script's samplers). Tells whether other work skewed it.
    local other_ms=$(((host1 - host0 - (cpu1 - cpu0) - (ocpu1 - ocpu0)) * 1000 / CLK_TCK - (kids1 - kids0)))
    printf '{"target": "%s", "scenario": "%s", "status": "ok", "wrk_output": %s, "wrk_command": %s, "clk_tck": %s, "connections": %s, "cpu_ticks": %s, "origin_cpu_ticks": %s, "wrk_cpu_ms": %s, "other_cpu_ms": %s, "rss_idle_kib": %s, "rss_peak_kib": %s, "origin_checked": %s}\n' \
        "$target" "$scenario" "$(json_str "$out")" "$(json_str "${cmd[*]}")" "$CLK_TCK" "$CONNECTIONS" \
        "$((cpu1 - cpu0))" "$origin_ticks" "$((kids1 - kids0))" "$other_ms" "$rss_idle" "$rss_peak" "$(json_str "$CHECKED")" >>"$RECORDS"
    sed -n 's/^Requests\/sec: *//p' "$out" | sed "s/^/    $scenario: /; s/\$/ req\\/s/" >&2
}

# hold_idle TARGET PORT PIDS...: IDLE_CONNS keep-alive connections, each after one request,
# held open; memory per connection is the RSS growth of PIDS while they are held.
hold_idle() {
    local target=$1 port=$2
    shift 2
    local pids=("$@") out="$WORK/hold-$target.txt" hold_pid before held i
    ((IDLE_CONNS > 0)) || return 0
    before=$(rss_kib "${pids[@]}")
    python3 "$HELPER" hold "$port" "$IDLE_CONNS" 3 >"$out" 2>&1 &
    hold_pid=$!
    for ((i = 0; i < 200; i++)); do
        grep -q '^held' "$out" 2>/dev/null && break
        kill -0 "$hold_pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q '^held' "$out" 2>/dev/null; then
        wait "$hold_pid" 2>/dev/null
        record_status "$target" hold "failed" "$(head -n 1 "$out")"
        return 0
    fi
    sleep 1   # let the proxy settle (timers, pooled server connections)
    held=$(rss_kib "${pids[@]}")
    wait "$hold_pid" 2>/dev/null
    printf '{"target": "%s", "scenario": "hold", "status": "ok", "conns": %s, "rss_before_kib": %s, "rss_held_kib": %s}\n' \
        "$target" "$IDLE_CONNS" "$before" "$held" >>"$RECORDS"
    log "    $IDLE_CONNS idle connections: $((held - before)) KiB"
}

# run_target TARGET: start it (unless direct), check it, warm up, then both scenarios.
run_target() {
    local target=$1 port pid scenario tree
    log "== $target"
    FAIL_DETAIL=""
    case $target in
    direct)
        port=$ORIGIN1_PORT
        [[ $SCHEME == https ]] && port=$ORIGIN_TLS_PORT
        pid=${ORIGIN_PIDS[0]}
        # the measured server takes the proxy's place, CPU 0, for this row only (with
        # BENCH_PIN_ORIGIN=1 it stays beside wrk, where it is in the proxied rows)
        [[ "$BENCH_PIN" == 1 && ${BENCH_PIN_ORIGIN:-0} != 1 ]] && set_affinity 0 "$pid"
        ;;
    haproxy | haproxy-splice | haproxy-log)
        if ! command -v haproxy >/dev/null 2>&1; then
            for scenario in $SCENARIOS; do record_status "$target" "$scenario" missing "haproxy not installed"; done
            return
        fi
        port=${PROXY_PORT[haproxy]}
        render haproxy.cfg "$WORK/haproxy.cfg" "HTTP_REUSE=$BENCH_HTTP_REUSE" "PORT=$port" "ORIGIN1_PORT=$ORIGIN1_PORT" "ORIGIN2_PORT=$ORIGIN2_PORT"
        tcpify "$WORK/haproxy.cfg"
        tlsify "$WORK/haproxy.cfg"
        [[ $target == *-splice ]] && splicify "$WORK/haproxy.cfg"
        [[ $target == *-log ]] && logify "$WORK/haproxy.cfg"
        start_server haproxy "$port" "${PIN_PROXY[@]}" haproxy -f "$WORK/haproxy.cfg" -db || {
            for scenario in $SCENARIOS; do record_status "$target" "$scenario" "failed to start" "$FAIL_DETAIL"; done
            return
        }
        pid=$SERVER_PID
        ;;
    nginx)
        port=${PROXY_PORT[nginx]}
        render nginx-proxy.conf "$WORK/nginx-proxy.conf" "DIR=$WORK" "PORT=$port" \
            "ORIGIN1_PORT=$ORIGIN1_PORT" "ORIGIN2_PORT=$ORIGIN2_PORT" "USER=$NGINX_USER" "SSL=$NGINX_SSL_LISTEN"
        start_server nginx-proxy "$port" "${PIN_PROXY[@]}" \
            nginx -p "$WORK" -c "$WORK/nginx-proxy.conf" -e "$WORK/nginx-proxy-error.log" -g 'daemon off;' || {
            for scenario in $SCENARIOS; do record_status "$target" "$scenario" "failed to start" "$FAIL_DETAIL"; done
            return
        }
        pid=$SERVER_PID
        ;;
    rproxy | rproxy-splice | rproxy-log)
        port=${PROXY_PORT[rproxy]}
        render rproxy.cfg "$WORK/rproxy.cfg" "HTTP_REUSE=$BENCH_HTTP_REUSE" "PORT=$port" "ORIGIN1_PORT=$ORIGIN1_PORT" "ORIGIN2_PORT=$ORIGIN2_PORT"
        tcpify "$WORK/rproxy.cfg"
        tlsify "$WORK/rproxy.cfg"
        [[ $target == *-splice ]] && splicify "$WORK/rproxy.cfg"
        [[ $target == *-log ]] && logify "$WORK/rproxy.cfg"
        if [[ ! -x "$RPROXY" ]]; then
            log "  rproxy failed to start: no executable at $RPROXY (build it with cargo build --release, or set RPROXY)"
            for scenario in $SCENARIOS; do record_status "$target" "$scenario" "failed to start" "no executable at $RPROXY"; done
            return
        fi
        start_server rproxy "$port" "${PIN_PROXY[@]}" "$RPROXY" -f "$WORK/rproxy.cfg" -db || {
            for scenario in $SCENARIOS; do record_status "$target" "$scenario" "failed to start" "$FAIL_DETAIL"; done
            return
        }
        pid=$SERVER_PID
        ;;
    *)
        log "  unknown target '$target' (expected haproxy, haproxy-splice, haproxy-log, nginx, rproxy, rproxy-splice, rproxy-log or direct)"
        return
        ;;
    esac
    sleep 0.3   # let nginx fork its worker before listing the process tree
    mapfile -t tree < <(proc_tree "$pid")
    IDLE_RSS=$(rss_kib "${tree[@]}")

    # Four requests on fresh connections must come back 200 with an origin's body; with
    # round robin they alternate between the two origins.
    if ! CHECKED=$(python3 "$HELPER" check "$port" 4 "$SCHEME"); then
        log "  $target answers wrongly: $CHECKED"
        for scenario in $SCENARIOS; do record_status "$target" "$scenario" "bad response" "$CHECKED"; done
        [[ "$target" != direct ]] && stop_pid "$pid"
        return
    fi
    # The TLS modes: does the target resume sessions (it should not, unless BENCH_TLS_RESUME=1)?
    [[ $SCHEME == https ]] && CHECKED="$CHECKED; $(python3 "$HELPER" resume "$port")"
    log "  $CHECKED"
    wait_quiet
    "${PIN_WRK[@]}" wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" "$SCHEME://127.0.0.1:$port$BENCH_PATH" >/dev/null 2>&1

    for scenario in $SCENARIOS; do
        if ! kill -0 "$pid" 2>/dev/null; then
            record_status "$target" "$scenario" "died" "process exited during the benchmark"
            continue
        fi
        measure "$target" "$scenario" "$port" "${tree[@]}"
    done
    kill -0 "$pid" 2>/dev/null && hold_idle "$target" "$port" "${tree[@]}"
    if [[ "$target" != direct ]]; then
        kill -0 "$pid" 2>/dev/null || log "  $target exited during the benchmark"
        stop_pid "$pid"
    elif [[ "$BENCH_PIN" == 1 && ${BENCH_PIN_ORIGIN:-0} != 1 ]]; then
        set_affinity "0-$(($(nproc) - 1))" "$pid"
    fi
}

ORIGIN_TREE=()
for pid in "${ORIGIN_PIDS[@]}"; do
    mapfile -t -O "${#ORIGIN_TREE[@]}" ORIGIN_TREE < <(proc_tree "$pid")
done

# Other work on the machine skews req/s (CPU time per request much less): say so.
read -r load1 _ </proc/loadavg
if awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }'; then
    log "warning: load average is $load1 before the benchmark: other processes compete for the CPUs"
fi
log "HTTP proxy benchmark: ${DURATION}s per run, wrk -t1 -c$CONNECTIONS, pinning $([[ $BENCH_PIN == 1 ]] && echo on || echo off)"
log "origins on 127.0.0.1:$ORIGIN1_PORT and 127.0.0.1:$ORIGIN2_PORT"
for target in $TARGETS; do
    for pid in "${ORIGIN_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || die "an origin server (pid $pid) has exited; see its log with BENCH_KEEP=1"
    done
    run_target "$target"
done
log ""
python3 "$HELPER" report "$RECORDS" "$OUT_JSON" "$WORK/meta.json"
