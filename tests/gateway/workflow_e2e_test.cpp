// The example workflows on the binary: an event starts a run, the message is rendered,
// queued, delivered through the outbox adapter, and its status follows.
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/herald_process.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using Json = nlohmann::json;

namespace {

/// The test config with the example workflows and templates.
std::string examples_config() {
  return test_config(std::string("workflows_dir: ") + HERALD_SOURCE_DIR +
                     "/workflows/examples\ntemplates_dir: " + HERALD_SOURCE_DIR +
                     "/templates/examples\n");
}

HttpResponse post_with_write_key(const HeraldProcess& herald, const std::string& path,
                                 const std::string& body) {
  return http(herald.port(), "POST", path, body,
              {{"Authorization", std::string("Bearer ") + kWriteKey}});
}

}  // namespace

TEST_CASE("a sign-up runs the welcome workflow and its email reaches the outbox") {
  RedisServer redis;
  HeraldProcess herald(redis.url(), examples_config());
  REQUIRE(herald.wait_ready(200));
  auto post = [&](const std::string& path, const std::string& body) {
    return post_with_write_key(herald, path, body);
  };
  REQUIRE(post("/v1/identify", R"({"userId": "w-1", "traits": {"email": "w1@example.com", "first_name": "Wendy"}})").status == 200);
  REQUIRE(post("/v1/track", R"({"userId": "w-1", "event": "user.signed_up", "messageId": "s-1"})").status == 200);

  Json messages;
  REQUIRE(eventually(
      [&] {
        auto r = herald.get("/v1/customers/w-1/messages", kAdminKey);
        if (r.status != 200) return false;
        messages = Json::parse(r.body);
        return messages["items"].size() == 1 && messages["items"][0]["status"] == "sent";
      },
      std::chrono::seconds(15)));
  const auto& m = messages["items"][0];
  CHECK(m["channel"] == "email");
  CHECK(m["template"] == "welcome_1");
  CHECK(m["workflow"] == "welcome");
  CHECK(m["timeline"].size() == 3);
  CHECK(m["timeline"][0]["status"] == "queued");
  CHECK(m["timeline"][1]["status"] == "sending");
  CHECK(m["timeline"][2]["status"] == "sent");

  // The outbox holds the rendered email, addressed to the customer.
  std::ifstream in(herald.dir().path() + "/var/outbox.jsonl");
  std::string line;
  REQUIRE(std::getline(in, line));
  auto sent = Json::parse(line);
  CHECK(sent["to"] == "w1@example.com");
  CHECK(sent["channel"] == "email");
  CHECK_THAT(sent["content"]["subject"].get<std::string>(), Catch::Contains("Wendy"));
  CHECK_FALSE(std::getline(in, line));  // one message

  // The run waits three days for its next step, as GET /v1/customers shows.
  auto customer = Json::parse(herald.get("/v1/customers/w-1", kAdminKey).body);
  REQUIRE(customer["runs"].size() == 1);
  CHECK(customer["runs"][0]["workflow"] == "welcome");
  CHECK(customer["runs"][0]["state"] == "waiting");

  // entry: { once: true } — a second sign-up starts nothing and sends nothing.
  REQUIRE(post("/v1/track", R"({"userId": "w-1", "event": "user.signed_up", "messageId": "s-2"})").status == 200);
  REQUIRE(post("/v1/identify", R"({"userId": "w-1", "traits": {"plan": "x"}, "messageId": "i-2"})").status == 200);
  REQUIRE(eventually([&] {
    auto c = Json::parse(herald.get("/v1/customers/w-1", kAdminKey).body);
    return c["traits"].contains("plan");
  }));
  auto again = Json::parse(herald.get("/v1/customers/w-1/messages", kAdminKey).body);
  CHECK(again["items"].size() == 1);

  // GET /v1/workflows lists the examples with their version and the one active run.
  auto listed = herald.get("/v1/workflows", kAdminKey);
  REQUIRE(listed.status == 200);
  INFO(listed.body);
  const auto items = Json::parse(listed.body)["items"];
  Json welcome;
  for (const auto& item : items)
    if (item["id"] == "welcome") welcome = item;
  REQUIRE(welcome.is_object());
  CHECK(welcome["enabled"] == true);
  CHECK(welcome["file"] == "welcome.yaml");
  CHECK(welcome["version"].get<std::string>().size() == 16);
  CHECK(welcome["active_runs"] == 1);
  CHECK(items.size() == 6);

  // Its stats: one entry, the second sign-up skipped (its run is still active), the first
  // step's email sent.
  auto stats_r = herald.get("/v1/workflows/welcome/stats", kAdminKey);
  REQUIRE(stats_r.status == 200);
  auto stats = Json::parse(stats_r.body);
  INFO(stats.dump());
  CHECK(stats["entered"] == 1);
  CHECK(stats["active"] == 1);
  CHECK(stats["completed"] == 0);
  CHECK(stats["skipped"]["active"] == 1);
  REQUIRE(stats["steps"].is_object());
  REQUIRE(stats["steps"].size() == 1);
  CHECK(stats["steps"].begin().value()["sent"] == 1);
  CHECK(stats["version"] == welcome["version"]);
  CHECK(herald.get("/v1/workflows/nope/stats", kAdminKey).status == 404);
  CHECK(herald.get("/v1/workflows", kWriteKey).status == 403);
}

TEST_CASE("a send skips channels without consent, and erased customers stay suppressed") {
  RedisServer redis;
  HeraldProcess herald(redis.url(), examples_config());
  REQUIRE(herald.wait_ready(200));
  auto post = [&](const std::string& path, const std::string& body) {
    return post_with_write_key(herald, path, body);
  };
  auto messages_of = [&](const std::string& id) {
    return Json::parse(herald.get("/v1/customers/" + id + "/messages", kAdminKey).body)["items"];
  };

  // Email opted out, and sms (policy opt_in) never opted in: welcome's [email, sms] has no way.
  REQUIRE(post("/v1/identify", R"({"userId": "c-1", "traits": {"email": "c1@example.com", "phone": "+14155552671"}})").status == 200);
  REQUIRE(eventually([&] { return herald.get("/v1/customers/c-1", kAdminKey).status == 200; }));
  REQUIRE(http(herald.port(), "PUT", "/v1/customers/c-1/consent/email",
               R"({"status": "opted_out", "source": "test"})",
               {{"Authorization", std::string("Bearer ") + kAdminKey}}).status == 200);
  REQUIRE(post("/v1/track", R"({"userId": "c-1", "event": "user.signed_up"})").status == 200);
  REQUIRE(eventually([&] { return messages_of("c-1").size() == 1; }));
  auto m = messages_of("c-1")[0];
  CHECK(m["status"] == "suppressed");
  CHECK_THAT(m.dump(), Catch::Contains("consent"));

  // After erasure, the same email is on the suppression list: queued, then suppressed.
  REQUIRE(post("/v1/identify", R"({"userId": "e-1", "traits": {"email": "gone@example.com"}})").status == 200);
  REQUIRE(eventually([&] { return herald.get("/v1/customers/e-1", kAdminKey).status == 200; }));
  REQUIRE(http(herald.port(), "DELETE", "/v1/customers/e-1", {},
               {{"Authorization", std::string("Bearer ") + kAdminKey}}).status == 204);
  REQUIRE(post("/v1/identify", R"({"userId": "e-2", "traits": {"email": "gone@example.com"}})").status == 200);
  REQUIRE(post("/v1/track", R"({"userId": "e-2", "event": "user.signed_up"})").status == 200);
  REQUIRE(eventually([&] {
    auto items = messages_of("e-2");
    return items.size() == 1 && items[0]["status"] == "suppressed";
  }));
  CHECK_THAT(messages_of("e-2")[0]["timeline"].dump(), Catch::Contains("suppression_list"));
  {
    std::ifstream outbox(herald.dir().path() + "/var/outbox.jsonl");
    std::string line;
    CHECK_FALSE(std::getline(outbox, line));  // nothing reached the outbox
  }

  // The address identifies again, with an opt-in: the erasure's suppression is lifted (a
  // bounce's or a complaint's is not: tests/hooks_e2e).
  REQUIRE(post("/v1/identify", R"({"userId": "e-3", "traits": {"email": "gone@example.com"}})").status == 200);
  REQUIRE(eventually([&] { return herald.get("/v1/customers/e-3", kAdminKey).status == 200; }));
  REQUIRE(http(herald.port(), "PUT", "/v1/customers/e-3/consent/sms",
               R"({"status": "opted_in", "source": "test"})",
               {{"Authorization", std::string("Bearer ") + kAdminKey}}).status == 200);
  CHECK(redis.cli({"SCARD", "herald:suppressed"}) == "2");  // an sms opt-in lifts no email
  REQUIRE(http(herald.port(), "PUT", "/v1/customers/e-3/consent/email",
               R"({"status": "opted_in", "source": "signup-form"})",
               {{"Authorization", std::string("Bearer ") + kAdminKey}}).status == 200);
  CHECK(redis.cli({"SCARD", "herald:suppressed"}) == "1");  // the erased id stays
  REQUIRE(post("/v1/track", R"({"userId": "e-3", "event": "user.signed_up"})").status == 200);
  REQUIRE(eventually([&] {
    auto items = messages_of("e-3");
    return items.size() == 1 && items[0]["status"] == "sent";
  }));
  std::ifstream outbox(herald.dir().path() + "/var/outbox.jsonl");
  std::string line;
  CHECK(std::getline(outbox, line));
  CHECK_THAT(line, Catch::Contains("gone@example.com"));
}
