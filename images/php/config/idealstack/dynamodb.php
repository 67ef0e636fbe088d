<?php
/**
 * idealstack: a minimal DynamoDB client for the session handler (no Composer, no SDK).
 *
 * Signs requests with AWS Signature Version 4 over the curl extension. Credentials come, in the
 * SDK's order, from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN or from the ECS
 * container credentials endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI with an
 * optional authorization token); container credentials are cached in a 0600 file on the
 * container's tmpfs until five minutes before they expire. The endpoint is
 * AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL, else the regional AWS endpoint.
 */

declare(strict_types=1);

final class IdealstackDynamoDbError extends RuntimeException
{
    /** @var string AWS error type (e.g. ConditionalCheckFailedException), or "network". */
    public string $type;

    public function __construct(string $type, string $message)
    {
        parent::__construct($message);
        $this->type = $type;
    }
}

final class IdealstackDynamoDb
{
    private string $endpoint;
    private string $host;
    private string $region;
    private ?array $credentials = null;

    public function __construct()
    {
        $this->region = self::env('AWS_REGION') ?? self::env('AWS_DEFAULT_REGION') ?? 'us-east-1';
        $endpoint = self::env('AWS_ENDPOINT_URL_DYNAMODB') ?? self::env('AWS_ENDPOINT_URL')
            ?? "https://dynamodb.{$this->region}.amazonaws.com";
        $this->endpoint = rtrim($endpoint, '/') . '/';
        $host = parse_url($this->endpoint, PHP_URL_HOST);
        $port = parse_url($this->endpoint, PHP_URL_PORT);
        if (!is_string($host) || $host === '') {
            throw new IdealstackDynamoDbError('config', "AWS_ENDPOINT_URL {$endpoint} is not a URL: expected http(s)://host[:port]");
        }
        $this->host = $port ? "{$host}:{$port}" : $host;
    }

    public static function env(string $name): ?string
    {
        $value = getenv($name);
        if ($value === false || $value === '') {
            $value = $_SERVER[$name] ?? null;
        }
        return is_string($value) && $value !== '' ? $value : null;
    }

    /**
     * Calls one DynamoDB action and returns the decoded JSON answer.
     *
     * @throws IdealstackDynamoDbError with the AWS error type, or "network"/"credentials".
     */
    public function call(string $action, array $payload): array
    {
        $body = json_encode($payload, JSON_UNESCAPED_SLASHES);
        $creds = $this->credentials();
        $now = time();
        $amzDate = gmdate('Ymd\THis\Z', $now);
        $day = gmdate('Ymd', $now);
        $headers = [
            'content-type' => 'application/x-amz-json-1.0',
            'host' => $this->host,
            'x-amz-date' => $amzDate,
            'x-amz-target' => "DynamoDB_20120810.{$action}",
        ];
        if ($creds['token'] !== null) {
            $headers['x-amz-security-token'] = $creds['token'];
        }
        ksort($headers);
        $canonicalHeaders = '';
        foreach ($headers as $k => $v) {
            $canonicalHeaders .= $k . ':' . trim($v) . "\n";
        }
        $signed = implode(';', array_keys($headers));
        $canonical = "POST\n/\n\n{$canonicalHeaders}\n{$signed}\n" . hash('sha256', $body);
        $scope = "{$day}/{$this->region}/dynamodb/aws4_request";
        $toSign = "AWS4-HMAC-SHA256\n{$amzDate}\n{$scope}\n" . hash('sha256', $canonical);
        $key = hash_hmac('sha256', 'aws4_request',
            hash_hmac('sha256', 'dynamodb',
                hash_hmac('sha256', $this->region,
                    hash_hmac('sha256', $day, 'AWS4' . $creds['secret'], true), true), true), true);
        $signature = hash_hmac('sha256', $toSign, $key);
        $headers['authorization'] = "AWS4-HMAC-SHA256 Credential={$creds['key']}/{$scope}, "
            . "SignedHeaders={$signed}, Signature={$signature}";
        $lines = [];
        foreach ($headers as $k => $v) {
            if ($k !== 'host') {
                $lines[] = "{$k}: {$v}";
            }
        }
        $lines[] = 'Expect:';
        [$status, $response] = self::http('POST', $this->endpoint, $lines, $body);
        $decoded = json_decode($response, true);
        if ($status === 200 && is_array($decoded)) {
            return $decoded;
        }
        $type = is_array($decoded) ? (string)($decoded['__type'] ?? "http{$status}") : "http{$status}";
        $type = substr($type, (int)strrpos($type, '#') + (str_contains($type, '#') ? 1 : 0));
        $message = is_array($decoded) ? (string)($decoded['message'] ?? $decoded['Message'] ?? '') : substr($response, 0, 200);
        throw new IdealstackDynamoDbError($type, "{$action} failed with HTTP {$status} {$type}: {$message}");
    }

    /** @return array{0:int,1:string} */
    private static function http(string $method, string $url, array $headers, ?string $body): array
    {
        $ch = curl_init($url);
        curl_setopt_array($ch, [
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_HTTPHEADER => $headers,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_CONNECTTIMEOUT_MS => 2000,
            CURLOPT_TIMEOUT_MS => 5000,
            CURLOPT_NOSIGNAL => true,
        ]);
        if ($body !== null) {
            curl_setopt($ch, CURLOPT_POSTFIELDS, $body);
        }
        $response = curl_exec($ch);
        if ($response === false) {
            $error = curl_error($ch);
            curl_close($ch);
            throw new IdealstackDynamoDbError('network', "{$url} unreachable: {$error}");
        }
        $status = (int)curl_getinfo($ch, CURLINFO_RESPONSE_CODE);
        curl_close($ch);
        return [$status, (string)$response];
    }

    /** @return array{key:string,secret:string,token:?string} */
    private function credentials(): array
    {
        if ($this->credentials !== null && ($this->credentials['expires'] ?? PHP_INT_MAX) > time() + 300) {
            return $this->credentials;
        }
        $key = self::env('AWS_ACCESS_KEY_ID');
        $secret = self::env('AWS_SECRET_ACCESS_KEY');
        if ($key !== null && $secret !== null) {
            return $this->credentials = ['key' => $key, 'secret' => $secret, 'token' => self::env('AWS_SESSION_TOKEN')];
        }
        $relative = self::env('AWS_CONTAINER_CREDENTIALS_RELATIVE_URI');
        $full = self::env('AWS_CONTAINER_CREDENTIALS_FULL_URI');
        if ($relative === null && $full === null) {
            throw new IdealstackDynamoDbError('credentials', 'no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run as an ECS task with a task role');
        }
        $cacheDir = self::env('IDEALSTACK_RUN_DIR') ?? sys_get_temp_dir();
        $cache = $cacheDir . '/aws-credentials-' . getmyuid() . '.json';
        $cached = @file_get_contents($cache);
        if (is_string($cached)) {
            $c = json_decode($cached, true);
            if (is_array($c) && ($c['expires'] ?? 0) > time() + 300) {
                return $this->credentials = $c;
            }
        }
        $url = $relative !== null ? 'http://169.254.170.2' . $relative : $full;
        $headers = [];
        $token = self::env('AWS_CONTAINER_AUTHORIZATION_TOKEN');
        $tokenFile = self::env('AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE');
        if ($tokenFile !== null) {
            $token = trim((string)@file_get_contents($tokenFile));
        }
        if ($token !== null && $token !== '') {
            $headers[] = "Authorization: {$token}";
        }
        [$status, $response] = self::http('GET', $url, $headers, null);
        $doc = json_decode($response, true);
        if ($status !== 200 || !is_array($doc) || !isset($doc['AccessKeyId'], $doc['SecretAccessKey'])) {
            throw new IdealstackDynamoDbError('credentials', "container credentials endpoint answered HTTP {$status}: expected a JSON document with AccessKeyId");
        }
        $c = [
            'key' => $doc['AccessKeyId'],
            'secret' => $doc['SecretAccessKey'],
            'token' => $doc['Token'] ?? null,
            'expires' => isset($doc['Expiration']) ? (int)strtotime($doc['Expiration']) : time() + 900,
        ];
        $tmp = @tempnam($cacheDir, 'awscred');
        if ($tmp !== false) {
            @chmod($tmp, 0600);
            if (@file_put_contents($tmp, json_encode($c)) !== false) {
                @rename($tmp, $cache);
            } else {
                @unlink($tmp);
            }
        }
        return $this->credentials = $c;
    }
}
