# bench/lib.sh: helpers shared by the bench/ scripts (sourced, not run).
#
# Everything runs on 127.0.0.1 with ephemeral ports, in a private temp dir ($BENCH_WORK) that holds
# every config, pid file and log. Every process started through start_bg is stopped by the EXIT
# trap (TERM, then KILL after 5 s), so an interrupted run leaves nothing behind.

set -euo pipefail

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_ROOT/.." && pwd)
MLSIDECAR_BIN=${MLSIDECAR_BIN:-$REPO_ROOT/build/sidecar/mlsidecar}

BENCH_WORK=$(mktemp -d /tmp/mlsidecar-bench.XXXXXX)
BENCH_PIDS=()

bench_log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
bench_die() {
  printf 'bench: %s\n' "$*" >&2
  exit 2
}

bench_cleanup() {
  local pid i
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${BENCH_PIDS[i]}
    kill -TERM "$pid" 2>/dev/null || true
  done
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${BENCH_PIDS[i]}
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  BENCH_PIDS=()
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then
    bench_log "kept $BENCH_WORK"
  else
    rm -rf "$BENCH_WORK"
  fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# stop_bg PID: stops one process started by start_bg (TERM, then KILL after 5 s).
stop_bg() {
  local pid=$1 i keep=()
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for i in "${BENCH_PIDS[@]}"; do [[ $i == "$pid" ]] || keep+=("$i"); done
  BENCH_PIDS=("${keep[@]}")
}

# need CMD...: exits with a clear line when a tool is missing.
need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || bench_die "'$c' is not installed (scripts/setup installs it)"
  done
}

# free_ports N: prints N distinct free TCP ports on 127.0.0.1 (asked from the kernel).
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# wait_port PORT [SECONDS] [PID]: waits until 127.0.0.1:PORT accepts connections.
wait_port() {
  local port=$1 limit=${2:-10} pid=${3:-} i
  for ((i = 0; i < limit * 20; i++)); do
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}

# pin CPU: prefix for a command, "taskset -c CPU" when pinning is on, else nothing.
pin() {
  if [[ ${BENCH_PIN:-1} == 1 && $(nproc) -ge 2 ]]; then
    printf 'taskset -c %s' "$1"
  fi
}

# start_bg NAME CMD...: starts CMD in the background with its output in $BENCH_WORK/NAME.log,
# registers it for clean-up and sets BG_PID.
start_bg() {
  local name=$1
  shift
  "$@" >"$BENCH_WORK/$name.log" 2>&1 &
  BG_PID=$!
  BENCH_PIDS+=("$BG_PID")
}

# proc_tree PID: PID and its direct children (an nginx master and its worker).
proc_tree() {
  echo "$1"
  pgrep -P "$1" 2>/dev/null || true
}

# cpu_ticks PID: user+system clock ticks of PID and its children so far (/proc/PID/stat).
cpu_ticks() {
  local total=0 p t
  for p in $(proc_tree "$1"); do
    # Fields after the ")" of the command name: utime is 12th, stime 13th.
    t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}

# thread_ticks PID NAME: CPU clock ticks (user + system) of PID's threads named NAME (their comm,
# as mlsidecar names them: mlsidecar-io0, mlsidecar-drift, ...).
thread_ticks() {
  local total=0 task t
  for task in /proc/"$1"/task/*; do
    [[ $(cat "$task/comm" 2>/dev/null) == "$2" ]] || continue
    t=$(sed 's/^.*) //' "$task/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
    total=$((total + ${t:-0}))
  done
  echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

# rss_kb PID: resident set of PID plus its children, in kB (VmRSS).
rss_kb() {
  local total=0 p r
  for p in $(proc_tree "$1"); do
    r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || r=0
    total=$((total + ${r:-0}))
  done
  echo "$total"
}

# established PORT: client connections currently established to 127.0.0.1:PORT.
established() {
  ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l
}

# to_ms VALUE: wrk's "412.00us" / "1.20ms" / "1.02s" / "1.5m" -> milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
    printf "%.3f", n }'
}

# wrk_lua_post FILE PATH BODY: writes a wrk script that POSTs BODY (JSON) to PATH.
wrk_lua_post() {
  local file=$1 path=$2 body=$3
  cat >"$file" <<EOF
wrk.method = "POST"
wrk.path = "$path"
wrk.body = [[$body]]
wrk.headers["Content-Type"] = "application/json"
EOF
}

# run_wrk URL CONNS DURATION SCRIPT OUTFILE: one wrk run (pinned to \$LOAD_CPU), parsed into
# W_RPS W_P50 W_P99 (ms) W_REQS W_ERRS (non-2xx plus socket errors).
run_wrk() {
  local url=$1 conns=$2 dur=$3 script=$4 out=$5 args=()
  [[ -n $script ]] && args+=(-s "$script")
  # shellcheck disable=SC2046
  $(pin "${LOAD_CPU:-1}") wrk -t"${BENCH_WRK_THREADS:-1}" -c"$conns" -d"$dur" --latency \
    --timeout 5s "${args[@]}" "$url" >"$out" 2>&1 || true
  W_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  W_REQS=$(awk '/requests in/ {print $1}' "$out")
  W_P50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
  W_P99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  local non2xx sockerr
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$out")
  sockerr=$(awk '/Socket errors/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$out")
  W_ERRS=$((${non2xx:-0} + ${sockerr:-0}))
  if ((W_ERRS > 0)); then
    bench_log "$url: $(grep -E 'Non-2xx|Socket errors' "$out" | tr -s ' ' | tr '\n' ';')"
  fi
  if [[ -z $W_RPS || -z $W_REQS ]]; then
    bench_log "wrk failed against $url:"
    cat "$out" >&2
    W_RPS=0 W_REQS=0 W_P50=0 W_P99=0
  fi
}

# measure PID URL CONNS DURATION SCRIPT OUTFILE: run_wrk plus the CPU that PID (and children)
# spent meanwhile: W_CPU_MS_PER_1K = CPU milliseconds per 1000 requests (= microseconds/request).
measure() {
  local pid=$1 t0 t1
  shift
  t0=$(cpu_ticks "$pid")
  run_wrk "$@"
  t1=$(cpu_ticks "$pid")
  W_CPU_S=$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", (b - a) / hz}')
  W_CPU_MS_PER_1K=$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" -v n="$W_REQS" \
    'BEGIN {if (n > 0) printf "%.1f", (b - a) / hz * 1000 * 1000 / n; else print "-"}')
}

# peak_rss PID PORT URL CONNS DURATION SCRIPT: holds CONNS connections with wrk and samples the
# resident set of PID every 0.25 s; sets R_RSS_KB (peak) and R_CONNS (peak established).
peak_rss() {
  local pid=$1 port=$2 url=$3 conns=$4 dur=$5 script=$6 wpid r c args=()
  [[ -n $script ]] && args+=(-s "$script")
  R_RSS_KB=0 R_CONNS=0
  # shellcheck disable=SC2046
  $(pin "${LOAD_CPU:-1}") wrk -t"${BENCH_WRK_THREADS:-1}" -c"$conns" -d"$dur" --timeout 5s \
    "${args[@]}" "$url" >"$BENCH_WORK/rss-wrk.log" 2>&1 &
  wpid=$!
  while kill -0 "$wpid" 2>/dev/null; do
    r=$(rss_kb "$pid")
    c=$(established "$port")
    ((r > R_RSS_KB)) && R_RSS_KB=$r
    ((c > R_CONNS)) && R_CONNS=$c
    sleep 0.25
  done
  wait "$wpid" || true
}

# ---- servers -----------------------------------------------------------------------------------

NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
HAPROXY_BIN=${HAPROXY_BIN:-$(command -v haproxy || echo /usr/sbin/haproxy)}

# The small JSON answer every benchmark request gets (V1 shape; V2 shape under /v2/).
BENCH_RESPONSE='{"predictions":[0.7310585786300049]}'
BENCH_RESPONSE_V2='{"model_name":"bench","model_version":"1","outputs":[{"name":"score","shape":[1,1],"datatype":"FP32","data":[0.73105857]}]}'

# bench_v2_body: the V2 request of the drift benchmarks, 32 numeric features in one [1, 32] FP32
# tensor "x" (the drift reader names them x[0]..x[31]); the same bytes every run.
bench_v2_body() {
  python3 -c '
import json, random
r = random.Random(7)
print(json.dumps({"id": "bench", "inputs": [{"name": "x", "shape": [1, 32], "datatype": "FP32",
      "data": [round(r.gauss(0, 1), 4) for _ in range(32)]}]}, separators=(",", ":")))'
}

# bench_drift_profile FILE: writes to FILE the drift profile that `mlsidecar profile` makes of a
# CSV of 5000 rows x 32 standard normal columns named like bench_v2_body's features. On failure
# prints why (one line) and returns 1.
bench_drift_profile() {
  local out=$1 csv=$BENCH_WORK/train.csv
  if ! "$MLSIDECAR_BIN" profile --help >/dev/null 2>&1; then
    echo "\`$MLSIDECAR_BIN profile --help\` fails: the drift part is not wired in this binary"
    return 1
  fi
  python3 - "$csv" <<'PY'
import random, sys
r = random.Random(11)
with open(sys.argv[1], "w") as f:
    f.write(",".join(f"x[{i}]" for i in range(32)) + "\n")
    for _ in range(5000):
        f.write(",".join(f"{r.gauss(0, 1):.5f}" for _ in range(32)) + "\n")
PY
  if ! "$MLSIDECAR_BIN" profile --input "$csv" --output "$out" >"$BENCH_WORK/profile.log" 2>&1; then
    echo "\`mlsidecar profile\` failed: $(head -1 "$BENCH_WORK/profile.log")"
    return 1
  fi
}

# nginx_common_conf DIR: directives every nginx instance here shares (paths inside DIR).
nginx_common_conf() {
  local dir=$1
  cat <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 8192; multi_accept on; }
EOF
}

nginx_http_common() {
  local dir=$1
  cat <<EOF
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
EOF
}

# start_upstream PORT: nginx answering BENCH_RESPONSE to anything; sets UPSTREAM_PID (master).
start_upstream() {
  local port=$1 dir=$BENCH_WORK/upstream
  mkdir -p "$dir"
  {
    nginx_common_conf "$dir"
    echo "http {"
    nginx_http_common "$dir"
    cat <<EOF
  server {
    listen 127.0.0.1:$port reuseport backlog=4096;
    default_type application/json;
    location /v2/ { return 200 '$BENCH_RESPONSE_V2'; }
    location / { return 200 '$BENCH_RESPONSE'; }
  }
}
EOF
  } >"$dir/nginx.conf"
  # shellcheck disable=SC2046
  start_bg upstream $(pin "${LOAD_CPU:-1}") "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
  UPSTREAM_PID=$BG_PID
  wait_port "$port" 10 "$UPSTREAM_PID" || { cat "$BENCH_WORK/upstream.log" "$dir/error.log" >&2; bench_die "upstream nginx did not start"; }
}

# start_haproxy PORT UPSTREAM_PORT: one thread, keep-alive and connection reuse to the upstream.
start_haproxy() {
  local port=$1 up=$2 dir=$BENCH_WORK/haproxy${HAPROXY_DIR_SUFFIX:-}
  mkdir -p "$dir"
  cat >"$dir/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 8000
  pidfile $dir/haproxy.pid
defaults
  mode http
  option http-keep-alive
  http-reuse always${HAPROXY_EXTRA:+
  $HAPROXY_EXTRA}
  timeout connect 5s
  timeout client 120s
  timeout server 600s
  timeout http-keep-alive 120s
frontend fe
  bind 127.0.0.1:$port
  default_backend be
backend be
  server up 127.0.0.1:$up
EOF
  # shellcheck disable=SC2046
  start_bg "haproxy${HAPROXY_DIR_SUFFIX:-}" $(pin "${PROXY_CPU:-0}") "$HAPROXY_BIN" -f "$dir/haproxy.cfg" -db
  HAPROXY_PID=$BG_PID
  wait_port "$port" 10 "$HAPROXY_PID" || { cat "$BENCH_WORK/haproxy${HAPROXY_DIR_SUFFIX:-}.log" >&2; bench_die "haproxy did not start"; }
}

# start_nginx_proxy PORT UPSTREAM_PORT: one worker, HTTP/1.1 keep-alive pool to the upstream.
start_nginx_proxy() {
  local port=$1 up=$2 dir=$BENCH_WORK/nginx-proxy
  mkdir -p "$dir"
  {
    nginx_common_conf "$dir"
    echo "http {"
    nginx_http_common "$dir"
    cat <<EOF
  upstream model {
    server 127.0.0.1:$up;
    keepalive 512;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
  }
  server {
    listen 127.0.0.1:$port backlog=4096;
    location / {
      proxy_pass http://model;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
    }
  }
}
EOF
  } >"$dir/nginx.conf"
  # shellcheck disable=SC2046
  start_bg nginx-proxy $(pin "${PROXY_CPU:-0}") "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
  NGINX_PROXY_PID=$BG_PID
  wait_port "$port" 10 "$NGINX_PROXY_PID" || { cat "$BENCH_WORK/nginx-proxy.log" "$dir/error.log" >&2; bench_die "nginx proxy did not start"; }
}

# start_mlsidecar NAME PORT ADMIN_PORT UPSTREAM_PORT [EXTRA FLAGS...]: --threads 1; sets ML_PID.
start_mlsidecar() {
  local name=$1 port=$2 admin=$3 up=$4
  shift 4
  [[ -x $MLSIDECAR_BIN ]] || bench_die "no mlsidecar binary at $MLSIDECAR_BIN (build it, or set MLSIDECAR_BIN)"
  # shellcheck disable=SC2046
  start_bg "$name" $(pin "${PROXY_CPU:-0}") "$MLSIDECAR_BIN" serve --listen "127.0.0.1:$port" \
    --admin "127.0.0.1:$admin" --upstream "127.0.0.1:$up" --threads 1 --log-level warn "$@"
  ML_PID=$BG_PID
  wait_port "$port" 15 "$ML_PID" || { cat "$BENCH_WORK/$name.log" >&2; bench_die "mlsidecar ($name) did not start"; }
}

# metric ADMIN_PORT NAME_REGEX: sum of the samples whose series matches NAME_REGEX on /metrics
# (empty when no series matches).
metric() {
  curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null |
    awk -v re="$2" '$0 !~ /^#/ && $1 ~ re {s += $2; n++} END {if (n) printf "%.0f", s}'
}

# load_note: one line describing the machine's load right now.
load_note() {
  printf 'load average %s (nproc %s)' "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"
}

# median "V1 V2 ...": the median of the numbers (the lower middle one for an even count); "-" for
# none. Each column of a table is the median of its own rounds, so one stalled round (a p99 of a
# second when the shared machine is busy) does not decide the row.
median() {
  echo "$1" | tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]; else print "-"}'
}

# ratio A B [DIGITS]: A/B formatted, or "-" when B is 0 or empty.
ratio() {
  awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN {if (b + 0 > 0 && a != "-") printf "%.*f", d, a / b; else print "-"}'
}
