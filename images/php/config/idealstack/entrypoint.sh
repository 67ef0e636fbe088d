#!/bin/bash
# idealstack PHP runtime: the container's entrypoint (also run by the test suite on Debian's
# apache2 and php-fpm packages). Starts php-fpm and Apache in the foreground; if either stops,
# stops the other and exits with its status, so ECS replaces the task. With arguments, runs them
# as a command in the site's environment instead (a one-off task).
#
# Environment (defaults for the image in brackets):
#   IDEALSTACK_ROLE [site]              `site`: serve the site mounted at IDEALSTACK_SITE_ROOT;
#                                       `health`: the cluster's per-instance PHP health daemon, no
#                                       site and no EFS mount (an empty document root on the tmpfs)
#   IDEALSTACK_SITE (required for site) site name, in every log line and session key
#   IDEALSTACK_PORT [8080]              listening port
#   IDEALSTACK_SITE_ROOT [/var/www/site] EFS access point mount (public_html/ private/ tmp/)
#   IDEALSTACK_RUN_DIR [/tmp/idealstack] writable tmpfs for pid files, mutexes, the fpm socket
#   IDEALSTACK_TRUSTED_PROXIES [10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7] the VPC's range
#   IDEALSTACK_FPM_MAX_CHILDREN [10]    PHP workers at most (size to the task's memory)
#   IDEALSTACK_LIB [/usr/local/lib/idealstack] prepend, session handler, health page
#   IDEALSTACK_APACHE_CONF [/usr/local/etc/idealstack/httpd.conf]
#   IDEALSTACK_FPM_CONF [/usr/local/etc/idealstack/php-fpm.conf]
#   IDEALSTACK_BIN [/usr/local/bin/idealstack] the idealstack binary (sendmail)
#   IDEALSTACK_APACHE_BIN [apache2], IDEALSTACK_PHP_FPM_BIN [php-fpm]
#   IDEALSTACK_SESSION_TABLE            DynamoDB sessions table (sessions stay in files without it)
#   IDEALSTACK_MAIL_FROM                sender for mail without a From header
#   IDEALSTACK_DATABASE_CA_FILE         PEM bundle of the database's CA: PHP's OpenSSL trusts it
#                                       (with the system roots), WordPress connects over verified TLS
#   IDEALSTACK_INI_<NAME>               the site's php.ini settings (the manifest's php_settings), one
#                                       variable each, loaded after the image's defaults by php-fpm
#                                       and the CLI; only the names in `ini_names` below
set -euo pipefail

export IDEALSTACK_RUN_DIR="${IDEALSTACK_RUN_DIR:-/tmp/idealstack}"
case "${IDEALSTACK_ROLE:-site}" in
  site)
    if [ -z "${IDEALSTACK_SITE:-}" ] || ! [[ "$IDEALSTACK_SITE" =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]]; then
      echo "entrypoint: IDEALSTACK_SITE='${IDEALSTACK_SITE:-}' is not a site name: set it to the site's name (lowercase letters, digits, hyphens)" >&2
      exit 64
    fi
    export IDEALSTACK_SITE_ROOT="${IDEALSTACK_SITE_ROOT:-/var/www/site}"
    ;;
  health)
    # No site: the health page proves Apache and php-fpm answer on this instance. Its document
    # root is an empty folder on the tmpfs (whatever IDEALSTACK_SITE_ROOT the image sets: nothing
    # is mounted there), and log lines say site=health.
    export IDEALSTACK_SITE=health
    export IDEALSTACK_SITE_ROOT="$IDEALSTACK_RUN_DIR/health-site"
    mkdir -p "$IDEALSTACK_SITE_ROOT/public_html" "$IDEALSTACK_SITE_ROOT/tmp"
    ;;
  *)
    echo "entrypoint: IDEALSTACK_ROLE='$IDEALSTACK_ROLE' is not a role: set it to site (the default) or health" >&2
    exit 64
    ;;
esac
export IDEALSTACK_PORT="${IDEALSTACK_PORT:-8080}"
export IDEALSTACK_TRUSTED_PROXIES="${IDEALSTACK_TRUSTED_PROXIES:-10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7}"
export IDEALSTACK_FPM_MAX_CHILDREN="${IDEALSTACK_FPM_MAX_CHILDREN:-10}"
# php-fpm.conf keeps up to 3 spare workers, and php-fpm refuses a ceiling below that.
if ! [[ "$IDEALSTACK_FPM_MAX_CHILDREN" =~ ^[0-9]+$ ]] || [ "$IDEALSTACK_FPM_MAX_CHILDREN" -lt 3 ]; then
  echo "entrypoint: IDEALSTACK_FPM_MAX_CHILDREN='$IDEALSTACK_FPM_MAX_CHILDREN' is not a worker count: set it to a number of at least 3 (the templates size it from the task's memory)" >&2
  exit 64
fi
export IDEALSTACK_LIB="${IDEALSTACK_LIB:-/usr/local/lib/idealstack}"
apache_conf="${IDEALSTACK_APACHE_CONF:-/usr/local/etc/idealstack/httpd.conf}"
fpm_conf="${IDEALSTACK_FPM_CONF:-/usr/local/etc/idealstack/php-fpm.conf}"
export IDEALSTACK_BIN="${IDEALSTACK_BIN:-/usr/local/bin/idealstack}"
apache_bin="${IDEALSTACK_APACHE_BIN:-apache2}"
fpm_bin="${IDEALSTACK_PHP_FPM_BIN:-php-fpm}"

mkdir -p "$IDEALSTACK_RUN_DIR"

# The site's php.ini settings: IDEALSTACK_INI_<NAME>=value -> name = "value" in a file PHP reads
# after the image's own (PHP_INI_SCAN_DIR). A variable this image does not know stops the start:
# a setting silently dropped would look applied.
declare -A ini_names=(
  [MEMORY_LIMIT]=memory_limit [UPLOAD_MAX_FILESIZE]=upload_max_filesize
  [POST_MAX_SIZE]=post_max_size [MAX_EXECUTION_TIME]=max_execution_time
  [MAX_INPUT_TIME]=max_input_time [MAX_INPUT_VARS]=max_input_vars
  [DISPLAY_ERRORS]=display_errors [DATE_TIMEZONE]=date.timezone
  [OPCACHE_MEMORY_CONSUMPTION]=opcache.memory_consumption
  [OPCACHE_VALIDATE_TIMESTAMPS]=opcache.validate_timestamps
  [OPCACHE_REVALIDATE_FREQ]=opcache.revalidate_freq
)
ini_dir="$IDEALSTACK_RUN_DIR/php-ini"
mkdir -p "$ini_dir"
: >"$ini_dir/zz-site.ini"
for var in $(compgen -e); do
  [[ "$var" == IDEALSTACK_INI_* ]] || continue
  key="${var#IDEALSTACK_INI_}"
  name="${ini_names[$key]:-}"
  if [ -z "$name" ]; then
    echo "entrypoint: $var is not a PHP setting this image takes: the settings are ${!ini_names[*]} (as IDEALSTACK_INI_<NAME>); update the image or remove the variable" >&2
    exit 64
  fi
  value="${!var}"
  if ! [[ "$value" =~ ^[A-Za-z0-9_./+-]{1,64}$ ]]; then
    echo "entrypoint: $var='$value' is not a php.ini value: letters, digits and _ . / + - only (a size such as 128M, a number, 0 or 1, a time zone)" >&2
    exit 64
  fi
  printf '%s = "%s"\n' "$name" "$value" >>"$ini_dir/zz-site.ini"
done
export PHP_INI_SCAN_DIR="${PHP_INI_SCAN_DIR:-}:$ini_dir"

# The agent creates a new site's folders (owned by the site's uid) on its next pass, which may come
# after the site's first task starts: wait for the document root rather than fail Apache's start.
waited=0
until [ -d "$IDEALSTACK_SITE_ROOT/public_html" ]; do
  if [ "$waited" -ge 180 ]; then
    echo "entrypoint: $IDEALSTACK_SITE_ROOT/public_html does not exist after ${waited} s: the agent creates it (see the agent's log), or mount the site's folder at IDEALSTACK_SITE_ROOT" >&2
    exit 69
  fi
  if [ $((waited % 15)) -eq 0 ]; then
    echo "entrypoint: waiting for $IDEALSTACK_SITE_ROOT/public_html (the agent creates a new site's folders)" >&2
  fi
  sleep 1
  waited=$((waited + 1))
done

# TLS to the database (RDS requires it): PHP's OpenSSL (openssl.cafile, idealstack.ini) trusts
# the system roots plus the database's CA bundle, so mysqli and PDO can verify the server. The
# prepend turns it on for WordPress (images/README.md, "Database TLS").
export IDEALSTACK_OPENSSL_CAFILE=""
if [ -n "${IDEALSTACK_DATABASE_CA_FILE:-}" ]; then
  if ! [ -r "$IDEALSTACK_DATABASE_CA_FILE" ]; then
    echo "entrypoint: IDEALSTACK_DATABASE_CA_FILE='$IDEALSTACK_DATABASE_CA_FILE' cannot be read: set it to the PEM bundle of the database's CA (the image ships /usr/local/share/idealstack/database-ca.pem)" >&2
    exit 64
  fi
  export IDEALSTACK_OPENSSL_CAFILE="$IDEALSTACK_RUN_DIR/ca-bundle.pem"
  system_roots=/etc/ssl/certs/ca-certificates.crt
  { if [ -r "$system_roots" ]; then cat "$system_roots"; fi; cat "$IDEALSTACK_DATABASE_CA_FILE"; } >"$IDEALSTACK_OPENSSL_CAFILE"
fi
# A command (`idealstack run SITE -- CMD`: the task's command override): run it in the site's
# environment (its folder, its uid, its PHP settings, its database variables and CA) instead of
# serving. Its output is the task's log, its exit code the task's.
if [ "$#" -gt 0 ]; then
  # PHP's CLI runs the prepend too, as php-fpm's pool does: WordPress's database TLS, sessions.
  printf 'auto_prepend_file = "%s"\n' "$IDEALSTACK_LIB/prepend.php" >"$ini_dir/zz-command.ini"
  cd "$IDEALSTACK_SITE_ROOT/public_html"
  exec "$@"
fi

root_args_fpm=()
root_args_apache=()
if [ "$(id -u)" = 0 ]; then
  # Only the test suite runs this as root: workers then drop to an unprivileged user.
  : "${IDEALSTACK_APACHE_USER:?running as root needs IDEALSTACK_APACHE_USER (an unprivileged user for workers)}"
  export IDEALSTACK_FPM_USER="${IDEALSTACK_FPM_USER:-$IDEALSTACK_APACHE_USER}"
  chown "$IDEALSTACK_APACHE_USER" "$IDEALSTACK_RUN_DIR"
  root_args_fpm=(-R)
  root_args_apache=(-DIDEALSTACK_AS_ROOT)
else
  export IDEALSTACK_FPM_USER="$(id -u)"
fi

# PHP's own messages and the master's reach stderr one line each; tag them with the site.
"$fpm_bin" -y "$fpm_conf" -F "${root_args_fpm[@]}" \
  2> >(exec sed -u "s/^/site=$IDEALSTACK_SITE type=php msg=/" >&2) &
fpm=$!
"$apache_bin" -f "$apache_conf" -DFOREGROUND "${root_args_apache[@]}" &
apache=$!

stopping=0
stop() {
  stopping=1
  # Graceful: Apache finishes in-flight requests (SIGWINCH), php-fpm its scripts (SIGQUIT).
  kill -WINCH "$apache" 2>/dev/null || true
  kill -QUIT "$fpm" 2>/dev/null || true
}
trap stop TERM INT

# Until either stops (polled: `wait -n` can miss a child that exits at once, such as Apache
# refusing its configuration, and the container would then never stop).
while kill -0 "$fpm" 2>/dev/null && kill -0 "$apache" 2>/dev/null; do
  sleep 1 &
  wait $! || true
done
status=0
if ! kill -0 "$apache" 2>/dev/null; then
  wait "$apache" || status=$?
else
  wait "$fpm" || status=$?
fi
# One of them stopped on its own: so does the container, never with 0 (ECS then replaces the task).
if [ "$stopping" -eq 0 ] && [ "$status" -eq 0 ]; then status=70; fi
stop
wait "$fpm" "$apache" 2>/dev/null || true
exit "$status"
