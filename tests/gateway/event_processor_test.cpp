// Event processing against a real redis-server: order per customer, the sink's writes
// committed with the events, and partitions taken over from a consumer that stopped.
#include <utility>

#include <map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include "gateway/customer_state.hpp"
#include "gateway/event_processor.hpp"
#include "gateway/event_sink.hpp"
#include "gateway/keys.hpp"
#include "gateway/redis/redis_client.hpp"
#include "tests/support/redis_server.hpp"

namespace asio = boost::asio;
using namespace herald;
using herald::test::RedisServer;

namespace {

class RecordingSink final : public gateway::EventSink {
 public:
  void decide(const std::string& customer_id, gateway::CustomerState& customer,
              const ingest::Event& event, gateway::Commands& tx) override {
    seen.push_back(customer_id + ":" + event.event + ":" + std::to_string(customer.stats.orders));
    tx.push_back({"RPUSH", "sink:" + keys::tag(customer_id), event.event});
  }
  std::vector<std::string> seen;
};

config::Config test_config() {
  config::Config c;
  c.redis.partitions = 4;
  herald::keys::set_partitions(c.redis.partitions);
  return c;
}

/// Appends a track event the way ingest does (stream entry + backlog counter).
void append(const RedisServer& redis, const std::string& user, const std::string& name, int n) {
  ingest::Event e;
  e.type = ingest::EventType::kTrack;
  e.user_id = user;
  e.event = name;
  e.properties = "{\"total\": 1, \"n\": " + std::to_string(n) + "}";
  e.traits = "{}";
  e.context = "{}";
  e.integrations = "{}";
  e.timestamp = std::chrono::time_point_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now() + std::chrono::milliseconds(n));
  e.received_at = e.timestamp;
  unsigned p = keys::partition_of(user, 4);
  std::vector<std::string> args{"XADD", keys::stream(p), "*"};
  for (auto& [k, v] : ingest::to_stream_fields(e)) args.push_back(k), args.push_back(v);
  REQUIRE_FALSE(redis.cli(args).empty());
  redis.cli({"INCR", keys::backlog(p)});
}

struct Consumer {
  Consumer(const RedisServer& redis, const std::string& name, gateway::EventSink* sink)
      : reader(ioc, redis::parse_url(redis.url())),
        writer(ioc, redis::parse_url(redis.url())),
        processor(test_config(), name, sink) {
    reader.start();
    writer.start();
    asio::co_spawn(ioc, processor.run(reader, writer), asio::detached);
  }
  void run_for(std::chrono::milliseconds d) {
    ioc.restart();
    ioc.run_for(d);
  }
  asio::io_context ioc;
  redis::Client reader, writer;
  gateway::EventProcessor processor;
};

template <typename F>
bool run_until(std::vector<Consumer*> consumers, F done, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    for (auto* c : consumers) c->run_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace

TEST_CASE("events are applied in each customer's order and the sink's writes are committed") {
  RedisServer redis;
  RecordingSink sink;
  // The consumer group of earlier versions, with an entry read and never acknowledged.
  redis.cli({"XGROUP", "CREATE", keys::stream(0), keys::kOldGroup, "0", "MKSTREAM"});
  redis.cli({"XADD", keys::stream(0), "*", "bad", "entry"});
  redis.cli({"INCR", keys::backlog(0)});
  redis.cli({"XREADGROUP", "GROUP", keys::kOldGroup, "old", "STREAMS", keys::stream(0), ">"});
  Consumer consumer(redis, "c1", &sink);
  for (int n = 0; n < 30; ++n) {
    append(redis, "alice", "order.completed", n);
    append(redis, "bob", n % 2 ? "order.completed" : "page.viewed", n);
  }
  // The sink sees an event before its pass commits: the streams' emptying is waited for.
  auto drained = [&] {
    for (unsigned p = 0; p < 4; ++p)
      if (redis.cli({"XLEN", keys::stream(p)}) != "0") return false;
    return true;
  };
  REQUIRE(run_until({&consumer}, [&] { return sink.seen.size() == 60 && drained(); },
                    std::chrono::seconds(20)));
  std::vector<std::string> alice;
  for (const auto& s : sink.seen)
    if (s.rfind("alice:", 0) == 0) alice.push_back(s);
  REQUIRE(alice.size() == 30);
  for (int n = 0; n < 30; ++n) CHECK(alice[n] == "alice:order.completed:" + std::to_string(n + 1));
  CHECK(redis.cli({"LLEN", "sink:" + keys::tag("alice")}) == "30");
  CHECK(redis.cli({"LLEN", "sink:" + keys::tag("bob")}) == "30");
  // Processed entries are removed; the backlog is back to zero.
  for (unsigned p = 0; p < 4; ++p) {
    auto backlog = redis.cli({"GET", keys::backlog(p)});
    CHECK((backlog == "0" || backlog.empty()));
  }
  CHECK_THAT(redis.cli({"HGET", keys::customer("alice"), "s"}), Catch::Contains("\"orders\":30"));
  // The old group is gone; its unreadable entry was trimmed like any other.
  CHECK(redis.cli({"XINFO", "GROUPS", keys::stream(0)}).empty());
}

TEST_CASE("history entries: the compact stored form and the API's object, old entries too") {
  using gateway::history_entry;
  using gateway::history_entry_json;
  const auto at = ingest::Timestamp(std::chrono::milliseconds(1700000000123));
  auto stored = history_entry("order.completed", R"({"total":12.5,"sku":"a\u001fb"})", at);
  CHECK(stored == std::string("\x01") + "1700000000123\x1f" + "order.completed\x1f" +
                      R"({"total":12.5,"sku":"a\u001fb"})");
  CHECK(history_entry_json(stored) ==
        R"({"event":"order.completed","properties":{"total":12.5,"sku":"a\u001fb"},)"
        R"("timestamp":"2023-11-14T22:13:20.123Z"})");
  // A name holding the separator, quotes or a backslash; properties that are not an object.
  auto odd = history_entry("a\x1f\"b\\", "[1]", at);
  auto shown = nlohmann::json::parse(history_entry_json(odd));
  CHECK(shown["event"] == "a\x1f\"b\\");
  CHECK(shown["properties"] == nlohmann::json::object());
  // Entries of earlier versions are shown as they were stored.
  const std::string old = R"({"event":"x","properties":{},"timestamp":"2024-01-01T00:00:00.000Z"})";
  CHECK(history_entry_json(old) == old);
  CHECK(history_entry_json(std::string("\x01") + "12x\x1fa\x1f{}") == "{}");  // unreadable
}

TEST_CASE("a customer's history keeps the latest 50 events, newest first, and at most 60") {
  RedisServer redis;
  RecordingSink sink;
  // A list is trimmed back to 50 in the pass after one that took it past 60: a customer
  // seen for the first time with 70 events in one pass, one with a few, then more events.
  auto length = [&](const std::string& id) {
    return std::stoi(redis.cli({"LLEN", keys::customer_events(id)}));
  };
  auto newest = [&](const std::string& id, int at) {
    return redis.cli({"LINDEX", keys::customer_events(id), std::to_string(at)});
  };
  for (int n = 0; n < 70; ++n) append(redis, "carl", "page.viewed", n);
  for (int n = 0; n < 3; ++n) append(redis, "dora", "page.viewed", n);
  Consumer consumer(redis, "c1", &sink);
  // (The sink sees an event before its pass commits: the lengths are waited for too.)
  REQUIRE(run_until({&consumer},
                    [&] {
                      return sink.seen.size() == 73 && length("dora") == 3 && length("carl") == 70;
                    },
                    std::chrono::seconds(20)));  // carl: trimmed with the partition's next pass
  CHECK_THAT(newest("carl", 0), Catch::Contains("\"n\": 69"));
  CHECK_THAT(newest("carl", 49), Catch::Contains("\"n\": 20"));
  {  // stored in the compact form; shown as the API's object
    auto stored = newest("carl", 0);
    REQUIRE_FALSE(stored.empty());
    CHECK(stored[0] == '\x01');
    auto shown = nlohmann::json::parse(gateway::history_entry_json(stored));
    CHECK(shown["event"] == "page.viewed");
    CHECK(shown["properties"]["n"] == 69);
    CHECK(shown["timestamp"].get<std::string>().size() == 24);
  }

  for (int n = 70; n < 75; ++n) append(redis, "carl", "page.viewed", n);
  for (int n = 3; n < 60; ++n) append(redis, "dora", "page.viewed", n);  // 60 in all
  REQUIRE(run_until({&consumer},
                    [&] {
                      return sink.seen.size() == 135 && length("dora") == 60 &&
                             length("carl") == 50;
                    },
                    std::chrono::seconds(20)));  // carl: its pass trimmed it, its new events first
  CHECK_THAT(newest("carl", 0), Catch::Contains("\"n\": 74"));
  CHECK_THAT(newest("carl", 49), Catch::Contains("\"n\": 25"));
  // dora: not past 60, left as it is
  CHECK_THAT(newest("dora", 0), Catch::Contains("\"n\": 59"));

  // One more event takes dora past 60; the pass after it trims her list back to 50.
  append(redis, "dora", "page.viewed", 60);
  REQUIRE(run_until({&consumer}, [&] { return sink.seen.size() == 136 && length("dora") == 61; },
                    std::chrono::seconds(20)));
  append(redis, "dora", "page.viewed", 61);
  REQUIRE(run_until({&consumer}, [&] { return sink.seen.size() == 137 && length("dora") == 50; },
                    std::chrono::seconds(20)));
  CHECK_THAT(newest("dora", 0), Catch::Contains("\"n\": 61"));
  CHECK_THAT(newest("dora", 49), Catch::Contains("\"n\": 12"));
}

/// Needs the customer's state for no event until "complete.me" first comes: then it
/// changes its mind between needs_state() and decide() (as the engine does when its
/// workflows are reloaded in between) and completes the partial state it was given.
class PartialSink final : public gateway::EventSink {
 public:
  bool needs_state(const ingest::Event& event) const override {
    return changed && event.event == "complete.me";
  }
  void decide(const std::string&, gateway::CustomerState& customer, const ingest::Event& event,
              gateway::Commands&) override {
    seen.push_back(event.event + (customer.partial ? ":partial" : ":full") + ":" +
                   std::to_string(customer.traits.size()));
    if (event.event != "complete.me") return;
    changed = true;
    customer.complete();  // throws when the traits and runs were not read: read again
    customer.runs["v"] = {{"id", "new"}};
    customer.traits["email"] = "carol.new@example.com";
    customer.traits_changed = true;
  }
  std::vector<std::string> seen;
  bool changed = false;
};

TEST_CASE("events the sink needs no state for leave traits, runs and entries as stored") {
  RedisServer redis;
  PartialSink sink;
  test_config();  // the partitions, which the keys below depend on
  const std::string traits = R"({"email":"carol@example.com","plan":"pro"})";
  const std::string runs = R"({"w":{"id":"x","state":"waiting"}})";
  const std::string entries = R"({"w":{"last":1,"count":1}})";
  redis.cli({"HSET", keys::customer("carol"), "t", traits, "r", runs, "h", entries, "ca",
             "2024-01-01T00:00:00.000Z", "ua", "2024-01-01T00:00:00.000Z"});
  redis.cli({"SET", keys::address("email", "carol@example.com"), "carol"});
  Consumer consumer(redis, "c1", &sink);
  auto drained = [&] {
    for (unsigned p = 0; p < 4; ++p)
      if (redis.cli({"XLEN", keys::stream(p)}) != "0") return false;
    return true;
  };
  append(redis, "carol", "page.viewed", 1);
  REQUIRE(run_until({&consumer}, [&] { return sink.seen.size() == 1 && drained(); },
                    std::chrono::seconds(20)));
  CHECK(sink.seen[0] == "page.viewed:partial:0");  // not parsed
  CHECK(redis.cli({"HGET", keys::customer("carol"), "t"}) == traits);
  CHECK(redis.cli({"HGET", keys::customer("carol"), "r"}) == runs);
  CHECK(redis.cli({"HGET", keys::customer("carol"), "h"}) == entries);
  CHECK(redis.cli({"HGET", keys::customer("carol"), "ua"}) != "2024-01-01T00:00:00.000Z");
  CHECK(redis.cli({"LLEN", keys::customer_events("carol")}) == "1");
  CHECK(redis.cli({"GET", keys::address("email", "carol@example.com")}) == "carol");

  // A sink that needs the state after all makes the pass fail before it commits; the
  // pass is read again whole, and the sink's changes are stored, the address index too.
  append(redis, "carol", "complete.me", 2);
  REQUIRE(run_until({&consumer}, [&] { return sink.seen.size() == 3 && drained(); },
                    std::chrono::seconds(20)));
  CHECK(sink.seen[1] == "complete.me:partial:0");
  CHECK(sink.seen[2] == "complete.me:full:2");
  CHECK(redis.cli({"LLEN", keys::customer_events("carol")}) == "2");  // applied once
  CHECK_THAT(redis.cli({"HGET", keys::customer("carol"), "r"}),
             Catch::Contains("\"w\"") && Catch::Contains("\"v\""));
  CHECK_THAT(redis.cli({"HGET", keys::customer("carol"), "t"}),
             Catch::Contains("carol.new@example.com") && Catch::Contains("\"plan\":\"pro\""));
  CHECK(redis.cli({"HGET", keys::customer("carol"), "h"}) == entries);
  CHECK(redis.cli({"GET", keys::address("email", "carol.new@example.com")}) == "carol");
  CHECK(redis.cli({"GET", keys::address("email", "carol@example.com")}).empty());
}

TEST_CASE("two consumers share the partitions and each event is applied once") {
  RedisServer redis;
  RecordingSink sink_a, sink_b;
  Consumer a(redis, "a", &sink_a);
  Consumer b(redis, "b", &sink_b);
  auto holders = [&] {
    std::map<std::string, int> count;
    for (unsigned p = 0; p < 4; ++p) ++count[redis.cli({"GET", keys::lease(p)})];
    return count;
  };
  // The first consumer takes every partition, then gives half back when the second joins.
  REQUIRE(run_until({&a, &b}, [&] { auto h = holders(); return h["a"] == 2 && h["b"] == 2; },
                    std::chrono::seconds(15)));
  for (int n = 0; n < 200; ++n) append(redis, "customer-" + std::to_string(n % 40), "order.completed", n);
  REQUIRE(run_until({&a, &b}, [&] { return sink_a.seen.size() + sink_b.seen.size() == 200; },
                    std::chrono::seconds(30)));
  // Both took partitions, and nothing was applied twice.
  CHECK_FALSE(sink_a.seen.empty());
  CHECK_FALSE(sink_b.seen.empty());
  int orders = 0;
  for (int c = 0; c < 40; ++c) {
    auto stats = redis.cli({"HGET", keys::customer("customer-" + std::to_string(c)), "s"});
    CHECK_THAT(stats, Catch::Contains("\"orders\":5,"));
    orders += 5;
  }
  CHECK(orders == 200);
}

TEST_CASE("a consumer that stops is replaced: its partitions and pending events are taken over") {
  RedisServer redis;
  RecordingSink sink_a, sink_b;
  auto a = std::make_unique<Consumer>(redis, "a", &sink_a);
  Consumer b(redis, "b", &sink_b);
  REQUIRE(run_until({a.get(), &b}, [&] {
    return redis.cli({"EXISTS", keys::lease(0), keys::lease(1), keys::lease(2), keys::lease(3)}) == "4";
  }, std::chrono::seconds(10)));
  a.reset();  // stops without releasing its leases, as a killed process would
  for (int n = 0; n < 100; ++n) append(redis, "customer-" + std::to_string(n % 20), "order.completed", n);
  REQUIRE(run_until({&b}, [&] { return sink_b.seen.size() == 100; }, std::chrono::seconds(30)));
  for (unsigned p = 0; p < 4; ++p) CHECK(redis.cli({"GET", keys::lease(p)}) == "b");
}

namespace {

/// Takes the lease of the partition it is working on away from the consumer in the middle
/// of a batch: between the batch's reads and its commit.
class LeaseThief final : public gateway::EventSink {
 public:
  explicit LeaseThief(const RedisServer& redis) : redis_(redis) {}
  void decide(const std::string& customer_id, gateway::CustomerState&, const ingest::Event& event,
              gateway::Commands& tx) override {
    if (armed) {
      redis_.cli({"SET", keys::lease(keys::partition_of(customer_id, 4)), "thief"});
      armed = false;
    }
    ++decided;
    tx.push_back({"RPUSH", "sink:" + keys::tag(customer_id), event.event});
  }
  bool armed = true;
  int decided = 0;

 private:
  const RedisServer& redis_;
};

}  // namespace

TEST_CASE("a consumer whose lease is taken in the middle of a batch commits nothing of it") {
  RedisServer redis;
  LeaseThief sink(redis);
  Consumer consumer(redis, "c1", &sink);
  for (int n = 0; n < 10; ++n) append(redis, "carol", "order.completed", n);
  const auto p = keys::partition_of("carol", 4);
  REQUIRE(run_until({&consumer}, [&] { return sink.decided >= 10; }, std::chrono::seconds(20)));
  consumer.run_for(std::chrono::milliseconds(300));
  // Nothing of the batch: no state, no sink write; the entries wait, unacknowledged.
  CHECK(redis.cli({"EXISTS", keys::customer("carol")}) == "0");
  CHECK(redis.cli({"LLEN", "sink:" + keys::tag("carol")}) == "0");
  CHECK(redis.cli({"XLEN", keys::stream(p)}) == "10");
  // The lease is free again: the consumer takes the partition back, claims what it left
  // pending, and applies each event once.
  redis.cli({"DEL", keys::lease(p)});
  REQUIRE(run_until({&consumer}, [&] { return redis.cli({"LLEN", "sink:" + keys::tag("carol")}) == "10"; },
                    std::chrono::seconds(20)));
  CHECK_THAT(redis.cli({"HGET", keys::customer("carol"), "s"}), Catch::Contains("\"orders\":10"));
  CHECK(redis.cli({"XLEN", keys::stream(p)}) == "0");
}
