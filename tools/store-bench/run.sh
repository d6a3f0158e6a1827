#!/usr/bin/env bash
# usage: ./run.sh N [REPS] [ENGINES...]
# Runs every engine x layout REPS times (rep loop outermost, so drift on a
# shared machine is spread over all configs), one process per measurement.
# Appends JSON lines to results/raw-N.jsonl.
set -euo pipefail
cd "$(dirname "$0")"
N=${1:-100000}; REPS=${2:-3}; shift $(( $# >= 2 ? 2 : $# )) || true
ENGINES=${*:-"serialize sled16 sled64 redb fjall"}
cargo build --release -q
mkdir -p results data
OUT=${OUT:-results/raw-$N.jsonl}
for rep in $(seq 1 "$REPS"); do
  for e in $ENGINES; do
    for l in five two; do
      sync
      line=$(timeout 1800 target/release/store-bench "$e" "$l" "$N" "data/$e-$l" || echo "{\"engine\":\"$e\",\"layout\":\"$l\",\"n\":$N,\"error\":\"failed/timeout\"}")
      echo "$line" | tee -a "$OUT"
    done
  done
done
