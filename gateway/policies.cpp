#include <utility>

#include "gateway/policies.hpp"

#include <algorithm>

#include <date/date.h>
#include <date/tz.h>

#include "gateway/ingest/timestamp.hpp"
#include "gateway/keys.hpp"
#include "gateway/messages.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/redis/script.hpp"

namespace herald::gateway::policies {
namespace asio = boost::asio;

namespace {

// Admits a message under every cap that applies, or names the first that is full.
// KEYS: one sorted set per applicable cap. ARGV: now (ms), member, then per cap: window
// (ms), max. Returns 0 when admitted (and counted), else the 1-based index of the cap.
const redis::Script kCaps(R"lua(
local now = tonumber(ARGV[1])
local member = ARGV[2]
for i = 1, #KEYS do
  local per = tonumber(ARGV[1 + 2 * i])
  local max = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - per)
  if not redis.call('ZSCORE', KEYS[i], member) and redis.call('ZCARD', KEYS[i]) >= max then
    return i
  end
end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[1 + 2 * i]))
end
return 0
)lua");

// Holds a message back, while it is still queued or deferred.
// KEYS: message hash, retry set. ARGV: status (deferred|suppressed), timeline entry,
// reason, retry member ("": none), due (ms). Returns 1 when applied.
const redis::Script kHold(HERALD_LUA_APPEND_TIMELINE R"lua(
local s = redis.call('HGET', KEYS[1], 'status')
if s ~= 'queued' and s ~= 'deferred' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'reason', ARGV[3])
append(KEYS[1], ARGV[2])
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4]) end
return 1
)lua");

const date::time_zone* zone_or_utc(std::string_view name) {
  try {
    return date::locate_zone(std::string(name));
  } catch (const std::exception&) {
    return date::locate_zone("UTC");
  }
}

std::string duration_text(std::chrono::milliseconds d) {
  using namespace std::chrono;
  auto ms = d.count();
  if (ms % 86400000 == 0) return std::to_string(ms / 86400000) + "d";
  if (ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace

std::optional<Clock::time_point> quiet_until(const config::QuietHours& quiet,
                                             std::string_view channel,
                                             std::string_view timezone, Clock::time_point now) {
  if (std::find(quiet.channels.begin(), quiet.channels.end(), channel) == quiet.channels.end())
    return std::nullopt;
  if (quiet.from_minutes == quiet.to_minutes) return std::nullopt;  // an empty window
  const auto* zone = zone_or_utc(timezone);
  auto local = zone->to_local(date::floor<std::chrono::seconds>(now));
  auto day = date::floor<date::days>(local);
  int minute = static_cast<int>(
      std::chrono::duration_cast<std::chrono::minutes>(local - day).count());
  const int from = quiet.from_minutes, to = quiet.to_minutes;
  bool inside;
  date::local_days end_day = day;
  if (from < to) {  // e.g. 13:00 → 15:00, same day
    inside = minute >= from && minute < to;
  } else {          // spans midnight, e.g. 21:00 → 08:00
    inside = minute >= from || minute < to;
    if (minute >= from) end_day = day + date::days(1);
  }
  if (!inside) return std::nullopt;
  auto end_local = end_day + std::chrono::minutes(to);
  // An end time that happens twice (clocks turned back) is its first occurrence, unless
  // that has passed already (we are in the repeated hour): then its second. One that
  // does not exist (clocks turned forward) is the first valid instant after the gap.
  auto end = zone->to_sys(end_local, date::choose::earliest);
  if (end <= now) end = zone->to_sys(end_local, date::choose::latest);
  if (end <= now) return std::nullopt;
  return end;
}

std::string timezone_of(const nlohmann::ordered_json& traits, const config::PoliciesConfig& p) {
  if (traits.is_object()) {
    auto it = traits.find("timezone");
    if (it != traits.end() && it->is_string() && !it->get<std::string>().empty())
      return it->get<std::string>();
  }
  return p.default_timezone;
}

std::string describe(const config::FrequencyCap& cap) {
  std::string channels;
  for (const auto& c : cap.channels) channels += (channels.empty() ? "" : ", ") + c;
  return std::to_string(cap.max) + " per " +
         duration_text(std::chrono::duration_cast<std::chrono::milliseconds>(cap.per)) + " on " +
         (channels.empty() ? std::string("every channel") : channels);
}

asio::awaitable<Decision> apply(redis::Client& redis, const config::PoliciesConfig& p,
                                const std::string& customer_id, const std::string& message_id,
                                const std::string& channel, bool transactional,
                                const nlohmann::ordered_json& traits) {
  Decision decision;
  if (transactional) co_return decision;
  const auto now = Clock::now();
  const auto key = messages::key(customer_id, message_id);

  if (auto until = quiet_until(p.quiet_hours, channel, timezone_of(traits, p), now)) {
    decision.kind = Decision::Kind::kDefer;
    decision.until = *until;
    decision.reason = "quiet_hours";
    auto due = std::chrono::duration_cast<std::chrono::milliseconds>(until->time_since_epoch()).count();
    auto detail = "quiet_hours until " +
                  ingest::format_rfc3339(std::chrono::time_point_cast<std::chrono::milliseconds>(*until));
    std::vector<std::string> ks{key, messages::kRetries};
    std::vector<std::string> as{"deferred", messages::timeline_entry("deferred", detail), "quiet_hours",
                                message_id + "\t" + customer_id, std::to_string(due)};
    auto r = co_await kHold.run(redis, ks, as);
    if (r.is_error()) throw redis::CommandError(r.str);
    co_return decision;
  }

  std::vector<std::string> cap_keys;
  std::vector<std::size_t> cap_index;
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::vector<std::string> cap_args{std::to_string(now_ms), message_id};
  for (std::size_t i = 0; i < p.frequency_caps.size(); ++i) {
    const auto& cap = p.frequency_caps[i];
    if (!cap.channels.empty() &&
        std::find(cap.channels.begin(), cap.channels.end(), channel) == cap.channels.end())
      continue;
    cap_keys.push_back("herald:c:" + keys::tag(customer_id) + ":fc:" + std::to_string(i));
    cap_index.push_back(i);
    cap_args.push_back(std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(cap.per).count()));
    cap_args.push_back(std::to_string(cap.max));
  }
  if (cap_keys.empty()) co_return decision;
  auto full = co_await kCaps.run(redis, cap_keys, cap_args);
  if (full.is_error()) throw redis::CommandError(full.str);
  auto which = full.as_integer().value_or(0);
  if (which <= 0) co_return decision;
  decision.kind = Decision::Kind::kSuppress;
  decision.reason = "frequency_cap: " + describe(p.frequency_caps[cap_index[static_cast<std::size_t>(which - 1)]]);
  std::vector<std::string> ks{key, messages::kRetries};
  std::vector<std::string> as{"suppressed", messages::timeline_entry("suppressed", decision.reason),
                              decision.reason, "", "0"};
  auto r = co_await kHold.run(redis, ks, as);
  if (r.is_error()) throw redis::CommandError(r.str);
  co_return decision;
}

}  // namespace herald::gateway::policies
