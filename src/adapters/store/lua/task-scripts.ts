/**
 * The Lua scripts of the Redis task store, one constant per script, named with their key count
 * (BullMQ's convention) and each opening with a KEYS/ARGV header. They live in a TypeScript module
 * rather than `.lua` files so the bundler ships them without a copy step.
 *
 * Storage model (shared by every script):
 * - `<prefix>:task:<id>`: a hash, one field per top-level `TaskRecord` key, each value the field's
 *   JSON (encoded and decoded in TypeScript, so Lua never re-encodes nested values and numbers).
 * - `<prefix>:tasks:{all,running,finished}`: sorted sets of task ids scored by `createTime`
 *   (`running` = not `finished`); `<prefix>:tenant:<tenant>:{all,running,finished}` the same per
 *   tenant (keys computed inside the scripts from the prefix: use a hash-tagged prefix such as
 *   `{webrecord}` on Redis Cluster so every key lands in one slot).
 * - `<prefix>:leases`: unfinished tasks that have an owner and a `leaseUntil`, scored by it.
 * - `<prefix>:expiry`: finished tasks scored by the Unix ms their hash expires (PEXPIREAT), and
 *   `<prefix>:expiry:tenant` (hash id -> tenant) so index entries of expired tasks can be pruned.
 *
 * Time: scripts read the clock with Redis `TIME` (one clock for every node) for lease checks
 * (`owner: null` holds when `leaseUntil < now`) and for retention. Workers write `leaseUntil` in
 * Unix ms from their own clock: keep nodes NTP-synced, with `leaseMs` far above the skew.
 *
 * Return codes (mapped to results and errors by one table in `redis.ts`): `1` ok, `-1` no such
 * task, `-2` status is not `from`, `-3` `from -> to` not in `ALLOWED_FROM`, `-4` a condition
 * failed, `-5` the id exists (create).
 */
import { ALLOWED_FROM } from '../../../core/state-machine.js';

/** `ALLOWED_FROM` as a Lua table literal (`ALLOWED[to][from] = true`): the TS table is the one source of truth. */
function allowedTable(): string {
  const rows = Object.entries(ALLOWED_FROM).map(
    ([to, froms]) => `  [${JSON.stringify(to)}] = { ${froms.map((f) => `[${JSON.stringify(f)}] = true`).join(', ')} },`,
  );
  return `local ALLOWED = {\n${rows.join('\n')}\n}`;
}

/** Helpers shared by the scripts (prepended to each). `K` maps the seven standard KEYS. */
const COMMON = `
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function toMap(flat)
  local m = {}
  for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end
  return m
end

-- A stored JSON string value (status, tenant), or nil when absent or not a string.
local function jsonString(json)
  if json == nil then return nil end
  local ok, v = pcall(cjson.decode, json)
  if ok and type(v) == 'string' then return v end
  if ok and type(v) == 'number' then return tostring(v) end
  return nil
end

local function tenantKey(prefix, tenant, scope)
  return prefix .. ':tenant:' .. tenant .. ':' .. scope
end

-- What the indexes need to know of a stored record.
local function describe(m)
  return {
    status = jsonString(m['status']),
    tenant = jsonString(m['tenant']),
    createTime = tonumber(m['createTime']) or 0,
    owner = m['owner'] ~= nil,
    lease = tonumber(m['leaseUntil']),
  }
end

local function indexKeys(prefix, K, d)
  local scope = (d.status == 'finished') and 'finished' or 'running'
  local keys = { K.all, (scope == 'finished') and K.finished or K.running }
  if d.tenant then
    keys[#keys + 1] = tenantKey(prefix, d.tenant, 'all')
    keys[#keys + 1] = tenantKey(prefix, d.tenant, scope)
  end
  return keys
end

-- Brings every index in line with the record (old = nil on create).
local function reindex(prefix, K, id, old, new)
  local keep = {}
  for _, k in ipairs(indexKeys(prefix, K, new)) do
    keep[k] = true
    redis.call('ZADD', k, new.createTime, id)
  end
  if old then
    for _, k in ipairs(indexKeys(prefix, K, old)) do
      if not keep[k] then redis.call('ZREM', k, id) end
    end
  end
  if new.status ~= 'finished' and new.owner and new.lease then
    redis.call('ZADD', K.leases, new.lease, id)
  else
    redis.call('ZREM', K.leases, id)
  end
end

-- Forgets an expired (or vanished) finished task: its hash and every index entry.
local function drop(prefix, K, id)
  redis.call('DEL', prefix .. ':task:' .. id)
  redis.call('ZREM', K.all, id)
  redis.call('ZREM', K.finished, id)
  local tenant = redis.call('HGET', K.expTenant, id)
  if tenant then
    redis.call('ZREM', tenantKey(prefix, tenant, 'all'), id)
    redis.call('ZREM', tenantKey(prefix, tenant, 'finished'), id)
    redis.call('HDEL', K.expTenant, id)
  end
  redis.call('ZREM', K.expiry, id)
end

-- Drops finished tasks whose retention ended (bounded work per call).
local function prune(prefix, K, now)
  local due = redis.call('ZRANGEBYSCORE', K.expiry, '-inf', now, 'LIMIT', 0, 500)
  for _, id in ipairs(due) do drop(prefix, K, id) end
end

-- Starts the retention clock of a task that just became finished (retention < 0: keep forever).
local function expire(K, id, d, now, retention)
  if retention < 0 then return end
  local at = now + retention
  redis.call('ZADD', K.expiry, at, id)
  if d.tenant then redis.call('HSET', K.expTenant, id, d.tenant) end
  redis.call('PEXPIREAT', K.task, at)
end
`;

const STANDARD_KEYS = `
local K = { task = KEYS[1], all = KEYS[2], running = KEYS[3], finished = KEYS[4],
            leases = KEYS[5], expiry = KEYS[6], expTenant = KEYS[7] }
`;

const STANDARD_KEYS_DOC = `-- KEYS[1] <prefix>:task:<id>          the task hash
-- KEYS[2] <prefix>:tasks:all           zset id -> createTime
-- KEYS[3] <prefix>:tasks:running       zset id -> createTime (not finished)
-- KEYS[4] <prefix>:tasks:finished      zset id -> createTime
-- KEYS[5] <prefix>:leases              zset id -> leaseUntil (unfinished, owned)
-- KEYS[6] <prefix>:expiry              zset id -> expire-at (finished)
-- KEYS[7] <prefix>:expiry:tenant       hash id -> tenant (finished, with a tenant)`;

/** Stores a new task unless the id exists. Returns `1` or `-5`. */
export const createTask7 = `-- createTask (7 keys): stores a new task unless its id exists, and indexes it.
${STANDARD_KEYS_DOC}
-- ARGV[1] prefix
-- ARGV[2] retention ms of finished tasks (-1: keep forever)
-- ARGV[3] task id
-- ARGV[4..] field, JSON value, field, JSON value, ...
-- Returns 1, or -5 when the id exists.
${COMMON}
${STANDARD_KEYS}
local prefix, retention, id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local now = nowMs()
prune(prefix, K, now)
if redis.call('EXISTS', K.task) == 1 then return -5 end
if redis.call('ZSCORE', K.expiry, id) then drop(prefix, K, id) end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', K.task, unpack(fields))
local d = describe(toMap(fields))
reindex(prefix, K, id, nil, d)
if d.status == 'finished' then expire(K, id, d, now, retention) end
return 1
`;

/** Conditional write: a transition (`from`/`to` given) or an update. Returns `{ code, hash }`. */
export const writeTask7 = `-- writeTask (7 keys): atomically checks status / legality / owner / version, applies a patch,
-- bumps the version, keeps the indexes and starts the retention clock on 'finished'.
${STANDARD_KEYS_DOC}
-- ARGV[1]  prefix
-- ARGV[2]  retention ms of finished tasks (-1: keep forever)
-- ARGV[3]  task id
-- ARGV[4]  from status ('' for an update: no status change)
-- ARGV[5]  to status ('' for an update)
-- ARGV[6]  status condition: JSON array of statuses ('' = any)
-- ARGV[7]  owner condition: '' (any) | 'free' (no owner, or leaseUntil < Redis TIME) | 'is'
-- ARGV[8]  owner JSON (with 'is')
-- ARGV[9]  version condition ('' = any)
-- ARGV[10] n = number of fields to set; ARGV[11 .. 10+2n] field, JSON value pairs;
--          the ARGV after them: fields to delete (patch keys set to undefined)
-- Returns { code, flat hash after (code 1) or as found (codes -2..-4) }; { -1 } when missing.
${allowedTable()}
${COMMON}
${STANDARD_KEYS}
local prefix, retention, id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local from, to = ARGV[4], ARGV[5]
local now = nowMs()
local flat = redis.call('HGETALL', K.task)
if #flat == 0 then return { -1 } end
local cur = toMap(flat)
local before = describe(cur)
if from ~= '' then
  if before.status ~= from then return { -2, flat } end
  if not (ALLOWED[to] and ALLOWED[to][from]) then return { -3, flat } end
end
if ARGV[6] ~= '' then
  local found = false
  for _, s in ipairs(cjson.decode(ARGV[6])) do
    if s == before.status then found = true end
  end
  if not found then return { -4, flat } end
end
if ARGV[7] == 'free' then
  local expired = before.lease ~= nil and before.lease < now
  if before.owner and not expired then return { -4, flat } end
elseif ARGV[7] == 'is' then
  if cur['owner'] ~= ARGV[8] then return { -4, flat } end
end
if ARGV[9] ~= '' and tonumber(cur['version']) ~= tonumber(ARGV[9]) then return { -4, flat } end

local n = tonumber(ARGV[10])
if n > 0 then
  local set = {}
  for i = 11, 10 + 2 * n do set[#set + 1] = ARGV[i] end
  redis.call('HSET', K.task, unpack(set))
end
for i = 11 + 2 * n, #ARGV do redis.call('HDEL', K.task, ARGV[i]) end
if to ~= '' then redis.call('HSET', K.task, 'status', cjson.encode(to)) end
redis.call('HINCRBY', K.task, 'version', 1)

local after = redis.call('HGETALL', K.task)
local d = describe(toMap(after))
reindex(prefix, K, id, before, d)
if d.status == 'finished' and before.status ~= 'finished' then
  expire(K, id, d, now, retention)
elseif d.status == 'finished' and d.tenant ~= before.tenant and redis.call('ZSCORE', K.expiry, id) then
  if d.tenant then redis.call('HSET', K.expTenant, id, d.tenant) else redis.call('HDEL', K.expTenant, id) end
end
return { 1, after }
`;

/** One `List` page: prunes expired tasks, counts, pages newest first. Returns `{ total, hash... }`. */
export const listTasks5 = `-- listTasks (5 keys): prunes expired finished tasks, then answers one page of an index, newest
-- first (equal createTime: taskId descending, as ZREVRANGEBYSCORE orders them).
-- KEYS[1] the index to read (<prefix>:tasks:<scope> or <prefix>:tenant:<tenant>:<scope>)
-- KEYS[2] <prefix>:tasks:all      KEYS[3] <prefix>:tasks:finished
-- KEYS[4] <prefix>:expiry         KEYS[5] <prefix>:expiry:tenant
-- ARGV[1] prefix
-- ARGV[2] min createTime (inclusive, or '-inf')
-- ARGV[3] max createTime (inclusive, or '+inf')
-- ARGV[4] offset
-- ARGV[5] limit
-- Returns { total, flat hash, flat hash, ... }.
${COMMON}
local K = { all = KEYS[2], finished = KEYS[3], expiry = KEYS[4], expTenant = KEYS[5] }
local prefix = ARGV[1]
prune(prefix, K, nowMs())
local total = redis.call('ZCOUNT', KEYS[1], ARGV[2], ARGV[3])
local out = { total }
if tonumber(ARGV[5]) > 0 then
  local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[3], ARGV[2], 'LIMIT', ARGV[4], ARGV[5])
  for _, id in ipairs(ids) do
    local h = redis.call('HGETALL', prefix .. ':task:' .. id)
    if #h > 0 then out[#out + 1] = h end
  end
end
return out
`;

/** Every task of an index within a score range (for listUnfinished / listExpiredLeases). */
export const readRange1 = `-- readRange (1 key): the hashes of every task in a score range of an index, oldest first.
-- KEYS[1] an index zset (<prefix>:tasks:running or <prefix>:leases)
-- ARGV[1] prefix
-- ARGV[2] min score (inclusive; '(' prefix for exclusive, or '-inf')
-- ARGV[3] max score (inclusive; '(' prefix for exclusive, or '+inf')
-- Returns { flat hash, ... } (tasks whose hash is gone are skipped).
local prefix = ARGV[1]
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[3])) do
  local h = redis.call('HGETALL', prefix .. ':task:' .. id)
  if #h > 0 then out[#out + 1] = h end
end
return out
`;

/** Script name -> key count and source, for ioredis `defineCommand`. */
export const TASK_SCRIPTS = {
  webrecordCreateTask7: { numberOfKeys: 7, lua: createTask7 },
  webrecordWriteTask7: { numberOfKeys: 7, lua: writeTask7 },
  webrecordListTasks5: { numberOfKeys: 5, lua: listTasks5 },
  webrecordReadRange1: { numberOfKeys: 1, lua: readRange1 },
} as const;

/** Names of the store's ioredis commands. */
export type TaskScriptName = keyof typeof TASK_SCRIPTS;
