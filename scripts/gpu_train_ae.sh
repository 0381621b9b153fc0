#!/usr/bin/env bash
# Train several autoencoder recipes side by side on one lent GPU machine, in one call.
#
# The machine has python3 with CUDA torch but no network: our other dependencies come as
# wheels and the music as an Opus pack, both made here by `make gpu-pack` and carried
# (data/wheels, data/pack). The pack is decoded once; each variant is one training process
# on the same GPU (one small model uses a few per cent of it) holding the music in GPU
# memory, bf16. Each variant's run folder resumes on a later call while the machine stays
# warm. Its exported weights (fp16), log, curve and output come back in $OUT as
# NAME.tgz (split into NAME.tgz.aa, .ab, ... of 15 MiB: the device returns files of at most 16 MiB).
#
#   usage: bash scripts/gpu_train_ae.sh MINUTES NAME='TRAIN OPTIONS' [NAME='TRAIN OPTIONS' ...]
#   e.g.   bash scripts/gpu_train_ae.sh 8 base='--batch 32' gan='--batch 32 --gan-start 0 --init autoencoder'
#
# TRAIN OPTIONS are `reencoder train autoencoder` options. Environment (defaults for the
# device): PYTHON (python3), DEVICE (auto), PACK (data/pack), WHEELS (data/wheels, skipped
# when absent), CACHE (data/gpu-cache), RUNS (runs/gpu), OUT (runs/gpu-out). The CPU dry run
# (tests/test_gpu_script.py) sets them to a tiny pack and the CPU.
set -euo pipefail
minutes=${1:?usage: gpu_train_ae.sh MINUTES NAME='TRAIN OPTIONS' ...}
shift
[ $# -gt 0 ] || { echo "name at least one variant: NAME='train options'" >&2; exit 2; }
for variant in "$@"; do
  case $variant in
    *=*) [[ ${variant%%=*} =~ ^[A-Za-z0-9_-]+$ ]] || { echo "bad variant name in: $variant" >&2; exit 2; } ;;
    *) echo "a variant is NAME='train options', not: $variant" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
pack=${PACK:-data/pack}
wheels=${WHEELS:-data/wheels}
cache=${CACHE:-data/gpu-cache}
runs=${RUNS:-runs/gpu}
out=${OUT:-runs/gpu-out}
site=$(mktemp -d)
if [ -d "$wheels" ]; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$wheels"/*.whl
fi
export PYTHONPATH=$site:$root PYTHONUNBUFFERED=1
threads=$(( $(nproc) / $# ))
export OMP_NUM_THREADS=$(( threads > 0 ? threads : 1 ))
"$python" -m reencoder_cli env
"$python" -m reencoder_cli data unpack "$pack" --root "$cache"
mkdir -p "$runs" "$out"
pids=()
for variant in "$@"; do
  name=${variant%%=*}
  # shellcheck disable=SC2086  # the options are words
  "$python" -m reencoder_cli train autoencoder --data "$cache" --run "$runs/$name" --device "${DEVICE:-auto}" \
    --minutes "$minutes" --checkpoint-minutes 3 --validate-minutes 2 ${variant#*=} >"$runs/$name.out" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
  name=${*:i+1:1}
  name=${name%%=*}
  if wait "${pids[$i]}"; then echo "$name: done"; else status=1; echo "$name: failed" >&2; fi
  tail -n 3 "$runs/$name.out"
  files=(log.csv)
  for f in autoencoder.safetensors loss.png; do [ -f "$runs/$name/$f" ] && files+=("$f"); done
  cp "$runs/$name.out" "$runs/$name/output.txt"
  tar czf - -C "$runs/$name" "${files[@]}" output.txt | split -b 15m - "$out/$name.tgz."
done
ls -l "$out"
exit $status
