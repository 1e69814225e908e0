// The Lua scripts every Redis write goes through. Each runs atomically in Redis: it changes one record set (a
// hash of JSON records per kind), and, only when something changed, takes the next number of the global
// sequence and publishes the records' new state (or their deletion) under that number in the same step. So
// Redis's order of writes is the order every gateway's mirror applies them, a missed message shows as a gap in
// the numbers, and no write ever carries a whole record computed from a mirror that may be stale: updates are
// applied to what Redis holds (a touch of a deleted session does nothing; a revoked-at is never cleared).

/** KEYS: record hash, sequence. ARGV: channel, origin, kind, op, payload (JSON). Returns the sequence number used, or 0. */
export const WRITE_RECORDS = `
local hash, seqKey = KEYS[1], KEYS[2]
local channel, origin, kind, op = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local payload = cjson.decode(ARGV[5])
local set, del, revoked = {}, {}, false

local function isNull(v) return v == nil or v == cjson.null end
local function matches(rec, where)
  if where.eq then for k, v in pairs(where.eq) do if rec[k] ~= v then return false end end end
  if where.lte then for k, v in pairs(where.lte) do if isNull(rec[k]) or rec[k] > v then return false end end end
  return true
end

if op == 'create' then
  local rec = payload.record
  if redis.call('HSETNX', hash, rec.id, cjson.encode(rec)) == 1 then
    set[1] = rec
  else
    -- Someone else created it first: everyone, the loser included, converges on the stored one.
    set[1] = cjson.decode(redis.call('HGET', hash, rec.id))
  end
elseif op == 'put' then
  redis.call('HSET', hash, payload.record.id, cjson.encode(payload.record))
  set[1] = payload.record
elseif op == 'patch' then
  local raw = redis.call('HGET', hash, payload.id)
  if not raw then return 0 end
  local rec = cjson.decode(raw)
  if payload.set then for k, v in pairs(payload.set) do if k ~= 'revokedAt' and k ~= 'id' then rec[k] = v end end end
  if payload.incr then for k, v in pairs(payload.incr) do rec[k] = (tonumber(rec[k]) or 0) + v end end
  redis.call('HSET', hash, payload.id, cjson.encode(rec))
  set[1] = rec
elseif op == 'delete' then
  for _, id in ipairs(payload.ids) do
    if redis.call('HDEL', hash, id) == 1 then del[#del + 1] = id end
  end
  revoked = true
elseif op == 'deleteWhere' or op == 'revokeWhere' then
  local all = redis.call('HGETALL', hash)
  for i = 1, #all, 2 do
    local rec = cjson.decode(all[i + 1])
    if matches(rec, payload) then
      if op == 'deleteWhere' then
        redis.call('HDEL', hash, all[i])
        del[#del + 1] = all[i]
      elseif isNull(rec.revokedAt) then
        rec.revokedAt = payload.at
        redis.call('HSET', hash, all[i], cjson.encode(rec))
        set[#set + 1] = rec
      end
    end
  end
  revoked = true
else
  return redis.error_reply('unknown op ' .. op)
end

if #set == 0 and #del == 0 then return 0 end
local seq = redis.call('INCR', seqKey)
local message = { s = seq, o = origin, k = kind, r = revoked }
if #set > 0 then message.set = set end
if #del > 0 then message.del = del end
redis.call('PUBLISH', channel, cjson.encode(message))
return seq
`;

/**
 * KEYS: sequence. ARGV: channel, origin, kind, ids (JSON array; empty: everything of the kind). A change that
 * carries no records (share links changed at Immich): published on the records channel under the next number
 * of the same sequence, so it is ordered with the writes and a missed one shows as a gap (which reloads, and a
 * reload announces every kind). Returns the sequence number used.
 */
export const ANNOUNCE_CHANGE = `
local ids = cjson.decode(ARGV[4])
local seq = redis.call('INCR', KEYS[1])
local message = { s = seq, o = ARGV[2], k = ARGV[3] }
-- An empty Lua table would be encoded as {}, not []: no field at all says "everything".
if #ids > 0 then message.ids = ids end
redis.call('PUBLISH', ARGV[1], cjson.encode(message))
return seq
`;

/**
 * KEYS: stream. ARGV: channel, origin, type, maxlen, payload (JSON). Appends to a capped stream (approximate
 * MAXLEN: Redis trims whole nodes, cheaply) and tells the other gateways. Returns the entry's id.
 */
export const APPEND_EVENT = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'o', ARGV[2], 'e', ARGV[5])
redis.call('PUBLISH', ARGV[1], cjson.encode({ t = ARGV[3], o = ARGV[2], id = id, e = cjson.decode(ARGV[5]) }))
return id
`;

/** KEYS: names hash. ARGV: channel, origin, tag, linkId ('' for none). Keeps a known Immich id over a later null. */
export const LEARN_LINK = `
local current = redis.call('HGET', KEYS[1], ARGV[3])
local linkId = ARGV[4]
if linkId == '' then
  if current then return 0 end
end
if current == linkId then return 0 end
redis.call('HSET', KEYS[1], ARGV[3], linkId)
redis.call('PUBLISH', ARGV[1], cjson.encode({ t = 'link-name', o = ARGV[2], tag = ARGV[3], linkId = linkId }))
return 1
`;
