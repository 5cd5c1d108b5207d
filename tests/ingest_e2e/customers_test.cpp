// api.md "Customers": profile, consent, erasure, export and messages, admin key only.
#include <functional>

#include <catch2/catch.hpp>

#include "gateway/keys.hpp"

#include "tests/ingest_e2e/ingest_client.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using namespace herald::test::ingest;

namespace {

HttpResponse admin(const HeraldProcess& herald, const std::string& method, const std::string& path,
                   const std::string& body = {}, const std::string& key = kAdminKey) {
  return http(herald.port(), method, path, body, bearer(key));
}

HttpResponse put_consent(const HeraldProcess& herald, const std::string& id, const std::string& channel,
                         const Json& body) {
  return admin(herald, "PUT", "/v1/customers/" + id + "/consent/" + channel, body.dump());
}

/// Every object anywhere inside `j`.
void each_object(const Json& j, const std::function<void(const Json&)>& visit) {
  if (j.is_object()) visit(j);
  if (j.is_structured())
    for (const auto& child : j) each_object(child, visit);
}

}  // namespace

TEST_CASE("an unknown customer is 404 not_found") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  check_error(admin(herald, "GET", "/v1/customers/nobody"), 404, "not_found");
  check_error(admin(herald, "GET", "/v1/customers/nobody/export"), 404, "not_found");
}

TEST_CASE("the customers API is for the admin key only") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  check_success(post_ingest(herald, "identify", identify_body("cu-0", {{"a", 1}})), 1);
  REQUIRE(wait_customer(herald, "cu-0"));
  const Json consent = {{"status", "opted_in"}, {"source", "test"}};
  for (const auto& key : {std::string(kWriteKey), std::string(kAgentToken)}) {
    INFO(key);
    check_error(admin(herald, "GET", "/v1/customers/cu-0", {}, key), 403, "forbidden");
    check_error(admin(herald, "GET", "/v1/customers/cu-0/export", {}, key), 403, "forbidden");
    check_error(admin(herald, "GET", "/v1/customers/cu-0/messages", {}, key), 403, "forbidden");
    check_error(admin(herald, "PUT", "/v1/customers/cu-0/consent/email", consent.dump(), key), 403,
                "forbidden");
    check_error(admin(herald, "DELETE", "/v1/customers/cu-0", {}, key), 403, "forbidden");
  }
  check_error(admin(herald, "GET", "/v1/customers/cu-0", {}, "wrong"), 401, "unauthorized");
  check_error(http(herald.port(), "GET", "/v1/customers/cu-0"), 401, "unauthorized");
  check_error(http(herald.port(), "DELETE", "/v1/customers/cu-0"), 401, "unauthorized");
  REQUIRE(get_customer(herald, "cu-0"));  // nothing above changed it
}

TEST_CASE("consent changes answer the whole consent map and are logged for export") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  check_success(post_ingest(herald, "identify", identify_body("cu-1", {{"email", "cu1@example.com"}})), 1);
  REQUIRE(wait_customer(herald, "cu-1"));

  auto r = put_consent(herald, "cu-1", "email", {{"status", "opted_in"}, {"source", "signup-form"}});
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(json_of(r)["consent"]["email"] == "opted_in");
  r = put_consent(herald, "cu-1", "sms", {{"status", "opted_out"}, {"source", "support"}});
  REQUIRE(r.status == 200);
  CHECK(json_of(r)["consent"]["email"] == "opted_in");
  CHECK(json_of(r)["consent"]["sms"] == "opted_out");
  r = put_consent(herald, "cu-1", "email", {{"status", "opted_out"}, {"source", "preference-centre"}});
  REQUIRE(r.status == 200);
  CHECK(json_of(r)["consent"]["email"] == "opted_out");

  const auto c = get_customer(herald, "cu-1");
  REQUIRE(c);
  CHECK((*c)["consent"]["email"] == "opted_out");
  CHECK((*c)["consent"]["sms"] == "opted_out");
  for (const auto& [channel, status] : (*c)["consent"].items()) {
    INFO(channel);
    CHECK((status == "opted_in" || status == "opted_out"));
  }

  const auto fax = put_consent(herald, "cu-1", "fax", {{"status", "opted_in"}, {"source", "x"}});
  CHECK(fax.status == 400);
  check_client_error(fax);
  for (const Json& bad : {Json{{"status", "maybe"}, {"source", "x"}}, Json{{"source", "x"}},
                          Json{{"status", 1}, {"source", "x"}}}) {
    INFO(bad.dump());
    const auto br = put_consent(herald, "cu-1", "email", bad);
    CHECK(br.status == 400);
    check_client_error(br);
  }
  check_client_error(admin(herald, "PUT", "/v1/customers/cu-1/consent/email", "{not json"));
  const Json after = get_customer(herald, "cu-1").value()["consent"];
  CHECK(after["email"] == "opted_out");
  CHECK(after["sms"] == "opted_out");
  CHECK_FALSE(after.contains("fax"));

  // Export: everything stored, including traits and the consent log (time, status, source).
  const auto e = admin(herald, "GET", "/v1/customers/cu-1/export");
  INFO(e.body.substr(0, 4000));
  REQUIRE(e.status == 200);
  const Json exported = json_of(e);
  bool has_email_trait = false;
  std::vector<std::string> log;  // "channel?|status|source"
  each_object(exported, [&](const Json& o) {
    if (o.contains("email") && o["email"] == "cu1@example.com") has_email_trait = true;
    if (o.contains("status") && o.contains("source") && o["source"].is_string()) {
      const Json time = o.contains("time") ? o["time"] : o.contains("at") ? o["at"] : Json();
      CHECK(time.is_string());
      if (time.is_string()) CHECK(is_rfc3339_utc(time.get<std::string>()));
      log.push_back(o["status"].get<std::string>() + "|" + o["source"].get<std::string>());
    }
  });
  CHECK(has_email_trait);
  CHECK_THAT(log, Catch::VectorContains(std::string("opted_in|signup-form")));
  CHECK_THAT(log, Catch::VectorContains(std::string("opted_out|support")));
  CHECK_THAT(log, Catch::VectorContains(std::string("opted_out|preference-centre")));
  CHECK(log.size() == 3);
}

TEST_CASE("erasure removes the customer and is idempotent and export is 404 after") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  check_success(post_ingest(herald, "identify", identify_body("cu-2", {{"email", "gone@example.com"}})), 1);
  check_success(post_ingest(herald, "track", order_body("cu-2", 12)), 1);
  check_success(post_ingest(herald, "identify", identify_body("cu-keep", {{"email", "keep@example.com"}})), 1);
  REQUIRE(wait_customer(herald, "cu-2", [](const Json& c) { return c["stats"]["orders"] == 1; }));
  REQUIRE(wait_customer(herald, "cu-keep"));
  REQUIRE(put_consent(herald, "cu-2", "email", {{"status", "opted_in"}, {"source", "x"}}).status == 200);
  REQUIRE(admin(herald, "GET", "/v1/customers/cu-2/export").status == 200);

  const auto d = admin(herald, "DELETE", "/v1/customers/cu-2");
  INFO(d.body);
  CHECK(d.status == 204);
  CHECK(d.body.empty());
  check_error(admin(herald, "GET", "/v1/customers/cu-2"), 404, "not_found");
  check_error(admin(herald, "GET", "/v1/customers/cu-2/export"), 404, "not_found");
  CHECK(admin(herald, "DELETE", "/v1/customers/cu-2").status == 204);
  CHECK(admin(herald, "DELETE", "/v1/customers/never-existed").status == 204);
  // Someone else is untouched.
  CHECK(get_customer(herald, "cu-keep"));
  CHECK(redis.cli({"GET", herald::keys::address("email", "gone@example.com")}).empty());
  CHECK(redis.cli({"GET", herald::keys::address("email", "keep@example.com")}) == "cu-keep");
  // Still gone once everything in flight has been processed.
  quiesce(herald);
  CHECK_FALSE(get_customer(herald, "cu-2"));
}

TEST_CASE("erasure leaves the address index of an address another customer has claimed since") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  check_success(post_ingest(herald, "identify", identify_body("cu-old", {{"email", "moved@example.com"}})), 1);
  REQUIRE(wait_customer(herald, "cu-old"));
  check_success(post_ingest(herald, "identify", identify_body("cu-new", {{"email", "moved@example.com"}})), 1);
  REQUIRE(wait_customer(herald, "cu-new"));
  REQUIRE(redis.cli({"GET", herald::keys::address("email", "moved@example.com")}) == "cu-new");
  CHECK(admin(herald, "DELETE", "/v1/customers/cu-old").status == 204);
  CHECK(redis.cli({"GET", herald::keys::address("email", "moved@example.com")}) == "cu-new");
}

TEST_CASE("a customer's messages are a list") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  check_success(post_ingest(herald, "identify", identify_body("cu-3", {{"a", 1}})), 1);
  REQUIRE(wait_customer(herald, "cu-3"));
  const auto r = admin(herald, "GET", "/v1/customers/cu-3/messages");
  INFO(r.body);
  REQUIRE(r.status == 200);
  const Json j = json_of(r);
  CHECK(j["items"] == Json::array());
  CHECK_FALSE(j.contains("next"));
  const auto limited = admin(herald, "GET", "/v1/customers/cu-3/messages?limit=10");
  REQUIRE(limited.status == 200);
  CHECK(json_of(limited)["items"] == Json::array());
}
