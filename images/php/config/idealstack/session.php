<?php
/**
 * idealstack: PHP sessions in DynamoDB, with locking, for every site without code changes.
 *
 * Table (created by the data stack): partition key `id` (S), TTL attribute `expires` (N, epoch
 * seconds). Each item's key is `<site>#<session id>`: the site's IAM policy only allows keys that
 * start with its own name (dynamodb:LeadingKeys), so sites never see each other's sessions.
 *
 * Locking, so two concurrent requests on one session never lose an update:
 * - read() takes the lock with one conditional UpdateItem (`lock_expires` absent or in the past)
 *   that also returns the item: the read and the lock are one atomic step;
 * - a request that finds the lock held retries with backoff for up to IDEALSTACK_SESSION_LOCK_WAIT
 *   seconds (default: lock TTL + 5);
 * - write()/updateTimestamp() store the data and release the lock in one UpdateItem conditioned on
 *   still owning it; close() releases a lock still held (read-only or aborted sessions);
 * - a worker killed while holding the lock blocks the session for at most
 *   IDEALSTACK_SESSION_LOCK_TTL seconds (default 30): after that the lock is simply taken over.
 *
 * DynamoDB unreachable: one log line `idealstack-session: site=... status=error ...`; the handler
 * returns false, session_start() fails with a warning, and the page still renders.
 */

declare(strict_types=1);

require_once __DIR__ . '/dynamodb.php';

final class IdealstackSessionHandler implements SessionHandlerInterface, SessionUpdateTimestampHandlerInterface
{
    private IdealstackDynamoDb $db;
    private string $table;
    private string $site;
    private int $lockTtl;
    private float $lockWait;
    private string $owner;
    /** @var string|null full key whose lock this request holds */
    private ?string $locked = null;

    public function __construct(IdealstackDynamoDb $db, string $table, string $site, int $lockTtl, float $lockWait)
    {
        $this->db = $db;
        $this->table = $table;
        $this->site = $site;
        $this->lockTtl = $lockTtl;
        $this->lockWait = $lockWait;
        $this->owner = bin2hex(random_bytes(12)) . '@' . (gethostname() ?: 'host') . ':' . getmypid();
    }

    private function key(string $id): string
    {
        return $this->site . '#' . $id;
    }

    private function log(string $op, string $id, Throwable $e): void
    {
        $type = $e instanceof IdealstackDynamoDbError ? $e->type : get_class($e);
        $reason = str_replace(["\r", "\n", '"'], [' ', ' ', "'"], $e->getMessage());
        error_log("idealstack-session: site={$this->site} status=error op={$op} table={$this->table} session=" . substr(hash('sha256', $id), 0, 12) . " error={$type} reason=\"{$reason}\"");
    }

    public function open(string $path, string $name): bool
    {
        return true;
    }

    public function read(string $id): string|false
    {
        $key = $this->key($id);
        $deadline = microtime(true) + $this->lockWait;
        $sleep = 20000;
        while (true) {
            $now = time();
            try {
                $result = $this->db->call('UpdateItem', [
                    'TableName' => $this->table,
                    'Key' => ['id' => ['S' => $key]],
                    'UpdateExpression' => 'SET lock_owner = :me, lock_expires = :lexp, expires = if_not_exists(expires, :exp)',
                    'ConditionExpression' => 'attribute_not_exists(lock_expires) OR lock_expires < :now',
                    'ExpressionAttributeValues' => [
                        ':me' => ['S' => $this->owner],
                        ':lexp' => ['N' => (string)($now + $this->lockTtl)],
                        ':exp' => ['N' => (string)($now + $this->lifetime())],
                        ':now' => ['N' => (string)$now],
                    ],
                    'ReturnValues' => 'ALL_NEW',
                ]);
            } catch (IdealstackDynamoDbError $e) {
                if ($e->type === 'ConditionalCheckFailedException' && microtime(true) < $deadline) {
                    usleep($sleep);
                    $sleep = min($sleep * 2, 250000);
                    continue;
                }
                if ($e->type === 'ConditionalCheckFailedException') {
                    $e = new IdealstackDynamoDbError('LockTimeout', "session still locked by another request after {$this->lockWait} s");
                }
                $this->log('read', $id, $e);
                return false;
            }
            $this->locked = $key;
            $item = $result['Attributes'] ?? [];
            $expires = (int)($item['expires']['N'] ?? 0);
            if (!isset($item['data']['B']) || $expires < $now) {
                return '';
            }
            $data = base64_decode($item['data']['B'], true);
            return $data === false ? '' : $data;
        }
    }

    public function write(string $id, string $data): bool
    {
        return $this->store($id, $data);
    }

    public function updateTimestamp(string $id, string $data): bool
    {
        return $this->store($id, null);
    }

    public function validateId(string $id): bool
    {
        try {
            $result = $this->db->call('GetItem', [
                'TableName' => $this->table,
                'Key' => ['id' => ['S' => $this->key($id)]],
                'ConsistentRead' => true,
                'ProjectionExpression' => 'expires',
            ]);
        } catch (IdealstackDynamoDbError $e) {
            $this->log('validate', $id, $e);
            return false;
        }
        return (int)($result['Item']['expires']['N'] ?? 0) >= time();
    }

    /** Stores the data (or only the new expiry) and releases the lock, if still ours. */
    private function store(string $id, ?string $data): bool
    {
        $key = $this->key($id);
        $values = [
            ':exp' => ['N' => (string)(time() + $this->lifetime())],
            ':me' => ['S' => $this->owner],
        ];
        $set = 'SET expires = :exp';
        if ($data !== null) {
            $set .= ', #d = :data';
            $values[':data'] = ['B' => base64_encode($data)];
        }
        $request = [
            'TableName' => $this->table,
            'Key' => ['id' => ['S' => $key]],
            'UpdateExpression' => $set . ' REMOVE lock_owner, lock_expires',
            'ExpressionAttributeValues' => $values,
        ];
        if ($data !== null) {
            $request['ExpressionAttributeNames'] = ['#d' => 'data'];
        }
        if ($this->locked === $key) {
            $request['ConditionExpression'] = 'lock_owner = :me';
        } else {
            // A new id (session_regenerate_id) was never locked by us: create it only if absent or
            // unlocked, so an id collision cannot overwrite someone's locked session.
            $request['ConditionExpression'] = 'attribute_not_exists(lock_owner) OR lock_expires < :now';
            $request['ExpressionAttributeValues'][':now'] = ['N' => (string)time()];
        }
        try {
            $this->db->call('UpdateItem', $request);
        } catch (IdealstackDynamoDbError $e) {
            if ($e->type === 'ConditionalCheckFailedException') {
                $e = new IdealstackDynamoDbError('LockLost', 'the session lock expired and another request took it: this request\'s changes were not saved (raise IDEALSTACK_SESSION_LOCK_TTL for slow pages)');
            }
            $this->log('write', $id, $e);
            if ($this->locked === $key) {
                $this->locked = null;
            }
            return false;
        }
        if ($this->locked === $key) {
            $this->locked = null;
        }
        return true;
    }

    public function close(): bool
    {
        if ($this->locked === null) {
            return true;
        }
        $key = $this->locked;
        $this->locked = null;
        try {
            $this->db->call('UpdateItem', [
                'TableName' => $this->table,
                'Key' => ['id' => ['S' => $key]],
                'UpdateExpression' => 'REMOVE lock_owner, lock_expires',
                'ConditionExpression' => 'lock_owner = :me',
                'ExpressionAttributeValues' => [':me' => ['S' => $this->owner]],
            ]);
        } catch (IdealstackDynamoDbError $e) {
            if ($e->type !== 'ConditionalCheckFailedException') {
                $this->log('unlock', substr($key, strlen($this->site) + 1), $e);
            }
        }
        return true;
    }

    public function destroy(string $id): bool
    {
        $key = $this->key($id);
        try {
            $this->db->call('DeleteItem', [
                'TableName' => $this->table,
                'Key' => ['id' => ['S' => $key]],
            ]);
        } catch (IdealstackDynamoDbError $e) {
            $this->log('destroy', $id, $e);
            return false;
        }
        if ($this->locked === $key) {
            $this->locked = null;
        }
        return true;
    }

    public function gc(int $max_lifetime): int|false
    {
        // The table's TTL attribute (`expires`) removes old sessions; nothing to do here.
        return 0;
    }

    private function lifetime(): int
    {
        return max(60, (int)ini_get('session.gc_maxlifetime'));
    }

    /** Registers the handler when the container is configured for DynamoDB sessions. */
    public static function install(): void
    {
        $table = IdealstackDynamoDb::env('IDEALSTACK_SESSION_TABLE');
        $site = IdealstackDynamoDb::env('IDEALSTACK_SITE');
        if ($table === null || $site === null || session_status() !== PHP_SESSION_NONE) {
            return;
        }
        if (!preg_match('/^[a-z0-9][a-z0-9-]{0,62}$/', $site)) {
            error_log("idealstack-session: site={$site} status=error reason=\"IDEALSTACK_SITE is not a site name (lowercase letters, digits, hyphens): sessions stay in files\"");
            return;
        }
        $ttl = max(1, (int)(IdealstackDynamoDb::env('IDEALSTACK_SESSION_LOCK_TTL') ?? '30'));
        $wait = (float)(IdealstackDynamoDb::env('IDEALSTACK_SESSION_LOCK_WAIT') ?? (string)($ttl + 5));
        try {
            $db = new IdealstackDynamoDb();
        } catch (IdealstackDynamoDbError $e) {
            error_log("idealstack-session: site={$site} status=error reason=\"{$e->getMessage()}\"");
            return;
        }
        session_set_save_handler(new self($db, $table, $site, $ttl, $wait), true);
    }
}
