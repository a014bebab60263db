#!/usr/bin/env bash
# The peers on the victim, as committed in results/attack/peers/: ART's Square Attack and ZOO
# through the REST victim, white-box PGD on the model file, l-inf (eps 0.2) and l2 (eps 2),
# the same images and budget for all; then the report (table.md, curves.png, examples.png).
#   results/attack/peers.sh                 # IMAGES=50 BUDGET=10000 OFFSET=0 by default
# Only these runs' records, examples and summaries in OUT are written over.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCRIPT=peers.sh
source results/attack/serve.sh
# not 8100: that is where docs/attack.md starts a victim by hand, which this run must not attack
IMAGES=${IMAGES:-50} BUDGET=${BUDGET:-10000} OFFSET=${OFFSET:-0} PORT=${PORT:-8110}
OUT=${OUT:-results/attack/peers}
MODEL=${MODEL:-results/attack/victim.pt}
VICTIM=http://127.0.0.1:$PORT
BIN=.venv/bin
METHODS="pgd art-square art-zoo"
names=()
for norm in inf 2; do for method in $METHODS; do names+=("$method-l$norm"); done; done

claim_port victim "$PORT"
$BIN/zoadamm-worker victim --model "$MODEL" --port "$PORT" &
victim=$!
trap 'kill $victim 2> /dev/null' EXIT
await victim "$victim" "$VICTIM/stats"

mkdir -p "$OUT"  # records are appended: the runs made start from none
for name in "${names[@]}"; do rm -f "$OUT/$name.jsonl" "$OUT/$name.npz"; done
forget_summaries "$OUT/summaries.jsonl" "${names[@]}"

for setting in "inf 0.2" "2 2.0"; do
  read -r norm eps <<< "$setting"
  for method in $METHODS; do
    name="$method-l$norm"
    model=()
    [[ $method == pgd ]] && model=(--model "$MODEL")  # white-box: the model file, which the others never read
    $BIN/zoadamm-worker attack --method "$method" --victim "$VICTIM" "${model[@]}" --images "$IMAGES" \
      --offset "$OFFSET" --budget "$BUDGET" --norm "$norm" --eps "$eps" --records "$OUT/$name.jsonl" \
      --examples "$OUT/$name.npz" --json --quiet >> "$OUT/summaries.jsonl"
  done
done
$BIN/zoadamm-worker attack-report "$OUT"/*-l*.jsonl --examples "$OUT"/*-l*.npz --out "$OUT"
