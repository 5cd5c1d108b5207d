// Durable timers against a real redis-server: fired by the partition's owner when a
// manual clock passes their due time, once, with the sink's writes; moved, cancelled,
// shared between consumers, taken over from a consumer that died, kept across a restart.
#include <utility>

#include <map>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include "gateway/event_processor.hpp"
#include "gateway/event_sink.hpp"
#include "gateway/keys.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/timers.hpp"
#include "tests/support/redis_server.hpp"

namespace asio = boost::asio;
using namespace herald;
using herald::test::RedisServer;

namespace {

constexpr unsigned kPartitions = 4;
constexpr int64_t kStart = 1'700'000'000'000;  // the manual clock's start (ms)

class TimerRecordingSink final : public gateway::EventSink {
 public:
  void decide(const std::string&, gateway::CustomerState&, const ingest::Event&,
              gateway::Commands&) override {}
  void fire(const gateway::Timer& timer, gateway::CustomerState& customer,
            gateway::Commands& tx) override {
    fired.push_back(timer.customer_id + "/" + timer.id + "/" + timer.payload);
    customer.traits["last_timer"] = timer.id;
    tx.push_back({"RPUSH", "fired:" + keys::tag(timer.customer_id), timer.id});
  }
  std::vector<std::string> fired;
};

config::Config test_config() {
  config::Config c;
  c.redis.partitions = kPartitions;
  herald::keys::set_partitions(c.redis.partitions);
  return c;
}

struct Consumer {
  Consumer(const RedisServer& redis, const std::string& name, gateway::EventSink* sink,
           const gateway::Clock* clock)
      : reader(ioc, redis::parse_url(redis.url())),
        writer(ioc, redis::parse_url(redis.url())),
        processor(test_config(), name, sink, clock) {
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

void run_for(std::vector<Consumer*> consumers, std::chrono::milliseconds d) {
  auto deadline = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < deadline)
    for (auto* c : consumers) c->run_for(std::chrono::milliseconds(20));
}

/// Sends commands (scripts included, which redis-cli's quoting cannot carry) in one
/// pipeline on a connection of its own, and returns the replies.
std::vector<redis::Reply> send(const RedisServer& server, const gateway::Commands& commands) {
  asio::io_context ioc;
  redis::Client client(ioc, redis::parse_url(server.url()));
  client.start();
  std::vector<redis::Reply> replies;
  std::exception_ptr error;
  bool done = false;
  auto task = [&]() -> asio::awaitable<void> {
    auto r = co_await client.pipeline(commands);
    replies = std::move(r);
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!client.connected() && std::chrono::steady_clock::now() < deadline) {
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(10));
  }
  REQUIRE(client.connected());
  asio::co_spawn(ioc, task, [&](std::exception_ptr e) { error = e, done = true; });
  while (!done && std::chrono::steady_clock::now() < deadline) {
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(10));
  }
  REQUIRE(done);
  if (error) std::rethrow_exception(error);
  client.stop();
  for (const auto& r : replies) REQUIRE_FALSE(r.is_error());
  return replies;
}

void schedule(const RedisServer& redis, const std::string& customer, const std::string& id,
              int64_t due, const std::string& payload = "p") {
  send(redis, gateway::schedule_timer(customer, id, due, payload, kPartitions));
}

std::string pending(const RedisServer& redis) {
  int64_t total = 0;
  for (unsigned p = 0; p < kPartitions; ++p) {
    auto v = redis.cli({"GET", keys::timer_count(p)});
    if (!v.empty()) total += std::stoll(v);
  }
  return std::to_string(total);
}

}  // namespace

TEST_CASE("timer names and members") {
  gateway::Timer t;
  REQUIRE(gateway::timers::decode_member(gateway::timers::encode_member("alice", "cart|r1|0",
                                                                        "a\x1f"
                                                                        "b"),
                                         t));
  CHECK(t.customer_id == "alice");
  CHECK(t.id == "cart|r1|0");
  CHECK(t.payload ==
        "a\x1f"
        "b");  // the payload may hold anything
  CHECK_FALSE(gateway::timers::decode_member("no separator", t));
  CHECK_THROWS_AS(gateway::schedule_timer("a\x1f", "t", 1, "", 4), std::invalid_argument);
  CHECK_THROWS_AS(gateway::cancel_timer("a", "", 4), std::invalid_argument);
  // A timer's commands touch only its customer's partition.
  auto cmds = gateway::schedule_timer("alice", "t", 1, "", 4);
  REQUIRE(cmds.size() == 1);
  auto p = keys::partition_of("alice", 4);
  CHECK(cmds[0][3] == keys::timer_bucket(p, gateway::timers::bucket_of("alice", "t", 4)));
  CHECK(cmds[0][4] == keys::timer_index(p));
  CHECK(gateway::timers::buckets_per_partition(16) == 1024);
  CHECK(gateway::timers::buckets_per_partition(100000) == 1);
}

TEST_CASE("a timer fires once when the clock passes its due time, with the sink's writes") {
  RedisServer redis;
  gateway::ManualClock clock(kStart);
  TimerRecordingSink sink;
  Consumer consumer(redis, "c1", &sink, &clock);
  schedule(redis, "alice", "cart|r1|wait", kStart + 60'000, "wait");
  CHECK(pending(redis) == "1");
  // Owning every partition, and still nothing: the timer is not due.
  REQUIRE(run_until(
      {&consumer},
      [&] {
        return redis.cli({"EXISTS", keys::lease(0), keys::lease(1), keys::lease(2),
                          keys::lease(3)}) == "4";
      },
      std::chrono::seconds(10)));
  run_for({&consumer}, std::chrono::milliseconds(500));
  clock.advance(59'999);
  run_for({&consumer}, std::chrono::milliseconds(500));
  CHECK(sink.fired.empty());

  clock.advance(1);
  REQUIRE(run_until(
      {&consumer}, [&] { return !sink.fired.empty(); }, std::chrono::seconds(10)));
  run_for({&consumer}, std::chrono::milliseconds(500));
  CHECK(sink.fired == std::vector<std::string>{"alice/cart|r1|wait/wait"});
  // The sink's write and the customer's changed state were committed with the removal.
  CHECK(redis.cli({"LRANGE", "fired:" + keys::tag("alice"), "0", "-1"}) == "cart|r1|wait");
  CHECK_THAT(redis.cli({"HGET", keys::customer("alice"), "t"}),
             Catch::Contains("\"last_timer\":\"cart|r1|wait\""));
  auto p = keys::partition_of("alice", kPartitions);
  CHECK(redis.cli({"ZCARD", keys::timer_index(p)}) == "0");
  CHECK(redis.cli({"ZCARD", keys::timer_bucket(p, gateway::timers::bucket_of(
                                                      "alice", "cart|r1|wait", kPartitions))}) ==
        "0");
  CHECK(pending(redis) == "0");
}

TEST_CASE("scheduling a timer again moves it, and cancelling it prevents it") {
  RedisServer redis;
  gateway::ManualClock clock(kStart);
  TimerRecordingSink sink;
  schedule(redis, "bob", "moved", kStart + 1'000, "first");
  schedule(redis, "bob", "moved", kStart + 10'000, "second");  // later, new payload
  schedule(redis, "bob", "earlier", kStart + 10'000, "x");
  schedule(redis, "bob", "earlier", kStart + 2'000, "y");  // earlier
  schedule(redis, "carol", "cancelled", kStart + 1'000);
  send(redis, gateway::cancel_timer("carol", "cancelled", kPartitions));
  send(redis, gateway::cancel_timer("carol", "never-scheduled", kPartitions));
  CHECK(pending(redis) == "2");

  Consumer consumer(redis, "c1", &sink, &clock);
  clock.advance(5'000);
  REQUIRE(run_until(
      {&consumer}, [&] { return sink.fired.size() == 1; }, std::chrono::seconds(10)));
  run_for({&consumer}, std::chrono::milliseconds(300));
  CHECK(sink.fired == std::vector<std::string>{"bob/earlier/y"});
  clock.advance(5'000);
  REQUIRE(run_until(
      {&consumer}, [&] { return sink.fired.size() == 2; }, std::chrono::seconds(10)));
  run_for({&consumer}, std::chrono::milliseconds(300));
  CHECK(sink.fired.back() == "bob/moved/second");
  CHECK(sink.fired.size() == 2);  // neither the old "moved" nor "cancelled"
  CHECK(redis.cli({"EXISTS", "fired:" + keys::tag("carol")}) == "0");
  CHECK(pending(redis) == "0");
}

TEST_CASE("a new timer written as plain commands keeps the bucket's index at its earliest") {
  RedisServer redis;
  gateway::ManualClock clock(kStart);
  TimerRecordingSink sink;
  // Two timers whose names share a bucket: find a second name for dan's bucket.
  const auto bucket = gateway::timers::bucket_of("dan", "a", kPartitions);
  std::string other;
  for (int i = 0; other.empty(); ++i)
    if (gateway::timers::bucket_of("dan", "b" + std::to_string(i), kPartitions) == bucket)
      other = "b" + std::to_string(i);
  const auto p = keys::partition_of("dan", kPartitions);
  send(redis, gateway::schedule_new_timer("dan", "a", kStart + 5'000, "late", kPartitions));
  CHECK(redis.cli({"ZSCORE", keys::timer_index(p), std::to_string(bucket)}) ==
        std::to_string(kStart + 5'000));
  // An earlier one lowers the bucket's index entry; a later one leaves it.
  send(redis, gateway::schedule_new_timer("dan", other, kStart + 1'000, "early", kPartitions));
  send(redis, gateway::schedule_new_timer("eve", "c", kStart + 9'000, "", kPartitions));
  CHECK(redis.cli({"ZSCORE", keys::timer_index(p), std::to_string(bucket)}) ==
        std::to_string(kStart + 1'000));
  CHECK(pending(redis) == "3");
  // The simulator reads the first command as a timer scheduled.
  auto cmds = gateway::schedule_new_timer("dan", "a", kStart, "x", kPartitions);
  REQUIRE(cmds.size() == 3);
  auto described = gateway::timers::describe_command(cmds[0]);
  REQUIRE(described);
  CHECK(described->timer.id == "a");
  CHECK(described->timer.due_ms == kStart);
  CHECK_FALSE(gateway::timers::describe_command(cmds[1]));

  Consumer consumer(redis, "c1", &sink, &clock);
  clock.advance(2'000);
  REQUIRE(run_until({&consumer}, [&] { return sink.fired.size() == 1; }, std::chrono::seconds(10)));
  clock.advance(10'000);
  REQUIRE(run_until({&consumer}, [&] { return sink.fired.size() == 3; }, std::chrono::seconds(10)));
  run_for({&consumer}, std::chrono::milliseconds(300));
  CHECK(sink.fired[0] == "dan/" + other + "/early");
  CHECK(std::set<std::string>(sink.fired.begin() + 1, sink.fired.end()) ==
        std::set<std::string>{"dan/a/late", "eve/c/"});
  CHECK(pending(redis) == "0");
}

TEST_CASE("a sink that schedules the fired timer again gets a new timer, not a lost one") {
  RedisServer redis;
  gateway::ManualClock clock(kStart);
  class Yearly final : public gateway::EventSink {
   public:
    explicit Yearly(gateway::Commands* log) : log_(log) {}
    void decide(const std::string&, gateway::CustomerState&, const ingest::Event&,
                gateway::Commands&) override {}
    void fire(const gateway::Timer& timer, gateway::CustomerState&,
              gateway::Commands& tx) override {
      log_->push_back({timer.id, std::to_string(timer.due_ms)});
      for (auto& c : gateway::schedule_timer(timer.customer_id, timer.id, timer.due_ms + 1'000,
                                             timer.payload, kPartitions))
        tx.push_back(std::move(c));
    }

   private:
    gateway::Commands* log_;
  };
  gateway::Commands log;
  Yearly sink(&log);
  Consumer consumer(redis, "c1", &sink, &clock);
  schedule(redis, "dave", "birthday", kStart + 1'000);
  for (int year = 1; year <= 3; ++year) {
    clock.advance(1'000);
    REQUIRE(run_until(
        {&consumer}, [&] { return log.size() == static_cast<std::size_t>(year); },
        std::chrono::seconds(10)));
  }
  run_for({&consumer}, std::chrono::milliseconds(300));
  REQUIRE(log.size() == 3);
  CHECK(log[2][1] == std::to_string(kStart + 3'000));
  CHECK(pending(redis) == "1");  // the next one
}

TEST_CASE("two consumers fire each of 1,000 timers exactly once") {
  RedisServer redis;
  gateway::ManualClock clock(kStart);
  TimerRecordingSink sink_a, sink_b;
  gateway::Commands commands;
  for (int n = 0; n < 1000; ++n)
    for (auto& c : gateway::schedule_timer("customer-" + std::to_string(n % 100),
                                           "timer-" + std::to_string(n), kStart + 1'000 + n, "p",
                                           kPartitions))
      commands.push_back(std::move(c));
  send(redis, commands);
  CHECK(pending(redis) == "1000");

  Consumer a(redis, "a", &sink_a, &clock);
  Consumer b(redis, "b", &sink_b, &clock);
  auto holders = [&] {
    std::map<std::string, int> count;
    for (unsigned p = 0; p < kPartitions; ++p) ++count[redis.cli({"GET", keys::lease(p)})];
    return count;
  };
  REQUIRE(run_until(
      {&a, &b},
      [&] {
        auto h = holders();
        return h["a"] == 2 && h["b"] == 2;
      },
      std::chrono::seconds(15)));
  clock.advance(2'000);
  REQUIRE(run_until(
      {&a, &b}, [&] { return sink_a.fired.size() + sink_b.fired.size() >= 1000; },
      std::chrono::seconds(30)));
  run_for({&a, &b}, std::chrono::milliseconds(500));
  CHECK_FALSE(sink_a.fired.empty());
  CHECK_FALSE(sink_b.fired.empty());
  std::set<std::string> all(sink_a.fired.begin(), sink_a.fired.end());
  all.insert(sink_b.fired.begin(), sink_b.fired.end());
  CHECK(sink_a.fired.size() + sink_b.fired.size() == 1000);
  CHECK(all.size() == 1000);
  int listed = 0;
  for (int c = 0; c < 100; ++c)
    listed += std::stoi(redis.cli({"LLEN", "fired:" + keys::tag("customer-" + std::to_string(c))}));
  CHECK(listed == 1000);
  CHECK(pending(redis) == "0");
}

TEST_CASE("timers of a consumer that died are fired by the other once its leases expire") {
  RedisServer redis;
  gateway::ManualClock clock(kStart);
  TimerRecordingSink sink_a, sink_b;
  gateway::Commands commands;
  for (int n = 0; n < 400; ++n)
    for (auto& c :
         gateway::schedule_timer("customer-" + std::to_string(n % 40), "timer-" + std::to_string(n),
                                 kStart + (n % 2 ? 60'000 : 1'000), "p", kPartitions))
      commands.push_back(std::move(c));
  send(redis, commands);

  auto a = std::make_unique<Consumer>(redis, "a", &sink_a, &clock);
  Consumer b(redis, "b", &sink_b, &clock);
  auto holders = [&] {
    std::map<std::string, int> count;
    for (unsigned p = 0; p < kPartitions; ++p) ++count[redis.cli({"GET", keys::lease(p)})];
    return count;
  };
  REQUIRE(run_until(
      {a.get(), &b},
      [&] {
        auto h = holders();
        return h["a"] == 2 && h["b"] == 2;
      },
      std::chrono::seconds(15)));
  clock.advance(1'000);  // the first half is due
  REQUIRE(run_until(
      {a.get(), &b}, [&] { return sink_a.fired.size() + sink_b.fired.size() == 200; },
      std::chrono::seconds(30)));
  CHECK_FALSE(sink_a.fired.empty());
  a.reset();  // stops without releasing its leases, as a killed process would
  clock.advance(59'000);
  REQUIRE(run_until(
      {&b}, [&] { return sink_a.fired.size() + sink_b.fired.size() == 400; },
      std::chrono::seconds(30)));
  run_for({&b}, std::chrono::milliseconds(500));
  CHECK(sink_a.fired.size() + sink_b.fired.size() == 400);
  std::set<std::string> all(sink_a.fired.begin(), sink_a.fired.end());
  all.insert(sink_b.fired.begin(), sink_b.fired.end());
  CHECK(all.size() == 400);
  for (unsigned p = 0; p < kPartitions; ++p) CHECK(redis.cli({"GET", keys::lease(p)}) == "b");
  CHECK(pending(redis) == "0");
}

TEST_CASE("timers survive a Redis restart and fire once") {
  RedisServer redis;
  gateway::ManualClock clock(kStart);
  TimerRecordingSink sink;
  gateway::Commands commands;
  for (int n = 0; n < 100; ++n)
    for (auto& c :
         gateway::schedule_timer("customer-" + std::to_string(n % 10), "timer-" + std::to_string(n),
                                 kStart + 10'000, "p", kPartitions))
      commands.push_back(std::move(c));
  send(redis, commands);
  Consumer consumer(redis, "c1", &sink, &clock);
  run_for({&consumer}, std::chrono::milliseconds(500));
  redis.stop();  // a clean shutdown writes the append-only file out
  run_for({&consumer}, std::chrono::milliseconds(300));
  redis.start();
  CHECK(pending(redis) == "100");
  clock.advance(10'000);
  REQUIRE(run_until(
      {&consumer}, [&] { return sink.fired.size() >= 100; }, std::chrono::seconds(30)));
  run_for({&consumer}, std::chrono::milliseconds(500));
  CHECK(sink.fired.size() == 100);
  CHECK(pending(redis) == "0");
  int listed = 0;
  for (int c = 0; c < 10; ++c)
    listed += std::stoi(redis.cli({"LLEN", "fired:" + keys::tag("customer-" + std::to_string(c))}));
  CHECK(listed == 100);
}

TEST_CASE("a consumer whose lease was taken does not fire the partition's timers") {
  RedisServer redis;
  gateway::ManualClock clock(kStart);
  TimerRecordingSink sink;
  gateway::Commands commands;
  for (int n = 0; n < 100; ++n)
    for (auto& c : gateway::schedule_timer("customer-" + std::to_string(n), "t", kStart + 1'000,
                                           "p", kPartitions))
      commands.push_back(std::move(c));
  send(redis, commands);
  Consumer consumer(redis, "a", &sink, &clock);
  REQUIRE(run_until(
      {&consumer},
      [&] {
        return redis.cli({"EXISTS", keys::lease(0), keys::lease(1), keys::lease(2),
                          keys::lease(3)}) == "4";
      },
      std::chrono::seconds(10)));
  // As if "a" had stalled past its lease and another consumer had taken every partition:
  // "a" has not noticed yet (its next heartbeat is up to a second away) when the timers
  // fall due.
  for (unsigned p = 0; p < kPartitions; ++p)
    redis.cli({"SET", keys::lease(p), "intruder", "PX", "60000"});
  clock.advance(1'000);
  run_for({&consumer}, std::chrono::milliseconds(1'500));
  CHECK(sink.fired.empty());
  CHECK(pending(redis) == "100");
  for (unsigned p = 0; p < kPartitions; ++p)
    CHECK(redis.cli({"GET", keys::lease(p)}) == "intruder");
}
