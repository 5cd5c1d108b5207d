// The workflow engine against a real redis-server, driven by the EventProcessor and a
// manual clock: triggers, entry rules, waits, sends, branches, updates, exits, and a
// step processed again after a crash that does not send twice.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway/customer_state.hpp"
#include "gateway/engine/engine.hpp"
#include "gateway/event_processor.hpp"
#include "gateway/ingest/event.hpp"
#include "gateway/keys.hpp"
#include "gateway/messages.hpp"
#include "gateway/redis/redis_client.hpp"
#include "templates/template_set.hpp"
#include "tests/support/io_run.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/temp_dir.hpp"
#include "workflows/dsl/parser.hpp"

namespace asio = boost::asio;
using namespace herald;
namespace messages = herald::gateway::messages;
using herald::test::RedisServer;
using Json = nlohmann::ordered_json;

namespace {

constexpr unsigned kPartitions = 4;
constexpr int64_t kStart = 1'700'000'000'000;  // the manual clock's start (ms)
constexpr int64_t kHour = 3'600'000;

config::Config test_config() {
  config::Config c;
  c.redis.partitions = kPartitions;
  herald::keys::set_partitions(c.redis.partitions);
  return c;
}

std::shared_ptr<const workflows::Workflow> parse(const std::string& yaml) {
  auto result = workflows::parse_workflow(yaml, "test.yaml");
  for (const auto& f : result.findings) INFO(f.message);
  REQUIRE(result.workflow);
  return result.workflow;
}

templates::TemplateSet test_templates(const test::TempDir& dir) {
  dir.write("hello.yaml", R"(template: hello
email:
  subject: "Hi {{ customer.first_name }}"
  text: "Total {{ event.properties.total }}, code {{ data.code }}"
sms:
  body: "Hi {{ customer.first_name }}"
)");
  return templates::TemplateSet::load(dir.path());
}

/// Appends a track event the way ingest does (stream entry + backlog counter).
void append(const RedisServer& redis, const std::string& user, const std::string& name,
            const std::string& properties, int64_t timestamp_ms, const std::string& traits = "{}") {
  ingest::Event e;
  e.type = ingest::EventType::kTrack;
  e.user_id = user;
  e.event = name;
  e.properties = properties;
  e.traits = traits;
  e.context = "{}";
  e.integrations = "{}";
  e.timestamp = ingest::Timestamp(std::chrono::milliseconds(timestamp_ms));
  e.received_at = e.timestamp;
  unsigned p = keys::partition_of(user, kPartitions);
  std::vector<std::string> args{"XADD", keys::stream(p), "*"};
  for (auto& [k, v] : ingest::to_stream_fields(e)) args.push_back(k), args.push_back(v);
  REQUIRE_FALSE(redis.cli(args).empty());
  redis.cli({"INCR", keys::backlog(p)});
}

struct Harness {
  Harness(const RedisServer& redis, std::vector<gateway::engine::WorkflowPtr> workflows)
      : server(redis),
        clock(kStart),
        engine(std::move(workflows), test_templates(dir), test_config(), clock),
        reader(ioc, redis::parse_url(redis.url())),
        writer(ioc, redis::parse_url(redis.url())),
        processor(test_config(), "c1", &engine, &clock) {
    reader.start();
    writer.start();
    asio::co_spawn(ioc, processor.run(reader, writer), asio::detached);
  }

  void run_for(std::chrono::milliseconds d) {
    auto deadline = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < deadline) {
      ioc.restart();
      ioc.run_for(std::chrono::milliseconds(20));
    }
  }
  template <typename F>
  bool run_until(F done, std::chrono::seconds timeout = std::chrono::seconds(10)) {
    return test::run_until(ioc, done, timeout);
  }
  /// Every appended event processed.
  void drain() {
    REQUIRE(run_until([&] {
      for (unsigned p = 0; p < kPartitions; ++p) {
        auto v = server.cli({"GET", keys::backlog(p)});
        if (!v.empty() && v != "0") return false;
      }
      return true;
    }));
  }
  void event(const std::string& user, const std::string& name, const std::string& properties,
             const std::string& traits = "{}") {
    append(server, user, name, properties, clock.now_ms(), traits);
    drain();
  }
  std::string stat(const std::string& workflow, const std::string& field) {
    return server.cli({"HGET", gateway::engine::stats_key(workflow), field});
  }
  Json runs(const std::string& user) {
    auto text = server.cli({"HGET", keys::customer(user), "r"});
    return Json::parse(text.empty() ? "{}" : text);
  }
  Json traits(const std::string& user) {
    return Json::parse(server.cli({"HGET", keys::customer(user), "t"}));
  }

  const RedisServer& server;
  test::TempDir dir;
  gateway::ManualClock clock;
  gateway::engine::Engine engine;
  asio::io_context ioc;
  redis::Client reader, writer;
  gateway::EventProcessor processor;
};

}  // namespace

TEST_CASE("engine: an event matching the trigger and its where starts a run") {
  RedisServer redis;
  Harness h(redis, {parse(R"(workflow: big-cart
trigger:
  event: cart.updated
  where: event.properties.total > 10
steps:
  - wait: 1h
)")});
  h.event("alice", "cart.updated", R"({"total": 5})");
  h.event("alice", "page.viewed", R"({"total": 50})");
  CHECK_FALSE(h.runs("alice").contains("big-cart"));
  CHECK(h.stat("big-cart", "entered").empty());

  h.event("alice", "cart.updated", R"({"total": 50})");
  auto runs = h.runs("alice");
  REQUIRE(runs.contains("big-cart"));
  CHECK(runs["big-cart"]["state"] == "waiting");
  CHECK(runs["big-cart"]["event"]["properties"]["total"] == 50);
  CHECK(runs["big-cart"]["version"] ==
        gateway::engine::workflow_version(*parse(R"(workflow: big-cart
trigger:
  event: cart.updated
  where: event.properties.total > 10
steps:
  - wait: 1h
)")));
  CHECK(h.stat("big-cart", "entered") == "1");
}

TEST_CASE("engine: entry rules — one active run, once, cooldown") {
  RedisServer redis;
  Harness h(redis, {parse("workflow: active\ntrigger: { event: a }\nsteps:\n  - wait: 1h\n"),
                    parse("workflow: one\ntrigger: { event: b }\nentry: { once: true }\n"
                          "steps:\n  - exit: done\n"),
                    parse("workflow: cool\ntrigger: { event: c }\nentry: { cooldown: 1h }\n"
                          "steps:\n  - exit: done\n")});
  h.event("bob", "a", "{}");
  h.event("bob", "a", "{}");
  CHECK(h.stat("active", "entered") == "1");
  CHECK(h.stat("active", "skipped_active") == "1");

  h.event("bob", "b", "{}");
  h.clock.advance(10 * kHour);
  h.event("bob", "b", "{}");
  CHECK(h.stat("one", "entered") == "1");
  CHECK(h.stat("one", "skipped_once") == "1");

  h.event("bob", "c", "{}");
  h.clock.advance(kHour / 2);
  h.event("bob", "c", "{}");
  CHECK(h.stat("cool", "entered") == "1");
  CHECK(h.stat("cool", "skipped_cooldown") == "1");
  h.clock.advance(kHour);
  h.event("bob", "c", "{}");
  CHECK(h.stat("cool", "entered") == "2");
  CHECK(h.stat("cool", "exited") == "2");
}

TEST_CASE("engine: wait then send records one message once the clock passes the wait") {
  RedisServer redis;
  Harness h(redis, {parse(R"(workflow: cart
trigger: { event: cart.updated }
steps:
  - wait: 1h
  - id: reminder
    send:
      template: hello
      channels: [whatsapp, email, sms]
      data: { code: "X-{{ customer.id }}" }
)")});
  h.event("carol", "cart.updated", R"({"total": 42})",
          R"({"email": "carol@example.com", "first_name": "Carol"})");
  auto list = keys::customer_messages("carol");
  CHECK(h.runs("carol")["cart"]["wake_at"] ==
        ingest::format_rfc3339(ingest::Timestamp(std::chrono::milliseconds(kStart + kHour))));
  h.clock.advance(kHour - 1);
  h.run_for(std::chrono::milliseconds(600));
  CHECK(redis.cli({"LLEN", list}) == "0");
  CHECK(h.runs("carol").contains("cart"));

  h.clock.advance(1);
  REQUIRE(h.run_until([&] { return redis.cli({"LLEN", list}) == "1"; }));
  h.run_for(std::chrono::milliseconds(300));
  auto message = Json::parse(redis.cli({"LINDEX", list, "0"}));
  CHECK(message["channel"] == "email");  // no whatsapp or phone
  CHECK(message["workflow"] == "cart");
  auto key = gateway::engine::message_key("carol", message["id"].get<std::string>());
  CHECK(redis.cli({"HGET", key, "status"}) == "queued");
  auto content = Json::parse(redis.cli({"HGET", key, "content"}));
  CHECK(content["subject"] == "Hi Carol");
  CHECK(content["text"] == "Total 42, code X-carol");
  CHECK(redis.cli({"HGET", key, "provider"}) == "outbox");
  CHECK(redis.cli({"XLEN", gateway::engine::kDeliveries}) == "1");
  CHECK_FALSE(h.runs("carol").contains("cart"));
  CHECK(h.stat("cart", "entered") == "1");
  CHECK(h.stat("cart", "completed") == "1");
  CHECK(h.stat("cart", "reminder:sent") == "1");
}

TEST_CASE("messages: an id that names its customer's partition is found without an index") {
  test_config();  // sets the partitions that keys and ids are built with
  // Partitioned ids: what they name, and the ids that are not theirs.
  auto id = messages::partitioned_id("m0123456789abcdef", "carol");
  CHECK(id == "m0123456789abcdef-p" + std::to_string(keys::partition_of("carol", kPartitions)));
  CHECK(messages::id_partition(id) == keys::partition_of("carol", kPartitions));
  CHECK(messages::id_base(id) == "m0123456789abcdef");
  CHECK(messages::key("anyone", id) ==
        "herald:msg:" + keys::partition_tag(keys::partition_of("carol", kPartitions)) + ":" + id);
  auto t = messages::partitioned_id("t0123456789abcdef01234567", "dan");
  CHECK(messages::id_partition(t) == keys::partition_of("dan", kPartitions));
  const std::vector<std::string> others{"m0123456789abcdef", "t0123456789abcdef01234567",
                                        "bench-sms-1",
                                        "m0123456789abcdef-p" + std::to_string(kPartitions),
                                        "m0123456789abcdef-p01", "m0123456789abcdef-p",
                                        "m0123456789ABCDEF-p1", "m0123-p1", "-p1"};
  for (const auto& other : others) {
    CAPTURE(other);
    CHECK_FALSE(messages::id_partition(other));
    CHECK(messages::id_base(other) == other);
    CHECK(messages::key("erin", other) == keys::customer_key("herald:msg:", "erin", ":") + other);
  }

  RedisServer redis;
  // A workflow's send: its id names the partition, and no index entry is written.
  Harness h(redis, {parse(R"(workflow: hi
trigger: { event: signed_up }
steps:
  - send: { template: hello, channel: email }
)")});
  h.event("carol", "signed_up", "{}", R"({"email": "carol@example.com", "first_name": "Carol"})");
  auto listed = Json::parse(redis.cli({"LINDEX", keys::customer_messages("carol"), "0"}));
  auto sent = listed["id"].get<std::string>();
  CHECK(messages::id_partition(sent) == keys::partition_of("carol", kPartitions));
  // The fields it never changes are packed into one: seven hash entries become one.
  auto origin = Json::parse(redis.cli({"HGET", messages::key("", sent), messages::kOriginField}));
  CHECK(origin["customer_id"] == "carol");
  CHECK(origin["id"] == sent);
  CHECK(origin["template"] == "hello");
  CHECK(origin["step"] == "steps[0]");
  CHECK(origin["created_at"].get<std::string>().size() == 24);
  CHECK(redis.cli({"HEXISTS", messages::key("", sent), "customer_id"}) == "0");
  CHECK(redis.cli({"EXISTS", messages::index_key(sent)}) == "0");
  CHECK(redis.cli({"KEYS", "herald:mi:*"}).empty());

  // Recorded once across an upgrade: the script that records a message whose run may
  // repeat an earlier one's id finds it under the key its base id had before.
  messages::NewMessage m;
  m.id = messages::partitioned_id("m00000000000000aa", "dan");
  m.customer_id = "dan";
  m.channel = "email";
  m.provider = "outbox";
  m.template_name = "hello";
  m.status = "queued";
  m.at = "2024-01-01T00:00:00.000Z";
  m.content = "{}";
  m.stats_key = "herald:apistats";
  m.stats_field = "sent";
  auto legacy = messages::key("dan", messages::id_base(m.id));
  redis.cli({"HSET", legacy, "id", std::string(messages::id_base(m.id)), "status", "sent"});
  auto record = messages::record_command(m);
  CHECK(redis.cli(record) == "0");
  CHECK(redis.cli({"EXISTS", messages::key("dan", m.id)}) == "0");
  CHECK(redis.cli({"LLEN", keys::customer_messages("dan")}) == "0");
  // Without it, recorded, with no index entry; and once only.
  redis.cli({"DEL", legacy});
  CHECK(redis.cli(record) == "1");
  CHECK(redis.cli({"HGET", messages::key("dan", m.id), "status"}) == "queued");
  CHECK(redis.cli({"LLEN", keys::customer_messages("dan")}) == "1");
  CHECK(redis.cli({"EXISTS", messages::index_key(m.id)}) == "0");
  CHECK(redis.cli(record) == "0");
  // An id that does not name its partition keeps its index entry.
  m.id = "t0123456789abcdef01234567";
  CHECK(redis.cli(messages::record_command(m)) == "1");
  CHECK(redis.cli({"GET", messages::index_key(m.id)}) == "dan");
}

TEST_CASE("engine: a send with no reachable channel records a suppressed message") {
  RedisServer redis;
  Harness h(redis, {parse("workflow: nope\ntrigger: { event: x }\nsteps:\n"
                          "  - send: { template: hello, channel: sms }\n")});
  h.event("dan", "x", "{}", R"({"email": "dan@example.com"})");
  auto message = Json::parse(redis.cli({"LINDEX", keys::customer_messages("dan"), "0"}));
  CHECK(redis.cli({"HGET", gateway::engine::message_key("dan", message["id"].get<std::string>()),
                   "status"}) == "suppressed");
  CHECK(redis.cli({"XLEN", gateway::engine::kDeliveries}) == "0");
  CHECK(h.stat("nope", "steps[0]:suppressed") == "1");
}

TEST_CASE("engine: if/else branches, update writes traits, exit ends the run") {
  RedisServer redis;
  Harness h(redis, {parse(R"(workflow: tiers
trigger: { event: order.completed }
steps:
  - if: event.properties.total > 100
    then:
      - update: { set: { tier: "'gold'" } }
    else:
      - update: { set: { tier: "'basic'" } }
      - exit: small_order
  - update: { set: { reviewed: "true" } }
)")});
  h.event("erin", "order.completed", R"({"total": 500})");
  h.event("fred", "order.completed", R"({"total": 5})");
  CHECK(h.traits("erin")["tier"] == "gold");
  CHECK(h.traits("erin")["reviewed"] == true);
  CHECK(h.traits("fred")["tier"] == "basic");
  CHECK_FALSE(h.traits("fred").contains("reviewed"));
  CHECK(h.stat("tiers", "entered") == "2");
  CHECK(h.stat("tiers", "completed") == "1");
  CHECK(h.stat("tiers", "exited") == "1");
  CHECK(h.stat("tiers", "exited:small_order") == "1");
  CHECK(h.runs("erin").empty());
  CHECK(h.runs("fred").empty());
}

TEST_CASE("engine: the same event sent again does not send twice") {
  RedisServer redis;
  Harness h(redis, {parse("workflow: welcome\ntrigger: { event: signed_up }\nsteps:\n"
                          "  - send: { template: hello, channel: email }\n"
                          "  - wait: 1h\n")});
  const std::string traits = R"({"email": "gus@example.com", "first_name": "Gus"})";
  append(redis, "gus", "signed_up", R"({"total": 1})", kStart, traits);
  h.drain();
  CHECK(redis.cli({"LLEN", keys::customer_messages("gus")}) == "1");
  CHECK(redis.cli({"GET", keys::timer_count(keys::partition_of("gus", kPartitions))}) == "1");
  // The run ends (its wait is over); the sender then retries the same event with a new
  // messageId. A run entering at the same time has the same id, and so its send has the
  // same message id: the decision is made again, the message is not recorded again.
  h.clock.advance(3'600'000);
  REQUIRE(h.run_until([&] { return h.stat("welcome", "completed") == "1"; }));
  append(redis, "gus", "signed_up", R"({"total": 1})", kStart, traits);
  h.drain();
  CHECK(h.stat("welcome", "entered") == "2");
  CHECK(h.runs("gus")["welcome"]["shared_id"] == true);
  CHECK(redis.cli({"LLEN", keys::customer_messages("gus")}) == "1");
  CHECK(redis.cli({"XLEN", gateway::engine::kDeliveries}) == "1");
  CHECK(h.stat("welcome", "steps[0]:sent") == "1");
  // Its wait moves the one timer of that name rather than adding a second.
  CHECK(redis.cli({"GET", keys::timer_count(keys::partition_of("gus", kPartitions))}) == "1");
}

TEST_CASE("engine: a late event's run, then the latest event again, send once each") {
  RedisServer redis;
  Harness h(redis, {parse("workflow: welcome\ntrigger: { event: signed_up }\nsteps:\n"
                          "  - send: { template: hello, channel: email }\n")});
  const std::string traits = R"({"email": "ida@example.com", "first_name": "Ida"})";
  append(redis, "ida", "signed_up", "{}", kStart - 1000, traits);  // run A
  h.drain();
  append(redis, "ida", "signed_up", "{}", kStart - 2000, traits);  // late: run B, a new id
  h.drain();
  CHECK(redis.cli({"LLEN", keys::customer_messages("ida")}) == "2");
  // The entry history remembers the latest entry although B entered last, so that the
  // latest event sent again is known to repeat run A's id.
  append(redis, "ida", "signed_up", "{}", kStart - 1000, traits);
  h.drain();
  CHECK(h.stat("welcome", "entered") == "3");
  CHECK(redis.cli({"LLEN", keys::customer_messages("ida")}) == "2");
  CHECK(redis.cli({"XLEN", gateway::engine::kDeliveries}) == "2");
  CHECK(h.stat("welcome", "steps[0]:sent") == "2");
}

TEST_CASE("engine: an unknown template records a failed message and the run goes on") {
  RedisServer redis;
  Harness h(redis, {parse("workflow: broken\ntrigger: { event: x }\nsteps:\n"
                          "  - send: { template: missing, channel: email }\n"
                          "  - update: { set: { after: \"'yes'\" } }\n")});
  h.event("hal", "x", "{}", R"({"email": "hal@example.com"})");
  auto entry = Json::parse(redis.cli({"LINDEX", keys::customer_messages("hal"), "0"}));
  auto key = gateway::engine::message_key("hal", entry["id"].get<std::string>());
  CHECK(redis.cli({"HGET", key, "status"}) == "failed");
  CHECK_THAT(Json::parse(redis.cli({"HGET", key, "timeline"}))[0]["detail"].get<std::string>(),
             Catch::Contains("template_error"));
  CHECK(redis.cli({"XLEN", gateway::engine::kDeliveries}) == "0");
  CHECK(h.stat("broken", "steps[0]:failed") == "1");
  CHECK(h.traits("hal")["after"] == "yes");
  CHECK(h.stat("broken", "completed") == "1");
}

TEST_CASE("engine: a customer's runs are shown as the API says") {
  gateway::CustomerState state;
  state.created_at = "2026-01-01T00:00:00.000Z";
  state.runs = Json::parse(R"({"cart": {"id": "r1", "version": "v1", "step": "steps[0]",
    "state": "waiting", "wake_at": "2026-01-01T01:00:00.000Z", "path": [1]}})");
  auto shown = gateway::customer_to_json("alice", state, test_config());
  REQUIRE(shown["runs"].size() == 1);
  CHECK(shown["runs"][0] == Json::parse(R"({"workflow": "cart", "version": "v1",
    "step": "steps[0]", "state": "waiting", "wake_at": "2026-01-01T01:00:00.000Z"})"));
  // Stored and read back through the profile's fields.
  std::vector<std::optional<std::string>> values{
      "{}", "{}", "{}", state.created_at, "", state.runs.dump(), R"({"cart": {"last": 1}})"};
  auto read = gateway::customer_from_fields(values);
  CHECK(read.runs == state.runs);
  CHECK(read.entries["cart"]["last"] == 1);
}

TEST_CASE("engine: runs finish on the version they started with, and stale timers are ignored") {
  test::TempDir dir;
  auto templates = test_templates(dir);
  gateway::ManualClock clock(kStart);
  auto v1 = parse(
      "workflow: ver\ntrigger: { event: x }\nsteps:\n  - wait: 1h\n"
      "  - update: { set: { version: \"'v1'\" } }\n");
  auto v2 = parse(
      "workflow: ver\ntrigger: { event: x }\nsteps:\n  - wait: 2h\n"
      "  - update: { set: { version: \"'v2'\" } }\n");
  REQUIRE(gateway::engine::workflow_version(*v1) != gateway::engine::workflow_version(*v2));
  ingest::Event event;
  event.user_id = "zoe";
  event.event = "x";
  event.properties = "{}";
  event.timestamp = ingest::Timestamp(std::chrono::milliseconds(kStart));

  gateway::engine::Engine old_engine({v1}, templates, test_config(), clock);
  gateway::CustomerState state;
  gateway::Commands tx;
  old_engine.decide("zoe", state, event, tx);
  REQUIRE(state.runs.contains("ver"));
  auto run = state.runs["ver"];
  CHECK(run["version"] == gateway::engine::workflow_version(*v1));
  gateway::Timer timer{"zoe", "wf|" + run["id"].get<std::string>(), "ver", kStart + kHour};

  // A stale timer (another run's) changes nothing.
  gateway::engine::Engine both({v1, v2}, templates, test_config(), clock);
  gateway::Timer stale{"zoe", "wf|0000000000000000", "ver", kStart + kHour};
  auto before = state.runs;
  tx.clear();
  both.fire(stale, state, tx);
  CHECK(state.runs == before);
  CHECK(tx.empty());

  // Loaded next to v2, v1 still runs the run it started.
  auto kept = state;
  clock.advance(kHour);
  both.fire(timer, state, tx);
  CHECK(state.traits["version"] == "v1");
  CHECK_FALSE(state.runs.contains("ver"));
  // New runs start on the version listed last.
  event.timestamp += std::chrono::hours(1);
  both.decide("zoe", state, event, tx);
  CHECK(state.runs["ver"]["version"] == gateway::engine::workflow_version(*v2));

  // Once v1 is gone, its waiting run ends instead of walking v2's steps.
  gateway::engine::Engine only_new({v2}, templates, test_config(), clock);
  tx.clear();
  only_new.fire(timer, kept, tx);
  CHECK_FALSE(kept.runs.contains("ver"));
  CHECK_FALSE(kept.traits.contains("version"));
  auto counted = std::find(tx.begin(), tx.end(),
                           std::vector<std::string>{"HINCRBY", gateway::engine::stats_key("ver"),
                                                    "exited:version_unavailable", "1"});
  CHECK(counted != tx.end());
}

namespace {

/// How many durable timers of this customer's timer id `needle` are stored.
std::string timers_named(const RedisServer& redis, const std::string& needle) {
  return redis.cli({"EVAL",
                    "local n = 0 "
                    "for _, k in ipairs(redis.call(\"KEYS\", \"herald:tm:*\")) do "
                    "  if redis.call(\"TYPE\", k).ok == \"zset\" then "
                    "    for _, m in ipairs(redis.call(\"ZRANGE\", k, 0, -1)) do "
                    "      if string.find(m, ARGV[1], 1, true) then n = n + 1 end "
                    "    end "
                    "  end "
                    "end "
                    "return n",
                    "0", needle});
}

workflows::SplitStep split_of(double a, double b) {
  workflows::SplitStep split;
  split.variants.push_back({"a", a, {}});
  split.variants.push_back({"b", b, {}});
  return split;
}

}  // namespace

TEST_CASE("engine: split variants are stable, honour weights and split evenly") {
  auto even = split_of(50, 50);
  // Stable: the same customer and workflow always land in the same variant.
  for (int i = 0; i < 200; ++i) {
    auto id = "cust-" + std::to_string(i);
    auto first = gateway::engine::choose_variant(even, id, "ab");
    REQUIRE(first);
    CHECK(gateway::engine::choose_variant(even, id, "ab") == first);
  }
  // 100/0 always picks the first, 0/100 always the second, 0/0 none.
  auto first_only = split_of(100, 0);
  auto second_only = split_of(0, 100);
  for (int i = 0; i < 1000; ++i) {
    auto id = "c" + std::to_string(i);
    CHECK(gateway::engine::choose_variant(first_only, id, "ab") == std::size_t{0});
    CHECK(gateway::engine::choose_variant(second_only, id, "ab") == std::size_t{1});
  }
  CHECK_FALSE(gateway::engine::choose_variant(split_of(0, 0), "x", "ab"));
  // 10,000 customers at 50/50: within ±3 %.
  int a = 0;
  for (int i = 0; i < 10'000; ++i)
    if (gateway::engine::choose_variant(even, "customer-" + std::to_string(i), "ab") == 0u) ++a;
  CHECK(a >= 4'700);
  CHECK(a <= 5'300);
  // 90/10 too, more loosely.
  auto skewed = split_of(90, 10);
  int first = 0;
  for (int i = 0; i < 10'000; ++i)
    if (gateway::engine::choose_variant(skewed, "u" + std::to_string(i), "ab") == 0u) ++first;
  CHECK(first >= 8'700);
  CHECK(first <= 9'300);
}

TEST_CASE("engine: split runs the customer's variant, records it and counts it") {
  RedisServer redis;
  auto workflow = parse(R"(workflow: ab
trigger: { event: x }
steps:
  - split:
      variants:
        - { name: a, weight: 50, steps: [ { update: { set: { got: "run.variant", a: "true" } } } ] }
        - { name: b, weight: 50, steps: [ { wait: 1h } ] }
  - update: { set: { after: "run.variant" } }
)");
  const auto& split = std::get<workflows::SplitStep>(workflow->steps[0].action);
  Harness h(redis, {workflow});
  int counts[2] = {0, 0};
  for (int i = 0; i < 20; ++i) {
    auto user = "s" + std::to_string(i);
    auto chosen = gateway::engine::choose_variant(split, user, "ab");
    REQUIRE(chosen);
    ++counts[*chosen];
    h.event(user, "x", "{}");
    if (*chosen == 0) {
      CHECK(h.traits(user)["got"] == "a");
      CHECK(h.traits(user)["after"] == "a");
      CHECK_FALSE(h.runs(user).contains("ab"));
    } else {
      CHECK(h.runs(user)["ab"]["variant"] == "b");
      CHECK_FALSE(h.traits(user).contains("a"));
    }
  }
  REQUIRE(counts[0] > 0);
  REQUIRE(counts[1] > 0);
  CHECK(h.stat("ab", "a:entered") == std::to_string(counts[0]));
  CHECK(h.stat("ab", "b:entered") == std::to_string(counts[1]));
  CHECK(h.stat("ab", "completed") == std::to_string(counts[0]));
  // Variant b resumes after its wait with run.variant still known.
  h.clock.advance(kHour);
  REQUIRE(h.run_until([&] { return h.stat("ab", "completed") == "20"; }));
  for (int i = 0; i < 20; ++i) {
    auto user = "s" + std::to_string(i);
    if (gateway::engine::choose_variant(split, user, "ab") == 1u)
      CHECK(h.traits(user)["after"] == "b");
  }
}

TEST_CASE("engine: exit_when ends a run wherever it is and cancels its timer") {
  RedisServer redis;
  Harness h(redis, {parse(R"(workflow: leave
trigger: { event: cart }
exit_when:
  - event: order.completed
    where: event.properties.total > 10
  - event: unsubscribed
steps:
  - wait: 1h
  - update: { set: { reached: "true" } }
)")});
  h.event("kim", "cart", "{}");
  auto run_id = h.runs("kim")["leave"]["id"].get<std::string>();
  CHECK(timers_named(redis, "wf|" + run_id) == "1");
  h.event("kim", "order.completed", R"({"total": 5})");  // where does not hold
  CHECK(h.runs("kim").contains("leave"));
  CHECK(h.stat("leave", "exited").empty());

  h.event("kim", "order.completed", R"({"total": 50})");
  CHECK_FALSE(h.runs("kim").contains("leave"));
  CHECK(timers_named(redis, "wf|" + run_id) == "0");
  CHECK(h.stat("leave", "exited") == "1");
  CHECK(h.stat("leave", "exited:exit_when") == "1");
  h.clock.advance(2 * kHour);
  h.run_for(std::chrono::milliseconds(400));
  CHECK_FALSE(h.traits("kim").contains("reached"));

  // The second condition, without where; another customer's run is untouched.
  h.event("lee", "cart", "{}");
  h.event("max", "cart", "{}");
  h.event("lee", "unsubscribed", "{}");
  CHECK_FALSE(h.runs("lee").contains("leave"));
  CHECK(h.runs("max").contains("leave"));
  CHECK(h.stat("leave", "exited:exit_when") == "2");
  h.clock.advance(kHour);
  REQUIRE(h.run_until([&] { return h.stat("leave", "completed") == "1"; }));
  CHECK(h.traits("max")["reached"] == true);
  CHECK_FALSE(h.traits("lee").contains("reached"));
}

/// Every partition's timer index names exactly its non-empty buckets, each at the bucket's
/// earliest due time; "ok" or what is wrong.
std::string timer_index_problems(const RedisServer& redis) {
  std::string problems;
  for (unsigned p = 0; p < kPartitions; ++p) {
    auto index = keys::timer_index(p);
    auto bucket_prefix = keys::timer_bucket(p, 0);
    bucket_prefix.pop_back();  // "...:0" -> "...:"
    problems += redis.cli({"EVAL",
                           "local out = \"\" "
                           "local idx = redis.call(\"ZRANGE\", KEYS[1], 0, -1, \"WITHSCORES\") "
                           "local seen = {} "
                           "for i = 1, #idx, 2 do "
                           "  seen[ARGV[1] .. idx[i]] = true "
                           "  local first = redis.call(\"ZRANGE\", ARGV[1] .. idx[i], 0, 0, \"WITHSCORES\") "
                           "  if not first[1] then out = out .. \"empty bucket \" .. idx[i] .. \" indexed; \" "
                           "  elseif tonumber(first[2]) ~= tonumber(idx[i + 1]) then "
                           "    out = out .. \"bucket \" .. idx[i] .. \" indexed at \" .. idx[i + 1] .. "
                           "          \", earliest \" .. first[2] .. \"; \" end "
                           "end "
                           "for _, k in ipairs(redis.call(\"KEYS\", ARGV[1] .. \"*\")) do "
                           "  if not seen[k] then out = out .. k .. \" not indexed; \" end "
                           "end "
                           "return out",
                           "1", index, bucket_prefix});
  }
  return problems.empty() ? "ok" : problems;
}

TEST_CASE("engine: one batch's new timers and cancels leave each bucket indexed at its earliest") {
  RedisServer redis;
  Harness h(redis, {parse(R"(workflow: leave
trigger: { event: cart }
exit_when:
  - event: order.completed
steps:
  - wait: 1h
  - update: { set: { reached: "true" } }
)")});
  // In one pass: many runs start (their timers share buckets and indexes, whose adds go
  // out merged), and some end in the same batch, their timers cancelled by a script that
  // re-indexes the bucket after the timer was added.
  std::vector<std::string> left;
  for (int i = 0; i < 300; ++i) {
    auto user = "u" + std::to_string(i);
    append(redis, user, "cart", "{}", h.clock.now_ms());
    if (i % 3 == 0) {
      append(redis, user, "order.completed", "{}", h.clock.now_ms());
      left.push_back(user);
    }
  }
  h.drain();
  CHECK(h.stat("leave", "entered") == "300");
  CHECK(h.stat("leave", "exited") == "100");
  CHECK(timers_named(redis, "wf|") == "200");
  CHECK(timer_index_problems(redis) == "ok");
  // The timers fire as indexed: the 200 runs left complete, the others never do.
  h.clock.advance(2 * kHour);
  REQUIRE(h.run_until([&] { return h.stat("leave", "completed") == "200"; }));
  CHECK(timers_named(redis, "wf|") == "0");
  CHECK(timer_index_problems(redis) == "ok");
  for (const auto& user : left)
    CHECK(redis.cli({"HGET", keys::customer(user), "t"}).find("reached") == std::string::npos);
}

TEST_CASE("engine: a goal converts once per run within its window, credits the last message") {
  RedisServer redis;
  Harness h(redis, {parse(R"(workflow: conv
trigger: { event: start }
goal: { event: order.completed, where: event.properties.total > 0, within: 3h }
exit_when:
  - event: order.completed
    where: event.properties.total > 1000
steps:
  - split:
      variants:
        - { name: only, weight: 1, steps: [] }
  - send: { template: hello, channel: sms }
  - send: { template: hello, channel: email }
  - wait: 1h
)")});
  const std::string traits = R"({"email": "p@example.com", "first_name": "P"})";
  // A run in flight: converts once, keeps going.
  h.event("p1", "start", "{}", traits);
  auto list = keys::customer_messages("p1");
  REQUIRE(redis.cli({"LLEN", list}) == "2");
  auto last = Json::parse(redis.cli({"LINDEX", list, "0"}))["id"].get<std::string>();
  auto earlier = Json::parse(redis.cli({"LINDEX", list, "1"}))["id"].get<std::string>();
  h.event("p1", "order.completed", R"({"total": 0})");  // where does not hold
  CHECK(h.stat("conv", "converted").empty());
  h.event("p1", "order.completed", R"({"total": 20})");
  CHECK(h.stat("conv", "converted") == "1");
  CHECK(h.stat("conv", "only:converted") == "1");
  CHECK(h.runs("p1").contains("conv"));  // no exit_when matched
  auto by =
      Json::parse(redis.cli({"HGET", gateway::engine::message_key("p1", last), "converted_by"}));
  CHECK(by["run"] == h.runs("p1")["conv"]["id"]);
  CHECK(by["event"] == "order.completed");
  CHECK(redis.cli({"HEXISTS", gateway::engine::message_key("p1", earlier), "converted_by"}) == "0");
  h.event("p1", "order.completed", R"({"total": 30})");
  CHECK(h.stat("conv", "converted") == "1");  // once per run
  // Goal and exit_when on one event: converts and exits.
  h.event("p2", "start", "{}", traits);
  h.event("p2", "order.completed", R"({"total": 5000})");
  CHECK(h.stat("conv", "converted") == "2");
  CHECK_FALSE(h.runs("p2").contains("conv"));
  CHECK(h.stat("conv", "exited:exit_when") == "1");

  // A run that has ended still converts within the window...
  h.event("p3", "start", "{}", traits);
  h.clock.advance(kHour);
  REQUIRE(h.run_until([&] { return !h.runs("p3").contains("conv"); }));
  h.event("p3", "order.completed", R"({"total": 20})");
  CHECK(h.stat("conv", "converted") == "3");
  // ...but not after it.
  h.event("p4", "start", "{}", traits);
  h.clock.advance(3 * kHour + 1);
  h.event("p4", "order.completed", R"({"total": 20})");
  CHECK(h.stat("conv", "converted") == "3");
  // The message is only marked if it exists: never created by the conversion.
  h.event("p5", "start", "{}", traits);
  auto p5_last = Json::parse(redis.cli({"LINDEX", keys::customer_messages("p5"), "0"}))["id"]
                     .get<std::string>();
  auto p5_key = gateway::engine::message_key("p5", p5_last);
  redis.cli({"DEL", p5_key});
  h.event("p5", "order.completed", R"({"total": 20})");
  CHECK(h.stat("conv", "converted") == "4");
  CHECK(redis.cli({"EXISTS", p5_key}) == "0");
}

TEST_CASE("engine: wait_for resumes on the awaited event or on its timeout") {
  RedisServer redis;
  Harness h(redis, {parse(R"(workflow: await
trigger: { event: cart }
steps:
  - wait_for: { event: order.completed, where: event.properties.total > 10, timeout: 1h }
    on_event:
      - update: { set: { outcome: "'bought'", paid: "event.properties.total" } }
    on_timeout:
      - update: { set: { outcome: "'timeout'" } }
  - update: { set: { after: "event.name" } }
)")});
  h.event("ann", "cart", "{}");
  auto run = h.runs("ann")["await"];
  CHECK(run["state"] == "waiting");
  auto run_id = run["id"].get<std::string>();
  CHECK(timers_named(redis, "wf|" + run_id) == "1");
  h.event("ann", "order.completed", R"({"total": 5})");  // where does not hold
  CHECK(h.runs("ann").contains("await"));
  h.event("ann", "page.viewed", "{}");
  CHECK(h.runs("ann").contains("await"));

  h.event("ann", "order.completed", R"({"total": 50})");
  CHECK_FALSE(h.runs("ann").contains("await"));
  CHECK(timers_named(redis, "wf|" + run_id) == "0");
  CHECK(h.traits("ann")["outcome"] == "bought");
  CHECK(h.traits("ann")["paid"] == 50);
  CHECK(h.traits("ann")["after"] == "order.completed");  // the awaited event
  CHECK(h.stat("await", "completed") == "1");

  // No event: the timeout goes into on_timeout, then the next step.
  h.event("bea", "cart", "{}");
  h.clock.advance(kHour - 1);
  h.run_for(std::chrono::milliseconds(400));
  CHECK(h.runs("bea").contains("await"));
  h.clock.advance(1);
  REQUIRE(h.run_until([&] { return !h.runs("bea").contains("await"); }));
  CHECK(h.traits("bea")["outcome"] == "timeout");
  CHECK(h.traits("bea")["after"] == "cart");
  CHECK(h.stat("await", "completed") == "2");
  // An awaited event after the timeout starts nothing.
  h.event("bea", "order.completed", R"({"total": 50})");
  CHECK(h.traits("bea")["outcome"] == "timeout");
}
