#!/usr/bin/env bash
# Every table of BENCHMARKS.md, on the validation split of the music cache (`make data`).
# Writes markdown into benchmarks/results/. Usage: benchmarks/eval_all.sh [CACHE] [CLIPS_PER_TRACK]
set -euo pipefail
cache=${1:-data/cache}
per=${2:-2}
out=benchmarks/results
mkdir -p "$out"
r() { echo "+ reencoder $*" >&2; reencoder "$@"; }
r eval --valid-cache "$cache" --per-file "$per" --task reconstruct --markdown > "$out/reconstruct.md"
r eval --valid-cache "$cache" --per-file "$per" --task linearity --markdown > "$out/linearity.md"
for rate in 22050 16000 8000; do
  r eval --valid-cache "$cache" --per-file "$per" --task upsample --from "$rate" --markdown > "$out/upsample-$rate.md"
done
r eval --valid-cache "$cache" --per-file "$per" --task upmix --style-mix --markdown > "$out/upmix.md"
r bench --minutes 3 > "$out/bench.txt" 2>&1
