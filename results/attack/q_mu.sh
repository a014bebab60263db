#!/usr/bin/env bash
# Does more directions per step (q) or a larger smoothing radius (mu) close ZO-AdaMM's gap to
# Square Attack at l-inf 0.2?  ZO-AdaMM in process (the same loop, bit for bit, as through the
# service) on test images 0 to 199 (Square Attack's 200-image run: results/attack/zo-200), budget
# 2,000 victim-counted queries, for q in {10, 40, 100} and mu in {0.005, 0.02, 0.05}; one
# summary line per setting in results/attack/q-mu/summaries.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCRIPT=q_mu.sh BIN=.venv/bin
source results/attack/serve.sh
OUT=${OUT:-results/attack/q-mu}
PORT=${PORT:-8131}
claim_port victim "$PORT"
.venv/bin/zoadamm-worker victim --model results/attack/victim.pt --port "$PORT" &
VICTIM=$!
trap 'kill $VICTIM 2> /dev/null' EXIT
await victim "$VICTIM" "http://127.0.0.1:$PORT/stats"
mkdir -p "$OUT"
: > "$OUT/summaries.jsonl"
rm -f "$OUT"/zo-adamm-q*-mu*.jsonl  # records are appended: a run starts from none
for q in 10 40 100; do
  for mu in 0.005 0.02 0.05; do
    .venv/bin/zoadamm-worker attack --method zo-adamm --in-process --victim "http://127.0.0.1:$PORT" \
      --images 200 --offset 0 --budget 2000 --norm inf --eps 0.2 --directions "$q" --mu "$mu" \
      --records "$OUT/zo-adamm-q$q-mu$mu.jsonl" --quiet --json \
      | python3 -c "import json,sys; s=json.load(sys.stdin); s.update(directions=$q, mu=$mu); print(json.dumps(s))" \
      >> "$OUT/summaries.jsonl"
  done
done
