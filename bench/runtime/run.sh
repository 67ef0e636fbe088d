#!/usr/bin/env bash
# Benchmark of the PHP runtime config (images/php/config on Debian's apache2 + php-fpm, through the
# image's entrypoint) against Debian's default apache2 + PHP configuration (mod_php, prefork, as the
# wordpress package installs it), serving the same WordPress front page from the same files and
# database, measured in one run:
#   - requests per second: ab, DURATION seconds, CONCURRENCY clients, after a warm-up;
#   - memory of the idle site: summed PSS of every Apache and PHP process of each server after
#     the load, 5 s idle (PSS counts shared pages once).
# Usage: bench/runtime/run.sh [DURATION=20] [CONCURRENCY=8]   (as root; installs nothing itself:
# run scripts/setup first). Prints a Markdown table to stdout; progress to stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
duration=${1:-20}
concurrency=${2:-8}
log() { echo "bench: $*" >&2; }
for tool in ab apache2 mariadbd mariadb-install-db curl php; do
  command -v "$tool" >/dev/null || { echo "bench: $tool missing: run scripts/setup" >&2; exit 1; }
done
fpm_bin=$(ls /usr/sbin/php-fpm* | sort | tail -1)
scratch=$(mktemp -d /tmp/idealstack-bench-runtime.XXXXXX)
chmod 755 "$scratch"  # mysql and www-data must reach their folders
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "bench: nothing on port $1" >&2; exit 1; }

# --- MariaDB --------------------------------------------------------------------------------
log "starting mariadb"
mkdir -p "$scratch/db" "$scratch/dbrun"; chown -R mysql:mysql "$scratch/db" "$scratch/dbrun"
mariadb-install-db --no-defaults --user=mysql --auth-root-authentication-method=socket --skip-test-db --datadir="$scratch/db" >/dev/null 2>&1
db_port=$(free_port)
setsid mariadbd --no-defaults --user=mysql --bind-address=127.0.0.1 --skip-name-resolve --datadir="$scratch/db" \
  --port="$db_port" --socket="$scratch/dbrun/sock" --pid-file="$scratch/dbrun/pid" --innodb-buffer-pool-size=128M \
  >/dev/null 2>"$scratch/mariadb.err" &
pids+=($!)
wait_port "$db_port"
mariadb --no-defaults -uroot --socket="$scratch/dbrun/sock" -e \
  "CREATE DATABASE wordpress; CREATE USER 'wp'@'127.0.0.1' IDENTIFIED BY 'wp-password'; GRANT ALL ON wordpress.* TO 'wp'@'127.0.0.1';"

# --- WordPress files (one copy, served by both servers) ----------------------------------------
site="$scratch/site"
mkdir -p "$site/public_html" "$site/private" "$site/tmp"
cp -a /usr/share/wordpress/. "$site/public_html/"
rm -f "$site/public_html/.htaccess"
cat > "$site/public_html/wp-config.php" <<PHP
<?php
define('DB_NAME', 'wordpress'); define('DB_USER', 'wp'); define('DB_PASSWORD', 'wp-password');
define('DB_HOST', '127.0.0.1:$db_port'); define('DB_CHARSET', 'utf8mb4'); define('DB_COLLATE', '');
foreach (['AUTH_KEY','SECURE_AUTH_KEY','LOGGED_IN_KEY','NONCE_KEY','AUTH_SALT','SECURE_AUTH_SALT','LOGGED_IN_SALT','NONCE_SALT'] as \$k) { define(\$k, 'bench-' . \$k); }
define('WP_CONTENT_DIR', __DIR__ . '/wp-content'); define('DISABLE_WP_CRON', true); define('WP_HTTP_BLOCK_EXTERNAL', true);
\$table_prefix = 'wp_';
if (!defined('ABSPATH')) { define('ABSPATH', __DIR__ . '/'); }
require_once ABSPATH . 'wp-settings.php';
PHP
chown -R www-data:www-data "$site/public_html" "$site/tmp"

# --- this project's config, through the image's entrypoint ----------------------------------
cfg="$root/images/php/config"
ours_port=$(free_port)
mkdir -p "$scratch/ours-run"
log "starting idealstack config on $ours_port"
env -i PATH="$PATH" IDEALSTACK_SITE=bench IDEALSTACK_PORT="$ours_port" IDEALSTACK_SITE_ROOT="$site" \
  IDEALSTACK_RUN_DIR="$scratch/ours-run" IDEALSTACK_LIB="$cfg/idealstack" IDEALSTACK_APACHE_CONF="$cfg/apache/httpd.conf" \
  IDEALSTACK_FPM_CONF="$cfg/php/php-fpm.conf" IDEALSTACK_APACHE_BIN=/usr/sbin/apache2 IDEALSTACK_PHP_FPM_BIN="$fpm_bin" \
  IDEALSTACK_APACHE_USER=www-data IDEALSTACK_FPM_MAX_CHILDREN=10 IDEALSTACK_BIN=/bin/false PHP_INI_SCAN_DIR=":$cfg/php" \
  setsid "$cfg/idealstack/entrypoint.sh" >/dev/null 2>"$scratch/ours.err" &
ours_pgid=$!
pids+=($ours_pgid)
wait_port "$ours_port"
sleep 1

# Install WordPress once, through the web installer on our server.
curl -sS -o /dev/null "http://127.0.0.1:$ours_port/wp-admin/install.php?step=1"
curl -sS -o "$scratch/install.html" -X POST --data-urlencode "weblog_title=Bench" --data-urlencode "user_name=admin" \
  --data-urlencode "admin_password=Bench-Password-1" --data-urlencode "admin_password2=Bench-Password-1" \
  --data-urlencode "pw_weak=on" --data-urlencode "admin_email=admin@bench.example" --data-urlencode "blog_public=0" \
  --data-urlencode "language=" "http://127.0.0.1:$ours_port/wp-admin/install.php?step=2"
grep -q "Success!" "$scratch/install.html" || { echo "bench: WordPress install failed" >&2; exit 1; }
# WordPress stores the URL it was installed on; both servers must serve that host name.
mariadb --no-defaults -uroot --socket="$scratch/dbrun/sock" wordpress -e \
  "UPDATE wp_options SET option_value='http://bench.localhost' WHERE option_name IN ('siteurl','home');"

# --- Debian's default apache2 + mod_php configuration -----------------------------------------
deb_port=$(free_port)
cp -a /etc/apache2 "$scratch/debian-apache2"
sed -i "s/^Listen 80$/Listen $deb_port/; /Listen 443/d" "$scratch/debian-apache2/ports.conf"
sed -i "s#DocumentRoot /var/www/html#DocumentRoot $site/public_html#; s#<VirtualHost \*:80>#<VirtualHost *:$deb_port>#" "$scratch/debian-apache2/sites-available/000-default.conf"
printf '<Directory %s>\n  Require all granted\n</Directory>\n' "$site/public_html" > "$scratch/debian-apache2/conf-enabled/zz-bench-docroot.conf"
mkdir -p "$scratch/deb-run" "$scratch/deb-lock" "$scratch/deb-log"
log "starting Debian default config on $deb_port"
(
  set +u
  source /etc/apache2/envvars
  export APACHE_RUN_DIR="$scratch/deb-run" APACHE_PID_FILE="$scratch/deb-run/apache2.pid" \
    APACHE_LOCK_DIR="$scratch/deb-lock" APACHE_LOG_DIR="$scratch/deb-log"
  exec setsid /usr/sbin/apache2 -d "$scratch/debian-apache2" -DFOREGROUND
) >/dev/null 2>"$scratch/debian.err" &
deb_pgid=$!
pids+=($deb_pgid)
wait_port "$deb_port"
sleep 1

page() { curl -sS -o /dev/null -w '%{http_code} %{size_download}' -H "Host: bench.localhost" "http://127.0.0.1:$1/"; }
ours_check=$(page "$ours_port"); deb_check=$(page "$deb_port")
log "front page: idealstack $ours_check, debian $deb_check"
[ "${ours_check%% *}" = 200 ] && [ "${deb_check%% *}" = 200 ] || { echo "bench: front page not 200" >&2; exit 1; }

# The server processes (apache2, php-fpm) started under a leader pid, at any depth (php-fpm
# starts its own session, so a process group does not find it).
server_pids() {
  local all; all=$(ps -eo pid=,ppid=)
  local frontier="$1" found="$1"
  while [ -n "$frontier" ]; do
    local next=""
    for p in $frontier; do
      next="$next $(echo "$all" | awk -v p="$p" '$2 == p {print $1}')"
    done
    frontier=$(echo $next)
    found="$found $frontier"
  done
  for p in $found; do
    case "$(cat /proc/"$p"/comm 2>/dev/null)" in apache2|php-fpm*) echo "$p" ;; esac
  done
}
# Summed PSS (kB) of those processes.
pss() {
  local total=0
  for p in $(server_pids "$1"); do
    local kb; kb=$(awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}
procs() { server_pids "$1" | wc -l; }

rps() {
  ab -q -t "$duration" -n 10000000 -c "$concurrency" -H "Host: bench.localhost" "http://127.0.0.1:$1/" 2>/dev/null \
    | awk '/Requests per second/ {print $4}'
}
for port in "$ours_port" "$deb_port"; do
  ab -q -n 200 -c "$concurrency" -H "Host: bench.localhost" "http://127.0.0.1:$port/" >/dev/null 2>&1
done
log "measuring idealstack config (${duration}s, c=$concurrency)"
ours_rps=$(rps "$ours_port")
log "measuring Debian default config (${duration}s, c=$concurrency)"
deb_rps=$(rps "$deb_port")
sleep 5
ours_mem=$(pss "$ours_pgid"); deb_mem=$(pss "$deb_pgid")
ours_n=$(procs "$ours_pgid"); deb_n=$(procs "$deb_pgid")
ps -o pid,ppid,user,comm,rss -p "$(echo $(server_pids "$ours_pgid") $(server_pids "$deb_pgid") | tr ' ' ,)" >&2

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
echo "| configuration | requests/s | idle memory (PSS, MB) | processes |"
echo "| --- | --- | --- | --- |"
printf '| idealstack (apache2 event + php-fpm, images/php/config) | %s | %.1f | %s |\n' "$ours_rps" "$(python3 -c "print($ours_mem/1024)")" "$ours_n"
printf '| Debian default (apache2 prefork + mod_php) | %s | %.1f | %s |\n' "$deb_rps" "$(python3 -c "print($deb_mem/1024)")" "$deb_n"
echo
echo "ratios (idealstack / Debian default): requests/s $(ratio "$ours_rps" "$deb_rps"), idle memory $(ratio "$ours_mem" "$deb_mem")"
