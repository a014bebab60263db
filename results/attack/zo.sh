#!/usr/bin/env bash
# The ZO attacks through the service beside the peers, on the same victim, images, radius and
# budget: ZO-AdaMM, ZO-SGD and ZO-signSGD (one service session per image, 16 images in flight),
# ART's ZOO and Square Attack through the REST victim, white-box PGD on the model file; l-inf
# (eps 0.2) and l2 (eps 2); then the report (table.md, curves.png, examples.png), and a
# universal ZO-AdaMM perturbation fitted on training images, judged on the test images.
#   results/attack/zo.sh        # IMAGES=20 BUDGET=2000 OFFSET=0; `make attack` runs it
# Those defaults rewrite the committed results in results/attack/zo; other sizes write to
# runs/attack-<images>-images-<budget>-queries (OUT names another folder).
# METHODS (a list) and SKIP (runs to leave out, e.g. "art-square-l2") narrow it; UNIVERSAL=0 leaves
# out the universal perturbation. Only the runs made are written over: the other runs' records,
# examples and summaries in OUT, and its universal files, stay as they are.
# The service keeps its sessions in Redis at $REDIS_URL when set, else in its embedded store.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCRIPT=zo.sh
source results/attack/serve.sh
IMAGES=${IMAGES:-20} BUDGET=${BUDGET:-2000} OFFSET=${OFFSET:-0}
VICTIM_PORT=${VICTIM_PORT:-8101} SERVICE_PORT=${SERVICE_PORT:-8102}
UNIVERSAL_BUDGET=${UNIVERSAL_BUDGET:-22000} UNIVERSAL_IMAGES=${UNIVERSAL_IMAGES:-200}
# the committed results are the default run's; a run of other sizes writes under runs/ instead
DEFAULT_OUT=results/attack/zo
[[ "$IMAGES $BUDGET $OFFSET" == "20 2000 0" ]] || DEFAULT_OUT=runs/attack-$IMAGES-images-$BUDGET-queries
OUT=${OUT:-$DEFAULT_OUT}
METHODS=${METHODS:-pgd art-square art-zoo zo-adamm zo-sgd zo-signsgd} SKIP=${SKIP:-} UNIVERSAL=${UNIVERSAL:-1}
MODEL=${MODEL:-results/attack/victim.pt}
VICTIM=http://127.0.0.1:$VICTIM_PORT
SERVICE=http://127.0.0.1:$SERVICE_PORT
BIN=${BIN:-.venv/bin}

runs=() names=()  # "method norm eps" and <method>-l<norm> of each run this call makes
for setting in "inf 0.2" "2 2.0"; do
  for method in $METHODS; do
    name="$method-l${setting%% *}"
    [[ " $SKIP " == *" $name "* ]] && continue
    runs+=("$method $setting") names+=("$name")
  done
done

started=$(date +%s)
claim_port victim "$VICTIM_PORT"
claim_port service "$SERVICE_PORT"
$BIN/zoadamm-worker victim --model "$MODEL" --port "$VICTIM_PORT" &
victim=$!
$BIN/zoadamm-service --port "$SERVICE_PORT" --log-level warning &
service=$!
trap 'kill $victim $service 2> /dev/null' EXIT
await victim "$victim" "$VICTIM/stats"
await service "$service" "$SERVICE/healthz"

# records are appended and a universal run refuses earlier outputs: the runs made start from none
mkdir -p "$OUT"
for name in "${names[@]}"; do rm -f "$OUT/$name.jsonl" "$OUT/$name.npz"; done
if [[ $UNIVERSAL == 1 ]]; then rm -f "$OUT/universal.jsonl" "$OUT/universal.npz"; fi
forget_summaries "$OUT/summaries.jsonl" "${names[@]}"

for run in "${runs[@]}"; do
  read -r method norm eps <<< "$run"
  name="$method-l$norm"
  where=()
  [[ $method == zo-* ]] && where=(--service "$SERVICE")
  [[ $method == pgd ]] && where=(--model "$MODEL")  # white-box: the model file, which the others never read
  echo "zo.sh: $name, $IMAGES images, budget $BUDGET (a line per image as it ends)" >&2
  $BIN/zoadamm-worker attack --method "$method" --victim "$VICTIM" "${where[@]}" \
    --images "$IMAGES" --offset "$OFFSET" --budget "$BUDGET" --norm "$norm" --eps "$eps" \
    --records "$OUT/$name.jsonl" --examples "$OUT/$name.npz" --json >> "$OUT/summaries.jsonl"
done
$BIN/zoadamm-worker attack-report "$OUT"/*-l*.jsonl --examples "$OUT"/*-l*.npz --out "$OUT"
if [[ $UNIVERSAL == 1 ]]; then
  $BIN/zoadamm-worker attack --method zo-adamm --universal --victim "$VICTIM" --service "$SERVICE" \
    --images "$UNIVERSAL_IMAGES" --offset "$OFFSET" --budget "$UNIVERSAL_BUDGET" --norm inf --eps 0.2 \
    --records "$OUT/universal.jsonl" --examples "$OUT/universal.npz" --json > "$OUT/universal.json"
fi
made=$(printf '"%s", ' "${names[@]}")
echo "{\"seconds\": $(( $(date +%s) - started )), \"images\": $IMAGES, \"budget\": $BUDGET," \
  "\"runs\": [${made%, }], \"universal\": $([[ $UNIVERSAL == 1 ]] && echo true || echo false)}" > "$OUT/time.json"
