// The workflow engine's triggers other than events (date, inactive, churn_risk, segment,
// schedule), the wait_until step and Engine::replace, against a real redis-server, driven
// by EventProcessors and a manual clock.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <date/tz.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "gateway/customer_state.hpp"
#include "gateway/engine/engine.hpp"
#include "gateway/engine/local_time.hpp"
#include "gateway/event_processor.hpp"
#include "gateway/ingest/event.hpp"
#include "gateway/keys.hpp"
#include "gateway/redis/redis_client.hpp"
#include "templates/template_set.hpp"
#include "tests/support/io_run.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/temp_dir.hpp"
#include "workflows/dsl/parser.hpp"
#include "workflows/dsl/segments.hpp"

namespace asio = boost::asio;
using namespace herald;
using herald::test::RedisServer;
using Json = nlohmann::ordered_json;
using namespace std::chrono;

namespace {

constexpr unsigned kPartitions = 4;
constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 3'600'000;
constexpr int64_t kDay = 24 * kHour;

/// Milliseconds of a UTC civil time.
int64_t utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  sys_days civil{std::chrono::year{y} / std::chrono::month{mo} / std::chrono::day{d}};
  return duration_cast<milliseconds>((civil + hours(h) + minutes(mi)).time_since_epoch()).count();
}

config::Config test_config(const std::string& zone = "UTC") {
  config::Config c;
  c.redis.partitions = kPartitions;
  herald::keys::set_partitions(c.redis.partitions);
  c.policies.default_timezone = zone;
  return c;
}

std::shared_ptr<const workflows::Workflow> parse(const std::string& yaml) {
  auto result = workflows::parse_workflow(yaml, "test.yaml");
  for (const auto& f : result.findings) INFO(f.message);
  REQUIRE(result.workflow);
  return result.workflow;
}

gateway::engine::SegmentsPtr segments(const std::string& yaml) {
  auto result = workflows::parse_segments(yaml, "segments.yaml");
  for (const auto& f : result.findings) INFO(f.message);
  REQUIRE(result.segments);
  return result.segments;
}

templates::TemplateSet test_templates(const test::TempDir& dir) {
  dir.write("hello.yaml", "template: hello\nemail:\n  subject: \"Hi\"\n  text: \"Hello\"\n");
  return templates::TemplateSet::load(dir.path());
}

void append(const RedisServer& redis, const std::string& user, const std::string& name,
            const std::string& properties, int64_t timestamp_ms, const std::string& traits,
            ingest::EventType type = ingest::EventType::kTrack) {
  ingest::Event e;
  e.type = type;
  e.user_id = user;
  e.event = type == ingest::EventType::kTrack ? name : "";
  e.properties = type == ingest::EventType::kTrack ? properties : "";
  e.traits = traits;
  e.context = "{}";
  e.integrations = "{}";
  e.timestamp = ingest::Timestamp(milliseconds(timestamp_ms));
  e.received_at = e.timestamp;
  unsigned p = keys::partition_of(user, kPartitions);
  std::vector<std::string> args{"XADD", keys::stream(p), "*"};
  for (auto& [k, v] : ingest::to_stream_fields(e)) args.push_back(k), args.push_back(v);
  REQUIRE_FALSE(redis.cli(args).empty());
  redis.cli({"INCR", keys::backlog(p)});
}

/// An engine per processor (as gateway processes have), sharing one manual clock.
struct Harness {
  Harness(const RedisServer& redis, std::vector<gateway::engine::WorkflowPtr> workflows,
          gateway::engine::SegmentsPtr segs = nullptr, const std::string& zone = "UTC",
          int64_t start = utc(2027, 1, 10), int processors = 1)
      : server(redis), clock(start), config(test_config(zone)) {
    for (int i = 0; i < processors; ++i) {
      auto n = std::make_unique<Node>();
      n->engine = std::make_unique<gateway::engine::Engine>(workflows, test_templates(dir), config,
                                                            clock, segs);
      n->reader = std::make_unique<redis::Client>(ioc, redis::parse_url(redis.url()));
      n->writer = std::make_unique<redis::Client>(ioc, redis::parse_url(redis.url()));
      n->processor = std::make_unique<gateway::EventProcessor>(
          config, "c" + std::to_string(i), n->engine.get(), &clock);
      n->reader->start();
      n->writer->start();
      asio::co_spawn(ioc, n->processor->run(*n->reader, *n->writer), asio::detached);
      nodes.push_back(std::move(n));
    }
  }

  void run_for(milliseconds d) {
    auto deadline = steady_clock::now() + d;
    while (steady_clock::now() < deadline) {
      ioc.restart();
      ioc.run_for(milliseconds(20));
    }
  }
  template <typename F>
  bool run_until(F done, seconds timeout = seconds(10)) {
    return test::run_until(ioc, done, timeout);
  }
  void drain() {
    REQUIRE(run_until([&] {
      for (unsigned p = 0; p < kPartitions; ++p) {
        auto v = server.cli({"GET", keys::backlog(p)});
        if (!v.empty() && v != "0") return false;
      }
      return true;
    }));
  }
  void event(const std::string& user, const std::string& name, const std::string& properties = "{}",
             const std::string& traits = "{}") {
    append(server, user, name, properties, clock.now_ms(), traits);
    drain();
  }
  void identify(const std::string& user, const std::string& traits) {
    append(server, user, "", "", clock.now_ms(), traits, ingest::EventType::kIdentify);
    drain();
  }
  std::string stat(const std::string& workflow, const std::string& field) {
    return server.cli({"HGET", gateway::engine::stats_key(workflow), field});
  }
  Json field(const std::string& user, const std::string& f) {
    auto text = server.cli({"HGET", keys::customer(user), f});
    return Json::parse(text.empty() ? "{}" : text);
  }
  Json runs(const std::string& user) { return field(user, "r"); }
  Json traits(const std::string& user) { return field(user, "t"); }
  /// The due time (ms) of a trigger timer as the engine booked it; 0 when none.
  int64_t booked(const std::string& user, const std::string& timer) {
    auto h = field(user, "h");
    if (!h.contains("_timers") || !h["_timers"].contains(timer)) return 0;
    return h["_timers"][timer].get<int64_t>();
  }
  /// Whether the timer exists in Redis (its bucket holds it).
  bool timer_exists(const std::string& user, const std::string& timer) {
    auto p = keys::partition_of(user, kPartitions);
    auto bucket = gateway::timers::bucket_of(user, timer, kPartitions);
    auto members = server.cli({"ZRANGE", keys::timer_bucket(p, bucket), "0", "-1"});
    return members.find(user + "\x1f" + timer + "\x1f") != std::string::npos;
  }
  bool member(const std::string& segment, const std::string& user) {
    auto p = keys::partition_of(user, kPartitions);
    return server.cli({"SISMEMBER", gateway::engine::segment_key(p, segment), user}) == "1";
  }
  /// Sets the clock and lets due timers fire.
  void at(int64_t ms, milliseconds settle = milliseconds(300)) {
    clock.set(ms);
    run_for(settle);
  }

  struct Node {
    std::unique_ptr<gateway::engine::Engine> engine;
    std::unique_ptr<redis::Client> reader, writer;
    std::unique_ptr<gateway::EventProcessor> processor;
  };

  const RedisServer& server;
  test::TempDir dir;
  gateway::ManualClock clock;
  config::Config config;
  asio::io_context ioc;
  std::vector<std::unique_ptr<Node>> nodes;
};

}  // namespace

// ---- local times ------------------------------------------------------------------------

TEST_CASE("engine local time: anniversaries, 29 February and daylight saving") {
  using gateway::engine::next_anniversary;
  const auto* utc_zone = gateway::engine::zone_or("UTC", "UTC");
  const auto* ny = gateway::engine::zone_or("America/New_York", "UTC");
  workflows::TimeOfDay nine{9, 0};

  // 29 February falls on 28 February in a year without one, on 29 February otherwise.
  CHECK(next_anniversary({2, 29}, nine, seconds(0), utc_zone, utc(2027, 1, 10)) ==
        utc(2027, 2, 28, 9));
  CHECK(next_anniversary({2, 29}, nine, seconds(0), utc_zone, utc(2028, 1, 10)) ==
        utc(2028, 2, 29, 9));
  // The offset is applied in local time, after the day is chosen.
  CHECK(next_anniversary({5, 20}, nine, -hours(24), utc_zone, utc(2027, 1, 10)) ==
        utc(2027, 5, 19, 9));
  // Passed this year: next year.
  CHECK(next_anniversary({1, 5}, nine, seconds(0), utc_zone, utc(2027, 1, 10)) ==
        utc(2028, 1, 5, 9));

  // 14 March 2027, New York: 02:00 EST jumps to 03:00 EDT. 02:30 does not exist: the
  // first valid instant after the gap, 03:00 EDT = 07:00 UTC.
  CHECK(next_anniversary({3, 14}, {2, 30}, seconds(0), ny, utc(2027, 1, 10)) ==
        utc(2027, 3, 14, 7));
  // 7 November 2027: 02:00 EDT goes back to 01:00 EST. 01:30 happens twice: the first,
  // 01:30 EDT = 05:30 UTC (not 06:30 UTC).
  CHECK(next_anniversary({11, 7}, {1, 30}, seconds(0), ny, utc(2027, 1, 10)) ==
        utc(2027, 11, 7, 5, 30));
  // An ordinary day in either season: 09:00 EST = 14:00 UTC, 09:00 EDT = 13:00 UTC.
  CHECK(next_anniversary({1, 20}, nine, seconds(0), ny, utc(2027, 1, 10)) == utc(2027, 1, 20, 14));
  CHECK(next_anniversary({7, 20}, nine, seconds(0), ny, utc(2027, 1, 10)) == utc(2027, 7, 20, 13));

  // Cron ticks read in a zone follow the same rules.
  auto cron = workflows::CronSchedule::parse("30 2 * * *");
  REQUIRE(cron);
  CHECK(gateway::engine::next_cron_tick(*cron, ny, utc(2027, 3, 13, 12)) == utc(2027, 3, 14, 7));
  CHECK(gateway::engine::next_cron_tick(*cron, ny, utc(2027, 3, 14, 7)) == utc(2027, 3, 15, 6, 30));
  auto early = workflows::CronSchedule::parse("30 1 * * *");
  REQUIRE(early);
  CHECK(gateway::engine::next_cron_tick(*early, ny, utc(2027, 11, 7, 0)) == utc(2027, 11, 7, 5, 30));
  CHECK(gateway::engine::next_cron_tick(*early, ny, utc(2027, 11, 7, 5, 30)) ==
        utc(2027, 11, 8, 6, 30));

  CHECK_FALSE(gateway::engine::parse_month_day("1990-02-30"));
  CHECK_FALSE(gateway::engine::parse_month_day("May 20"));
  CHECK(gateway::engine::parse_month_day("1992-02-29T00:00:00Z")->day == 29);
}

// ---- date ---------------------------------------------------------------------------------

TEST_CASE("engine: a date trigger fires at the anniversary, then next year; cancelled with the trait") {
  RedisServer redis;
  Harness h(redis, {parse(R"(workflow: bday
trigger:
  date: customer.birthday
  at: "09:00"
  offset: -1d
steps:
  - update: { set: { greeted: true } }
)")});
  h.identify("ann", R"({"birthday": "1990-05-20"})");
  const auto due = utc(2027, 5, 19, 9);
  REQUIRE(h.booked("ann", "trg|bday") == due);
  CHECK(h.timer_exists("ann", "trg|bday"));

  h.at(due - 1);
  CHECK(h.stat("bday", "entered").empty());
  h.clock.set(due);
  REQUIRE(h.run_until([&] { return h.stat("bday", "entered") == "1"; }));
  REQUIRE(h.run_until([&] { return h.traits("ann").value("greeted", false); }));
  CHECK(h.runs("ann")["bday"].is_null());  // completed
  // Set for next year.
  REQUIRE(h.run_until([&] { return h.booked("ann", "trg|bday") == utc(2028, 5, 19, 9); }));
  CHECK(h.timer_exists("ann", "trg|bday"));

  // The trait removed: the timer goes.
  h.identify("ann", R"({"birthday": null})");
  CHECK(h.booked("ann", "trg|bday") == 0);
  CHECK_FALSE(h.timer_exists("ann", "trg|bday"));
}

TEST_CASE("engine: a 29 February birthday fires on 28 February in a year without one") {
  RedisServer redis;
  Harness h(redis, {parse("workflow: leap\ntrigger: { date: customer.birthday, at: \"10:00\" }\n"
                          "steps:\n  - update: { set: { greeted: true } }\n")});
  h.identify("lea", R"({"birthday": "2000-02-29"})");
  REQUIRE(h.booked("lea", "trg|leap") == utc(2027, 2, 28, 10));
  h.at(utc(2027, 2, 28, 10) - 1);
  CHECK(h.stat("leap", "entered").empty());
  h.clock.set(utc(2027, 2, 28, 10));
  REQUIRE(h.run_until([&] { return h.stat("leap", "entered") == "1"; }));
  // 2028 is a leap year: 29 February.
  REQUIRE(h.run_until([&] { return h.booked("lea", "trg|leap") == utc(2028, 2, 29, 10); }));
}

TEST_CASE("engine: a date trigger follows daylight saving and a change of time zone") {
  RedisServer redis;
  Harness h(redis,
            {parse("workflow: spring\ntrigger: { date: customer.anniversary, at: \"02:30\" }\n"
                   "steps:\n  - exit: done\n"),
             parse("workflow: fall\ntrigger: { date: customer.renewal, at: \"01:30\" }\n"
                   "steps:\n  - exit: done\n")},
            nullptr, "America/New_York");
  // No timezone trait: policies.default_timezone (America/New_York).
  h.identify("ned", R"({"anniversary": "2015-03-14", "renewal": "2019-11-07"})");
  // 02:30 on 14 March 2027 does not exist in New York: 03:00 EDT.
  CHECK(h.booked("ned", "trg|spring") == utc(2027, 3, 14, 7));
  // 01:30 on 7 November 2027 happens twice: the first, EDT.
  CHECK(h.booked("ned", "trg|fall") == utc(2027, 11, 7, 5, 30));

  // A new time zone moves both timers.
  h.identify("ned", R"({"timezone": "Europe/Paris"})");
  CHECK(h.booked("ned", "trg|spring") == utc(2027, 3, 14, 1, 30));  // CET = UTC+1
  CHECK(h.booked("ned", "trg|fall") == utc(2027, 11, 7, 0, 30));
  CHECK(h.timer_exists("ned", "trg|spring"));

  // A new date moves it too, and it fires at the new instant.
  h.identify("ned", R"({"anniversary": "2015-02-01"})");
  CHECK(h.booked("ned", "trg|spring") == utc(2027, 2, 1, 1, 30));
  h.at(utc(2027, 2, 1, 1, 30) - 1);
  CHECK(h.stat("spring", "entered").empty());
  h.clock.set(utc(2027, 2, 1, 1, 30));
  REQUIRE(h.run_until([&] { return h.stat("spring", "entered") == "1"; }));
}

// ---- inactive -----------------------------------------------------------------------------

TEST_CASE("engine: an inactive trigger is moved by every event of its name and fires once") {
  RedisServer redis;
  Harness h(redis, {parse("workflow: idle\ntrigger: { inactive: { event: app.opened, for: 3d } }\n"
                          "steps:\n  - exit: done\n")});
  const auto t0 = h.clock.now_ms();
  h.event("ian", "page.viewed");
  CHECK(h.booked("ian", "trg|idle") == 0);  // not its event
  h.event("ian", "app.opened");
  CHECK(h.booked("ian", "trg|idle") == t0 + 3 * kDay);
  h.at(t0 + kDay);
  h.event("ian", "app.opened");
  CHECK(h.booked("ian", "trg|idle") == t0 + 4 * kDay);
  h.event("ian", "page.viewed");  // other events do not move it
  CHECK(h.booked("ian", "trg|idle") == t0 + 4 * kDay);

  h.at(t0 + 3 * kDay);  // the first silence would have ended here
  CHECK(h.stat("idle", "entered").empty());
  h.at(t0 + 4 * kDay - 1);
  CHECK(h.stat("idle", "entered").empty());
  h.clock.set(t0 + 4 * kDay);
  REQUIRE(h.run_until([&] { return h.stat("idle", "entered") == "1"; }));
  // Once: no new timer until the next such event.
  CHECK(h.booked("ian", "trg|idle") == 0);
  h.at(t0 + 20 * kDay);
  CHECK(h.stat("idle", "entered") == "1");
}

// ---- churn risk ---------------------------------------------------------------------------

TEST_CASE("engine: a churn_risk trigger fires at the computed crossing, moved by a new order") {
  RedisServer redis;
  Harness h(redis, {parse("workflow: risk\ntrigger: { churn_risk: { above: 0.5 } }\n"
                          "steps:\n  - exit: done\n")});
  const auto t0 = h.clock.now_ms();
  h.event("cho", "order.completed", R"({"total": 10})");
  h.at(t0 + 10 * kDay);
  h.event("cho", "order.completed", R"({"total": 10})");
  // g = 10 days; crossing 0.5 at last + g·ln 2.
  const auto crossing =
      t0 + 10 * kDay + static_cast<int64_t>(std::llround(10.0 * kDay * std::log(2.0)));
  auto booked = h.booked("cho", "trg|risk");
  CHECK(std::llabs(booked - crossing) <= 1);

  // A new order before the crossing moves it (g = 7.5 days from then).
  h.at(t0 + 15 * kDay);
  h.event("cho", "order.completed", R"({"total": 10})");
  const auto moved =
      t0 + 15 * kDay + static_cast<int64_t>(std::llround(7.5 * kDay * std::log(2.0)));
  booked = h.booked("cho", "trg|risk");
  CHECK(std::llabs(booked - moved) <= 1);
  h.at(crossing + kHour);  // the old crossing passes: nothing
  CHECK(h.stat("risk", "entered").empty());
  h.at(booked - 1);
  CHECK(h.stat("risk", "entered").empty());
  h.clock.set(booked);
  REQUIRE(h.run_until([&] { return h.stat("risk", "entered") == "1"; }));
  // Once per crossing.
  h.at(booked + 100 * kDay);
  CHECK(h.stat("risk", "entered") == "1");
  CHECK(h.booked("cho", "trg|risk") == 0);
}

// ---- segments -----------------------------------------------------------------------------

TEST_CASE("engine: entering a segment starts its workflow once per entry, membership kept in a set") {
  RedisServer redis;
  Harness h(redis,
            {parse("workflow: gold-welcome\ntrigger: { segment: { enters: gold } }\n"
                   "steps:\n  - update: { set: { welcomed: true } }\n")},
            segments("segments:\n  gold: customer.plan == 'gold'\n"
                     "  big: customer.stats.revenue > 1000\n"));
  h.identify("gus", R"({"plan": "silver"})");
  CHECK_FALSE(h.member("gold", "gus"));
  CHECK(h.stat("gold-welcome", "entered").empty());

  h.identify("gus", R"({"plan": "gold"})");
  CHECK(h.member("gold", "gus"));
  CHECK(h.stat("gold-welcome", "entered") == "1");
  CHECK(h.traits("gus").value("welcomed", false));

  // Still a member: no new entry on further changes.
  h.event("gus", "page.viewed", "{}", R"({"first_name": "Gus"})");
  h.identify("gus", R"({"city": "Oslo"})");
  CHECK(h.stat("gold-welcome", "entered") == "1");

  // Leaves, then enters again: a new run (no `once`).
  h.identify("gus", R"({"plan": "silver"})");
  CHECK_FALSE(h.member("gold", "gus"));
  h.identify("gus", R"({"plan": "gold"})");
  CHECK(h.member("gold", "gus"));
  CHECK(h.stat("gold-welcome", "entered") == "2");

  // Orders move a stats-based segment.
  h.event("gus", "order.completed", R"({"total": 1500})");
  CHECK(h.member("big", "gus"));

  // Erasure's commands remove the memberships and the timers.
  std::vector<std::optional<std::string>> values;
  for (const auto& f : gateway::kProfileFields) {
    auto v = redis.cli({"HGET", keys::customer("gus"), f});
    values.push_back(v.empty() ? std::nullopt : std::optional<std::string>(v));
  }
  auto state = gateway::customer_from_fields(values);
  for (const auto& cmd : gateway::engine::erasure_commands("gus", state, kPartitions))
    redis.cli(cmd);
  CHECK_FALSE(h.member("gold", "gus"));
  CHECK_FALSE(h.member("big", "gus"));
}

TEST_CASE("engine: a time-based segment is left at the computed moment by its timer") {
  RedisServer redis;
  Harness h(redis,
            {parse("workflow: lapsed\ntrigger: { segment: { enters: lapsed } }\n"
                   "steps:\n  - exit: done\n")},
            segments("segments:\n  fresh: now - customer.created_at < 7d\n"
                     "  lapsed: days_since(customer.stats.last_order_at) > 30\n"));
  const auto t0 = h.clock.now_ms();
  h.event("tim", "order.completed", R"({"total": 5})");
  CHECK(h.member("fresh", "tim"));
  CHECK_FALSE(h.member("lapsed", "tim"));
  // The earliest change: leaving `fresh` 7 days after creation.
  CHECK(h.booked("tim", "seg") == t0 + 7 * kDay);

  h.at(t0 + 7 * kDay - 1);
  CHECK(h.member("fresh", "tim"));
  h.clock.set(t0 + 7 * kDay);
  REQUIRE(h.run_until([&] { return !h.member("fresh", "tim"); }));
  // Next: 31 whole days since the order.
  REQUIRE(h.run_until([&] { return h.booked("tim", "seg") == t0 + 31 * kDay; }));
  h.at(t0 + 31 * kDay - 1);
  CHECK_FALSE(h.member("lapsed", "tim"));
  h.clock.set(t0 + 31 * kDay);
  REQUIRE(h.run_until([&] { return h.member("lapsed", "tim"); }));
  REQUIRE(h.run_until([&] { return h.stat("lapsed", "entered") == "1"; }));
}

// ---- schedule -----------------------------------------------------------------------------

TEST_CASE("engine: a schedule broadcasts to the segment's members only, once across processors") {
  RedisServer redis;
  std::string many = "segments:\n  gold: customer.plan == 'gold'\n";
  Harness h(redis,
            {parse("workflow: weekly\ntrigger: { schedule: { cron: \"0 9 * * *\", segment: gold } }\n"
                   "steps:\n  - update: { set: { got: run.entered_at } }\n")},
            segments(many), "UTC", utc(2027, 1, 10, 12), 2);
  // Enough members for several batches per partition.
  constexpr int kMembers = 600;
  for (int i = 0; i < kMembers; ++i)
    append(redis, "m" + std::to_string(i), "", "", h.clock.now_ms(), R"({"plan": "gold"})",
           ingest::EventType::kIdentify);
  append(redis, "outsider", "", "", h.clock.now_ms(), R"({"plan": "silver"})",
         ingest::EventType::kIdentify);
  h.drain();
  int64_t members = 0;
  for (unsigned p = 0; p < kPartitions; ++p)
    members += std::stoll(redis.cli({"SCARD", gateway::engine::segment_key(p, "gold")}));
  CHECK(members == kMembers);

  h.at(utc(2027, 1, 11, 9) - 1);
  CHECK(h.stat("weekly", "entered").empty());
  h.clock.set(utc(2027, 1, 11, 9));
  REQUIRE(h.run_until([&] { return h.stat("weekly", "entered") == std::to_string(kMembers); },
                      seconds(30)));
  h.run_for(milliseconds(500));
  CHECK(h.stat("weekly", "entered") == std::to_string(kMembers));  // once each, not twice
  CHECK_FALSE(h.traits("outsider").contains("got"));
  CHECK(h.traits("m7")["got"] == "2027-01-11T09:00:00Z");

  // The next tick: a day later, once more each.
  h.clock.set(utc(2027, 1, 12, 9));
  REQUIRE(h.run_until(
      [&] { return h.stat("weekly", "entered") == std::to_string(2 * kMembers); }, seconds(30)));
  h.run_for(milliseconds(500));
  CHECK(h.stat("weekly", "entered") == std::to_string(2 * kMembers));
}

// ---- wait_until ---------------------------------------------------------------------------

TEST_CASE("engine: wait_until waits for the next listed day at the customer's local time") {
  RedisServer redis;
  Harness h(redis, {parse(R"(workflow: later
trigger: { event: signed_up }
steps:
  - wait_until: { at: "09:00", days: [mon, wed] }
  - update: { set: { woke: true } }
)")},
            nullptr, "UTC", utc(2027, 1, 12, 10));  // a Tuesday, 10:00 UTC
  h.event("wes", "signed_up", "{}", R"({"timezone": "America/New_York"})");
  auto run = h.runs("wes")["later"];
  REQUIRE(run["state"] == "waiting");
  // Wednesday 13 January, 09:00 EST = 14:00 UTC.
  CHECK(run["wake_at"] == "2027-01-13T14:00:00.000Z");
  h.at(utc(2027, 1, 13, 14) - 1);
  CHECK_FALSE(h.traits("wes").contains("woke"));
  h.clock.set(utc(2027, 1, 13, 14));
  REQUIRE(h.run_until([&] { return h.traits("wes").value("woke", false); }));

  // Across the change to summer time: Sunday 14 March 2027 → Monday 15 March, 09:00 EDT.
  h.clock.set(utc(2027, 3, 13, 12));
  h.event("wes", "signed_up");
  CHECK(h.runs("wes")["later"]["wake_at"] == "2027-03-15T13:00:00.000Z");
}

// ---- replace ------------------------------------------------------------------------------

TEST_CASE("engine: replace starts new runs on the new version, runs in flight keep theirs") {
  RedisServer redis;
  const std::string v1 =
      "workflow: swap\ntrigger: { event: go }\nsteps:\n  - wait: 1h\n"
      "  - update: { set: { version: 1 } }\n";
  const std::string v2 =
      "workflow: swap\ntrigger: { event: go }\nsteps:\n  - wait: 1h\n"
      "  - update: { set: { version: 2 } }\n";
  Harness h(redis, {parse(v1)});
  h.event("old", "go");
  h.nodes[0]->engine->replace({parse(v2)}, test_templates(h.dir));
  h.event("new", "go");
  CHECK(h.runs("old")["swap"]["version"] != h.runs("new")["swap"]["version"]);
  h.clock.advance(kHour);
  REQUIRE(h.run_until([&] {
    return h.traits("old").value("version", 0) == 1 && h.traits("new").value("version", 0) == 2;
  }));
}

// ---- the examples -------------------------------------------------------------------------

namespace {
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}
}  // namespace

TEST_CASE("engine: the birthday and VIP examples run end to end") {
  RedisServer redis;
  const std::string root = HERALD_SOURCE_DIR;
  auto birthday = parse(read_file(root + "/workflows/examples/birthday.yaml"));
  auto vip = parse(read_file(root + "/workflows/examples/vip.yaml"));
  auto segs = segments(read_file(root + "/workflows/examples/segments.yaml"));
  test::TempDir dir;
  auto config = test_config("Europe/Paris");
  gateway::ManualClock clock(utc(2027, 1, 10));
  gateway::engine::Engine engine({birthday, vip},
                                 templates::TemplateSet::load(root + "/templates/examples"),
                                 config, clock, segs);
  asio::io_context ioc;
  redis::Client reader(ioc, redis::parse_url(redis.url())), writer(ioc, redis::parse_url(redis.url()));
  gateway::EventProcessor processor(config, "c0", &engine, &clock);
  reader.start();
  writer.start();
  asio::co_spawn(ioc, processor.run(reader, writer), asio::detached);
  auto run_until = [&](auto done) {
    auto deadline = steady_clock::now() + seconds(10);
    while (!done()) {
      if (steady_clock::now() > deadline) return false;
      ioc.restart();
      ioc.run_for(milliseconds(20));
    }
    return true;
  };
  // The templates of the customer's messages, from the messages' hashes.
  auto messages = [&](const std::string& user) {
    std::string templates;
    std::istringstream list(redis.cli({"LRANGE", keys::customer_messages(user), "0", "-1"}));
    for (std::string line; std::getline(list, line);) {
      auto entry = nlohmann::json::parse(line, nullptr, false);
      if (!entry.is_object() || !entry["id"].is_string()) continue;
      auto origin = nlohmann::json::parse(
          redis.cli({"HGET", gateway::engine::message_key(user, entry["id"].get<std::string>()),
                     gateway::messages::kOriginField}),
          nullptr, false);
      templates += (origin.is_object() ? origin.value("template", "") : "") + "\n";
    }
    return templates;
  };

  append(redis, "bea", "", "", clock.now_ms(),
         R"({"email": "bea@example.com", "first_name": "Bea", "birthday": "1991-03-02"})",
         ingest::EventType::kIdentify);
  REQUIRE(run_until([&] {
    return redis.cli({"HGET", keys::customer("bea"), "h"}).find("trg|birthday") != std::string::npos;
  }));
  // The day before, 09:00 in Paris (CET): 1 March 2027, 08:00 UTC.
  clock.set(utc(2027, 3, 1, 8));
  REQUIRE(run_until([&] { return messages("bea").find("birthday_coupon") != std::string::npos; }));
  REQUIRE(run_until([&] {
    auto t = redis.cli({"HGET", keys::customer("bea"), "t"});
    return t.find("last_birthday_coupon_at") != std::string::npos;
  }));

  // VIP: revenue over 1000 enters the segment and the welcome goes out.
  append(redis, "vic", "order.completed", R"({"total": 1200})", clock.now_ms(),
         R"({"email": "vic@example.com", "first_name": "Vic"})");
  REQUIRE(run_until([&] { return messages("vic").find("vip_welcome") != std::string::npos; }));
  CHECK(redis.cli({"HGET", gateway::engine::stats_key("vip-welcome"), "entered"}) == "1");
  auto p = keys::partition_of("vic", kPartitions);
  CHECK(redis.cli({"SISMEMBER", gateway::engine::segment_key(p, "vip"), "vic"}) == "1");
}

namespace {
/// Runs commands through a client of our own (scripts go as they are, binary-safe).
std::vector<redis::Reply> execute(const RedisServer& server, const gateway::Commands& commands) {
  asio::io_context ioc;
  redis::Client client(ioc, redis::parse_url(server.url()));
  client.start();
  for (int i = 0; i < 500 && !client.connected(); ++i) {
    ioc.restart();
    ioc.run_for(milliseconds(10));
  }
  REQUIRE(client.connected());
  std::vector<redis::Reply> replies;
  bool done = false;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        for (const auto& c : commands) replies.push_back(co_await client.command(c));
        done = true;
      },
      asio::detached);
  auto deadline = steady_clock::now() + seconds(10);
  while (!done && steady_clock::now() < deadline) {
    ioc.restart();
    ioc.run_for(milliseconds(20));
  }
  REQUIRE(done);
  return replies;
}
}  // namespace

TEST_CASE("engine: a broadcast batch puts each member's timer in the bucket timers use") {
  RedisServer redis;
  test::TempDir dir;
  auto config = test_config();
  gateway::ManualClock clock(utc(2027, 1, 10));
  gateway::engine::Engine engine(
      {parse("workflow: weekly\ntrigger: { schedule: { cron: \"0 9 * * *\", segment: gold } }\n"
             "steps:\n  - exit: done\n")},
      test_templates(dir), config, clock, segments("segments:\n  gold: customer.plan == 'gold'\n"));
  // A pseudo-customer of partition 1 carries the broadcast timer; members of partition 1.
  std::string broadcaster;
  for (int k = 0; broadcaster.empty(); ++k)
    if (keys::partition_of("b" + std::to_string(k), kPartitions) == 1)
      broadcaster = "b" + std::to_string(k);
  std::vector<std::string> members;
  for (int k = 0; members.size() < 300; ++k) {
    auto id = "member-" + std::to_string(k) + "-\xc3\xa9";  // multi-byte ids hash bytewise
    if (keys::partition_of(id, kPartitions) == 1) members.push_back(id);
  }
  std::vector<std::string> sadd{"SADD", gateway::engine::segment_key(1, "gold")};
  sadd.insert(sadd.end(), members.begin(), members.end());
  redis.cli(sadd);

  const std::string tick = std::to_string(utc(2027, 1, 10, 9));
  gateway::Timer timer{broadcaster, "bcast|weekly|" + tick, "0", clock.now_ms()};
  std::set<std::string> scheduled;
  for (int batch = 0; batch < 100; ++batch) {
    gateway::CustomerState nobody;
    gateway::Commands tx;
    engine.fire(timer, nobody, tx);
    for (const auto& answer : execute(redis, tx)) {
      INFO(answer.str);
      REQUIRE_FALSE(answer.is_error());
    }
    // The next batch, if any: the broadcast timer with the next cursor.
    auto bucket = gateway::timers::bucket_of(broadcaster, timer.id, kPartitions);
    auto left = redis.cli({"ZRANGE", keys::timer_bucket(1, bucket), "0", "-1"});
    auto at = left.find(broadcaster + "\x1f" + timer.id + "\x1f");
    if (at == std::string::npos) break;
    auto cursor = left.substr(at + broadcaster.size() + timer.id.size() + 2);
    cursor = cursor.substr(0, cursor.find('\n'));
    redis.cli({"ZREM", keys::timer_bucket(1, bucket), broadcaster + "\x1f" + timer.id + "\x1f" + cursor});
    redis.cli({"DECR", keys::timer_count(1)});
    timer.payload = cursor;
  }
  // Every member has its timer where timers::bucket_of() (and so cancel_timer) finds it.
  auto id = "sched|weekly|" + tick;
  for (const auto& m : members) {
    auto bucket = gateway::timers::bucket_of(m, id, kPartitions);
    auto in_bucket = redis.cli({"ZSCORE", keys::timer_bucket(1, bucket), m + "\x1f" + id + "\x1fweekly"});
    INFO(m);
    REQUIRE(in_bucket == std::to_string(clock.now_ms()));
  }
  CHECK(redis.cli({"GET", keys::timer_count(1)}) == std::to_string(members.size()));
  // cancel_timer finds them.
  gateway::Commands cancels;
  for (const auto& m : members)
    for (auto& c : gateway::cancel_timer(m, id, kPartitions)) cancels.push_back(std::move(c));
  execute(redis, cancels);
  CHECK(redis.cli({"GET", keys::timer_count(1)}) == "0");
}
