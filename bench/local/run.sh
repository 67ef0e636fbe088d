#!/usr/bin/env bash
# Benchmark of `idealstack local` (issue 10): for a stack of N sites (each with a database, PHP 8.4,
# the default two tasks), measured in one run:
#   - up: `idealstack local up` from nothing (fresh state folder) until every site answers through
#     the router; the images are already built (warm cache: scripts/images ran). With --cold, the
#     idealstack and PHP images and podman's build cache are removed first and `scripts/images`
#     rebuilds them (the Debian base images and the release binary stay), and the figure
#     includes that build.
#   - site add: `idealstack site add` of one more site until it answers through the router.
#   - run: `idealstack run site01 -- echo ...` until its output is printed (median of three),
#     against `podman exec` into a running site container (docker exec-style entry).
#   - memory: what the local cluster holds once idle, in MiB: the platform (the `local serve`
#     process, the AWS emulator, MariaDB: summed RSS) and the containers (podman stats).
# Peer, measured in the same run: the site containers alone, started with plain `podman run` of
# the same image (no templates, no emulator, no agent), until each answers its health page; and
# their memory. The ratios say what the platform costs on top of the containers it runs.
# Usage: bench/local/run.sh [SITES=2] [--cold]   (as root, after scripts/setup and scripts/images).
# Prints a Markdown table to stdout; progress to stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
sites=${1:-2}
cold=${2:-}
log() { echo "bench: $*" >&2; }
eval "$("$root/scripts/local-env")"
bin="${CARGO_TARGET_DIR:-$root/target}/release/idealstack"
[ -x "$bin" ] || { log "no release binary: run scripts/images"; exit 1; }
version=$("$bin" --version | awk '{print $2}')
image="localhost/idealstack/php:8.4-$version"
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.1f}')"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

scratch=$(mktemp -d /tmp/idealstack-bench-local.XXXXXX)
chmod 755 "$scratch"  # MariaDB runs as mysql and must reach its folder
stack="bench$sites"
cleanup() {
  (cd "$scratch" && "$bin" local down >/dev/null 2>&1) || true
  podman rm --force --filter "label=idealstack.bench=$stack" >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

{
  printf '[stack]\nname = "%s"\nregion = "us-east-1"\n' "$stack"
  for i in $(seq 1 "$sites"); do
    printf '\n[[sites]]\nname = "site%02d"\ndomains = ["site%02d.example.com"]\ndatabase = true\n' "$i" "$i"
  done
} >"$scratch/idealstack.toml"

# --- peer: the same site containers with plain podman run ----------------------------------
log "peer: $((sites * 2)) containers of $image with podman run"
mkdir -p "$scratch/peer"
t0=$(now)
ports=()
for i in $(seq 1 $((sites * 2))); do
  site="$scratch/peer/site$i"
  mkdir -p "$site/public_html"
  chown -R 20000:20000 "$site"
  port=$(free_port)
  ports+=("$port")
  podman run --detach --label "idealstack.bench=$stack" --user 20000:20000 --read-only \
    --tmpfs /tmp:rw,size=256m --init --publish "127.0.0.1:$port:8080" \
    --env "IDEALSTACK_SITE=site$i" --env IDEALSTACK_SITE_ROOT=/srv/site \
    --mount "type=bind,src=$site,dst=/srv/site" "$image" >/dev/null
done
for port in "${ports[@]}"; do
  until curl -sf -o /dev/null "http://127.0.0.1:$port/.idealstack/health"; do sleep 0.2; done
done
peer_up=$(elapsed "$t0" "$(now)")
sleep 5
mem_of_containers() {
  podman stats --no-stream --format '{{.MemUsage}}' $(podman ps -q --filter "label=$1") |
    awk '{v=$1; u=v; gsub(/[0-9.]/,"",u); gsub(/[^0-9.]/,"",v); if (u=="kB") v/=1024; if (u=="GB") v*=1024; s+=v} END {printf "%.0f", s}'
}
peer_mem=$(mem_of_containers "idealstack.bench=$stack")
podman rm --force --filter "label=idealstack.bench=$stack" >/dev/null

# --- idealstack local ----------------------------------------------------------------------------
if [ "$cold" = "--cold" ]; then
  log "cold: removing the idealstack and PHP images"
  podman images --format '{{.Repository}}:{{.Tag}}' | grep -E '/idealstack/(idealstack|php):' |
    xargs -r podman rmi --force >/dev/null 2>&1 || true
  # and podman's build cache (untagged layers), or the builds would reuse every step
  podman image prune --force >/dev/null 2>&1 || true
fi
cd "$scratch"
http=$(free_port); sftp=$(free_port)
log "local up of $sites sites"
t0=$(now)
if [ "$cold" = "--cold" ]; then "$root/scripts/images" >/dev/null; fi
"$bin" local up --http-port "$http" --sftp-port "$sftp" --timeout 900 >/dev/null 2>"$scratch/up.log" ||
  { cat "$scratch/up.log" >&2; exit 1; }
up=$(elapsed "$t0" "$(now)")
sleep 10
containers_mem=$(mem_of_containers "idealstack.local.stack=$stack")
platform_kib=0
for pid in $(pgrep -f "local serve --manifest" || true) $(pgrep -f "local_moto.py" || true) $(pgrep -f "mariadbd.*$stack" || true); do
  kib=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  platform_kib=$((platform_kib + kib))
done
platform_mem=$((platform_kib / 1024))

log "site add"
eval "$("$bin" local env)"
t0=$(now)
"$bin" site add added.example.com --name added --cert-wait 120 >/dev/null 2>"$scratch/add.log" ||
  { cat "$scratch/add.log" >&2; exit 1; }
until [ "$(curl -s -o /dev/null -w '%{http_code}' --resolve "added.example.com:$http:127.0.0.1" "http://added.example.com:$http/.idealstack/health")" = 200 ]; do
  sleep 0.5
done
add=$(elapsed "$t0" "$(now)")

log "run"
# `idealstack run` until the command's output is printed (a one-off task of the site's task
# definition, its output read back from its log stream), against entering a running site
# container with `podman exec` (docker exec-style). Three of each, the median.
median() { python3 -c "import statistics,sys; print(f'{statistics.median(float(x) for x in sys.argv[1:]):.2f}')" "$@"; }
runs=(); execs=()
container=$(podman ps --filter "label=idealstack.local.stack=$stack" \
  --format '{{.ID}} {{index .Labels "idealstack.local.service"}}' | awk -v s="$stack-site-site01-" 'index($2, s) == 1 && !found {print $1; found = 1}')
for _ in 1 2 3; do
  t0=$(now)
  out=$("$bin" run site01 -- echo idealstack-run 2>/dev/null)
  [ "$out" = idealstack-run ] || { log "run printed '$out'"; exit 1; }
  runs+=("$(python3 -c "print($(now) - $t0)")")
  t0=$(now)
  out=$(podman exec "$container" echo idealstack-run)
  [ "$out" = idealstack-run ] || { log "podman exec printed '$out'"; exit 1; }
  execs+=("$(python3 -c "print($(now) - $t0)")")
done
run_s=$(median "${runs[@]}"); exec_s=$(median "${execs[@]}")

total_mem=$((containers_mem + platform_mem))
cat <<EOF
| figure ($sites sites, $(date -u +%F)) | idealstack local | peer: podman run of the site containers | ratio |
| --- | --- | --- | --- |
| up until every site answers$([ "$cold" = "--cold" ] && echo " (cold image cache)") | ${up} s | ${peer_up} s | $(python3 -c "print(f'{$up/$peer_up:.1f}x')") |
| site add until it answers | ${add} s | | |
| \`run\` of \`echo\` until its output, warm (peer: \`podman exec\` into a site container) | ${run_s} s | ${exec_s} s | $(python3 -c "print(f'{$run_s/$exec_s:.1f}x')") |
| memory held, idle | ${total_mem} MiB (containers ${containers_mem}, platform ${platform_mem}) | ${peer_mem} MiB | $(python3 -c "print(f'{$total_mem/max($peer_mem,1):.1f}x')") |
EOF
