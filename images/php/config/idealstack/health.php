<?php
/**
 * idealstack: the health page of the target group, /.idealstack/health.
 *
 * It runs PHP (so php-fpm answering is what is checked, not a static file) and checks only what
 * belongs to this task: the site's files on EFS are mounted and readable. Shared dependencies
 * (database, DynamoDB) are deliberately not checked: their outage must not make the load balancer
 * drain every task at once.
 */

header('Content-Type: application/json');
header('Cache-Control: no-store');
$root = getenv('IDEALSTACK_SITE_ROOT') ?: '/var/www/site';
$docroot = $root . '/public_html';
$ok = is_dir($docroot) && is_readable($docroot);
http_response_code($ok ? 200 : 503);
echo json_encode([
    'status' => $ok ? 'ok' : 'error',
    'site' => getenv('IDEALSTACK_SITE') ?: null,
    'php' => PHP_VERSION,
    'role' => getenv('IDEALSTACK_ROLE') ?: 'site',
    'sapi' => PHP_SAPI,
    'opcache' => function_exists('opcache_get_status') && is_array(@opcache_get_status(false)),
    'docroot' => $ok ? 'readable' : "missing or unreadable: {$docroot}",
]), "\n";
