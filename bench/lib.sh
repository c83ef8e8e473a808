# Shell helpers shared by bench/load.sh, bench/forgot.sh and bench/edge/run.sh (sourced, not run).

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

# origin_at_commit COMMIT LABEL LOG: the path of the origin's release binary built at COMMIT (a full
# hash), built once per commit in target/bench-compare/<commit>/ and reused after (load.sh's COMPARE
# and forgot.sh's ORIGIN share the cache). Its messages go to stderr, the build's output to LOG,
# shown if the build fails. Needs ROOT and TARGET_DIR.
origin_at_commit() {
  local commit="$1" label="$2" log="$3"
  local cache="$TARGET_DIR/bench-compare/$commit"
  local bin="$cache/origin" started=$SECONDS
  if [ ! -x "$bin" ]; then
    echo "bench: building the origin at $label in $cache (once per commit)" >&2
    rm -rf "$cache/src" "$cache/target"
    mkdir -p "$cache/src" "$cache/target"
    # -m: the files dated now, not at the commit. Dated at the commit, they are older than this
    # tree's artefacts, and cargo, finding the same crates fresh, handed back this tree's binary.
    git -C "$ROOT" archive "$commit" | tar -x -m -C "$cache/src"
    # A copy of this tree's release artefacts, so the dependencies are reused (only the
    # workspace's crates compile) and target/release, whose workspace crates are this tree's,
    # is left alone; the copy goes once the binary is out.
    [ ! -d "$TARGET_DIR/release" ] || cp -a "$TARGET_DIR/release" "$cache/target/"
    (cd "$cache/src" && CARGO_TARGET_DIR="$cache/target" cargo build --release -q -p origin) >"$log" 2>&1 \
      || { cat "$log" >&2; echo "bench: the origin at $label does not build" >&2; return 1; }
    cp -p "$cache/target/release/origin" "$bin.tmp"
    rm -rf "$cache/target"
    mv "$bin.tmp" "$bin"
    echo "bench: built in $((SECONDS - started)) s" >&2
  fi
  echo "$bin"
}
