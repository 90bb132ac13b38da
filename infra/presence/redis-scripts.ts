/**
 * The Lua scripts of the Redis presence bus (redis.ts holds the key layout and the bus). Each runs
 * atomically and publishes the change it makes itself, so exactly one "online" and one "offline" go
 * out per transition, whichever process causes it.
 */
import type { Redis } from 'ioredis';

// Shared by the scripts: the Redis clock (every process judges expiry by the same clock), and
// whether any process in a user's set is alive.
const LIB = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function alive_in(nodes_key, user_key, now, except)
  for _, n in ipairs(redis.call('SMEMBERS', user_key)) do
    if n ~= except then
      local exp = redis.call('ZSCORE', nodes_key, n)
      if exp and tonumber(exp) > now then return true end
    end
  end
  return false
end
`;

// KEYS: nodes, node:<id>, user:<u>. ARGV: node id, user id, channel, set ttl ms.
const ONLINE_LUA = `${LIB}
local now = now_ms()
local before = alive_in(KEYS[1], KEYS[3], now, ARGV[1])
local added = redis.call('SADD', KEYS[3], ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if added == 1 and not before then
  redis.call('PUBLISH', ARGV[3], '{"t":"p","on":1,"u":' .. cjson.encode(ARGV[2]) .. '}')
  return 1
end
return 0
`;

// KEYS: nodes, node:<id>, user:<u>, seen:<u>. ARGV: node id, user id, channel, last-seen ttl ms,
// how long ago the user's last socket closed (last seen then, not when the grace ended).
const OFFLINE_LUA = `${LIB}
local now = now_ms()
redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('SREM', KEYS[3], ARGV[1]) == 0 then return 0 end
if alive_in(KEYS[1], KEYS[3], now, nil) then return 0 end
local seen = string.format('%d', now - tonumber(ARGV[5]))
redis.call('SET', KEYS[4], seen, 'PX', ARGV[4])
redis.call('PUBLISH', ARGV[3], '{"t":"p","on":0,"seen":' .. seen .. ',"u":' .. cjson.encode(ARGV[2]) .. '}')
return 1
`;

// KEYS: nodes, beat, node:<id>. ARGV: node id, ttl ms, set ttl ms.
// 1: the process was registered; 0: it was not (first beat, reaped, or Redis lost its data).
const BEAT_LUA = `${LIB}
local now = now_ms()
local known = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], string.format('%d', now))
redis.call('PEXPIRE', KEYS[3], ARGV[3])
if known then return 1 end
return 0
`;

// KEYS: nodes, beat. ARGV: key prefix (…presence:), channel, last-seen ttl ms, max nodes per call.
// Reaps expired processes; returns how many.
const REAP_LUA = `${LIB}
local now = now_ms()
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
for _, node in ipairs(dead) do
  local beat = redis.call('HGET', KEYS[2], node) or string.format('%d', now)
  local node_key = ARGV[1] .. 'node:' .. node
  for _, u in ipairs(redis.call('SMEMBERS', node_key)) do
    local user_key = ARGV[1] .. 'user:' .. u
    redis.call('SREM', user_key, node)
    if not alive_in(KEYS[1], user_key, now, nil) then
      redis.call('SET', ARGV[1] .. 'seen:' .. u, beat, 'PX', ARGV[3])
      redis.call('PUBLISH', ARGV[2], '{"t":"p","on":0,"seen":' .. beat .. ',"u":' .. cjson.encode(u) .. '}')
    end
  end
  redis.call('DEL', node_key)
  redis.call('ZREM', KEYS[1], node)
  redis.call('HDEL', KEYS[2], node)
end
return #dead
`;

// KEYS: nodes, beat. ARGV: key prefix, then user ids. Returns online (0/1) and last-seen ('' if
// unknown) per user; a user whose processes all expired but are not reaped yet was last seen at
// the latest of their final heartbeats.
const QUERY_LUA = `${LIB}
local now = now_ms()
local out = {}
for i = 2, #ARGV do
  local user_key = ARGV[1] .. 'user:' .. ARGV[i]
  local on = 0
  local seen = tonumber(redis.call('GET', ARGV[1] .. 'seen:' .. ARGV[i]) or '0')
  for _, n in ipairs(redis.call('SMEMBERS', user_key)) do
    local exp = redis.call('ZSCORE', KEYS[1], n)
    if exp and tonumber(exp) > now then
      on = 1
    else
      local beat = tonumber(redis.call('HGET', KEYS[2], n) or '0')
      if beat > seen then seen = beat end
    end
  end
  out[#out + 1] = on
  out[#out + 1] = seen > 0 and string.format('%d', seen) or ''
end
return out
`;

// KEYS: nodes, beat. ARGV: node id, grace ms. A process leaving on purpose: it expires after the grace.
const LEAVE_LUA = `${LIB}
local now = now_ms()
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], string.format('%d', now))
return 1
`;

/** The scripts as ioredis attaches them (defineCommand); typed here because ioredis cannot know them. */
export interface Scripts {
  prOnline(nodes: string, node: string, user: string, nodeId: string, userId: string, channel: string, setTtl: string): Promise<number>;
  prOffline(nodes: string, node: string, user: string, seen: string, nodeId: string, userId: string, channel: string, seenTtl: string, agoMs: string): Promise<number>;
  prBeat(nodes: string, beat: string, node: string, nodeId: string, ttl: string, setTtl: string): Promise<number>;
  prReap(nodes: string, beat: string, prefix: string, channel: string, seenTtl: string, max: string): Promise<number>;
  prQuery(nodes: string, beat: string, prefix: string, ...users: string[]): Promise<Array<number | string>>;
  prLeave(nodes: string, beat: string, nodeId: string, grace: string): Promise<number>;
}

/** Attaches the scripts to the client as commands (ioredis defineCommand), typed as Scripts. */
export function definePresenceScripts(redis: Redis): Redis & Scripts {
  redis.defineCommand('prOnline', { numberOfKeys: 3, lua: ONLINE_LUA });
  redis.defineCommand('prOffline', { numberOfKeys: 4, lua: OFFLINE_LUA });
  redis.defineCommand('prBeat', { numberOfKeys: 3, lua: BEAT_LUA });
  redis.defineCommand('prReap', { numberOfKeys: 2, lua: REAP_LUA });
  redis.defineCommand('prQuery', { numberOfKeys: 2, lua: QUERY_LUA });
  redis.defineCommand('prLeave', { numberOfKeys: 2, lua: LEAVE_LUA });
  return redis as Redis & Scripts;
}
