#!/usr/bin/env bash
# Upsample a folder tree with GNU parallel: N worker processes, each taking one shard of the
# file list (so each loads the models once), one torch thread each.
#
#   examples/parallel.sh IN_DIR OUT_DIR [WORKERS]
#
# Safe to interrupt and re-run: outputs are written atomically and --skip-existing trusts
# only complete files. Each worker's JSON records go to OUT_DIR/.reencoder-N.jsonl.
set -euo pipefail
in=$1 out=$2 workers=${3:-$(nproc)}
mkdir -p "$out"
export OMP_NUM_THREADS=1
seq 1 "$workers" | parallel --jobs "$workers" --line-buffer \
  "reencoder upsample '$in' -r -o '$out' --skip-existing --shard {}/$workers --json -q > '$out/.reencoder-{}.jsonl'"
cat "$out"/.reencoder-*.jsonl | python3 -c '
import json, sys
rows = [json.loads(line) for line in sys.stdin]
done = [r for r in rows if r["status"] == "done"]
print(f"{len(done)} done, {sum(r[\"status\"] == \"skipped\" for r in rows)} skipped, "
      f"{sum(r[\"status\"] == \"failed\" for r in rows)} failed, {sum(r[\"duration\"] for r in done) / 60:.1f} min of audio")'
