#include <utility>

#include "gateway/event_processor.hpp"

#include <atomic>
#include <charconv>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <tuple>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/customer_state.hpp"
#include "gateway/event_sink.hpp"
#include "gateway/ingest/event.hpp"
#include "gateway/ingest/json_dom.hpp"
#include "gateway/ingest/traits.hpp"
#include "gateway/keys.hpp"
#include "gateway/log.hpp"
#include "gateway/metrics.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/redis/script.hpp"
#include "gateway/timers.hpp"

namespace herald::gateway {
namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr auto kLeaseMs = 5000;
constexpr auto kHeartbeat = std::chrono::seconds(1);
constexpr auto kClusterPoll = std::chrono::milliseconds(10);  // an idle pass on a cluster
constexpr int kReadCount = 512;
// Recent events kept per customer: at least kHistory. A list is trimmed back to kHistory
// once a push takes it past kHistory + kHistorySlack, so that a customer with a long
// history costs a trim every kHistorySlack events rather than every event.
constexpr std::size_t kHistory = 50;
constexpr std::size_t kHistorySlack = 10;
// Timers read per partition and firing pass: due buckets, and due timers per bucket.
// A pass that hits either limit is followed by another without waiting for events.
constexpr int kFireBuckets = 256;
constexpr int kFirePerBucket = 64;

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

/// A pass's counter increments (HINCRBY key field n, INCRBY key n), summed: a
/// workflow's counters (entered, sent, …) and a partition's count of pending timers
/// then cost one command a pass each rather than one a decision. Nothing in a pass
/// reads them, so where they run in its transaction does not matter.
class Counters {
 public:
  /// Takes `command` when it is a counter increment; false (untouched) otherwise.
  bool take(const std::vector<std::string>& command) {
    const bool hash = command.size() == 4 && command[0] == "HINCRBY";
    if (!hash && !(command.size() == 3 && command[0] == "INCRBY")) return false;
    const auto& by = command.back();
    long long n = 0;
    auto [end, ec] = std::from_chars(by.data(), by.data() + by.size(), n);
    if (ec != std::errc() || end != by.data() + by.size()) return false;
    sums_[{command[1], hash ? std::optional<std::string>(command[2]) : std::nullopt}] += n;
    return true;
  }

  /// The summed increments into `tx`, then forgets them.
  void flush(std::vector<std::vector<std::string>>& tx) {
    for (auto& [where, n] : sums_) {
      if (n == 0) continue;
      if (where.second) tx.push_back({"HINCRBY", where.first, *where.second, std::to_string(n)});
      else tx.push_back({"INCRBY", where.first, std::to_string(n)});
    }
    sums_.clear();
  }

 private:
  // (key, hash field; none for INCRBY) -> sum
  std::map<std::pair<std::string, std::optional<std::string>>, long long> sums_;
};

/// A pass's "ZADD key LT score member" commands (a new timer's bucket in its partition's
/// index), merged into one ZADD per key with each member's lowest score: a command a pass
/// rather than one a timer. Sequential ZADD LTs of a member leave its lowest score, which
/// is what the merged command sets, as long as nothing else touches the key between them:
/// before any script (the timer scripts re-index their bucket) or any other command on a
/// pending key, the pending adds go out first, in their place.
class IndexAdds {
 public:
  /// Takes `command` when it is a ZADD LT of one member; false (untouched) otherwise.
  bool take(const std::vector<std::string>& command) {
    if (command.size() != 5 || command[0] != "ZADD" || command[2] != "LT") return false;
    double score = 0;
    const auto& text = command[3];
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), score);
    if (ec != std::errc() || end != text.data() + text.size()) return false;
    auto& members = pending_[command[1]];
    auto [it, added] = members.try_emplace(command[4], score, text);
    if (!added && score < it->second.first) it->second = {score, text};
    return true;
  }

  /// Whether `command` must come after the pending adds.
  bool orders(const std::vector<std::string>& command) const {
    if (pending_.empty()) return false;
    const auto& name = command.front();
    if (name == "EVAL" || name == "EVALSHA" || name == "FCALL") return true;
    return command.size() > 1 && pending_.count(command[1]);
  }

  /// The merged adds into `tx`, then forgets them.
  void flush(std::vector<std::vector<std::string>>& tx) {
    for (auto& [key, members] : pending_) {
      std::vector<std::string> add{"ZADD", key, "LT"};
      add.reserve(3 + 2 * members.size());
      for (auto& [member, score] : members) {
        add.push_back(std::move(score.second));
        add.push_back(member);
      }
      tx.push_back(std::move(add));
    }
    pending_.clear();
  }

 private:
  // key -> member -> (score, as written)
  std::map<std::string, std::map<std::string, std::pair<double, std::string>>> pending_;
};

/// A customer's profile hash as read: whole (HGETALL: two arguments, where HMGET would
/// name each field), or for a partial state (CustomerState::partial) only the fields it
/// holds: stats and times, without the traits, runs and entries that are most of the
/// hash's size.
constexpr std::size_t kPartialFields[] = {1, 3, 4};  // s, ca, ua in kProfileFields
/// The fields the processor writes back, in kProfileFields: t, s, ca, ua, r, h (cs is
/// consent's own).
constexpr std::size_t kWritten[] = {0, 1, 3, 4, 5, 6};

std::vector<std::string> profile_read(const std::string& id, bool full = true) {
  if (full) return {"HGETALL", keys::customer(id)};
  std::vector<std::string> cmd{"HMGET", keys::customer(id)};
  for (auto f : kPartialFields) cmd.push_back(kProfileFields[f]);
  return cmd;
}

/// The answer of profile_read() as kProfileFields' values in their order, nullopt for
/// those absent (or not read). Other fields of the hash are not the processor's. The
/// strings are moved out of `reply`.
std::vector<std::optional<std::string>> profile_values(redis::Reply& reply, bool full = true) {
  std::vector<std::optional<std::string>> values(kProfileFields.size());
  auto& kv = reply.elements;
  if (!full) {
    for (std::size_t i = 0; i < std::size(kPartialFields) && i < kv.size(); ++i)
      if (!kv[i].is_nil()) values[kPartialFields[i]] = std::move(kv[i].str);
    return values;
  }
  for (std::size_t i = 0; i + 1 < kv.size(); i += 2)
    for (std::size_t f = 0; f < kProfileFields.size(); ++f)
      if (kv[i].str == kProfileFields[f]) {
        values[f] = std::move(kv[i + 1].str);
        break;
      }
  return values;
}

bool has_traits(const ingest::Event& event) {
  return !event.traits.empty() && event.traits != "{}";
}

/// What a pass's transaction collects from the sink's decisions to send merged at its end
/// (counter increments, index additions); the other decisions go into the transaction in
/// their order.
class Deferred {
 public:
  void push(std::vector<std::vector<std::string>>& tx, Commands& decisions) {
    for (auto& command : decisions) {
      if (counters_.take(command) || adds_.take(command)) continue;
      if (adds_.orders(command)) adds_.flush(tx);
      tx.push_back(std::move(command));
    }
  }
  void flush(std::vector<std::vector<std::string>>& tx) {
    adds_.flush(tx);
    counters_.flush(tx);
  }

 private:
  Counters counters_;
  IndexAdds adds_;
};

}  // namespace

struct EventProcessor::Impl {
  Impl(const config::Config& c, std::string name, EventSink* s, const Clock* k)
      : config(c),
        consumer(std::move(name)),
        sink(s),
        clock(k ? *k : system_clock()),
        log(herald::log::get("processor")) {}

  config::Config config;
  std::string consumer;
  EventSink* sink;
  const Clock& clock;
  std::shared_ptr<spdlog::logger> log;
  std::set<unsigned> owned;
  // Per partition, the history lists that went past kHistory + kHistorySlack (as their
  // LPUSH answered): trimmed in the partition's next transaction. Lost with the process
  // or the partition, which costs nothing: the list's next push finds it long again.
  std::map<unsigned, std::set<std::string>> trims;
  SteadyClock::time_point last_heartbeat{};
  std::mt19937 rng{std::random_device{}()};
  metrics::Counter& processed = metrics::registry().counter(
      "herald_ingest_events_processed_total", "Events applied to customer state");
  metrics::Counter& malformed = metrics::registry().counter(
      "herald_ingest_events_malformed_total", "Stream entries that could not be read (removed)");
  metrics::Counter& timers_fired =
      metrics::registry().counter("herald_timers_fired_total", "Timers fired");
  metrics::Histogram& timer_lag = metrics::registry().histogram(
      "herald_timer_lag_seconds", "Delay between a timer's due time and its firing");
  bool unwatch_first = false;  // a pass failed between WATCH and EXEC
  std::atomic<bool> stopping{false};  // stop(): give the partitions back
  std::atomic<bool> stopped{false};

  /// Gives every owned partition back and leaves the live consumers, so that the other
  /// gateways take the partitions over at once instead of after the lease expires.
  asio::awaitable<void> leave(redis::Client& redis) {
    for (auto p : owned) {
      std::vector<std::string> lease_keys{keys::lease(p)};
      std::vector<std::string> lease_args{consumer};
      co_await kRelease.run(redis, lease_keys, lease_args);
    }
    owned.clear();
    co_await redis.command("ZREM", keys::kConsumers, consumer);
  }
  std::set<unsigned> gauged;   // partitions whose pending-timer gauge this worker set

  /// Removes the consumer group that earlier gateways read a partition's stream with: its
  /// pending list would only hold entries that are still in the stream anyway. Done by
  /// whoever takes the partition; an error (no stream, no group) changes nothing.
  asio::awaitable<void> forget_group(redis::Client& redis, unsigned p) {
    auto r = co_await redis.command("XGROUP", "DESTROY", keys::stream(p), keys::kOldGroup);
    if (r.is_error()) log->debug("partition {}: XGROUP DESTROY: {}", p, r.str);
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
        trims.erase(*it);
        it = owned.erase(it);
      }
    }
    while (owned.size() > target) {
      auto p = *owned.rbegin();
      std::vector<std::string> lease_keys{keys::lease(p)};
      std::vector<std::string> lease_args{consumer};
      co_await kRelease.run(redis, lease_keys, lease_args);
      owned.erase(p);
      trims.erase(p);
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
        co_await forget_group(redis, p);
        owned.insert(p);
      }
    }
  }

  static std::vector<Entry> parse_entries(const redis::Reply& list, std::vector<std::string>& bad) {
    std::vector<Entry> out;
    for (const auto& item : list.elements) {
      if (!item.is_array() || item.elements.size() < 2) continue;
      const auto& id = item.elements[0].str;
      const auto& kv = item.elements[1].elements;
      if (kv.size() == 2 && kv[0].str == ingest::kPackedField) {  // as ingest writes them
        if (auto event = ingest::unpack_event(kv[1].str)) out.push_back({id, std::move(*event)});
        else bad.push_back(id);
        continue;
      }
      ingest::StreamFields fields;
      for (std::size_t i = 0; i + 1 < kv.size(); i += 2) fields.emplace_back(kv[i].str, kv[i + 1].str);
      if (auto event = ingest::from_stream_fields(fields)) out.push_back({id, std::move(*event)});
      else bad.push_back(id);
    }
    return out;
  }

  /// A stream id ("ms-seq") as its two numbers, which order it.
  static std::pair<unsigned long long, unsigned long long> split_stream_id(const std::string& id) {
    auto dash = id.find('-');
    return {std::strtoull(id.c_str(), nullptr, 10),
            dash == std::string::npos ? 0 : std::strtoull(id.c_str() + dash + 1, nullptr, 10)};
  }

  /// The entries read from one partition's stream.
  struct Batch {
    unsigned partition = 0;
    std::vector<Entry> entries;
    std::vector<std::string> bad;  // unreadable: trimmed without effect
  };

  /// The highest id of a batch's entries, readable or not.
  static std::pair<unsigned long long, unsigned long long> last_id(const Batch& batch) {
    std::pair<unsigned long long, unsigned long long> last{0, 0};
    for (const auto& e : batch.entries) last = std::max(last, split_stream_id(e.id));
    for (const auto& id : batch.bad) last = std::max(last, split_stream_id(id));
    return last;
  }

  /// What applying a batch reads first: its customers (first seen first), whether each is
  /// read whole, and the reads (the lease's WATCH and GET, then the profiles). `states`
  /// holds their answers when they went out with the previous batch's transaction.
  struct Prepared {
    std::vector<std::string> order;
    std::vector<bool> full;
    std::map<std::string, std::vector<const Entry*>> by_customer;
    std::vector<std::vector<std::string>> reads;
    std::optional<std::vector<redis::Reply>> states;
  };

  Prepared prepare(const Batch& batch) const {
    const auto p = batch.partition;
    Prepared out;
    for (const auto& e : batch.entries) {
      auto& list = out.by_customer[e.event.user_id];
      if (list.empty()) out.order.push_back(e.event.user_id);
      list.push_back(&e);
    }
    out.reads = {{"WATCH", keys::lease(p)}, {"GET", keys::lease(p)}};
    for (const auto& id : out.order) {
      // Traits, consent, runs and entries are read (parsed, and serialised back) only for
      // a customer whose events bring traits or concern the sink: for the others (a page
      // view no workflow looks at) the times, the stats and the history are all there is
      // to change.
      bool whole = false;
      for (const auto* e : out.by_customer[id])
        whole = whole || has_traits(e->event) || (sink && sink->needs_state(e->event));
      out.full.push_back(whole);
      out.reads.push_back(profile_read(id, whole));
    }
    return out;
  }

  /// Applies the batches of a pass in turn. On one Redis, each batch's reads go out in the
  /// same pipeline as the previous batch's transaction, after its EXEC (which ends that
  /// transaction's WATCH, so the next WATCH starts afresh): a batch waits on Redis once
  /// instead of twice, and so once instead of twice behind another processor's
  /// transaction. On a cluster the batches' partitions may sit on different nodes: each
  /// batch reads, then writes.
  asio::awaitable<void> apply_all(redis::Client& redis, const std::vector<Batch>& batches) {
    std::vector<Prepared> prepared;
    prepared.reserve(batches.size());
    for (const auto& batch : batches) prepared.push_back(prepare(batch));
    for (std::size_t i = 0; i < batches.size(); ++i) {
      auto* next = i + 1 < batches.size() && !config.redis.cluster ? &prepared[i + 1] : nullptr;
      co_await apply(redis, batches[i], prepared[i], next);
    }
  }

  /// Applies a partition's batch to its customers and removes its entries from the
  /// stream, in one transaction under a WATCH of the partition's lease: a consumer that
  /// lost the lease while it worked (a stall, a pause) commits nothing, and the entries
  /// stay in the stream for the new owner. The reads go in one pipeline and the
  /// transaction in the next (on one Redis, with the next batch's reads: `next`). A pass
  /// applies its partitions one at a time: on a cluster a transaction cannot span slots,
  /// and on one Redis a transaction of one partition's batch (at most kReadCount events)
  /// costs Redis less than one of every owned partition's. Redis copies a transaction's
  /// commands to the append-only file after EXEC; from a smaller one they are still in
  /// the CPU's caches (measured: about a tenth less Redis CPU per event, and a steadier
  /// figure). Runs on the processor's own connection, where no other coroutine's MULTI
  /// can meet the WATCH.
  asio::awaitable<void> apply(redis::Client& redis, const Batch& batch, Prepared& prepared,
                              Prepared* next) {
    const auto p = batch.partition;
    const auto& order = prepared.order;
    const auto& full = prepared.full;
    auto& by_customer = prepared.by_customer;
    unwatch_first = true;
    std::vector<redis::Reply> states;
    if (prepared.states) states = std::move(*prepared.states);
    else states = co_await redis.pipeline(prepared.reads);
    if (states[1].str != consumer) {
      log->info("partition {}: lease lost before its batch was committed; left to its owner", p);
      co_await redis.command("UNWATCH");
      unwatch_first = false;
      co_return;
    }

    std::vector<std::vector<std::string>> txs{{"MULTI"}};
    Deferred deferred;
    std::vector<std::vector<std::string>> index_writes;
    auto& index = config.redis.cluster ? index_writes : txs;
    // (position in txs, key) of each history push, whose answer is the list's length.
    std::vector<std::pair<std::size_t, std::string>> pushes;
    for (std::size_t c = 0; c < order.size(); ++c) {
      const auto& id = order[c];
      auto values = profile_values(states[2 + c], full[c]);
      auto state = customer_from_fields(values, full[c]);
      // A partial read cannot be completed (the sink's workflows changed since): the pass
      // fails before it commits anything and is read again whole.
      if (!full[c]) state.source = nullptr;
      std::vector<std::string> history;
      Commands decisions;
      for (const auto* e : by_customer[id]) {
        apply_event(state, e->event, history);
        if (sink) sink->decide(id, state, e->event, decisions);
      }
      if (auto at = write_customer(txs, index, id, values, state, history))
        pushes.emplace_back(*at, txs[*at][1]);
      deferred.push(txs, decisions);
    }
    if (auto t = trims.find(p); t != trims.end()) {
      for (const auto& key : t->second)
        txs.push_back({"LTRIM", key, "0", std::to_string(kHistory - 1)});
      trims.erase(t);
    }
    // Processed entries leave the stream, which holds only what is still to do: the batch
    // is the stream's first entries, so the stream is trimmed up to its last.
    auto last = last_id(batch);
    txs.push_back({"XTRIM", keys::stream(p), "MINID", "=",
                   std::to_string(last.first) + "-" + std::to_string(last.second + 1)});
    txs.push_back({"DECRBY", keys::backlog(p),
                   std::to_string(batch.entries.size() + batch.bad.size())});
    deferred.flush(txs);
    txs.push_back({"EXEC"});
    co_await write_index(redis, index_writes);
    const auto written = txs.size();
    if (next)
      txs.insert(txs.end(), std::make_move_iterator(next->reads.begin()),
                 std::make_move_iterator(next->reads.end()));
    auto results = co_await redis.pipeline(txs);
    if (next) {
      next->states.emplace(std::make_move_iterator(results.begin() + written),
                           std::make_move_iterator(results.end()));
      results.resize(written);
    }
    unwatch_first = next != nullptr;  // the next batch's WATCH is on
    const auto& exec = results.back();
    if (exec.is_nil()) {
      log->info("partition {}: lease changed while its batch was applied; left to its new owner",
                p);
      co_return;
    }
    if (!exec.is_array()) throw redis::CommandError("EXEC failed: " + exec.str);
    for (const auto& r : exec.elements)
      if (r.is_error()) log->error("a write of a processed batch failed: {}", r.str);
    for (auto& [at, key] : pushes) {
      // The answers of the commands after MULTI, in order.
      if (at == 0 || at - 1 >= exec.elements.size()) continue;
      auto length = exec.elements[at - 1].as_integer();
      if (length && *length > static_cast<int64_t>(kHistory + kHistorySlack))
        trims[p].insert(std::move(key));
    }
    processed.inc(batch.entries.size());
    if (!batch.bad.empty()) {
      malformed.inc(batch.bad.size());
      log->error("partition {}: {} unreadable entries removed", p, batch.bad.size());
    }
  }

  struct DueTimer {
    Timer timer;
    unsigned partition;
    unsigned bucket;
    std::string member;
    std::string score;
  };

  /// Fires the due timers of the owned partitions. Returns true when a limit cut the pass
  /// short (more timers may be due already).
  asio::awaitable<bool> fire_timers(redis::Client& redis) {
    if (owned.empty()) co_return false;
    std::vector<DueTimer> due;
    bool more = co_await read_due(redis, due);
    if (due.empty()) co_return more;
    if (!config.redis.cluster) {
      co_await fire(redis, due);
      co_return more;
    }
    // On a cluster, one transaction per partition: a partition's lease, timers and
    // customers share its slot, and a transaction cannot span slots.
    std::map<unsigned, std::vector<DueTimer>> by_partition;
    for (auto& d : due) by_partition[d.partition].push_back(std::move(d));
    for (auto& [p, group] : by_partition) co_await fire(redis, group);
    co_return more;
  }

  /// The due timers of the owned partitions, in due order: due buckets from the indexes,
  /// then their due timers. Returns true when a limit was reached.
  asio::awaitable<bool> read_due(redis::Client& redis, std::vector<DueTimer>& due) {
    auto now = clock.now_ms();
    auto now_text = std::to_string(now);
    std::vector<unsigned> partitions(owned.begin(), owned.end());
    std::vector<std::vector<std::string>> probe;
    if (unwatch_first) probe.push_back({"UNWATCH"});
    for (auto p : partitions)
      probe.push_back({"ZRANGEBYSCORE", keys::timer_index(p), "-inf", now_text, "LIMIT", "0",
                       std::to_string(kFireBuckets)});
    auto indexes = co_await redis.pipeline(probe);
    if (unwatch_first) indexes.erase(indexes.begin());
    unwatch_first = false;

    bool more = false;
    std::vector<std::pair<unsigned, unsigned>> buckets;  // (partition, bucket)
    std::vector<std::vector<std::string>> reads;
    for (std::size_t i = 0; i < partitions.size(); ++i) {
      if (!indexes[i].is_array()) throw redis::CommandError("ZRANGEBYSCORE: " + indexes[i].str);
      if (indexes[i].elements.size() >= static_cast<std::size_t>(kFireBuckets)) more = true;
      for (const auto& b : indexes[i].elements) {
        auto bucket = b.as_integer();
        if (!bucket) continue;
        auto p = partitions[i];
        buckets.emplace_back(p, static_cast<unsigned>(*bucket));
        reads.push_back({"ZRANGEBYSCORE", keys::timer_bucket(p, static_cast<unsigned>(*bucket)),
                         "-inf", now_text, "WITHSCORES", "LIMIT", "0",
                         std::to_string(kFirePerBucket)});
      }
    }
    if (buckets.empty()) co_return false;
    auto contents = co_await redis.pipeline(reads);

    for (std::size_t i = 0; i < buckets.size(); ++i) {
      const auto& items = contents[i].elements;
      if (items.size() >= 2 * static_cast<std::size_t>(kFirePerBucket)) more = true;
      for (std::size_t j = 0; j + 1 < items.size(); j += 2) {
        DueTimer d{{}, buckets[i].first, buckets[i].second, items[j].str, items[j + 1].str};
        if (!timers::decode_member(d.member, d.timer)) {
          log->error("partition {}: unreadable timer removed", d.partition);
        }
        d.timer.due_ms = std::llround(std::strtod(d.score.c_str(), nullptr));
        due.push_back(std::move(d));
      }
    }
    // Each customer's timers in due order; customers in the order of their first timer.
    std::stable_sort(due.begin(), due.end(), [](const DueTimer& a, const DueTimer& b) {
      return a.timer.due_ms < b.timer.due_ms;
    });
    co_return more;
  }

  /// Loads the customers of due timers, and commits their state, the sink's writes and
  /// the timers' removal in one MULTI/EXEC under a WATCH of the partitions' leases.
  asio::awaitable<void> fire(redis::Client& redis, const std::vector<DueTimer>& due) {
    std::vector<std::string> order;
    std::map<std::string, std::vector<const DueTimer*>> by_customer;
    std::set<unsigned> involved;
    for (const auto& d : due) {
      involved.insert(d.partition);
      if (d.timer.customer_id.empty()) continue;
      auto& list = by_customer[d.timer.customer_id];
      if (list.empty()) order.push_back(d.timer.customer_id);
      list.push_back(&d);
    }

    // The lease checks and the customers' state, after the WATCH: if another consumer
    // takes one of these partitions before EXEC, the transaction is dropped.
    std::vector<std::vector<std::string>> load;
    std::vector<std::string> watch{"WATCH"};
    for (auto p : involved) watch.push_back(keys::lease(p));
    load.push_back(std::move(watch));
    for (auto p : involved) load.push_back({"GET", keys::lease(p)});
    for (const auto& id : order) {
      load.push_back(profile_read(id));
    }
    unwatch_first = true;
    auto loaded = co_await redis.pipeline(load);
    std::set<unsigned> lost;
    {
      std::size_t i = 1;
      for (auto p : involved)
        if (loaded[i++].str != consumer) lost.insert(p);
    }
    if (lost.size() == involved.size()) {
      co_await redis.command("UNWATCH");
      unwatch_first = false;
      for (auto p : lost) log->info("partition {}: lease lost before firing timers", p);
      co_return;
    }

    std::vector<std::vector<std::string>> tx{{"MULTI"}};
    Deferred deferred;
    std::vector<std::vector<std::string>> index_writes;
    auto& index = config.redis.cluster ? index_writes : tx;
    using Fired = std::vector<std::pair<std::string, std::string>>;  // (member, score)
    std::map<std::pair<unsigned, unsigned>, Fired> removals;         // by (partition, bucket)
    for (const auto& d : due)
      if (!lost.count(d.partition))
        removals[{d.partition, d.bucket}].emplace_back(d.member, d.score);
    for (const auto& [where, fired] : removals)
      tx.push_back(timers::remove_fired(where.first, where.second, fired));
    std::size_t fired_count = 0;
    std::size_t first_state = 1 + involved.size();
    for (std::size_t i = 0; i < order.size(); ++i) {
      const auto& id = order[i];
      const auto& timers_of = by_customer[id];
      if (lost.count(timers_of.front()->partition)) continue;
      auto values = profile_values(loaded[first_state + i]);
      auto state = customer_from_fields(values);
      Commands decisions;
      for (const auto* d : timers_of) {
        if (sink) sink->fire(d->timer, state, decisions);
        ++fired_count;
      }
      write_customer(tx, index, id, values, state, {});
      deferred.push(tx, decisions);
    }
    deferred.flush(tx);
    tx.push_back({"EXEC"});
    co_await write_index(redis, index_writes);
    auto results = co_await redis.pipeline(tx);
    unwatch_first = false;
    const auto& exec = results.back();
    if (exec.is_nil()) {
      log->info("a partition's lease changed while firing timers; left to its new owner");
      co_return;
    }
    if (!exec.is_array()) throw redis::CommandError("EXEC failed: " + exec.str);
    for (const auto& r : exec.elements)
      if (r.is_error()) log->error("a write of a fired timer failed: {}", r.str);
    timers_fired.inc(fired_count);
    auto fired_at = clock.now_ms();
    for (const auto& d : due)
      if (!lost.count(d.partition) && !d.timer.customer_id.empty())
        timer_lag.observe(std::max<int64_t>(0, fired_at - d.timer.due_ms) / 1000.0);
  }

  asio::awaitable<void> write_index(redis::Client& redis,
                                    const std::vector<std::vector<std::string>>& writes) {
    if (writes.empty()) co_return;
    auto replies = co_await redis.pipeline(writes);
    for (const auto& r : replies)
      if (r.is_error()) throw redis::CommandError("address index: " + r.str);
  }

  /// The pending timers of the owned partitions, as gauges (refreshed with the heartbeat).
  asio::awaitable<void> refresh_pending(redis::Client& redis) {
    for (auto it = gauged.begin(); it != gauged.end();) {
      if (owned.count(*it)) {
        ++it;
      } else {
        pending_gauge(*it).set(0);
        it = gauged.erase(it);
      }
    }
    if (owned.empty()) co_return;
    std::vector<std::vector<std::string>> reads;  // one GET each: the keys' slots differ
    for (auto p : owned) reads.push_back({"GET", keys::timer_count(p)});
    auto replies = co_await redis.pipeline(reads);
    std::size_t i = 0;
    for (auto p : owned) {
      if (i < replies.size()) pending_gauge(p).set(replies[i].as_integer().value_or(0));
      gauged.insert(p);
      ++i;
    }
  }

  static metrics::Gauge& pending_gauge(unsigned p) {
    return metrics::registry().gauge("herald_timers_pending", "Timers scheduled and not yet fired",
                                     "partition=\"" + std::to_string(p) + "\"");
  }

  void apply_event(CustomerState& state, const ingest::Event& event,
                   std::vector<std::string>& history) {
    auto at = ingest::format_rfc3339(event.timestamp);
    if (state.created_at.empty()) state.created_at = at;
    if (state.updated_at.empty() || at > state.updated_at) state.updated_at = at;
    if (has_traits(event)) {
      state.complete();
      merge_traits(state.traits, ingest::parse_stored_json(event.traits));
      state.traits_changed = true;
    }
    if (event.type != ingest::EventType::kTrack) return;
    if (event.event == config.stats.order_event)
      state.stats = ingest::apply_order(state.stats, ingest::parse_stored_json(event.properties),
                                        event.timestamp);
    // The properties as ingest wrote them (an object of minified JSON), without a parse
    // and a dump.
    history.push_back(history_entry(event.event, event.properties, event.timestamp));
  }

  /// The customer's state into `tx`; the address index's changes into `index`. On a
  /// cluster the index is written before the transaction (an address key has a slot of
  /// its own), idempotently, so that a transaction replayed after a crash writes it again.
  /// Returns the position in `tx` of the history's LPUSH, if any.
  std::optional<std::size_t> write_customer(std::vector<std::vector<std::string>>& tx,
                                            std::vector<std::vector<std::string>>& index,
                                            const std::string& id,
                                            const std::vector<std::optional<std::string>>& read,
                                            const CustomerState& state,
                                            const std::vector<std::string>& history) {
    // Only the fields that changed are written. A field back to empty (no runs, no
    // orders) is removed: it reads the same when absent and takes no memory.
    auto empty_stats = state.stats.orders == 0 && state.stats.revenue == 0 &&
                       !state.stats.first_order_at && !state.stats.last_order_at;
    // A partial state leaves traits, runs and entries as they were read; traits no event
    // or step changed are written back as they were read. Those fields are compared and
    // written from `read` itself, the others from the values made here.
    const bool partial = state.partial;
    const bool traits_as_read = partial || (!state.traits_changed && read[0]);
    std::optional<std::string> made[std::size(kWritten)];
    auto made_if = [&](bool absent, const OJson& value) {
      return absent ? std::nullopt : std::optional<std::string>(ingest::dump_json(value));
    };
    if (!traits_as_read) made[0] = ingest::dump_json(state.traits);
    if (!empty_stats) made[1] = stats_to_stored(state.stats);
    made[2] = state.created_at;
    made[3] = state.updated_at;
    if (!partial) made[4] = made_if(state.runs.empty(), state.runs);
    if (!partial) made[5] = made_if(state.entries.empty(), state.entries);
    const bool as_read[] = {traits_as_read, false, false, false, partial, partial};
    static_assert(std::size(as_read) == std::size(kWritten));
    std::vector<std::string> set{"HSET", keys::customer(id)};
    std::vector<std::string> drop;
    for (std::size_t i = 0; i < std::size(kWritten); ++i) {
      const auto field = kWritten[i];
      if (as_read[i] || made[i] == read[field]) continue;
      if (made[i]) {
        set.push_back(kProfileFields[field]), set.push_back(std::move(*made[i]));
      } else {
        if (drop.empty()) drop = {"HDEL", set[1]};
        drop.push_back(kProfileFields[field]);
      }
    }
    if (set.size() > 2) tx.push_back(std::move(set));
    if (!drop.empty()) tx.push_back(std::move(drop));
    std::optional<std::size_t> pushed;
    if (!history.empty()) {
      std::vector<std::string> push{"LPUSH", keys::customer_events(id)};
      push.insert(push.end(), history.begin(), history.end());
      pushed = tx.size();
      tx.push_back(std::move(push));
    }
    // The address index follows the traits: unchanged traits leave it as it is. Those
    // read are parsed again to compare only when they changed (an identify, an update).
    if (traits_as_read || !state.traits_changed) return pushed;
    auto before = ingest::channel_addresses(ingest::parse_stored_json(read[0].value_or("{}")));
    auto after = ingest::channel_addresses(state.traits);
    for (const auto& a : before)
      if (std::find(after.begin(), after.end(), a) == after.end())
        index.push_back(release_address_command(a.channel, a.address, id));
    for (const auto& a : after)
      if (std::find(before.begin(), before.end(), a) == before.end())
        index.push_back({"SET", keys::address(a.channel, a.address), id});
    return pushed;
  }

  /// The first entries of the owned partitions' streams, as XREAD answers them: one
  /// command over every stream, blocking up to 100 ms when no timer is left to fire. A
  /// cluster refuses a command over streams of several slots, and a blocked command holds
  /// its node's connection, so there each stream is read on its own, without blocking,
  /// and an empty answer pauses the loop briefly.
  ///
  /// No consumer group: the partition's lease already makes one consumer its reader, and
  /// a stream holds only what is left to do (each pass trims what it committed), so every
  /// read starts at its beginning, after "0-0": a new owner's first read, a read after
  /// a failed pass, and a read after Redis lost its last writes alike. A group's pending
  /// list would cost Redis an entry and an XCLAIM in the append-only file for every event
  /// read, and an XACK to take it out again.
  asio::awaitable<redis::Reply> read_streams(redis::Client& reader, bool timers_left) {
    auto command = [&](auto first, auto last) {
      std::vector<std::string> cmd{"XREAD", "COUNT", std::to_string(kReadCount)};
      if (!timers_left && !config.redis.cluster) {
        cmd.push_back("BLOCK");
        cmd.push_back("100");
      }
      cmd.push_back("STREAMS");
      for (auto it = first; it != last; ++it) cmd.push_back(keys::stream(*it));
      for (auto it = first; it != last; ++it) cmd.push_back("0-0");
      return cmd;
    };
    if (!config.redis.cluster) {
      auto cmd = command(owned.begin(), owned.end());
      auto reply = co_await reader.command(cmd);
      if (reply.is_nil()) reply.type = redis::Reply::Type::kArray;
      co_return reply;
    }
    std::vector<std::vector<std::string>> reads;
    for (auto it = owned.begin(); it != owned.end(); ++it) reads.push_back(command(it, std::next(it)));
    auto replies = co_await reader.pipeline(reads);
    redis::Reply all;
    all.type = redis::Reply::Type::kArray;
    for (auto& r : replies) {
      if (r.is_error()) co_return r;
      for (auto& stream : r.elements) all.elements.push_back(std::move(stream));
    }
    co_return all;
  }

  asio::awaitable<void> run(redis::Client& reader, redis::Client& writer) {
    asio::steady_timer pause(co_await asio::this_coro::executor);
    for (;;) {
      bool failed = false;
      try {
        if (stopping) {
          if (!stopped && writer.connected()) co_await leave(writer);
          stopped = true;
          pause.expires_after(std::chrono::milliseconds(50));
          co_await pause.async_wait(asio::use_awaitable);
          continue;
        }
        if (!reader.connected() || !writer.connected()) {
          pause.expires_after(std::chrono::milliseconds(200));
          co_await pause.async_wait(asio::use_awaitable);
          continue;
        }
        if (SteadyClock::now() - last_heartbeat >= kHeartbeat) {
          co_await rebalance(writer);
          co_await refresh_pending(writer);
          last_heartbeat = SteadyClock::now();
        }
        if (owned.empty()) {
          pause.expires_after(std::chrono::milliseconds(200));
          co_await pause.async_wait(asio::use_awaitable);
          continue;
        }
        bool timers_left = co_await fire_timers(reader);
        auto reply = co_await read_streams(reader, timers_left);
        if (reply.is_error()) throw redis::CommandError(reply.str);
        if (config.redis.cluster && !timers_left && reply.elements.empty()) {
          pause.expires_after(kClusterPoll);
          co_await pause.async_wait(asio::use_awaitable);
        }
        std::vector<Batch> batches;
        for (const auto& stream : reply.elements) {
          if (stream.elements.size() < 2) continue;
          Batch batch;
          for (auto candidate : owned)
            if (keys::stream(candidate) == stream.elements[0].str) batch.partition = candidate;
          batch.entries = parse_entries(stream.elements[1], batch.bad);
          if (batch.entries.empty() && batch.bad.empty()) continue;
          batches.push_back(std::move(batch));
        }
        co_await apply_all(reader, batches);
      } catch (const std::exception& e) {
        log->warn("event processing paused: {}", e.what());
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
                               EventSink* sink, const Clock* clock)
    : impl_(std::make_unique<Impl>(config, std::move(consumer), sink, clock)) {}
EventProcessor::~EventProcessor() = default;

asio::awaitable<void> EventProcessor::run(redis::Client& reader, redis::Client& writer) {
  co_await impl_->run(reader, writer);
}

void EventProcessor::stop() { impl_->stopping = true; }

bool EventProcessor::stopped() const { return impl_->stopped; }

}  // namespace herald::gateway
