<?php
/**
 * idealstack: runs before every PHP script of the site (php_admin_value[auto_prepend_file]).
 *
 * 1. HTTPS behind the load balancer: when the TCP peer is a trusted proxy
 *    (IDEALSTACK_TRUSTED_PROXIES, the VPC's range) and it says X-Forwarded-Proto: https, PHP sees
 *    $_SERVER['HTTPS'] = 'on', port 443 and scheme https, so CMSs build https links unchanged.
 *    (The client IP itself is set by Apache's mod_remoteip, with the same trusted range.)
 * 2. Sessions in DynamoDB (session.php), when IDEALSTACK_SESSION_TABLE is set.
 * 3. TLS to the database (RDS requires it) for stock WordPress: when the site has a database
 *    (DB_HOST) and the image names the database's CA (IDEALSTACK_DATABASE_CA_FILE, which the
 *    entrypoint adds to openssl.cafile), WordPress's MYSQL_CLIENT_FLAGS asks mysqli for TLS with
 *    the server's certificate verified (CA and host name). A wp-config.php that defines it itself
 *    keeps this value (PHP warns once that it is already defined).
 *
 * Everything is wrapped so that nothing here can break a site: no output, no globals.
 */

(static function (): void {
    $peer = $_SERVER['IDEALSTACK_PEER_ADDR'] ?? null;
    $proto = $_SERVER['HTTP_X_FORWARDED_PROTO'] ?? null;
    if (!is_string($peer) || !is_string($proto)) {
        return;
    }
    $ranges = getenv('IDEALSTACK_TRUSTED_PROXIES');
    if (!is_string($ranges) || $ranges === '') {
        $ranges = '10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7';
    }
    $peerBin = @inet_pton($peer);
    if ($peerBin === false) {
        return;
    }
    $trusted = false;
    foreach (preg_split('/[\s,]+/', trim($ranges)) as $cidr) {
        [$net, $bits] = array_pad(explode('/', $cidr, 2), 2, null);
        $netBin = @inet_pton((string)$net);
        if ($netBin === false || strlen($netBin) !== strlen($peerBin)) {
            continue;
        }
        $bits = $bits === null ? strlen($netBin) * 8 : (int)$bits;
        $bytes = intdiv($bits, 8);
        $rest = $bits % 8;
        if (substr($peerBin, 0, $bytes) !== substr($netBin, 0, $bytes)) {
            continue;
        }
        if ($rest > 0) {
            $mask = (0xff << (8 - $rest)) & 0xff;
            if ((ord($peerBin[$bytes]) & $mask) !== (ord($netBin[$bytes]) & $mask)) {
                continue;
            }
        }
        $trusted = true;
        break;
    }
    if (!$trusted) {
        return;
    }
    // The ALB appends its own value last: use the last entry of a possibly comma-joined list.
    $parts = explode(',', $proto);
    if (strtolower(trim(end($parts))) === 'https') {
        $_SERVER['HTTPS'] = 'on';
        $_SERVER['SERVER_PORT'] = '443';
        $_SERVER['REQUEST_SCHEME'] = 'https';
        ini_set('session.cookie_secure', '1');
    }
})();

if (getenv('DB_HOST') !== false && (string)getenv('IDEALSTACK_DATABASE_CA_FILE') !== ''
    && !defined('MYSQL_CLIENT_FLAGS') && defined('MYSQLI_CLIENT_SSL')) {
    define('MYSQL_CLIENT_FLAGS', MYSQLI_CLIENT_SSL | MYSQLI_CLIENT_SSL_VERIFY_SERVER_CERT);
}

require_once __DIR__ . '/session.php';
IdealstackSessionHandler::install();
