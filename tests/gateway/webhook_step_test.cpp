// The `webhook` step end to end inside one process: the engine and the event processor
// against a real redis-server, the webhook worker calling the provider sandbox's generic
// receiver (/hook) over real HTTP, with short back-offs. A 2xx continues to the next
// step, failures are retried, a step whose calls all fail ends the run, the body and
// headers are rendered from the customer and the event, and every attempt carries the
// same Idempotency-Key.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway/customer_state.hpp"
#include "gateway/engine/engine.hpp"
#include "gateway/engine/webhook_step.hpp"
#include "gateway/event_processor.hpp"
#include "gateway/ingest/event.hpp"
#include "gateway/keys.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/webhook_worker.hpp"
#include "templates/template_set.hpp"
#include "tests/support/io_run.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/sandbox.hpp"
#include "tests/support/temp_dir.hpp"
#include "workflows/dsl/parser.hpp"

namespace asio = boost::asio;
using namespace herald;
using herald::test::ProviderSandbox;
using herald::test::RedisServer;
using Json = nlohmann::ordered_json;

namespace {

constexpr unsigned kPartitions = 4;

config::Config test_config() {
  config::Config c;
  c.redis.partitions = kPartitions;
  herald::keys::set_partitions(c.redis.partitions);
  return c;
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<const workflows::Workflow> parse(const std::string& yaml) {
  auto result = workflows::parse_workflow(yaml, "test.yaml");
  for (const auto& f : result.findings) INFO(f.message);
  REQUIRE(result.workflow);
  return result.workflow;
}

/// A workflow: on `order.completed`, a webhook to the sandbox's receiver, then an update
/// that shows the run went on.
std::string hook_workflow(const ProviderSandbox& sandbox) {
  return "workflow: crm-sync\n"
         "trigger: { event: order.completed }\n"
         "steps:\n"
         "  - id: notify-crm\n"
         "    webhook:\n"
         "      url: \"" +
         sandbox.base_url("hook") +
         "/orders/{{ customer.id }}\"\n"
         "      method: PUT\n"
         "      headers:\n"
         "        X-Shop: \"shop-{{ customer.id }}\"\n"
         "      body:\n"
         "        name: \"{{ customer.first_name }} {{ customer.last_name }}\"\n"
         "        total: \"{{ event.properties.total }}\"\n"
         "        workflow: \"{{ run.workflow }}\"\n"
         "        fixed: 7\n"
         "  - update: { set: { synced: true } }\n";
}

void append(const RedisServer& redis, const std::string& user, const std::string& name,
            const std::string& properties, int64_t timestamp_ms, const std::string& traits) {
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
  Harness(const RedisServer& redis, std::vector<gateway::engine::WorkflowPtr> workflows,
          unsigned attempts = 3, bool start_worker = true)
      : server(redis),
        clock(wall_ms()),
        engine(std::move(workflows), templates::TemplateSet::load(dir.path()), test_config(),
               clock),
        reader(ioc, redis::parse_url(redis.url())),
        writer(ioc, redis::parse_url(redis.url())),
        hook_reader(ioc, redis::parse_url(redis.url())),
        processor(test_config(), "c1", &engine, &clock),
        webhooks(ioc, options(attempts), &clock) {
    reader.start();
    writer.start();
    hook_reader.start();
    asio::co_spawn(ioc, processor.run(reader, writer), asio::detached);
    if (start_worker) start_webhooks();
  }
  void start_webhooks() { asio::co_spawn(ioc, webhooks.run(hook_reader, writer), asio::detached); }

  static gateway::WebhookOptions options(unsigned attempts) {
    gateway::WebhookOptions o;
    o.consumer = "c1";
    o.partitions = kPartitions;
    o.attempts = attempts;
    o.timeout = std::chrono::milliseconds(2000);
    o.base_backoff = std::chrono::milliseconds(50);
    o.max_backoff = std::chrono::milliseconds(200);
    return o;
  }

  template <typename F>
  bool run_until(F done, std::chrono::seconds timeout = std::chrono::seconds(15)) {
    return test::run_until(ioc, done, timeout);
  }
  void event(const std::string& user, const std::string& name, const std::string& properties,
             const std::string& traits = "{}") {
    append(server, user, name, properties, clock.now_ms(), traits);
  }
  std::string stat(const std::string& workflow, const std::string& field) {
    return server.cli({"HGET", gateway::engine::stats_key(workflow), field});
  }
  Json runs(const std::string& user) {
    auto text = server.cli({"HGET", keys::customer(user), "r"});
    return Json::parse(text.empty() ? "{}" : text);
  }
  Json traits(const std::string& user) {
    auto text = server.cli({"HGET", keys::customer(user), "t"});
    return Json::parse(text.empty() ? "{}" : text);
  }
  Json request(const std::string& user, const std::string& id) {
    auto key = gateway::engine::webhook::request_key(user, id);
    Json out = Json::object();
    for (const auto& field : {"status", "attempts", "last_status", "method", "url"})
      out[field] = server.cli({"HGET", key, field});
    return out;
  }
  /// The run ended (completed or exited).
  bool ended(const std::string& user, const std::string& workflow) {
    return !runs(user).contains(workflow) && !stat(workflow, "entered").empty();
  }

  const RedisServer& server;
  test::TempDir dir;
  gateway::ManualClock clock;
  gateway::engine::Engine engine;
  asio::io_context ioc;
  redis::Client reader, writer, hook_reader;
  gateway::EventProcessor processor;
  gateway::WebhookWorker webhooks;
};

Json hook_requests(const ProviderSandbox& sandbox) {
  return sandbox.requests("hook");
}

}  // namespace

TEST_CASE("a 2xx answer continues to the next step, body rendered from the customer") {
  RedisServer redis;
  ProviderSandbox sandbox;
  Harness h(redis, {parse(hook_workflow(sandbox))});
  h.event("ada", "order.completed", R"({"total": 42.5})",
          R"({"first_name": "Ada", "last_name": "Lovelace"})");

  REQUIRE(h.run_until([&] { return h.ended("ada", "crm-sync"); }));
  CHECK(h.stat("crm-sync", "completed") == "1");
  CHECK(h.stat("crm-sync", "notify-crm:sent") == "1");
  CHECK(h.stat("crm-sync", "notify-crm:failed").empty());
  CHECK(h.traits("ada")["synced"] == true);

  auto requests = hook_requests(sandbox);
  REQUIRE(requests.size() == 1);
  const auto& r = requests[0];
  CHECK(r["method"] == "PUT");
  CHECK(r["path"] == "/hook/orders/ada");
  CHECK(r["headers"]["x-shop"] == "shop-ada");
  CHECK(r["headers"]["content-type"] == "application/json");
  REQUIRE(r["json"].is_object());
  CHECK(r["json"]["name"] == "Ada Lovelace");
  CHECK(r["json"]["total"] == "42.5");
  CHECK(r["json"]["workflow"] == "crm-sync");
  CHECK(r["json"]["fixed"] == 7);
  // The idempotency key is the request id, derived from the run and the step.
  auto key = r["headers"].value("idempotency-key", std::string());
  REQUIRE(key.size() == 17);
  auto record = h.request("ada", key);
  CHECK(record["status"] == "succeeded");
  CHECK(record["attempts"] == "1");
  CHECK(record["last_status"] == "200");
  CHECK(record["method"] == "PUT");
  // Nothing left pending, and the outcome is no customer event.
  CHECK(redis.cli({"XPENDING", gateway::engine::webhook::kStream, gateway::engine::webhook::kGroup})
            .rfind("0", 0) == 0);
  CHECK(redis.cli({"LLEN", keys::customer_events("ada")}) == "1");
}

TEST_CASE("500, 500, 200 is retried with the same Idempotency-Key, then continues") {
  RedisServer redis;
  ProviderSandbox sandbox;
  sandbox.add_faults("hook", Json::array({{{"kind", "http"}, {"status", 500}},
                                          {{"kind", "http"}, {"status", 500}}}));
  Harness h(redis, {parse(hook_workflow(sandbox))}, 3);
  h.event("bob", "order.completed", R"({"total": 10})", R"({"first_name": "Bob"})");

  REQUIRE(h.run_until([&] { return h.ended("bob", "crm-sync"); }));
  CHECK(h.stat("crm-sync", "completed") == "1");
  CHECK(h.stat("crm-sync", "notify-crm:sent") == "1");
  CHECK(h.traits("bob")["synced"] == true);
  auto requests = hook_requests(sandbox);
  REQUIRE(requests.size() == 3);
  CHECK(requests[0]["status"] == 500);
  CHECK(requests[1]["status"] == 500);
  CHECK(requests[2]["status"] == 200);
  auto key = requests[0]["headers"].value("idempotency-key", std::string());
  CHECK_FALSE(key.empty());
  for (const auto& r : requests) CHECK(r["headers"].value("idempotency-key", std::string()) == key);
  CHECK(h.request("bob", key)["attempts"] == "3");
}

TEST_CASE("a receiver that always fails ends the run with webhook_failed") {
  RedisServer redis;
  ProviderSandbox sandbox;
  sandbox.set_always("hook", Json{{"kind", "http"}, {"status", 500}});
  Harness h(redis, {parse(hook_workflow(sandbox))}, 3);
  h.event("cy", "order.completed", R"({"total": 10})", R"({"first_name": "Cy"})");

  REQUIRE(h.run_until([&] { return h.ended("cy", "crm-sync"); }));
  CHECK(h.stat("crm-sync", "exited") == "1");
  CHECK(h.stat("crm-sync", "exited:webhook_failed") == "1");
  CHECK(h.stat("crm-sync", "notify-crm:failed") == "1");
  CHECK(h.stat("crm-sync", "notify-crm:sent").empty());
  CHECK(h.stat("crm-sync", "completed").empty());
  CHECK_FALSE(h.traits("cy").contains("synced"));
  auto requests = hook_requests(sandbox);
  CHECK(requests.size() == 3);  // the attempts, no more
  auto key = requests[0]["headers"].value("idempotency-key", std::string());
  auto record = h.request("cy", key);
  CHECK(record["status"] == "failed");
  CHECK(record["last_status"] == "500");
}

TEST_CASE("no answer at all (connection refused) is retried, then fails the step") {
  RedisServer redis;
  // A port nothing listens on: take the sandbox's, then stop the sandbox.
  std::string url;
  {
    ProviderSandbox sandbox;
    url = sandbox.base_url("hook");
  }
  Harness h(redis,
            {parse("workflow: down\ntrigger: { event: go }\nsteps:\n  - webhook: { url: \"" + url +
                   "/x\" }\n  - update: { set: { after: true } }\n")},
            2);
  h.event("dee", "go", "{}");
  REQUIRE(h.run_until([&] { return h.ended("dee", "down"); }));
  CHECK(h.stat("down", "exited:webhook_failed") == "1");
  CHECK(h.stat("down", "steps[0]:failed") == "1");
  CHECK_FALSE(h.traits("dee").contains("after"));
}

TEST_CASE("a run that exits while its call is in flight goes no further when the answer comes") {
  RedisServer redis;
  ProviderSandbox sandbox;
  // The first answer takes a while: the exit event arrives before the outcome.
  sandbox.add_faults("hook", Json::array({{{"kind", "delay"}, {"ms", 1500}}}));
  Harness h(redis, {parse("workflow: slow\ntrigger: { event: go }\nexit_when: [ { event: stop } ]\n"
                          "steps:\n  - webhook: { url: \"" +
                          sandbox.base_url("hook") +
                          "/slow\", body: \"plain {{ customer.id }}\" }\n"
                          "  - update: { set: { after: true } }\n")});
  h.event("eve", "go", "{}");
  REQUIRE(h.run_until([&] { return hook_requests(sandbox).size() == 1; }));
  h.event("eve", "stop", "{}");
  REQUIRE(h.run_until([&] { return h.stat("slow", "exited:exit_when") == "1"; }));
  // The call's outcome comes back and is ignored: the run stays ended.
  auto key = hook_requests(sandbox)[0]["headers"].value("idempotency-key", std::string());
  REQUIRE(h.run_until([&] { return h.request("eve", key)["status"] == "succeeded"; }));
  h.run_until([] { return false; }, std::chrono::seconds(1));
  CHECK_FALSE(h.traits("eve").contains("after"));
  CHECK(h.stat("slow", "steps[0]:sent").empty());
  auto r = hook_requests(sandbox)[0];
  CHECK(r["body"] == "plain eve");
  CHECK(r["headers"]["content-type"] == "text/plain; charset=utf-8");
}

TEST_CASE("a text body that is JSON once rendered goes as JSON, with the step's own headers") {
  RedisServer redis;
  ProviderSandbox sandbox;
  Harness h(
      redis,
      {parse("workflow: text\ntrigger: { event: go }\nsteps:\n  - webhook:\n      url: \"" +
             sandbox.base_url("hook") +
             "/t?c={{ customer.id }}\"\n      method: POST\n"
             "      headers: { X-Source: herald, Idempotency-Key: \"mine-{{ customer.id }}\" }\n"
             "      body: '{\"customer\": \"{{ customer.id }}\", \"total\": "
             "{{ event.properties.total }}}'\n")});
  h.event("hal", "go", R"({"total": 12.5})");
  REQUIRE(h.run_until([&] { return h.ended("hal", "text"); }));
  CHECK(h.stat("text", "completed") == "1");
  auto requests = hook_requests(sandbox);
  REQUIRE(requests.size() == 1);
  const auto& r = requests[0];
  CHECK(r["query"]["c"] == "hal");
  CHECK(r["headers"]["content-type"] == "application/json");
  CHECK(r["headers"]["x-source"] == "herald");
  CHECK(r["headers"]["idempotency-key"] == "mine-hal");  // the step's own key is kept
  CHECK(r["json"] == Json::parse(R"({"customer": "hal", "total": 12.5})"));
}

TEST_CASE("a url that does not render to http(s) fails the step without a call") {
  RedisServer redis;
  Harness h(redis, {parse("workflow: badurl\ntrigger: { event: go }\nsteps:\n"
                          "  - webhook: { url: \"{{ customer.endpoint }}\" }\n"
                          "  - update: { set: { after: true } }\n")});
  h.event("fay", "go", "{}", R"({"endpoint": "ftp://example.com/x"})");
  REQUIRE(h.run_until([&] { return h.ended("fay", "badurl"); }));
  CHECK(h.stat("badurl", "exited:webhook_failed") == "1");
  CHECK(h.stat("badurl", "steps[0]:failed") == "1");
  CHECK(redis.cli({"XLEN", gateway::engine::webhook::kStream}) == "0");
}

TEST_CASE("a request whose run has ended before the call is not called") {
  RedisServer redis;
  ProviderSandbox sandbox;
  Harness h(redis,
            {parse("workflow: late\ntrigger: { event: go }\nexit_when: [ { event: stop } ]\n"
                   "steps:\n  - webhook: { url: \"" +
                   sandbox.base_url("hook") + "/late\" }\n")},
            3, false);
  h.event("gus", "go", "{}");
  REQUIRE(h.run_until([&] { return h.runs("gus").contains("late"); }));
  auto id = h.runs("gus")["late"].value("webhook", std::string());
  REQUIRE_FALSE(id.empty());
  CHECK(h.runs("gus")["late"]["state"] == "waiting");
  CHECK(h.request("gus", id)["status"] == "pending");
  h.event("gus", "stop", "{}");
  REQUIRE(h.run_until([&] { return h.stat("late", "exited:exit_when") == "1"; }));

  h.start_webhooks();
  REQUIRE(h.run_until([&] { return h.request("gus", id)["status"] == "cancelled"; }));
  CHECK(hook_requests(sandbox).empty());
  CHECK(h.stat("late", "steps[0]:failed").empty());
}
