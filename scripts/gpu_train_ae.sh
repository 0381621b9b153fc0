#!/usr/bin/env bash
# Train the autoencoder on a lent GPU machine, which has python3 with CUDA torch but no
# network: our other dependencies come as wheels and the music as an Opus pack, both made
# here by `make gpu-pack` and carried (data/wheels, data/pack). Starts from the shipped
# autoencoder, resumes runs/ae-gpu on later calls while the machine stays warm, and copies
# the exported weights (fp16), log and curve to $OUT. PART "decoder" (the default) freezes
# the encoder: the latent space, and so every shipped module, stays valid and the result
# ships alone; "all" trains both (the modules must then be retrained).
#   usage: bash scripts/gpu_train_ae.sh [MINUTES] [BATCH] [GAN_START] [PART]
set -euo pipefail
minutes=${1:-8}
batch=${2:-32}
gan_start=${3:-0}
part=${4:-decoder}
case $part in
  decoder) freeze=--decoder-only ;;
  all) freeze= ;;
  *) echo "PART must be decoder or all, not $part" >&2; exit 2 ;;
esac
out=${OUT:-runs/ae-gpu-out}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site data/wheels/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=8
python3 -m reencoder_cli env
python3 -m reencoder_cli data unpack data/pack --root data/gpu-cache
python3 -m reencoder_cli train autoencoder --data data/gpu-cache --run runs/ae-gpu --device auto \
  --init weights/autoencoder.safetensors --minutes "$minutes" --batch "$batch" --gan-start "$gan_start" \
  --checkpoint-minutes 3 --validate-minutes 3 $freeze
mkdir -p "$out"
cp runs/ae-gpu/autoencoder.safetensors runs/ae-gpu/log.csv runs/ae-gpu/loss.png "$out/"
