#!/usr/bin/env bash
# Every table of BENCHMARKS.md, on the validation split of the music cache (`make data`).
# Writes markdown into benchmarks/results/. Usage: benchmarks/eval_all.sh [CACHE] [CLIPS_PER_TRACK]
# (upsample tables use 4-s clips: nine systems x three rates on a 2-core CPU.)
set -euo pipefail
cache=${1:-data/cache}
per=${2:-1}
out=benchmarks/results
mkdir -p "$out"
r() { echo "+ reencoder $* ($(date +%H:%M:%S))" >&2; reencoder "$@"; }
r eval --valid-cache "$cache" --per-file "$per" --task reconstruct --markdown > "$out/reconstruct.md"
python benchmarks/spectral_detail.py --cache "$cache" > "$out/spectral-detail.md"
r eval --valid-cache "$cache" --per-file "$per" --task linearity --markdown > "$out/linearity.md"
r eval --valid-cache "$cache" --per-file "$per" --task upmix --style-mix --markdown > "$out/upmix.md"
for rate in 22050 16000 8000; do
  r eval --valid-cache "$cache" --per-file "$per" --seconds 4 --task upsample --from "$rate" --markdown \
    > "$out/upsample-$rate.md"
done
r bench --minutes 3 > "$out/bench.txt" 2>&1
echo "done $(date +%H:%M:%S)" >&2
