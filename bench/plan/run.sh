#!/usr/bin/env bash
# Benchmark: `idealstack plan --out` of a generated 1,000-site manifest (3 domains each).
# Reports wall time and peak memory (best of RUNS), checks every shard is within quota and every
# template within CloudFormation's limits, and measures a peer in the same run: copying the same
# output folder with `cp -r` (the cost of writing those bytes at all).
# Usage: bench/plan/run.sh [sites] [runs]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
sites=${1:-1000}
runs=${2:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
cargo build --quiet --release -p idealstack-cli
bin="$root/target/release/idealstack"
python3 bench/plan/gen_manifest.py "$sites" > "$work/idealstack.toml"

best_time=""; best_rss=""
for _ in $(seq "$runs"); do
  rm -rf "$work/out"
  /usr/bin/time -f "%e %M" -o "$work/t" "$bin" plan -f "$work/idealstack.toml" --out "$work/out" > /dev/null
  read -r t rss < "$work/t"
  if [ -z "$best_time" ] || awk "BEGIN{exit !($t < $best_time)}"; then best_time=$t; fi
  if [ -z "$best_rss" ] || [ "$rss" -gt "$best_rss" ]; then best_rss=$rss; fi
done

peer_time=""
for _ in $(seq "$runs"); do
  rm -rf "$work/copy"
  /usr/bin/time -f "%e" -o "$work/p" cp -r "$work/out" "$work/copy"
  read -r p < "$work/p"
  if [ -z "$peer_time" ] || awk "BEGIN{exit !($p < $peer_time)}"; then peer_time=$p; fi
done

"$bin" plan -f "$work/idealstack.toml" --json > "$work/plan.json"
python3 - "$work/plan.json" "$work/out" <<'PY'
import json, os, sys
plan = json.load(open(sys.argv[1]))
shards = plan["shards"]
bad = [s for s in shards if s["target_groups"] > 100 or s["rules"] > 100 or s["certificates"] > 25]
assert not bad, f"shards over quota: {bad}"
biggest = max(plan["stacks"], key=lambda s: s["template_bytes"])
most = max(plan["stacks"], key=lambda s: s["resources"])
assert most["resources"] <= 500, most
assert biggest["template_bytes"] <= 1_000_000, biggest
for s in plan["stacks"]:
    if s["kind"] in ("network", "data"):
        body = open(os.path.join(sys.argv[2], s["name"] + ".template.json")).read()
        assert len(json.dumps(json.loads(body), separators=(",", ":"))) <= 51200, s["name"]
files = os.listdir(sys.argv[2])
total = sum(os.path.getsize(os.path.join(sys.argv[2], f)) for f in files)
print(f"stacks={len(plan['stacks'])} shards={len(shards)} files={len(files)} bytes={total} "
      f"largest_template={biggest['name']}:{biggest['template_bytes']}B most_resources={most['name']}:{most['resources']}")
PY
ratio=$(awk "BEGIN{printf \"%.1f\", $best_time / ($peer_time > 0 ? $peer_time : 0.01)}")
echo "plan --out: ${best_time}s wall (best of $runs), peak RSS $((best_rss / 1024)) MiB; peer cp -r of the same output: ${peer_time}s; ratio ${ratio}x"
