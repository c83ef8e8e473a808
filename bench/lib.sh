# Shell helpers shared by bench/load.sh and bench/edge/run.sh (sourced, not run).

# stop_group PGID [SECONDS]: SIGTERM to a process group the script started (its leader's pid),
# then SIGKILL if it is still there after SECONDS (default 5). An empty PGID is nothing to stop.
stop_group() {
  local pgid="$1" tenths=$((${2:-5} * 10))
  [ -n "$pgid" ] || return 0
  kill -TERM -- "-$pgid" 2>/dev/null || return 0
  for _ in $(seq 1 "$tenths"); do
    kill -0 -- "-$pgid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "-$pgid" 2>/dev/null || true
}
