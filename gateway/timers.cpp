#include "gateway/timers.hpp"

#include <charconv>
#include <chrono>
#include <stdexcept>

#include "gateway/keys.hpp"

namespace herald::gateway {

namespace {

constexpr char kSeparator = '\x1f';
constexpr unsigned kTotalBuckets = 16384;

// The scripts go out as EVAL, not EVALSHA: they run inside the callers' MULTI/EXEC, where
// a NOSCRIPT answer (after a Redis restart) would fail that one command and let the rest
// of the transaction commit. Redis caches a script's compiled form by its SHA either way.
//
// Every script leaves the bucket's index entry at the bucket's exact earliest due time
// (or removes it with the bucket's last timer), so the firing side never reads a bucket
// with nothing due.
#define HERALD_TIMERS_REINDEX                                         \
  "local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n" \
  "if first[1] then redis.call('ZADD', KEYS[2], first[2], ARGV[1])\n" \
  "else redis.call('ZREM', KEYS[2], ARGV[1]) end\n"

// KEYS: bucket, index, count. ARGV: bucket number, name prefix, member, due (ms).
const std::string kSchedule =
    "local removed = 0\n"
    "for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  if string.sub(m, 1, #ARGV[2]) == ARGV[2] then\n"
    "    redis.call('ZREM', KEYS[1], m)\n"
    "    removed = removed + 1\n"
    "  end\n"
    "end\n"
    "redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])\n"
    "if removed ~= 1 then redis.call('INCRBY', KEYS[3], 1 - removed) end\n" HERALD_TIMERS_REINDEX
    "return removed\n";

// KEYS: bucket, index, count. ARGV: bucket number, name prefix, member, due (ms).
const std::string kScheduleIfAbsent =
    "for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  if string.sub(m, 1, #ARGV[2]) == ARGV[2] then return 0 end\n"
    "end\n"
    "redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])\n"
    "redis.call('INCRBY', KEYS[3], 1)\n" HERALD_TIMERS_REINDEX
    "return 1\n";

// KEYS: bucket, index, count. ARGV: bucket number, name prefix.
const std::string kCancel =
    "local removed = 0\n"
    "for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  if string.sub(m, 1, #ARGV[2]) == ARGV[2] then\n"
    "    redis.call('ZREM', KEYS[1], m)\n"
    "    removed = removed + 1\n"
    "  end\n"
    "end\n"
    "if removed > 0 then redis.call('DECRBY', KEYS[3], removed) end\n" HERALD_TIMERS_REINDEX
    "return removed\n";

// KEYS: bucket, index, count. ARGV: bucket number, then member and score pairs.
const std::string kRemoveFired =
    "local removed = 0\n"
    "for i = 2, #ARGV, 2 do\n"
    "  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])\n"
    "  if s and tonumber(s) == tonumber(ARGV[i + 1]) then\n"
    "    redis.call('ZREM', KEYS[1], ARGV[i])\n"
    "    removed = removed + 1\n"
    "  end\n"
    "end\n"
    "if removed > 0 then redis.call('DECRBY', KEYS[3], removed) end\n" HERALD_TIMERS_REINDEX
    "return removed\n";

#undef HERALD_TIMERS_REINDEX

void check_name(std::string_view what, std::string_view value) {
  if (value.empty()) throw std::invalid_argument(std::string(what) + " must not be empty");
  if (value.find(kSeparator) != std::string_view::npos)
    throw std::invalid_argument(std::string(what) + " must not contain \\x1f");
}

std::string name_prefix(std::string_view customer_id, std::string_view timer_id) {
  std::string out;
  out.reserve(customer_id.size() + timer_id.size() + 2);
  out.append(customer_id).push_back(kSeparator);
  out.append(timer_id).push_back(kSeparator);
  return out;
}

std::vector<std::string> script_command(const std::string& source, unsigned p, unsigned bucket) {
  return {"EVAL",
          source,
          "3",
          keys::timer_bucket(p, bucket),
          keys::timer_index(p),
          keys::timer_count(p),
          std::to_string(bucket)};
}

}  // namespace

int64_t SystemClock::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const Clock& system_clock() {
  static const SystemClock clock;
  return clock;
}

namespace {

/// kSchedule or kScheduleIfAbsent for one timer.
Commands schedule_command(const std::string& script, std::string_view customer_id,
                          std::string_view timer_id, int64_t due_ms, std::string_view payload,
                          unsigned partitions) {
  check_name("customer id", customer_id);
  check_name("timer id", timer_id);
  auto p = keys::partition_of(customer_id, partitions);
  auto bucket = timers::bucket_of(customer_id, timer_id, partitions);
  auto cmd = script_command(script, p, bucket);
  cmd.push_back(name_prefix(customer_id, timer_id));
  cmd.push_back(timers::encode_member(customer_id, timer_id, payload));
  cmd.push_back(std::to_string(due_ms));
  return {std::move(cmd)};
}

}  // namespace

Commands schedule_timer(std::string_view customer_id, std::string_view timer_id, int64_t due_ms,
                        std::string_view payload, unsigned partitions) {
  return schedule_command(kSchedule, customer_id, timer_id, due_ms, payload, partitions);
}

Commands schedule_timer_if_absent(std::string_view customer_id, std::string_view timer_id,
                                  int64_t due_ms, std::string_view payload,
                                  unsigned partitions) {
  return schedule_command(kScheduleIfAbsent, customer_id, timer_id, due_ms, payload, partitions);
}

Commands schedule_new_timer(std::string_view customer_id, std::string_view timer_id,
                            int64_t due_ms, std::string_view payload, unsigned partitions) {
  check_name("customer id", customer_id);
  check_name("timer id", timer_id);
  auto p = keys::partition_of(customer_id, partitions);
  auto bucket = timers::bucket_of(customer_id, timer_id, partitions);
  auto due = std::to_string(due_ms);
  // ZADD LT adds the bucket's entry when it has none, and otherwise only lowers it: it
  // stays at the bucket's earliest due time, as the scripts leave it.
  return {{"ZADD", keys::timer_bucket(p, bucket), due,
           timers::encode_member(customer_id, timer_id, payload)},
          {"ZADD", keys::timer_index(p), "LT", due, std::to_string(bucket)},
          {"INCRBY", keys::timer_count(p), "1"}};
}

Commands cancel_timer(std::string_view customer_id, std::string_view timer_id,
                      unsigned partitions) {
  check_name("customer id", customer_id);
  check_name("timer id", timer_id);
  auto p = keys::partition_of(customer_id, partitions);
  auto bucket = timers::bucket_of(customer_id, timer_id, partitions);
  auto cmd = script_command(kCancel, p, bucket);
  cmd.push_back(name_prefix(customer_id, timer_id));
  return {std::move(cmd)};
}

namespace timers {

unsigned buckets_per_partition(unsigned partitions) {
  return partitions >= kTotalBuckets ? 1 : kTotalBuckets / partitions;
}

unsigned bucket_of(std::string_view customer_id, std::string_view timer_id, unsigned partitions) {
  // FNV-1a over the timer's name, as keys::partition_of does over the customer id.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  };
  mix(customer_id);
  mix(std::string_view(&kSeparator, 1));
  mix(timer_id);
  return static_cast<unsigned>(h % buckets_per_partition(partitions));
}

std::string encode_member(std::string_view customer_id, std::string_view timer_id,
                          std::string_view payload) {
  auto out = name_prefix(customer_id, timer_id);
  out.append(payload);
  return out;
}

bool decode_member(std::string_view member, Timer& out) {
  auto first = member.find(kSeparator);
  if (first == std::string_view::npos) return false;
  auto second = member.find(kSeparator, first + 1);
  if (second == std::string_view::npos) return false;
  out.customer_id = member.substr(0, first);
  out.id = member.substr(first + 1, second - first - 1);
  out.payload = member.substr(second + 1);
  return true;
}

std::vector<std::string> remove_fired(
    unsigned partition, unsigned bucket,
    const std::vector<std::pair<std::string, std::string>>& fired) {
  auto cmd = script_command(kRemoveFired, partition, bucket);
  for (const auto& [member, score] : fired) {
    cmd.push_back(member);
    cmd.push_back(score);
  }
  return cmd;
}

std::optional<TimerCommand> describe_command(const std::vector<std::string>& command) {
  TimerCommand out;
  // schedule_new_timer: {"ZADD", bucket, due, member}
  if (command.size() == 4 && command[0] == "ZADD" && command[1].rfind("herald:tm:", 0) == 0) {
    if (!decode_member(command[3], out.timer)) return std::nullopt;
    auto [end, ec] = std::from_chars(command[2].data(), command[2].data() + command[2].size(),
                                     out.timer.due_ms);
    if (ec != std::errc() || end != command[2].data() + command[2].size()) return std::nullopt;
    out.kind = TimerCommand::Kind::kScheduleIfAbsent;
    return out;
  }
  // {"EVAL", script, "3", bucket, index, count, BUCKET, name prefix[, member, due]}
  if (command.size() < 8 || command[0] != "EVAL") return std::nullopt;
  if (command[1] == kCancel && command.size() == 8) {
    out.kind = TimerCommand::Kind::kCancel;
    const auto& prefix = command[7];  // customer \x1f timer \x1f
    auto sep = prefix.find('\x1f');
    if (sep == std::string::npos) return std::nullopt;
    out.timer.customer_id = prefix.substr(0, sep);
    out.timer.id = prefix.substr(sep + 1);
    if (!out.timer.id.empty() && out.timer.id.back() == '\x1f') out.timer.id.pop_back();
    return out;
  }
  if ((command[1] != kSchedule && command[1] != kScheduleIfAbsent) || command.size() != 10)
    return std::nullopt;
  out.kind = command[1] == kSchedule ? TimerCommand::Kind::kSchedule
                                     : TimerCommand::Kind::kScheduleIfAbsent;
  if (!decode_member(command[8], out.timer)) return std::nullopt;
  try {
    out.timer.due_ms = std::stoll(command[9]);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return out;
}

}  // namespace timers
}  // namespace herald::gateway
