/**
 * The Lua scripts of the Redis last-messages view (redis.ts holds the key layout). Every write is a
 * script, so the revision guard, the add and the trim happen atomically; a batch of events is one call
 * of one script, with the checkpoint saved in the same atomic step.
 */
import type { Redis } from 'ioredis';
import type { ApplyResult, ChatChange } from '../../projections/ports/last-messages.js';

// An edit or delete (member '~' + patch JSON, from patchMember): changes the held message with that
// id in place, as patchMessage in projections/ports/last-messages.ts does; a message the view no longer holds is left alone.
const PATCH_LUA_FN = `
local function patchHeld(messagesKey, spec)
  local ok, p = pcall(cjson.decode, string.sub(spec, 2))
  if not ok or type(p) ~= 'table' then return end
  local held = redis.call('ZRANGE', messagesKey, 0, -1, 'WITHSCORES')
  for j = 1, #held, 2 do
    local okm, m = pcall(cjson.decode, held[j])
    if okm and type(m) == 'table' and m.messageId == p.messageId then
      if m.deleted then return end
      if p.deleted then
        m.body = ''
        m.deleted = true
        m.editedAt = nil
      else
        m.body = p.body
        m.editedAt = p.editedAt
      end
      redis.call('ZREM', messagesKey, held[j])
      redis.call('ZADD', messagesKey, held[j + 1], cjson.encode(m))
      return
    end
  end
end
`;

// KEYS: last, messages. ARGV: revision, member JSON ('' for ChatStarted, '~' + patch for an edit or delete), capacity.
const APPLY_LUA = `${PATCH_LUA_FN}
local rev = tonumber(ARGV[1])
local last = redis.call('GET', KEYS[1])
if last then
  last = tonumber(last)
  if rev <= last then return 'duplicate' end
  if rev ~= last + 1 then return 'gap' end
elseif rev > 1 then
  return 'gap'
end
if string.sub(ARGV[2], 1, 1) == '~' then
  patchHeld(KEYS[2], ARGV[2])
elseif ARGV[2] ~= '' then
  redis.call('ZADD', KEYS[2], rev, ARGV[2])
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[3]) + 1))
end
redis.call('SET', KEYS[1], ARGV[1])
return 'applied'
`;

// The batch form of APPLY_LUA, same guard per event, applied in order (an event sees the ones before
// it in the batch). KEYS: epoch, checkpoint, then last/messages per event. ARGV: capacity, '1' to save
// progress or '0', progress epoch, progress checkpoint, then revision/member per event.
// Returns one result per event. Each touched chat is trimmed once, after its adds.
const APPLY_BATCH_LUA = `${PATCH_LUA_FN}
local cap = tonumber(ARGV[1])
local out = {}
local touched = {}
local n = (#KEYS - 2) / 2
for i = 1, n do
  local lastKey = KEYS[1 + 2 * i]
  local rev = tonumber(ARGV[3 + 2 * i])
  local member = ARGV[4 + 2 * i]
  local last = redis.call('GET', lastKey)
  local result = 'applied'
  if last then
    last = tonumber(last)
    if rev <= last then result = 'duplicate' elseif rev ~= last + 1 then result = 'gap' end
  elseif rev > 1 then
    result = 'gap'
  end
  if result == 'applied' then
    if string.sub(member, 1, 1) == '~' then
      patchHeld(KEYS[2 + 2 * i], member)
    elseif member ~= '' then
      local messagesKey = KEYS[2 + 2 * i]
      redis.call('ZADD', messagesKey, rev, member)
      touched[messagesKey] = true
    end
    redis.call('SET', lastKey, ARGV[3 + 2 * i])
  end
  out[i] = result
end
for messagesKey in pairs(touched) do
  redis.call('ZREMRANGEBYRANK', messagesKey, 0, -(cap + 1))
end
if ARGV[2] == '1' and redis.call('GET', KEYS[1]) == ARGV[3] then
  redis.call('SET', KEYS[2], ARGV[4])
end
return out
`;

// KEYS: last, messages. ARGV: lastRevision, then score/member pairs.
const REPLACE_LUA = `
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 'stale' end
redis.call('DEL', KEYS[2])
for i = 2, #ARGV, 2 do
  redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('SET', KEYS[1], ARGV[1])
return 'applied'
`;

// KEYS: state, epoch, last, messages. ARGV: mode, min, max, limit.
// One script, so state, epoch, last revision and messages are one consistent snapshot.
const READ_LUA = `
local state = redis.call('GET', KEYS[1])
local epoch = redis.call('GET', KEYS[2])
if state ~= 'ready' or not epoch then return {'not-ready'} end
local last = redis.call('GET', KEYS[3])
if not last then return {'unknown'} end
-- The oldest held message's revision ('' when none): what isComplete needs besides the page.
local oldest = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
local lowest = ''
if #oldest == 2 then lowest = oldest[2] end
local page
if ARGV[1] == 'oldest' then
  page = redis.call('ZRANGEBYSCORE', KEYS[4], ARGV[2], ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
else
  page = redis.call('ZREVRANGEBYSCORE', KEYS[4], ARGV[3], ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
end
local out = {'ok', epoch, last, lowest}
for i = 1, #page do out[#out + 1] = page[i] end
return out
`;

// KEYS: epoch, state, checkpoint. ARGV: epoch, checkpoint. Compare-and-set on the epoch.
const FINISH_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('SET', KEYS[2], 'ready')
return 1
`;

// KEYS: epoch, state, checkpoint. ARGV: epoch, checkpoint.
const HEARTBEAT_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= 'ready' then return 0 end
redis.call('SET', KEYS[3], ARGV[2])
return 1
`;

// KEYS: epoch, state. ARGV: epoch. Ready -> rebuilding under the same epoch; the checkpoint stays.
const SUSPEND_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= 'ready' then return 0 end
redis.call('SET', KEYS[2], 'rebuilding')
return 1
`;

/** What the apply scripts take for a change: the message JSON, '~' + the patch JSON, or '' for ChatStarted. */
export const memberOf = (change: ChatChange): string =>
  change.kind === 'message' ? JSON.stringify(change.message) : change.kind === 'patch' ? `~${JSON.stringify(change.patch)}` : '';

/** The scripts as ioredis attaches them (defineCommand); typed here because ioredis cannot know them. */
export interface Scripts {
  lmApply(last: string, messages: string, rev: string, member: string, capacity: string): Promise<string>;
  /** numberOfKeys first: the script takes a variable number of keys. */
  lmApplyBatch(numberOfKeys: number, ...keysThenArgs: string[]): Promise<unknown>;
  lmReplace(last: string, messages: string, ...args: string[]): Promise<string>;
  lmRead(state: string, epoch: string, last: string, messages: string, mode: string, min: string, max: string, limit: string): Promise<string[]>;
  lmFinish(epoch: string, state: string, checkpoint: string, epochArg: string, checkpointArg: string): Promise<number>;
  lmHeartbeat(epoch: string, state: string, checkpoint: string, epochArg: string, checkpointArg: string): Promise<number>;
  lmSuspend(epoch: string, state: string, epochArg: string): Promise<number>;
}

/** Attaches the scripts to the client as commands (ioredis defineCommand), typed as Scripts. */
export function defineViewScripts(redis: Redis): Redis & Scripts {
  redis.defineCommand('lmApply', { lua: APPLY_LUA, numberOfKeys: 2 });
  redis.defineCommand('lmApplyBatch', { lua: APPLY_BATCH_LUA });
  redis.defineCommand('lmReplace', { lua: REPLACE_LUA, numberOfKeys: 2 });
  redis.defineCommand('lmRead', { lua: READ_LUA, numberOfKeys: 4, readOnly: true });
  redis.defineCommand('lmFinish', { lua: FINISH_LUA, numberOfKeys: 3 });
  redis.defineCommand('lmHeartbeat', { lua: HEARTBEAT_LUA, numberOfKeys: 3 });
  redis.defineCommand('lmSuspend', { lua: SUSPEND_LUA, numberOfKeys: 2 });
  return redis as Redis & Scripts;
}

export function asApplyResult(reply: unknown): ApplyResult {
  if (reply === 'applied' || reply === 'duplicate' || reply === 'gap') return reply;
  throw new Error(`unexpected reply from the last-messages apply script: ${String(reply)}`);
}
