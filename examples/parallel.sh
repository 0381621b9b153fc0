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
status=0
seq 1 "$workers" | parallel --will-cite --jobs "$workers" --line-buffer \
  "reencoder upsample '$in' -r -o '$out' --skip-existing --shard {}/$workers --json -q > '$out/.reencoder-{}.jsonl'" \
  || status=$?  # a worker with a failed file exits 1; the others still finish
cat "$out"/.reencoder-*.jsonl | python3 -c '
import collections, json, sys
rows = [json.loads(line) for line in sys.stdin]
count = collections.Counter(row["status"] for row in rows)
minutes = sum(row["duration"] for row in rows if row["status"] == "done") / 60
print(count["done"], "done,", count["skipped"], "skipped,", count["failed"], "failed,", round(minutes, 1), "min of audio")'
exit "$status"
