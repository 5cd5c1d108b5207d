// POST /v1/workflows/{id}/simulate and `herald simulate` on the binary, with the example
// abandoned-cart workflow: the whole timeline on a simulated clock, rendered messages, the
// send-time policies, and nothing sent or stored.
#include <filesystem>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/herald_process.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/temp_dir.hpp"

using namespace herald::test;
using Json = nlohmann::json;

namespace {

std::string examples(const std::string& policies = {}) {
  return test_config(std::string("workflows_dir: ") + HERALD_SOURCE_DIR +
                     "/workflows/examples\ntemplates_dir: " + HERALD_SOURCE_DIR +
                     "/templates/examples\n" + policies);
}

const Json kCustomer = {{"traits", {{"email", "ann@example.com"}, {"first_name", "Ann"}, {"timezone", "UTC"}}},
                        {"consent", {{"email", "opted_in"}}}};

Json cart(double total, const std::string& after = {}) {
  Json e{{"event", "cart.updated"},
         {"properties", {{"cart_id", "c1"}, {"total", total}, {"items", Json::array({{{"name", "Shoes"}, {"price", total}}})}}}};
  if (!after.empty()) e["after"] = after;
  return e;
}

Json simulate(const HeraldProcess& herald, const Json& body, int expect = 200) {
  auto r = herald.post("/v1/workflows/abandoned-cart/simulate", body.dump(), kAdminKey);
  INFO(r.body);
  REQUIRE(r.status == expect);
  return Json::parse(r.body);
}

/// The timeline's entries of one kind.
std::vector<Json> of(const Json& result, const std::string& step) {
  std::vector<Json> out;
  for (const auto& e : result["timeline"])
    if (e["step"] == step) out.push_back(e);
  return out;
}

}  // namespace

TEST_CASE("simulate shows the whole abandoned-cart timeline and stores nothing") {
  RedisServer redis;
  HeraldProcess herald(redis.url(), examples());
  REQUIRE(herald.wait_ready(200));

  auto big = simulate(herald, Json{{"customer", kCustomer}, {"events", Json::array({cart(150)})},
                                   {"start", "2026-01-05T10:00:00Z"}});
  INFO(big.dump(2));
  CHECK(big["workflow"] == "abandoned-cart");
  auto sends = of(big, "send");
  REQUIRE(sends.size() == 2);
  CHECK(sends[0]["at"] == "+1h");
  CHECK(sends[0]["name"] == "reminder");
  CHECK(sends[0]["channel"] == "email");
  CHECK(sends[0]["template"] == "cart_reminder");
  CHECK_THAT(sends[0]["rendered"]["subject"].get<std::string>(), Catch::Contains("Ann"));
  CHECK(sends[1]["at"] == "+1d1h");  // the wait of a day, then total > 100: the discount
  CHECK(sends[1]["template"] == "cart_discount");
  CHECK(of(big, "completed").size() == 1);
  CHECK(of(big, "entered").size() == 1);

  // A small cart gets the reminder only; an order within the hour ends the run with no send.
  auto small = simulate(herald, Json{{"customer", kCustomer}, {"events", Json::array({cart(20)})},
                                     {"start", "2026-01-05T10:00:00Z"}});
  CHECK(of(small, "send").size() == 1);
  auto ordered = simulate(
      herald, Json{{"customer", kCustomer},
                   {"events", Json::array({cart(150), Json{{"event", "order.completed"},
                                                           {"properties", {{"total", 150}}},
                                                           {"after", "30m"}}})},
                   {"start", "2026-01-05T10:00:00Z"}});
  CHECK(of(ordered, "send").empty());
  auto exits = of(ordered, "exited");
  REQUIRE(exits.size() == 1);
  CHECK(exits[0]["at"] == "+30m");
  // Opted out of email, the send is suppressed with the reason.
  auto no_consent = simulate(herald, Json{{"customer", {{"traits", {{"email", "bo@example.com"}}},
                                                        {"consent", {{"email", "opted_out"}}}}},
                                          {"events", Json::array({cart(20)})}});
  CHECK(of(no_consent, "send").empty());
  auto refused = of(no_consent, "suppressed");
  REQUIRE(refused.size() == 1);
  CHECK_THAT(refused[0]["reason"].get<std::string>(), Catch::Contains("consent"));

  // Nothing was stored or sent.
  CHECK(herald.get("/v1/customers/simulated", kAdminKey).status == 404);
  const auto outbox = herald.dir().path() + "/var/outbox.jsonl";
  CHECK((!std::filesystem::exists(outbox) || std::filesystem::file_size(outbox) == 0));
  auto stats = Json::parse(herald.get("/v1/workflows/abandoned-cart/stats", kAdminKey).body);
  CHECK(stats["entered"] == 0);

  // Errors: unknown workflow, bad body, bad durations, the write key.
  CHECK(herald.post("/v1/workflows/nope/simulate", "{}", kAdminKey).status == 404);
  CHECK(herald.post("/v1/workflows/abandoned-cart/simulate", "[", kAdminKey).status == 400);
  simulate(herald, Json{{"events", "x"}}, 400);
  simulate(herald, Json{{"events", Json::array({cart(1, "soon")})}}, 400);
  simulate(herald, Json{{"start", "yesterday"}}, 400);
  CHECK(herald.post("/v1/workflows/abandoned-cart/simulate", "{}", kWriteKey).status == 403);
  CHECK(herald.get("/healthz").status == 200);
}

TEST_CASE("simulate applies quiet hours and frequency caps at send time") {
  RedisServer redis;
  HeraldProcess herald(
      redis.url(),
      examples("policies:\n"
               "  quiet_hours: { from: \"21:00\", to: \"08:00\", channels: [email] }\n"
               "  frequency_caps: [ { max: 1, per: 2d, channels: [email] } ]\n"));
  REQUIRE(herald.wait_ready(200));
  // A cart at 20:30 UTC: the reminder would go at 21:30, inside the quiet hours: deferred
  // to 08:00, eleven and a half hours later. The discount a day later (deferred to the
  // next 08:00 too) is over the cap of one email in two days.
  auto r = simulate(herald, Json{{"customer", kCustomer}, {"events", Json::array({cart(150)})},
                                 {"start", "2026-01-05T20:30:00Z"}});
  INFO(r.dump(2));
  auto deferred = of(r, "deferred");
  REQUIRE(deferred.size() >= 1);
  CHECK(deferred[0]["reason"] == "quiet_hours");
  CHECK(deferred[0]["at"] == "+1h");
  CHECK(deferred[0]["until"] == "+11h30m");
  auto sends = of(r, "send");
  REQUIRE(sends.size() >= 1);
  CHECK(sends[0]["at"] == "+11h30m");
  auto suppressed = of(r, "suppressed");
  REQUIRE(suppressed.size() == 1);
  CHECK_THAT(suppressed[0]["reason"].get<std::string>(), Catch::StartsWith("frequency_cap"));
}

TEST_CASE("herald simulate prints the timeline from files") {
  TempDir dir;
  dir.write("herald.yaml", std::string("workflows_dir: ") + HERALD_SOURCE_DIR +
                               "/workflows/examples\ntemplates_dir: " + HERALD_SOURCE_DIR +
                               "/templates/examples\npolicies: { quiet_hours: { channels: [] } }\n");
  dir.write("customer.json", kCustomer.dump());
  dir.write("events.json", Json::array({cart(150)}).dump());
  auto [code, out] = run_herald({"simulate", "abandoned-cart", "--customer", dir.file("customer.json"),
                                 "--events", dir.file("events.json"), "--config",
                                 dir.file("herald.yaml")});
  INFO(out);
  REQUIRE(code == 0);
  auto json = Json::parse(out.substr(out.find('{')));
  CHECK(json["workflow"] == "abandoned-cart");
  CHECK(of(json, "send").size() == 2);

  // A workflow given as a file path.
  dir.write("mine.yaml", "workflow: mine\ntrigger:\n  event: cart.updated\nsteps:\n"
                         "  - send: { template: cart_reminder, channel: email }\n");
  auto [code2, out2] = run_herald({"simulate", dir.file("mine.yaml"), "--customer",
                                   dir.file("customer.json"), "--events", dir.file("events.json"),
                                   "--config", dir.file("herald.yaml")});
  INFO(out2);
  CHECK(code2 == 0);
  CHECK_THAT(out2, Catch::Contains("\"workflow\": \"mine\""));

  auto [missing, m_out] = run_herald({"simulate", "abandoned-cart", "--customer", dir.file("nope.json"),
                                      "--events", dir.file("events.json"), "--config",
                                      dir.file("herald.yaml")});
  CHECK(missing == 2);
  auto [unknown, u_out] = run_herald({"simulate", "nope", "--customer", dir.file("customer.json"),
                                      "--events", dir.file("events.json"), "--config",
                                      dir.file("herald.yaml")});
  CHECK(unknown == 1);
  auto [usage, usage_out] = run_herald({"simulate", "abandoned-cart"});
  CHECK(usage == 2);
}
