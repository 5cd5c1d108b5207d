// The `webhook` step across a crash: herald is killed (kill -9) while the receiver holds
// the call, and restarted. The run resumes and goes on, the receiver got the call at
// most twice, both times with the same Idempotency-Key, and the step counts once.
#include <catch2/catch.hpp>

#include "gateway/keys.hpp"

#include "tests/engine_e2e/engine_support.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sandbox.hpp"

using namespace herald::test;
using namespace herald::test::engine_e2e;

TEST_CASE(
    "a webhook call cut by kill -9 is made again with the same Idempotency-Key, and the run goes "
    "on once") {
  RedisServer redis;
  ProviderSandbox sandbox;
  Content content;
  content.workflow("crm.yaml",
                   "workflow: crm\ntrigger: { event: order.completed }\nsteps:\n"
                   "  - id: notify\n    webhook:\n      url: \"" +
                       sandbox.base_url("hook") +
                       "/orders\"\n      body: { customer: \"{{ customer.id }}\", "
                       "name: \"{{ customer.first_name }}\" }\n"
                       "  - id: thanks\n    send: { template: welcome, channels: [email] }\n");
  // The first call is held for 3 s: herald is killed during it.
  sandbox.add_faults("hook", Json::array({{{"kind", "delay"}, {"ms", 3000}}}));
  HeraldProcess herald(redis.url(), content.config());
  Json batch = Json::array(
      {{{"type", "track"},
        {"userId", "zoe"},
        {"event", "order.completed"},
        {"properties", {{"total", 12}}},
        {"context", {{"traits", {{"email", "zoe@example.com"}, {"first_name", "Zoe"}}}}}}});
  post_batch(herald, batch);
  REQUIRE(
      eventually([&] { return sandbox.requests("hook").size() == 1; }, std::chrono::seconds(15)));
  herald.kill();
  herald.start();

  // Claimed again once idle for the reclaim delay (10 s), called again, and the run goes on.
  REQUIRE(eventually([&] { return wf_stat(redis, "crm", "completed") == 1; },
                     std::chrono::seconds(45)));
  auto requests = sandbox.requests("hook");
  REQUIRE(requests.size() >= 1);
  CHECK(requests.size() <= 2);
  auto key = requests[0]["headers"].value("idempotency-key", std::string());
  CHECK_FALSE(key.empty());
  for (const auto& r : requests) {
    CHECK(r["headers"].value("idempotency-key", std::string()) == key);
    CHECK(r["json"]["customer"] == "zoe");
    CHECK(r["json"]["name"] == "Zoe");
  }
  CHECK(wf_stat(redis, "crm", "notify:sent") == 1);
  CHECK(wf_stat(redis, "crm", "notify:failed") == 0);
  CHECK(wf_stat(redis, "crm", "thanks:sent") == 1);
  REQUIRE(eventually([&] { return outbox_lines(content.outbox()).size() == 1; }));
  CHECK(redis.cli({"HGET", "herald:wh:" + herald::keys::tag("zoe") + ":" + key, "status"}) == "succeeded");
}

TEST_CASE("a graceful stop lets a webhook call in flight finish and be recorded: no second call") {
  RedisServer redis;
  ProviderSandbox sandbox;
  Content content;
  content.workflow("crm.yaml",
                   "workflow: crm\ntrigger: { event: order.completed }\nsteps:\n"
                   "  - id: notify\n    webhook: { url: \"" +
                       sandbox.base_url("hook") +
                       "/orders\" }\n"
                       "  - update: { set: { notified: true } }\n");
  sandbox.add_faults("hook", Json::array({{{"kind", "delay"}, {"ms", 2000}}}));
  HeraldProcess herald(redis.url(), content.config());
  Json batch = Json::array({{{"type", "track"}, {"userId", "yan"}, {"event", "order.completed"}}});
  post_batch(herald, batch);
  REQUIRE(
      eventually([&] { return sandbox.requests("hook").size() == 1; }, std::chrono::seconds(15)));
  auto key = sandbox.requests("hook")[0]["headers"].value("idempotency-key", std::string());
  REQUIRE_FALSE(key.empty());
  CHECK(herald.stop() == 0);  // SIGTERM during the call
  CHECK(redis.cli({"HGET", "herald:wh:" + herald::keys::tag("yan") + ":" + key, "status"}) == "succeeded");

  herald.start();
  REQUIRE(eventually([&] { return wf_stat(redis, "crm", "completed") == 1; },
                     std::chrono::seconds(20)));
  CHECK(sandbox.requests("hook").size() == 1);
  CHECK(wf_stat(redis, "crm", "notify:sent") == 1);
}
