#!/usr/bin/env bash
# Every table of BENCHMARKS.md, on the validation split of the music cache (`make data`).
# Writes markdown into benchmarks/results/. Usage: benchmarks/eval_all.sh [CACHE] [CLIPS_PER_TRACK]
# (4-s clips where ViSQOL is scored or many systems run: each upsample table takes about 12 min on
# one thread of this 2-core CPU.)
set -euo pipefail
cache=${1:-data/cache}
per=${2:-1}
out=benchmarks/results
mkdir -p "$out"
v=(--valid-cache "$cache" --per-file "$per")
r() { echo "+ reencoder $* ($(date +%H:%M:%S))" >&2; reencoder "$@"; }
r eval "${v[@]}" --seconds 4 --task reconstruct --visqol --markdown > "$out/reconstruct-visqol.md"
python benchmarks/spectral_detail.py --cache "$cache" > "$out/spectral-detail.md"
r eval "${v[@]}" --seconds 4 --task linearity --markdown > "$out/linearity.md"
r eval "${v[@]}" --task upmix --style-mix --markdown > "$out/upmix.md"
python benchmarks/width_control.py --cache "$cache" --clips 8 > "$out/width-control.md"
python benchmarks/upmix_temperature.py --cache "$cache" > "$out/upmix-temperature.md"
python benchmarks/side_width_estimates.py --cache "$cache" > "$out/side-width-estimates.md"
python benchmarks/stereo_latent.py --cache "$cache" > "$out/stereo-latent.md"
r eval "${v[@]}" --seconds 4 --task upsample --from 22050 --visqol --markdown > "$out/upsample-22050.md"
python benchmarks/highband_level.py --cache "$cache" --seconds 4 > "$out/highband-level-valid.md"
python benchmarks/highband_correction.py --cache "$cache" > "$out/highband-correction.md"
for rate in 16000 8000; do
  r eval "${v[@]}" --seconds 4 --task upsample --from "$rate" --markdown > "$out/upsample-$rate.md"
done
r bench --minutes 3 > "$out/bench.txt" 2>&1
echo "done $(date +%H:%M:%S)" >&2
