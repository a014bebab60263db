#!/usr/bin/env bash
# The peers on the victim, as committed in results/attack/peers/: ART's Square Attack and ZOO
# through the REST victim, white-box PGD on the model file, l-inf (eps 0.2) and l2 (eps 2),
# the same images and budget for all; then the report (table.md, curves.png, examples.png).
#   results/attack/peers.sh                 # IMAGES=50 BUDGET=10000 OFFSET=0 by default
set -euo pipefail
cd "$(dirname "$0")/../.."
IMAGES=${IMAGES:-50} BUDGET=${BUDGET:-10000} OFFSET=${OFFSET:-0} PORT=${PORT:-8100}
OUT=${OUT:-results/attack/peers}
MODEL=results/attack/victim.pt
VICTIM=http://127.0.0.1:$PORT
BIN=.venv/bin

mkdir -p "$OUT"
rm -f "$OUT"/*.jsonl "$OUT"/*.npz "$OUT"/summaries.jsonl
$BIN/zoadamm-worker victim --model "$MODEL" --port "$PORT" &
victim=$!
trap 'kill $victim' EXIT
until curl -sf "$VICTIM/stats" > /dev/null; do sleep 0.5; done

for setting in "inf 0.2" "2 2.0"; do
  read -r norm eps <<< "$setting"
  for method in pgd art-square art-zoo; do
    name="$method-l$norm"
    model=()
    [[ $method == pgd ]] && model=(--model "$MODEL")  # white-box: the model file, which the others never read
    $BIN/zoadamm-worker attack --method "$method" --victim "$VICTIM" "${model[@]}" --images "$IMAGES" \
      --offset "$OFFSET" --budget "$BUDGET" --norm "$norm" --eps "$eps" --records "$OUT/$name.jsonl" \
      --examples "$OUT/$name.npz" --json --quiet >> "$OUT/summaries.jsonl"
  done
done
$BIN/zoadamm-worker attack-report "$OUT"/*-l*.jsonl --examples "$OUT"/*.npz --out "$OUT"
