# Shared helpers for the test harness scripts (sourced, not run).

# harness_port_free PORT: true when nothing listens on 127.0.0.1:PORT.
harness_port_free() {
  local p=$1
  if ss -ltnH "( sport = :$p )" 2>/dev/null | grep -q .; then return 1; fi
  # a connect that succeeds means someone listens (ss may miss other namespaces' views)
  if (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then return 1; fi
  return 0
}

# harness_pick_port [SPAN]: prints a free port in 10000..19999 (random start); with SPAN, ports
# PORT..PORT+SPAN-1 must all be free. The range stays below the kernel's ephemeral ports
# (32768..60999 by default): a port picked there could be taken by any outgoing connection
# between the check and the server's bind (seen in CI: a service died with EADDRINUSE). It also
# stays below 20000, where the RabbitMQ CLI tools of a node with distribution port P take
# P+10000..P+10010.
harness_pick_port() {
  local span=${1:-1} base p i ok
  for _ in $(seq 1 200); do
    base=$((10000 + (RANDOM * 32768 + RANDOM) % (10000 - span)))
    ok=1
    for ((i = 0; i < span; i++)); do
      p=$((base + i))
      if ! harness_port_free "$p"; then ok=0; break; fi
    done
    if [ "$ok" = 1 ]; then echo "$base"; return 0; fi
  done
  echo "harness: no free port found" >&2
  return 1
}

# harness_kill_pidfile FILE: kill -9 the process named in FILE if it still runs (a leftover
# of a killed test), then remove the file.
harness_kill_pidfile() {
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$f"
}

# harness_stop PID...: SIGTERM each running process, give them 5 s together, then SIGKILL what
# is left. Empty arguments are skipped; safe under set -e.
harness_stop() {
  local p
  for p in "$@"; do [ -z "$p" ] || kill "$p" 2>/dev/null || true; done
  for p in "$@"; do
    [ -n "$p" ] || continue
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  return 0
}

# harness_watch DIR OWNER_PID STOP_CMD...: a detached watcher that runs STOP_CMD once OWNER_PID
# is gone, so a test killed by a timeout (SIGKILL, no trap) leaves no server behind. Its pid is
# in DIR/watcher.pid; harness_unwatch DIR ends it.
harness_watch() {
  local dir=$1 owner=$2
  shift 2
  setsid bash -c 'while kill -0 "$0" 2>/dev/null; do sleep 1; done; exec "$@"' "$owner" "$@" \
    </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/watcher.pid"
}

harness_unwatch() {
  local f=$1/watcher.pid pid
  pid=$(cat "$f" 2>/dev/null || true)
  # the watcher runs the stop command itself once the owner is gone: do not kill it then
  if [ -n "$pid" ] && [ "$pid" != "$PPID" ] && [ "$pid" != "$$" ]; then
    kill "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}
