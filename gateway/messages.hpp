#pragma once
// The message store: where a message lives from queued to read, shared by the workflow
// engine (which records messages), the delivery worker (which hands them to adapters),
// the messages API and the provider webhooks (which move their status forward).
//
// Keys:
//   herald:msg:{P}:ID          hash of a message whose id names its customer's partition P
//                              (partitioned_id(): a workflow's sends), as below
//   herald:msg:{CUSTOMER}:ID   hash: o (the fields a message never changes once recorded,
//                              packed: a JSON object of id, customer_id, template, created_at
//                              and, from a workflow, workflow, run and step), channel,
//                              provider, status, content, reason, timeline (JSON array of
//                              {status, at, detail}), attempts, provider_id, transactional
//                              ("1"), fallback (JSON array of {channel, provider, content}:
//                              the step's next channels, rendered), dead_letter (JSON
//                              {reason, at}) once given up; a consent notice also has notice
//                              ("1") and to (the address that wrote, which it answers). A
//                              new message leaves out reason, fallback and attempts while
//                              they are empty, none and 0. Earlier versions wrote each field
//                              of o on its own: readers go through read_command() and
//                              unpack_read(), which take either.
//   herald:mi:ID               the customer of message ID (GET /v1/messages/{id}), for an
//                              id that does not name its partition
//   herald:pid:PROVIDER:PID    "CUSTOMER\tID" of a provider's message id (status webhooks)
//   herald:pidearly:PROVIDER:PID  status callbacks that came before that record (an hour)
//   herald:deliveries          stream (id, customer) of messages to hand over
//   herald:dq:retry            sorted set "ID\tCUSTOMER" scored by when to try again (ms)
//   herald:dead                list of dead letters, newest first, bounded (JSON)
//   herald:rl:PROVIDER:CHANNEL the next free slot (ms) of a provider's shared rate limit
//
// Statuses and their order: queued, deferred < sending < sent < delivered < read;
// failed and suppressed end a message. Status callbacks only move a message forward
// (kAdvance); the delivery worker's own transitions go through kClaim and kFinish.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/keys.hpp"
#include "gateway/redis/redis_reply.hpp"

namespace herald::gateway::messages {

/// BASE (a letter and 16 to 24 lowercase hex digits) followed by "-p" and the partition of
/// the customer: an id that says where its message is, with no index entry to look it up.
std::string partitioned_id(std::string_view base, std::string_view customer_id);
/// The partition that an id of partitioned_id() names; nullopt for any other id (those of
/// POST /v1/messages, and those of earlier versions), found through herald:mi:ID.
std::optional<unsigned> id_partition(std::string_view message_id);
/// The base of an id of partitioned_id(); the id itself otherwise.
std::string_view id_base(std::string_view message_id);

/// The message's hash. A partitioned id's key names its partition, whose hash tag the
/// customer's keys share (same slot); any other id's key names its customer.
inline std::string key(std::string_view customer_id, std::string_view message_id) {
  if (auto p = id_partition(message_id)) {
    std::string k = "herald:msg:";
    k.append(keys::partition_tag(*p)).push_back(':');
    k.append(message_id);
    return k;
  }
  auto k = keys::customer_key("herald:msg:", customer_id, ":");
  k.append(message_id);
  return k;
}
inline std::string index_key(std::string_view message_id) {
  return "herald:mi:" + std::string(message_id);
}
inline std::string provider_key(std::string_view provider, std::string_view provider_id) {
  return "herald:pid:" + std::string(provider) + ":" + std::string(provider_id);
}
/// Status callbacks that arrived before the provider's id was recorded (a list of
/// {status, detail}, kept an hour): applied when the delivery worker records it.
inline std::string early_key(std::string_view provider, std::string_view provider_id) {
  return "herald:pidearly:" + std::string(provider) + ":" + std::string(provider_id);
}
inline std::string rate_key(std::string_view provider, std::string_view channel) {
  return "herald:rl:" + std::string(provider) + ":" + std::string(channel);
}
inline const std::string kDeliveries = "herald:deliveries";
inline const std::string kRetries = "herald:dq:retry";
inline const std::string kDeadLetters = "herald:dead";
inline constexpr long kDeadLetterLimit = 100000;

/// The hash field that holds the fields a message never changes once recorded (id,
/// customer_id, template, created_at, workflow, run, step), packed into one JSON object:
/// one field and value where there were seven. A workflow's message is then written with
/// 14 arguments instead of 26 (Redis parses, stores and copies to its append-only file
/// each one), and its hash takes about 300 bytes less memory.
inline const std::string kOriginField = "o";
/// Whether `field` is one of those kOriginField packs.
bool origin_field(std::string_view field);
/// The fields packed in a kOriginField value, as (name, value) pairs; none when it is not
/// a JSON object.
std::vector<std::pair<std::string, std::string>> origin_fields(std::string_view packed);
/// HMGET of `fields` of message hash `key`, and of kOriginField after them.
std::vector<std::string> read_command(const std::string& key, const std::vector<std::string>& fields);
/// Turns read_command()'s answer into the values of `fields` alone, in their order: a field
/// packed into kOriginField comes from there, unless the hash holds it on its own (as
/// earlier versions wrote it). Nil for a field the message does not have.
void unpack_read(redis::Reply& reply, const std::vector<std::string>& fields);

/// {"status", "at", "detail"} as JSON text, `at` now in RFC 3339 (ms).
std::string timeline_entry(std::string_view status, std::string_view detail);

/// A message to record, as the engine's `send` and queue_message() make them.
struct NewMessage {
  std::string id, customer_id;
  std::string channel;   // "" when none could be chosen
  std::string provider;
  std::string template_name;
  std::string workflow, run, step;  // "" outside a workflow (then not written)
  std::string status;    // queued, suppressed, failed
  std::string reason;    // why, when not queued
  std::string at;        // RFC 3339
  std::string content;   // the rendered section (JSON text)
  std::string fallback;  // JSON array of {channel, provider, content}
  std::string stats_key, stats_field;  // the counter kRecordMessage increments
  std::optional<bool> transactional;   // written when set
  std::vector<std::string> extra;      // more field/value pairs of the hash
};

/// The kRecordMessage command recording `m` once (its list entry, its delivery when
/// queued, its counter). Layout: KEYS (5) from index 3, ARGV from index 8, the hash's
/// field/value pairs from index 13.
std::vector<std::string> record_command(const NewMessage& m);

/// The same writes as record_command() without its check that the message is new, as
/// plain commands (HSET, the index's SET for an id that does not name its partition,
/// LPUSH, XADD, HINCRBY), for a caller that knows the id is new: a workflow run whose id
/// no earlier run had (Engine::send). A script call costs Redis several times its
/// commands. The HSET's field/value pairs start at index 2.
std::vector<std::vector<std::string>> record_new_commands(const NewMessage& m);

// Appends ARGV-given timeline entry `e` to the hash's timeline (order kept).
#define HERALD_LUA_APPEND_TIMELINE                                                   \
  "local function append(k, e)\n"                                                    \
  "  local tl = redis.call('HGET', k, 'timeline')\n"                                 \
  "  if not tl or tl == '' or tl == '[]' then tl = '[' .. e .. ']'\n"                \
  "  else tl = string.sub(tl, 1, -2) .. ',' .. e .. ']' end\n"                       \
  "  redis.call('HSET', k, 'timeline', tl)\n"                                        \
  "end\n"

/// Records a message once: nothing happens when it exists already.
/// KEYS: message hash, customer's message list, delivery stream, stats hash, and either
/// the message's index entry (an id that does not name its partition: written) or, for a
/// partitioned id, the hash its base id had in earlier versions (only checked: a message
/// recorded before an upgrade is not recorded again). ARGV: the message's list entry
/// (JSON), id, customer, stats field, "1" to queue a delivery, hash field/value pairs...
/// Returns 1 when recorded.
inline constexpr const char* kRecordMessage = R"lua(
if redis.call('EXISTS', KEYS[1], KEYS[5]) > 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
if string.sub(KEYS[5], 1, 10) == 'herald:mi:' then redis.call('SET', KEYS[5], ARGV[3]) end
redis.call('LPUSH', KEYS[2], ARGV[1])
if ARGV[5] == '1' then redis.call('XADD', KEYS[3], '*', 'id', ARGV[2], 'customer', ARGV[3]) end
redis.call('HINCRBY', KEYS[4], ARGV[4], 1)
return 1
)lua";

/// Takes a message for a hand-off: queued or deferred → sending, unless one of the
/// customer's hashed identifiers is on the suppression list, or the customer has opted
/// out of the message's channel since it was queued (→ suppressed: policies apply at
/// send time, and an explicit opt-out stops even transactional messages).
/// A consent notice (field notice = "1": the confirmation of an opt-out, the HELP answer)
/// passes the opt-out, which it answers, never the suppression list.
/// KEYS: message hash, suppression set, customer profile (consent in field cs), the
/// suppression reasons (gateway/suppression.hpp).
/// ARGV: sending entry, suppressed entry (suppression list), suppressed entry (consent),
/// channel, hashed identifiers... Returns "sending", "suppressed", or the status it found
/// (nothing done). A suppression-list refusal names the entry's reason ("suppression_list:
/// hard_bounce").
inline constexpr const char* kClaim = HERALD_LUA_APPEND_TIMELINE R"lua(
local s = redis.call('HGET', KEYS[1], 'status')
if s ~= 'queued' and s ~= 'deferred' then return s or 'missing' end
for i = 5, #ARGV do
  if redis.call('SISMEMBER', KEYS[2], ARGV[i]) == 1 then
    local reason = 'suppression_list'
    local why = redis.call('HGET', KEYS[4], ARGV[i])
    if why then
      local ok, w = pcall(cjson.decode, why)
      if ok and type(w) == 'table' and type(w['reason']) == 'string' then
        reason = reason .. ': ' .. w['reason']
      end
    end
    redis.call('HSET', KEYS[1], 'status', 'suppressed', 'reason', reason)
    local entry = cjson.decode(ARGV[2])
    entry['detail'] = reason
    append(KEYS[1], cjson.encode(entry))
    return 'suppressed'
  end
end
local cs = redis.call('HGET', KEYS[3], 'cs')
if cs and redis.call('HGET', KEYS[1], 'notice') ~= '1' then
  local ok, consent = pcall(cjson.decode, cs)
  if ok and type(consent) == 'table' then
    local c = consent[ARGV[4]]
    if type(c) == 'table' then c = c['status'] end
    if c == 'opted_out' then
      redis.call('HSET', KEYS[1], 'status', 'suppressed', 'reason', 'consent')
      append(KEYS[1], ARGV[3])
      return 'suppressed'
    end
  end
end
redis.call('HSET', KEYS[1], 'status', 'sending')
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
append(KEYS[1], ARGV[1])
return 'sending'
)lua";

/// Records the outcome of a hand-off, only while the message is `sending` (a status
/// callback that arrived first — delivered, read — is kept; the timeline still gets the
/// entry), with the re-queue (retry or fallback) and the dead letter in the same step, so
/// that a message never ends up neither finished nor queued.
/// KEYS: message hash, provider index key (or KEYS[1]: none), retry set, dead letters,
/// early status callbacks of that provider id (or KEYS[1]).
/// ARGV: status, timeline entry, provider index value, re-queue member ("": none), its
/// due time (ms), dead letter JSON ("": none), dead letter limit, field/value pairs...
/// Returns 0 when not applied, 1 when applied, 2 when applied and early callbacks wait.
inline constexpr const char* kFinish = HERALD_LUA_APPEND_TIMELINE R"lua(
local s = redis.call('HGET', KEYS[1], 'status')
if s ~= 'sending' and not (ARGV[1] == 'sent' and (s == 'delivered' or s == 'read')) then
  return 0
end
if #ARGV > 7 then redis.call('HSET', KEYS[1], unpack(ARGV, 8)) end
if s == 'sending' then redis.call('HSET', KEYS[1], 'status', ARGV[1]) end
append(KEYS[1], ARGV[2])
if KEYS[2] ~= KEYS[1] then redis.call('SET', KEYS[2], ARGV[3]) end
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4]) end
if ARGV[6] ~= '' then
  redis.call('LPUSH', KEYS[4], ARGV[6])
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[7]) - 1)
end
if KEYS[5] ~= KEYS[1] and redis.call('EXISTS', KEYS[5]) == 1 then return 2 end
return 1
)lua";

/// Moves a message's status forward (provider status callbacks), with the rule of
/// channels::webhooks::status_moves_forward: strictly forward by rank; nothing replaces
/// read or suppressed; failed replaces queued..sent but never delivered, read or another
/// failure; delivered and read replace failed (it arrived after all).
/// KEYS: message hash. ARGV: status, timeline entry, reason. Returns 1 when it moved.
inline constexpr const char* kAdvance = HERALD_LUA_APPEND_TIMELINE R"lua(
local rank = {queued = 0, deferred = 1, sending = 2, sent = 3, delivered = 4, read = 5,
              failed = 3, suppressed = 3}
local s = redis.call('HGET', KEYS[1], 'status')
if not s then return 0 end
local n = ARGV[1]
if rank[n] == nil or n == s or s == 'read' or s == 'suppressed' then return 0 end
if n == 'failed' or n == 'suppressed' then
  if (rank[s] or 0) >= 4 or s == 'failed' then return 0 end
elseif s == 'failed' then
  if n ~= 'delivered' and n ~= 'read' then return 0 end
elseif rank[n] <= (rank[s] or -1) then
  return 0
end
redis.call('HSET', KEYS[1], 'status', n)
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'reason', ARGV[3]) end
append(KEYS[1], ARGV[2])
return 1
)lua";

/// Queues a sent text once more as its template, after the provider reported it failed
/// as outside the customer-care window (WhatsApp 131047, WeChat 45015): only while the
/// message is `sent`, has a `template` section and has not been re-sent this way before.
/// KEYS: message hash, retry set. ARGV: timeline entry, retry member, due (ms).
/// Returns 1 when queued again.
inline constexpr const char* kAsTemplate = HERALD_LUA_APPEND_TIMELINE R"lua(
if redis.call('HGET', KEYS[1], 'status') ~= 'sent' then return 0 end
if redis.call('HGET', KEYS[1], 'as_template') then return 0 end
local ok, content = pcall(cjson.decode, redis.call('HGET', KEYS[1], 'content') or '')
if not ok or type(content) ~= 'table' or content['template'] == nil or content['text'] == nil then
  return 0
end
content['text'] = nil
redis.call('HSET', KEYS[1], 'status', 'queued', 'content', cjson.encode(content), 'as_template', '1',
           'attempts', '0')
append(KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1
)lua";

/// The next slot of a shared rate limit (GCRA on the server's clock): reserves it and
/// returns how many ms to wait for it. KEYS: rate key. ARGV: emission interval (µs).
inline constexpr const char* kReserveRate = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.floor((tat + interval - now) / 1000) + 1000)
return math.floor((tat - now) / 1000)
)lua";

/// Moves due retries back to the delivery stream. KEYS: retry set, delivery stream.
/// ARGV: now (ms), max count. Returns how many moved.
inline constexpr const char* kMoveDue = R"lua(
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  local tab = string.find(m, '\t', 1, true)
  redis.call('XADD', KEYS[2], '*', 'id', string.sub(m, 1, tab - 1), 'customer', string.sub(m, tab + 1))
  redis.call('ZREM', KEYS[1], m)
end
return #due
)lua";

}  // namespace herald::gateway::messages
