#include <utility>

#include "gateway/conversations.hpp"

#include <openssl/rand.h>

#include <atomic>
#include <cctype>
#include <chrono>

#include "gateway/ingest/timestamp.hpp"
#include "gateway/log.hpp"
#include "gateway/messages.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/redis/script.hpp"

namespace herald::gateway::conversations {
namespace asio = boost::asio;

namespace {

constexpr int kAssignBatch = 32;  // waiting escalations looked at by one pass

// KEYS[2..5] of every script are the status indexes, in kStatuses order.
const std::string kLuaReindex = R"lua(
local function reindex(id, st, score)
  local names = {'open', 'escalated', 'assigned', 'resolved'}
  for i, s in ipairs(names) do
    if s == st then redis.call('ZADD', KEYS[i + 1], score, id)
    else redis.call('ZREM', KEYS[i + 1], id) end
  end
end
)lua";

// Every transition is published with the conversation as it is after it, in the same
// script: the stream cannot miss a transition nor see one that did not happen.
const std::string kLuaPublish = R"lua(
local function publish(kind, h)
  local f = redis.call('HGETALL', h)
  redis.call('XADD', ')lua" + std::string(kEventsKey) + R"lua(', 'MAXLEN', '~', ')lua" +
                                std::to_string(kEventsLimit) + R"lua(', '*', 'type', kind, unpack(f))
end
)lua";

// Auto-assignment: the next agent after the last one chosen (by name, wrapping) among
// those present on the stream, skipping those at `max` assigned conversations (and
// `skip`, the agent who just released it). The per-agent sets hold conversation hash keys
// and are checked as they are read (an erased or moved conversation no longer counts).
const std::string kLuaAssign = R"lua(
local function auto_assign(id, h, now_ms, now_text, max, skip)
  local presence = ')lua" + std::string(kPresenceKey) + R"lua('
  redis.call('ZREMRANGEBYSCORE', presence, '-inf', '(' .. now_ms)
  local seen, names = {}, {}
  for _, m in ipairs(redis.call('ZRANGE', presence, 0, -1)) do
    local name = string.match(m, '^(.*)\t[^\t]*$') or m
    if name ~= '' and name ~= skip and not seen[name] then
      seen[name] = true
      names[#names + 1] = name
    end
  end
  if #names == 0 then return nil end
  table.sort(names)
  local last = redis.call('GET', ')lua" + std::string(kRoundRobinKey) + R"lua(') or ''
  local first = 1
  for i, n in ipairs(names) do
    if n > last then
      first = i
      break
    end
  end
  for k = 0, #names - 1 do
    local name = names[((first - 1 + k) % #names) + 1]
    local set = ')lua" + std::string(kAgentLoadPrefix) + R"lua(' .. name
    local held = 0
    for _, other in ipairs(redis.call('SMEMBERS', set)) do
      local s = redis.call('HMGET', other, 'status', 'assignee')
      if s[1] == 'assigned' and s[2] == name then held = held + 1
      else redis.call('SREM', set, other) end
    end
    if held < max then
      redis.call('HSET', h, 'status', 'assigned', 'assignee', name, 'updated_at', now_text,
                 'updated_ms', now_ms)
      reindex(id, 'assigned', now_ms)
      redis.call('SADD', set, h)
      redis.call('SET', ')lua" + std::string(kRoundRobinKey) + R"lua(', name)
      publish('claimed', h)
      return name
    end
  end
  return nil
end

-- open -> escalated (the first escalation is kept); then auto-assignment when on.
-- Returns the status after, or '' (missing or resolved).
local function escalate(h, esc, now_ms, now_text, auto, max)
  local st = redis.call('HGET', h, 'status')
  if not st or st == 'resolved' then return '' end
  local id = redis.call('HGET', h, 'id')
  local e = redis.call('HGET', h, 'escalation')
  if not e or e == '' then redis.call('HSET', h, 'escalation', esc) end
  local changed = st == 'open'
  if changed then st = 'escalated' end
  redis.call('HSET', h, 'status', st, 'updated_at', now_text, 'updated_ms', now_ms)
  reindex(id, st, now_ms)
  if changed then publish('escalated', h) end
  if st == 'escalated' and auto == '1' then
    if auto_assign(id, h, now_ms, now_text, tonumber(max)) then st = 'assigned' end
  end
  return st
end
)lua";

// KEYS: open pointer, status indexes (4), index key of the candidate id.
// ARGV: key prefix, candidate id, channel, customer, thread item, now ms, now text, limit.
// Returns {id, started (0/1), status}.
const redis::Script kInbound(kLuaReindex + kLuaPublish + R"lua(
local id = redis.call('GET', KEYS[1])
local started = 0
if id then
  local st = redis.call('HGET', ARGV[1] .. id, 'status')
  if not st or st == 'resolved' then id = false end
end
if not id then
  id = ARGV[2]
  started = 1
  redis.call('HSET', ARGV[1] .. id, 'id', id, 'customer_id', ARGV[4], 'channel', ARGV[3],
             'status', 'open', 'assignee', '', 'escalation', '', 'created_at', ARGV[7])
  redis.call('SET', KEYS[1], id)
  redis.call('SET', KEYS[6], ARGV[4])
  redis.call('SADD', ARGV[1] .. 'all', id)
end
local h = ARGV[1] .. id
redis.call('RPUSH', h .. ':th', ARGV[5])
redis.call('LTRIM', h .. ':th', -tonumber(ARGV[8]), -1)
redis.call('HSET', h, 'updated_at', ARGV[7], 'updated_ms', ARGV[6])
local st = redis.call('HGET', h, 'status')
reindex(id, st, ARGV[6])
publish('inbound', h)
return {id, started, st}
)lua");

// KEYS: hash, status indexes (4), outbound set, thread.
// ARGV: message id, thread item, now ms, now text, limit, agent. Returns 1 when recorded.
// A message recorded already (the delivery worker may join it to the thread before the
// agent's reply route records it) gets the agent's item in place of the plain one.
const redis::Script kOutbound(kLuaReindex + R"lua(
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return 0 end
if redis.call('SADD', KEYS[6], ARGV[1]) == 0 then
  if ARGV[6] ~= '' then
    local from = math.max(0, redis.call('LLEN', KEYS[7]) - 50)
    for i, it in ipairs(redis.call('LRANGE', KEYS[7], from, -1)) do
      local ok, v = pcall(cjson.decode, it)
      if ok and type(v) == 'table' and v['direction'] == 'outbound' and v['message_id'] == ARGV[1] then
        redis.call('LSET', KEYS[7], from + i - 1, ARGV[2])
        break
      end
    end
  end
  return 0
end
redis.call('RPUSH', KEYS[7], ARGV[2])
redis.call('LTRIM', KEYS[7], -tonumber(ARGV[5]), -1)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[4], 'updated_ms', ARGV[3])
reindex(redis.call('HGET', KEYS[1], 'id'), st, ARGV[3])
return 1
)lua");

// KEYS: the customer's open pointer on the channel, status indexes (4).
// ARGV: key prefix, message id, thread item, now ms, now text, limit.
// Returns 1 when the message joined the open conversation's thread.
const redis::Script kJoinOutbound(kLuaReindex + R"lua(
local id = redis.call('GET', KEYS[1])
if not id then return 0 end
local h = ARGV[1] .. id
local st = redis.call('HGET', h, 'status')
if not st or st == 'resolved' then return 0 end
if redis.call('SADD', h .. ':om', ARGV[2]) == 0 then return 0 end
redis.call('RPUSH', h .. ':th', ARGV[3])
redis.call('LTRIM', h .. ':th', -tonumber(ARGV[6]), -1)
redis.call('HSET', h, 'updated_at', ARGV[5], 'updated_ms', ARGV[4])
reindex(id, st, ARGV[4])
return 1
)lua");

// KEYS: hash, status indexes (4). ARGV: escalation JSON, now ms, now text, auto-assign
// ("1"), max per agent. Returns the status after, or '' (missing or resolved).
const redis::Script kEscalate(kLuaReindex + kLuaPublish + kLuaAssign + R"lua(
return escalate(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
)lua");

// Claim, release and resolve answer {kind, holder, status}.
// KEYS: hash, status indexes (4). ARGV: agent, now ms, now text.
const redis::Script kClaim(kLuaReindex + kLuaPublish + R"lua(
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {'missing', '', ''} end
if st == 'resolved' then return {'resolved', '', st} end
local a = redis.call('HGET', KEYS[1], 'assignee') or ''
if st == 'assigned' and a ~= '' then return {'held', a, st} end
redis.call('HSET', KEYS[1], 'status', 'assigned', 'assignee', ARGV[1], 'updated_at', ARGV[3],
           'updated_ms', ARGV[2])
reindex(redis.call('HGET', KEYS[1], 'id'), 'assigned', ARGV[2])
redis.call('SADD', ')lua" + std::string(kAgentLoadPrefix) + R"lua(' .. ARGV[1], KEYS[1])
publish('claimed', KEYS[1])
return {'done', ARGV[1], 'assigned'}
)lua");

// A waiting escalation, auto-assigned if an agent has room now.
// KEYS: hash, status indexes (4). ARGV: now ms, now text, max per agent, agent to skip.
// Returns the assignee, '' when no agent has room, or '-' when it no longer waits.
const redis::Script kAssignWaiting(kLuaReindex + kLuaPublish + kLuaAssign + R"lua(
if redis.call('HGET', KEYS[1], 'status') ~= 'escalated' then return '-' end
local id = redis.call('HGET', KEYS[1], 'id')
return auto_assign(id, KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]) or ''
)lua");

// KEYS: hash, status indexes (4). ARGV: agent, now ms, now text, "1" to force (admin).
const redis::Script kRelease(kLuaReindex + kLuaPublish + R"lua(
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {'missing', '', ''} end
if st == 'resolved' then return {'resolved', '', st} end
local a = redis.call('HGET', KEYS[1], 'assignee') or ''
if st ~= 'assigned' or a == '' then return {'notheld', '', st} end
if a ~= ARGV[1] and ARGV[4] ~= '1' then return {'held', a, st} end
local e = redis.call('HGET', KEYS[1], 'escalation')
local next = (e and e ~= '') and 'escalated' or 'open'
redis.call('HSET', KEYS[1], 'status', next, 'assignee', '', 'updated_at', ARGV[3], 'updated_ms', ARGV[2])
reindex(redis.call('HGET', KEYS[1], 'id'), next, ARGV[2])
redis.call('SREM', ')lua" + std::string(kAgentLoadPrefix) + R"lua(' .. a, KEYS[1])
publish('released', KEYS[1])
return {'done', '', next, a}
)lua");

// KEYS: hash, status indexes (4). ARGV: agent, now ms, now text, key prefix.
// The open pointer goes, so that the next inbound message starts a new conversation.
const redis::Script kResolve(kLuaReindex + kLuaPublish + R"lua(
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {'missing', '', ''} end
local a = redis.call('HGET', KEYS[1], 'assignee') or ''
if st == 'resolved' then return {'done', a, st} end
if st == 'assigned' and a ~= '' and a ~= ARGV[1] then return {'held', a, st} end
local id = redis.call('HGET', KEYS[1], 'id')
redis.call('HSET', KEYS[1], 'status', 'resolved', 'resolved_by', ARGV[1], 'updated_at', ARGV[3],
           'updated_ms', ARGV[2])
local open = ARGV[4] .. 'open:' .. redis.call('HGET', KEYS[1], 'channel')
if redis.call('GET', open) == id then redis.call('DEL', open) end
reindex(id, 'resolved', ARGV[2])
if a ~= '' then redis.call('SREM', ')lua" + std::string(kAgentLoadPrefix) + R"lua(' .. a, KEYS[1]) end
publish('resolved', KEYS[1])
return {'done', a, 'resolved'}
)lua");

// The escalate step of a workflow (run inside the engine's MULTI/EXEC, so as EVAL):
// opens the conversation if the customer has none on the channel, then escalates it.
// The channel: that of the run's latest message on a channel of ARGV[11..] (the channels
// the customer has an address for, in order of preference), else the first of those.
// KEYS: the customer's message list, status indexes (4).
// ARGV: key prefix, customer, candidate id, escalation JSON, now ms, now text, auto-assign,
// max per agent, run id, (unused), channels... Returns {id, status}, or {} without a channel.
const std::string kOpenEscalateSource = kLuaReindex + kLuaPublish + kLuaAssign + R"lua(
local allowed = {}
for i = 11, #ARGV do allowed[ARGV[i]] = true end
local channel = nil
for _, it in ipairs(redis.call('LRANGE', KEYS[1], 0, 99)) do
  local ok, m = pcall(cjson.decode, it)
  if ok and type(m) == 'table' and m['run'] == ARGV[9] and type(m['channel']) == 'string'
     and allowed[m['channel']] then
    channel = m['channel']
    break
  end
end
if not channel then channel = ARGV[11] end
if not channel then return {} end
local open = ARGV[1] .. 'open:' .. channel
local id = redis.call('GET', open)
if id then
  local st = redis.call('HGET', ARGV[1] .. id, 'status')
  if not st or st == 'resolved' then id = false end
end
if not id then
  id = ARGV[3]
  redis.call('HSET', ARGV[1] .. id, 'id', id, 'customer_id', ARGV[2], 'channel', channel,
             'status', 'open', 'assignee', '', 'escalation', '', 'created_at', ARGV[6],
             'updated_at', ARGV[6], 'updated_ms', ARGV[5])
  redis.call('SET', open, id)
  redis.call('SET', 'herald:cvi:' .. id, ARGV[2])
  redis.call('SADD', ARGV[1] .. 'all', id)
end
local st = escalate(ARGV[1] .. id, ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
return {id, st}
)lua";

std::atomic<bool> g_auto_assign{false};
std::atomic<unsigned> g_max_per_agent{10};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string rfc3339(int64_t ms) {
  return ingest::format_rfc3339(ingest::Timestamp(std::chrono::milliseconds(ms)));
}

std::string new_id() {
  unsigned char bytes[10];
  RAND_bytes(bytes, sizeof bytes);
  std::string id = "cv";
  for (unsigned char b : bytes) {
    char h[3];
    std::snprintf(h, sizeof h, "%02x", b);
    id += h;
  }
  return id;
}

std::vector<std::string> script_keys(const std::string& first) {
  std::vector<std::string> ks{first};
  for (const auto& s : kStatuses) ks.push_back(status_key(s));
  return ks;
}

void check(const redis::Reply& reply) {
  if (reply.is_error()) throw redis::CommandError(reply.str);
}

Transition transition_of(const redis::Reply& reply) {
  check(reply);
  Transition t;
  const auto& e = reply.elements;
  std::string kind = e.size() > 0 ? e[0].str : "missing";
  if (e.size() > 1) t.holder = e[1].str;
  if (e.size() > 2) t.status = e[2].str;
  if (kind == "done")
    t.kind = Transition::Kind::kDone;
  else if (kind == "held")
    t.kind = Transition::Kind::kHeld;
  else if (kind == "notheld")
    t.kind = Transition::Kind::kNotHeld;
  else if (kind == "resolved")
    t.kind = Transition::Kind::kResolved;
  else
    t.kind = Transition::Kind::kMissing;
  return t;
}

}  // namespace

std::optional<Conversation> from_hash(const redis::Reply& reply) {
  if (reply.is_error() || reply.elements.empty()) return std::nullopt;
  Conversation c;
  for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    const auto& name = reply.elements[i].str;
    const auto& value = reply.elements[i + 1].str;
    if (name == "id")
      c.id = value;
    else if (name == "customer_id")
      c.customer_id = value;
    else if (name == "channel")
      c.channel = value;
    else if (name == "status")
      c.status = value;
    else if (name == "assignee")
      c.assignee = value;
    else if (name == "created_at")
      c.created_at = value;
    else if (name == "updated_at")
      c.updated_at = value;
    else if (name == "escalation" && !value.empty()) {
      auto e = OJson::parse(value, nullptr, false);
      if (!e.is_discarded()) c.escalation = std::move(e);
    }
  }
  if (c.id.empty()) return std::nullopt;
  return c;
}

OJson Conversation::to_json() const {
  OJson out = OJson::object();
  out["id"] = id;
  out["customer_id"] = customer_id;
  out["channel"] = channel;
  out["status"] = status;
  out["assignee"] = assignee.empty() ? OJson() : OJson(assignee);
  out["escalation"] = escalation;
  out["created_at"] = created_at;
  out["updated_at"] = updated_at;
  return out;
}

asio::awaitable<Recorded> record_inbound(redis::Client& redis, const std::string& customer,
                                         const std::string& channel, const std::string& text,
                                         const std::string& provider_message_id, int64_t at_ms) {
  const auto candidate = new_id();
  auto ks = script_keys(open_key(customer, channel));
  ks.push_back(index_key(candidate));
  OJson item = OJson::object();
  item["direction"] = "inbound";
  item["text"] = text;
  item["provider_message_id"] = provider_message_id;
  item["at"] = rfc3339(at_ms);
  const auto now = now_ms();
  std::vector<std::string> as{
      prefix(customer), candidate,           channel,      customer,
      item.dump(),      std::to_string(now), rfc3339(now), std::to_string(kThreadLimit)};
  auto reply = co_await kInbound.run(redis, ks, as);
  check(reply);
  Recorded r;
  if (reply.elements.size() >= 3) {
    r.id = reply.elements[0].str;
    r.started = reply.elements[1].as_integer().value_or(0) == 1;
    r.status = reply.elements[2].str;
  }
  co_return r;
}

asio::awaitable<void> record_outbound(redis::Client& redis, const std::string& customer,
                                      const std::string& id, const std::string& message_id,
                                      const std::string& agent) {
  auto ks = script_keys(key(customer, id));
  ks.push_back(key(customer, id) + ":om");
  ks.push_back(thread_key(customer, id));
  OJson item = OJson::object();
  item["direction"] = "outbound";
  item["message_id"] = message_id;
  item["agent"] = agent.empty() ? OJson() : OJson(agent);
  const auto now = now_ms();
  item["at"] = rfc3339(now);
  std::vector<std::string> as{message_id, item.dump(), std::to_string(now), rfc3339(now),
                              std::to_string(kThreadLimit), agent};
  auto reply = co_await kOutbound.run(redis, ks, as);
  check(reply);
}

asio::awaitable<std::optional<std::string>> escalate(redis::Client& redis,
                                                     const std::string& customer,
                                                     const std::string& id, OJson escalation) {
  const auto now = now_ms();
  if (!escalation.contains("at")) escalation["at"] = rfc3339(now);
  auto ks = script_keys(key(customer, id));
  std::vector<std::string> as{escalation.dump(), std::to_string(now), rfc3339(now),
                              g_auto_assign.load() ? "1" : "0",
                              std::to_string(g_max_per_agent.load())};
  auto reply = co_await kEscalate.run(redis, ks, as);
  check(reply);
  if (reply.str.empty()) co_return std::nullopt;
  co_return reply.str;
}

asio::awaitable<Transition> claim(redis::Client& redis, const std::string& customer,
                                  const std::string& id, const std::string& agent) {
  const auto now = now_ms();
  auto ks = script_keys(key(customer, id));
  std::vector<std::string> as{agent, std::to_string(now), rfc3339(now)};
  auto reply = co_await kClaim.run(redis, ks, as);
  co_return transition_of(reply);
}

asio::awaitable<Transition> release(redis::Client& redis, const std::string& customer,
                                    const std::string& id, const std::string& agent, bool force) {
  const auto now = now_ms();
  auto ks = script_keys(key(customer, id));
  std::vector<std::string> as{agent, std::to_string(now), rfc3339(now), force ? "1" : "0"};
  auto reply = co_await kRelease.run(redis, ks, as);
  auto t = transition_of(reply);
  // The holder has room again, and the conversation may wait again (not for them).
  if (t.kind == Transition::Kind::kDone && reply.elements.size() > 3)
    co_await assign_waiting(redis, id, reply.elements[3].str);
  co_return t;
}

asio::awaitable<std::size_t> assign_waiting(redis::Client& redis, const std::string& released,
                                            const std::string& releaser) {
  if (!g_auto_assign.load()) co_return 0;
  // Oldest first: the queue is ordered by the time each conversation began to wait.
  auto waiting = co_await redis.command("ZRANGE", status_key("escalated"), "0",
                                        std::to_string(kAssignBatch - 1));
  std::size_t assigned = 0;
  for (const auto& item : waiting.elements) {
    auto customer = co_await customer_of(redis, item.str);
    if (!customer) continue;
    const auto now = now_ms();
    auto ks = script_keys(key(*customer, item.str));
    std::vector<std::string> as{std::to_string(now), rfc3339(now),
                                std::to_string(g_max_per_agent.load()),
                                item.str == released ? releaser : std::string()};
    auto reply = co_await kAssignWaiting.run(redis, ks, as);
    check(reply);
    if (reply.str.empty()) break;  // no agent has room
    if (reply.str != "-") ++assigned;
  }
  co_return assigned;
}

asio::awaitable<Transition> resolve(redis::Client& redis, const std::string& customer,
                                    const std::string& id, const std::string& agent) {
  const auto now = now_ms();
  auto ks = script_keys(key(customer, id));
  std::vector<std::string> as{agent, std::to_string(now), rfc3339(now), prefix(customer)};
  auto reply = co_await kResolve.run(redis, ks, as);
  auto t = transition_of(reply);
  if (t.kind == Transition::Kind::kDone && !t.holder.empty()) co_await assign_waiting(redis);
  co_return t;
}

void configure(const config::ConversationsConfig& config) {
  g_auto_assign = config.auto_assign;
  g_max_per_agent = config.max_per_agent;
}

asio::awaitable<void> join_outbound(redis::Client& redis, const std::string& customer,
                                    const std::string& channel, const std::string& message_id) {
  OJson item = OJson::object();
  item["direction"] = "outbound";
  item["message_id"] = message_id;
  item["agent"] = nullptr;
  const auto now = now_ms();
  item["at"] = rfc3339(now);
  auto ks = script_keys(open_key(customer, channel));
  std::vector<std::string> as{prefix(customer), message_id,   item.dump(),
                              std::to_string(now), rfc3339(now), std::to_string(kThreadLimit)};
  std::string failure;
  try {
    auto reply = co_await kJoinOutbound.run(redis, ks, as);
    if (reply.is_error()) failure = reply.str;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!failure.empty())
    herald::log::get("conversations")->warn("message {} not joined to its conversation: {}",
                                            message_id, failure);
}

std::vector<std::string> open_and_escalate_command(const std::string& customer,
                                                   const std::vector<std::string>& channels,
                                                   const std::string& run_id, OJson escalation,
                                                   int64_t at_ms) {
  if (!escalation.contains("at")) escalation["at"] = rfc3339(at_ms);
  std::vector<std::string> cmd{"EVAL", kOpenEscalateSource, "5", keys::customer_messages(customer)};
  for (const auto& s : kStatuses) cmd.push_back(status_key(s));
  cmd.push_back(prefix(customer));
  cmd.push_back(customer);
  cmd.push_back(new_id());
  cmd.push_back(escalation.dump());
  cmd.push_back(std::to_string(at_ms));
  cmd.push_back(rfc3339(at_ms));
  cmd.push_back(g_auto_assign.load() ? "1" : "0");
  cmd.push_back(std::to_string(g_max_per_agent.load()));
  cmd.push_back(run_id);
  cmd.push_back("");
  for (const auto& c : channels) cmd.push_back(c);
  return cmd;
}

asio::awaitable<std::optional<std::string>> customer_of(redis::Client& redis,
                                                        const std::string& id) {
  auto reply = co_await redis.command("GET", index_key(id));
  check(reply);
  if (reply.is_nil()) co_return std::nullopt;
  co_return reply.str;
}

asio::awaitable<std::optional<Conversation>> load(redis::Client& redis, const std::string& customer,
                                                  const std::string& id) {
  auto reply = co_await redis.command("HGETALL", key(customer, id));
  check(reply);
  co_return from_hash(reply);
}

namespace {
// An outbound item's message, as a thread shows it.
const std::vector<std::string> kOutboundFields{"status",  "timeline", "channel",
                                               "content", "template", "provider_id"};
}  // namespace

asio::awaitable<OJson> thread(redis::Client& redis, const std::string& customer,
                              const std::string& id) {
  auto reply = co_await redis.command("LRANGE", thread_key(customer, id), "0", "-1");
  check(reply);
  OJson items = OJson::array();
  std::vector<std::size_t> outbound;
  std::vector<std::vector<std::string>> reads;
  for (const auto& e : reply.elements) {
    auto item = OJson::parse(e.str, nullptr, false);
    if (!item.is_object()) continue;
    if (item.value("direction", "") == "outbound") {
      outbound.push_back(items.size());
      reads.push_back(
          messages::read_command(messages::key(customer, item.value("message_id", "")), kOutboundFields));
    }
    items.push_back(std::move(item));
  }
  if (reads.empty()) co_return items;
  auto replies = co_await redis.pipeline(reads);
  for (std::size_t i = 0; i < outbound.size() && i < replies.size(); ++i) {
    messages::unpack_read(replies[i], kOutboundFields);
    const auto& f = replies[i].elements;
    auto& item = items[outbound[i]];
    if (f.size() < 6 || f[0].is_nil()) {
      item["status"] = nullptr;  // erased or expired
      continue;
    }
    item["status"] = f[0].str;
    auto timeline = OJson::parse(f[1].str, nullptr, false);
    if (!timeline.is_discarded()) item["timeline"] = std::move(timeline);
    item["channel"] = f[2].str;
    auto content = OJson::parse(f[3].str, nullptr, false);
    if (content.is_object()) {
      if (content.contains("text") && content["text"].is_string())
        item["text"] = content["text"];
      else if (content.contains("body") && content["body"].is_string())
        item["text"] = content["body"];
    }
    if (!f[4].is_nil() && !f[4].str.empty()) item["template"] = f[4].str;
    if (!f[5].is_nil() && !f[5].str.empty()) item["provider_id"] = f[5].str;
  }
  co_return items;
}

asio::awaitable<Page> list(redis::Client& redis, const std::string& status, long limit,
                           long cursor) {
  auto ids = co_await redis.command("ZREVRANGE", status_key(status), std::to_string(cursor),
                                    std::to_string(cursor + limit));
  check(ids);
  Page page;
  const std::size_t shown =
      std::min<std::size_t>(ids.elements.size(), static_cast<std::size_t>(limit));
  if (ids.elements.size() > shown) page.next = cursor + limit;
  if (shown == 0) co_return page;
  std::vector<std::vector<std::string>> owners;
  for (std::size_t i = 0; i < shown; ++i) owners.push_back({"GET", index_key(ids.elements[i].str)});
  auto customers = co_await redis.pipeline(owners);
  std::vector<std::vector<std::string>> reads;
  for (std::size_t i = 0; i < shown && i < customers.size(); ++i) {
    if (customers[i].is_nil() || customers[i].is_error()) continue;
    reads.push_back({"HGETALL", key(customers[i].str, ids.elements[i].str)});
  }
  if (reads.empty()) co_return page;
  auto hashes = co_await redis.pipeline(reads);
  for (const auto& h : hashes) {
    auto c = from_hash(h);
    if (c && c->status == status) page.items.push_back(std::move(*c));
  }
  co_return page;
}

std::string escalation_keyword(std::string_view text, const std::vector<std::string>& keywords) {
  auto lower = [](std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  // Words: runs of ASCII letters and digits (bytes of UTF-8 sequences count as letters,
  // so "humán" is not "hum" + "n").
  std::vector<std::string> words;
  std::string word;
  for (char ch : lower(text)) {
    auto u = static_cast<unsigned char>(ch);
    if (std::isalnum(u) || u >= 0x80) {
      word += ch;
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  for (const auto& k : keywords) {
    auto wanted = lower(k);
    if (wanted.empty()) continue;
    // A keyword of several words ("talk to agent") must appear as the same word sequence.
    std::vector<std::string> parts;
    std::string p;
    for (char ch : wanted) {
      auto u = static_cast<unsigned char>(ch);
      if (std::isalnum(u) || u >= 0x80)
        p += ch;
      else if (!p.empty())
        parts.push_back(std::move(p)), p.clear();
    }
    if (!p.empty()) parts.push_back(std::move(p));
    if (parts.empty()) continue;
    for (std::size_t i = 0; i + parts.size() <= words.size(); ++i) {
      bool all = true;
      for (std::size_t j = 0; j < parts.size() && all; ++j) all = words[i + j] == parts[j];
      if (all) return k;
    }
  }
  return {};
}

}  // namespace herald::gateway::conversations
