# Sourced by zo.sh, peers.sh and q_mu.sh: start the processes they attack through, so that a
# script neither waits forever on one that failed to start nor attacks whatever else answers on a
# port already in use.  SCRIPT names the script in its messages; WAIT_S (default 120) bounds the
# wait for a process to answer.

# claim_port WHAT PORT: exits unless nothing listens on PORT yet
claim_port() {
  if (exec 3<> "/dev/tcp/127.0.0.1/$2") 2> /dev/null; then
    echo "$SCRIPT: port $2 for the $1 is in use already (another $1?): stop it, or give a free port" >&2
    exit 1
  fi
}

# await WHAT PID URL: returns once URL answers; exits when process PID ends first or WAIT_S passes
await() {
  local deadline=$((SECONDS + ${WAIT_S:-120}))
  until curl -sf --max-time 5 "$3" > /dev/null; do
    if ! kill -0 "$2" 2> /dev/null; then
      echo "$SCRIPT: the $1 exited before it answered at $3 (its message is above)" >&2
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "$SCRIPT: the $1 did not answer at $3 within ${WAIT_S:-120} s" >&2
      exit 1
    fi
    sleep 0.5
  done
}

# forget_summaries FILE NAME...: FILE without the summaries of the runs NAME (<method>-l<norm>),
# which are about to be made again; the other runs' lines stay
forget_summaries() {
  local file=$1
  shift
  [[ -f $file ]] || return 0
  "$BIN/python" - "$file" "$@" << 'PY'
import json, sys
path, names = sys.argv[1], set(sys.argv[2:])
def run(line):
    summary = json.loads(line)
    return f"{summary.get('method')}-l{summary.get('norm')}"
with open(path) as file:
    kept = [line for line in file if line.strip() and run(line) not in names]
with open(path, "w") as file:
    file.writelines(kept)
PY
}
