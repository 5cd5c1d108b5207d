#include <utility>

#include "gateway/event_processor.hpp"

#include <chrono>
#include <map>
#include <random>
#include <set>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/customer_state.hpp"
#include "gateway/event_sink.hpp"
#include "gateway/ingest/event.hpp"
#include "gateway/ingest/traits.hpp"
#include "gateway/keys.hpp"
#include "gateway/log.hpp"
#include "gateway/metrics.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/redis/script.hpp"

namespace herald::gateway {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kLeaseMs = 5000;
constexpr auto kHeartbeat = std::chrono::seconds(1);
constexpr int kReadCount = 512;
constexpr std::size_t kHistory = 50;  // recent events kept per customer

const redis::Script kRenew(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
)lua");
const redis::Script kRelease(R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua");

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Entry {
  std::string id;
  ingest::Event event;
};

}  // namespace

struct EventProcessor::Impl {
  Impl(const config::Config& c, std::string name, EventSink* s)
      : config(c), consumer(std::move(name)), sink(s), log(herald::log::get("processor")) {}

  config::Config config;
  std::string consumer;
  EventSink* sink;
  std::shared_ptr<spdlog::logger> log;
  std::set<unsigned> owned;
  std::set<unsigned> pending_first;  // partitions whose claimed entries are read first
  Clock::time_point last_heartbeat{};
  std::mt19937 rng{std::random_device{}()};
  metrics::Counter& processed = metrics::registry().counter(
      "herald_ingest_events_processed_total", "Events applied to customer state");
  metrics::Counter& malformed = metrics::registry().counter(
      "herald_ingest_events_malformed_total", "Stream entries that could not be read (acknowledged)");

  asio::awaitable<void> create_groups(redis::Client& redis) {
    for (unsigned p = 0; p < config.redis.partitions; ++p) {
      auto r = co_await redis.command("XGROUP", "CREATE", keys::stream(p), keys::kGroup, "0",
                                      "MKSTREAM");
      if (r.is_error() && r.str.find("BUSYGROUP") == std::string::npos)
        throw redis::CommandError("XGROUP CREATE: " + r.str);
    }
  }

  /// Heartbeat, lease renewal, and taking or giving partitions towards a fair share.
  asio::awaitable<void> rebalance(redis::Client& redis) {
    // Named locals, not temporaries, around co_await: g++ 12 mishandles braced
    // temporaries inside co_await expressions.
    auto now = wall_ms();
    std::vector<std::vector<std::string>> heartbeat;
    heartbeat.push_back({"ZADD", keys::kConsumers, std::to_string(now), consumer});
    heartbeat.push_back(
        {"ZREMRANGEBYSCORE", keys::kConsumers, "-inf", std::to_string(now - 3 * kLeaseMs)});
    heartbeat.push_back({"ZCARD", keys::kConsumers});
    auto replies = co_await redis.pipeline(heartbeat);
    auto live = std::max<int64_t>(1, replies.at(2).integer);
    auto partitions = config.redis.partitions;
    std::size_t target = (partitions + live - 1) / live;

    for (auto it = owned.begin(); it != owned.end();) {
      std::vector<std::string> lease_keys{keys::lease(*it)};
      std::vector<std::string> lease_args{consumer, std::to_string(kLeaseMs)};
      auto r = co_await kRenew.run(redis, lease_keys, lease_args);
      if (r.integer == 1) {
        ++it;
      } else {
        log->info("lost the lease of partition {}", *it);
        pending_first.erase(*it);
        it = owned.erase(it);
      }
    }
    while (owned.size() > target) {
      auto p = *owned.rbegin();
      std::vector<std::string> lease_keys{keys::lease(p)};
      std::vector<std::string> lease_args{consumer};
      co_await kRelease.run(redis, lease_keys, lease_args);
      owned.erase(p);
      pending_first.erase(p);
    }
    if (owned.size() < target) {
      std::vector<unsigned> order(partitions);
      for (unsigned p = 0; p < partitions; ++p) order[p] = p;
      std::shuffle(order.begin(), order.end(), rng);
      for (auto p : order) {
        if (owned.size() >= target) break;
        if (owned.count(p)) continue;
        auto r = co_await redis.command("SET", keys::lease(p), consumer, "NX", "PX",
                                        std::to_string(kLeaseMs));
        if (r.type != redis::Reply::Type::kStatus) continue;
        co_await claim_pending(redis, p);
        owned.insert(p);
        pending_first.insert(p);
      }
    }
  }

  /// Takes over every entry a previous owner of the partition read and did not acknowledge.
  asio::awaitable<void> claim_pending(redis::Client& redis, unsigned p) {
    std::string cursor = "0-0";
    std::size_t claimed = 0;
    do {
      auto r = co_await redis.command("XAUTOCLAIM", keys::stream(p), keys::kGroup, consumer, "0",
                                      cursor, "COUNT", "1000", "JUSTID");
      if (!r.is_array() || r.elements.size() < 2) break;
      cursor = r.elements[0].str;
      claimed += r.elements[1].elements.size();
    } while (cursor != "0-0");
    if (claimed) log->info("partition {}: claimed {} pending events", p, claimed);
  }

  static std::vector<Entry> parse_entries(const redis::Reply& list, std::vector<std::string>& bad) {
    std::vector<Entry> out;
    for (const auto& item : list.elements) {
      if (!item.is_array() || item.elements.size() < 2) continue;
      const auto& id = item.elements[0].str;
      ingest::StreamFields fields;
      const auto& kv = item.elements[1].elements;
      for (std::size_t i = 0; i + 1 < kv.size(); i += 2) fields.emplace_back(kv[i].str, kv[i + 1].str);
      if (auto event = ingest::from_stream_fields(fields)) out.push_back({id, std::move(*event)});
      else bad.push_back(id);
    }
    return out;
  }

  /// Applies a partition's entries to their customers and acknowledges them atomically.
  asio::awaitable<void> apply(redis::Client& redis, unsigned p, const std::vector<Entry>& entries,
                              const std::vector<std::string>& bad) {
    std::vector<std::string> order;  // customers, first seen first
    std::map<std::string, std::vector<const Entry*>> by_customer;
    for (const auto& e : entries) {
      auto& list = by_customer[e.event.user_id];
      if (list.empty()) order.push_back(e.event.user_id);
      list.push_back(&e);
    }
    std::vector<std::vector<std::string>> reads;
    for (const auto& id : order) {
      std::vector<std::string> cmd{"HMGET", keys::customer(id)};
      cmd.insert(cmd.end(), kProfileFields.begin(), kProfileFields.end());
      reads.push_back(std::move(cmd));
    }
    auto states = co_await redis.pipeline(reads);

    std::vector<std::vector<std::string>> tx{{"MULTI"}};
    for (std::size_t i = 0; i < order.size(); ++i) {
      const auto& id = order[i];
      std::vector<std::optional<std::string>> values;
      for (const auto& v : states[i].elements)
        values.push_back(v.is_nil() ? std::nullopt : std::optional<std::string>(v.str));
      values.resize(kProfileFields.size());
      auto state = customer_from_fields(values);
      auto before = ingest::channel_addresses(state.traits);
      std::vector<std::string> history;
      Commands decisions;
      for (const auto* e : by_customer[id]) {
        apply_event(state, e->event, history);
        if (sink) sink->decide(id, state, e->event, decisions);
      }
      write_customer(tx, id, state, before, history);
      for (auto& command : decisions) tx.push_back(std::move(command));
    }
    std::vector<std::string> ack{"XACK", keys::stream(p), keys::kGroup};
    for (const auto& e : entries) ack.push_back(e.id);
    for (const auto& id : bad) ack.push_back(id);
    // Processed entries leave the stream: it holds only what is still to do.
    std::vector<std::string> drop(ack.begin(), ack.end());
    drop[0] = "XDEL";
    drop.erase(drop.begin() + 2);
    tx.push_back(std::move(ack));
    tx.push_back(std::move(drop));
    tx.push_back({"DECRBY", keys::backlog(p), std::to_string(entries.size() + bad.size())});
    tx.push_back({"EXEC"});
    auto results = co_await redis.pipeline(tx);
    const auto& exec = results.back();
    if (!exec.is_array()) throw redis::CommandError("EXEC failed: " + exec.str);
    for (const auto& r : exec.elements)
      if (r.is_error()) log->error("partition {}: a write failed: {}", p, r.str);
    processed.inc(entries.size());
    if (!bad.empty()) {
      malformed.inc(bad.size());
      log->error("partition {}: {} unreadable entries acknowledged", p, bad.size());
    }
  }

  void apply_event(CustomerState& state, const ingest::Event& event,
                   std::vector<std::string>& history) {
    auto at = ingest::format_rfc3339(event.timestamp);
    if (state.created_at.empty()) state.created_at = at;
    if (state.updated_at.empty() || at > state.updated_at) state.updated_at = at;
    auto traits = OJson::parse(event.traits.empty() ? "{}" : event.traits, nullptr, false);
    merge_traits(state.traits, traits);
    if (event.type != ingest::EventType::kTrack) return;
    auto properties = OJson::parse(event.properties.empty() ? "{}" : event.properties, nullptr, false);
    if (event.event == config.stats.order_event)
      state.stats = ingest::apply_order(state.stats, properties, event.timestamp);
    OJson record{{"event", event.event}, {"properties", properties}, {"timestamp", at}};
    history.push_back(record.dump());
  }

  void write_customer(std::vector<std::vector<std::string>>& tx, const std::string& id,
                      const CustomerState& state,
                      const std::vector<ingest::ChannelAddress>& before,
                      const std::vector<std::string>& history) {
    tx.push_back({"HSET", keys::customer(id), "t", state.traits.dump(), "s",
                  stats_to_stored(state.stats), "ca", state.created_at, "ua", state.updated_at});
    if (!history.empty()) {
      std::vector<std::string> push{"LPUSH", keys::customer_events(id)};
      push.insert(push.end(), history.begin(), history.end());
      tx.push_back(std::move(push));
      tx.push_back({"LTRIM", keys::customer_events(id), "0", std::to_string(kHistory - 1)});
    }
    auto after = ingest::channel_addresses(state.traits);
    for (const auto& a : before)
      if (std::find(after.begin(), after.end(), a) == after.end())
        tx.push_back(kRelease.command({keys::address(a.channel, a.address)}, {id}));
    for (const auto& a : after)
      if (std::find(before.begin(), before.end(), a) == before.end())
        tx.push_back({"SET", keys::address(a.channel, a.address), id});
  }

  asio::awaitable<void> run(redis::Client& reader, redis::Client& writer) {
    asio::steady_timer pause(co_await asio::this_coro::executor);
    bool groups_ready = false;
    for (;;) {
      bool failed = false;
      try {
        if (!reader.connected() || !writer.connected()) {
          pause.expires_after(std::chrono::milliseconds(200));
          co_await pause.async_wait(asio::use_awaitable);
          continue;
        }
        if (!groups_ready) {
          co_await create_groups(writer);
          groups_ready = true;
        }
        if (Clock::now() - last_heartbeat >= kHeartbeat) {
          co_await rebalance(writer);
          last_heartbeat = Clock::now();
        }
        if (owned.empty()) {
          pause.expires_after(std::chrono::milliseconds(200));
          co_await pause.async_wait(asio::use_awaitable);
          continue;
        }
        std::vector<std::string> cmd{"XREADGROUP", "GROUP", keys::kGroup, consumer,
                                     "COUNT", std::to_string(kReadCount), "BLOCK", "100",
                                     "STREAMS"};
        for (auto p : owned) cmd.push_back(keys::stream(p));
        for (auto p : owned) cmd.push_back(pending_first.count(p) ? "0" : ">");
        auto reply = co_await reader.command(cmd);
        if (reply.is_error()) {
          if (reply.str.find("NOGROUP") != std::string::npos) groups_ready = false;
          throw redis::CommandError(reply.str);
        }
        std::set<unsigned> empty_pending = pending_first;
        if (reply.is_array()) {
          for (const auto& stream : reply.elements) {
            if (stream.elements.size() < 2) continue;
            auto name = stream.elements[0].str;
            unsigned p = 0;
            for (auto candidate : owned)
              if (keys::stream(candidate) == name) p = candidate;
            std::vector<std::string> bad;
            auto entries = parse_entries(stream.elements[1], bad);
            if (!entries.empty() || !bad.empty()) {
              empty_pending.erase(p);
              co_await apply(writer, p, entries, bad);
            }
          }
        }
        for (auto p : empty_pending) pending_first.erase(p);
      } catch (const std::exception& e) {
        log->warn("event processing paused: {}", e.what());
        groups_ready = groups_ready && dynamic_cast<const redis::Unavailable*>(&e) == nullptr;
        // Our own pending entries are read again (from 0) once Redis answers.
        pending_first = owned;
        failed = true;
      }
      if (failed) {
        pause.expires_after(std::chrono::milliseconds(500));
        boost::system::error_code ignored;
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      }
    }
  }
};

EventProcessor::EventProcessor(const config::Config& config, std::string consumer,
                               EventSink* sink)
    : impl_(std::make_unique<Impl>(config, std::move(consumer), sink)) {}
EventProcessor::~EventProcessor() = default;

asio::awaitable<void> EventProcessor::run(redis::Client& reader, redis::Client& writer) {
  co_await impl_->run(reader, writer);
}

}  // namespace herald::gateway
