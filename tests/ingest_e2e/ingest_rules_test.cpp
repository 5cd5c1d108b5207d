// api.md "Ingest": credentials, required members, the success shape, whole-batch validation,
// limits, trait normalisation and the bodies Segment's own libraries send.
#include <catch2/catch.hpp>

#include "tests/ingest_e2e/ingest_client.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using namespace herald::test::ingest;

namespace {

Json batch_of(std::vector<Json> items) { return Json{{"batch", Json(std::move(items))}}; }

Json traits_of(const HeraldProcess& herald, const std::string& id,
               const std::string& until_trait) {
  auto profile = wait_customer(herald, id, [&](const Json& c) {
    return c.contains("traits") && c["traits"].contains(until_trait);
  });
  INFO("customer " << id << ": " << (profile ? profile->dump() : "absent"));
  REQUIRE(profile);
  REQUIRE((*profile)["traits"].contains(until_trait));
  return (*profile)["traits"];
}

}  // namespace

TEST_CASE("the write key is accepted as HTTP Basic user or Bearer or writeKey in the body") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  const std::string body = track_body("auth-1", "signed.up").dump();

  check_success(post_ingest(herald, "track", body, basic(kWriteKey)), 1);
  check_success(post_ingest(herald, "track", body, bearer(kWriteKey)), 1);
  check_success(post_ingest(herald, "identify", identify_body("auth-2", {{"plan", "pro"}}),
                            basic(kWriteKey)), 1);
  check_success(post_ingest(herald, "batch", batch_of({{{"type", "track"}, {"userId", "auth-3"},
                                                        {"event", "e"}}}), bearer(kWriteKey)), 1);

  Json with_key = track_body("auth-4", "signed.up");
  with_key["writeKey"] = kWriteKey;
  check_success(post_ingest(herald, "track", with_key, Headers{}), 1);
  Json batch_with_key = batch_of({{{"type", "identify"}, {"userId", "auth-5"}, {"traits", {{"a", 1}}}}});
  batch_with_key["writeKey"] = kWriteKey;
  check_success(post_ingest(herald, "batch", batch_with_key, Headers{}), 1);

  SECTION("the admin key is accepted too") {
    check_success(post_ingest(herald, "track", body, bearer(kAdminKey)), 1);
  }
  SECTION("missing or wrong credentials are 401") {
    for (const auto& endpoint : {"track", "identify", "batch"}) {
      INFO(endpoint);
      const std::string any = std::string(endpoint) == "batch"
                                  ? batch_of({{{"type", "track"}, {"userId", "x"}, {"event", "e"}}}).dump()
                                  : body;
      check_error(post_ingest(herald, endpoint, any, Headers{}), 401, "unauthorized");
      check_error(post_ingest(herald, endpoint, any, bearer("wrong-key")), 401, "unauthorized");
      check_error(post_ingest(herald, endpoint, any, basic("wrong-key")), 401, "unauthorized");
    }
    Json wrong = track_body("auth-6", "e");
    wrong["writeKey"] = "wrong-key";
    check_error(post_ingest(herald, "track", wrong, Headers{}), 401, "unauthorized");
    // A body key does not rescue a wrong header, and a wrong body key is still wrong.
    check_error(post_ingest(herald, "track", wrong, bearer("nope")), 401, "unauthorized");
    check_error(post_ingest(herald, "track", body, {{"Authorization", "Basic !!!notbase64"}}), 401,
                "unauthorized");
  }
  SECTION("an agent token is the wrong role: 403") {
    check_error(post_ingest(herald, "track", body, bearer(kAgentToken)), 403, "forbidden");
    check_error(post_ingest(herald, "batch",
                            batch_of({{{"type", "track"}, {"userId", "x"}, {"event", "e"}}}),
                            bearer(kAgentToken)),
                403, "forbidden");
  }
  SECTION("the write key does not open the rest of /v1/") {
    check_error(http(herald.port(), "GET", "/v1/customers/auth-1", {}, bearer(kWriteKey)), 403,
                "forbidden");
  }
}

TEST_CASE("userId is required and anonymousId alone is refused") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  check_error(post_ingest(herald, "track", R"({"anonymousId": "anon-1", "event": "e"})"), 400,
              "missing_user_id", "userId");
  check_error(post_ingest(herald, "identify", R"({"anonymousId": "anon-1", "traits": {"a": 1}})"), 400,
              "missing_user_id", "userId");
  check_error(post_ingest(herald, "track", R"({"event": "e"})"), 400, "missing_user_id", "userId");
  check_error(post_ingest(herald, "track", R"({"userId": "", "event": "e"})"), 400, "missing_user_id",
              "userId");
  check_error(post_ingest(herald, "batch",
                          R"({"batch": [{"type": "track", "userId": "u", "event": "e"},
                                        {"type": "identify", "anonymousId": "a"}]})"),
              400, "missing_user_id", "batch[1].userId");
}

TEST_CASE("event is required for track alone and inside a batch") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  check_error(post_ingest(herald, "track", R"({"userId": "u1", "properties": {}})"), 400,
              "invalid_event", "event");
  check_error(post_ingest(herald, "batch",
                          R"({"batch": [{"type": "track", "userId": "u1", "event": "ok"},
                                        {"type": "track", "userId": "u1"}]})"),
              400, "invalid_event", "batch[1].event");
  // identify needs no event
  check_success(post_ingest(herald, "identify", identify_body("u1", {{"plan", "free"}})), 1);
}

TEST_CASE("success answers count accepted events") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  check_success(post_ingest(herald, "track", track_body("s1", "e")), 1);
  check_success(post_ingest(herald, "identify", identify_body("s1", {{"x", 1}})), 1);
  Json batch = Json::array();
  for (int i = 0; i < 7; ++i)
    batch.push_back({{"type", i % 2 ? "track" : "identify"}, {"userId", "s" + std::to_string(i)},
                     {"event", "e"}, {"traits", {{"n", i}}}});
  const auto r = post_ingest(herald, "batch", Json{{"batch", batch}});
  check_success(r, 7);
  CHECK(r.header("content-type").rfind("application/json", 0) == 0);
}

TEST_CASE("a batch with bad items stores nothing and lists every bad item") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  const auto r = post_ingest(herald, "batch", R"({"batch": [
      {"type": "identify", "userId": "good-a", "traits": {"plan": "pro"}},
      {"type": "track", "userId": "good-a"},
      {"type": "track", "userId": "good-b", "event": "order.completed", "properties": {"total": 5}},
      {"type": "identify", "anonymousId": "anon"},
      {"type": "identify", "userId": "good-c", "traits": {"timezone": "Not/AZone"}}]})");
  check_error(r, 400, "invalid_event", "batch[1].event");
  const Json j = json_of(r);
  REQUIRE(j["error"]["details"].is_array());
  std::vector<std::string> fields;
  for (const auto& d : j["error"]["details"]) {
    CHECK(d["message"].is_string());
    fields.push_back(d.value("field", ""));
  }
  CHECK_THAT(fields, Catch::VectorContains(std::string("batch[1].event")));
  CHECK_THAT(fields, Catch::VectorContains(std::string("batch[3].userId")));
  CHECK_THAT(fields, Catch::VectorContains(std::string("batch[4].traits.timezone")));
  CHECK(fields.size() == 3);

  quiesce(herald);  // anything that had been written would have been processed by now
  CHECK_FALSE(get_customer(herald, "good-a"));
  CHECK_FALSE(get_customer(herald, "good-b"));
  CHECK_FALSE(get_customer(herald, "good-c"));
}

TEST_CASE("size limits on body and batch length and event size") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());

  SECTION("a body over server.max_body_bytes (512 KiB by default) is 413") {
    Json big = track_body("big", "e", {{"blob", std::string(530 * 1024, 'x')}});
    check_error(post_ingest(herald, "track", big), 413, "payload_too_large");
    Json batch = Json::array();
    for (int i = 0; i < 20; ++i)
      batch.push_back({{"type", "track"}, {"userId", "big"}, {"event", "e"},
                       {"properties", {{"blob", std::string(30 * 1024, 'y')}}}});
    check_error(post_ingest(herald, "batch", Json{{"batch", batch}}), 413, "payload_too_large");
  }
  SECTION("2,500 items pass and 2,501 are refused") {
    auto items = [](int n) {
      Json batch = Json::array();
      for (int i = 0; i < n; ++i)
        batch.push_back({{"type", "track"}, {"userId", "b" + std::to_string(i % 50)}, {"event", "e"}});
      return Json{{"batch", batch}};
    };
    const auto over = post_ingest(herald, "batch", items(2501));
    check_error(over, 400, "batch_too_large", "batch");
    check_success(post_ingest(herald, "batch", items(2500)), 2500);
  }
  SECTION("an event over 32 KiB is 400 event_too_large, alone or in a batch") {
    check_error(post_ingest(herald, "track", track_body("big", "e", {{"s", std::string(33 * 1024, 'z')}})),
                400, "event_too_large");
    check_error(post_ingest(herald, "identify", identify_body("big", {{"s", std::string(33 * 1024, 'z')}})),
                400, "event_too_large");
    Json batch = {{"batch",
                   {{{"type", "track"}, {"userId", "big"}, {"event", "ok"}},
                    {{"type", "track"}, {"userId", "big"}, {"event", "e"},
                     {"properties", {{"s", std::string(33 * 1024, 'z')}}}}}}};
    const auto r = post_ingest(herald, "batch", batch);
    check_error(r, 400, "event_too_large");
    CHECK_THAT(json_of(r)["error"].value("field", ""), Catch::StartsWith("batch[1]"));
    // Just under the limit passes.
    check_success(post_ingest(herald, "track", track_body("big", "e", {{"s", std::string(31 * 1024, 'z')}})),
                  1);
  }
}

TEST_CASE("known traits are normalised on identify and invalid ones refused") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  check_success(post_ingest(herald, "identify",
                            identify_body("norm-1", {{"email", "Ada.Lovelace@EXAMPLE.Org"},
                                                     {"phone", "(415) 555-2671"},
                                                     {"whatsapp", "+44 20 7946 0958"},
                                                     {"timezone", "Europe/Paris"},
                                                     {"locale", "en_GB"},
                                                     {"birthday", "--12-10"},
                                                     {"favourite", {{"colour", "green"}, {"n", 3}}}})),
                1);
  const Json traits = traits_of(herald, "norm-1", "email");
  CHECK(traits["email"] == "Ada.Lovelace@example.org");
  CHECK(traits["phone"] == "+14155552671");
  CHECK(traits["whatsapp"] == "+442079460958");
  CHECK(traits["timezone"] == "Europe/Paris");
  CHECK(traits["locale"] == "en-GB");
  CHECK(traits["birthday"] == "--12-10");
  CHECK(traits["favourite"] == Json({{"colour", "green"}, {"n", 3}}));

  check_error(post_ingest(herald, "identify", identify_body("norm-2", {{"timezone", "Mars/Olympus_Mons"}})),
              400, "invalid_trait", "traits.timezone");
  check_error(post_ingest(herald, "identify", identify_body("norm-2", {{"email", "not an email"}})), 400,
              "invalid_trait", "traits.email");
  check_error(post_ingest(herald, "identify", identify_body("norm-2", {{"phone", "12"}})), 400,
              "invalid_trait", "traits.phone");
  check_error(post_ingest(herald, "identify", identify_body("norm-2", {{"birthday", "1990-02-30"}})), 400,
              "invalid_trait", "traits.birthday");
  check_error(post_ingest(herald, "batch",
                          batch_of({{{"type", "identify"}, {"userId", "norm-2"},
                                     {"traits", {{"timezone", "Nowhere/City"}}}}})),
              400, "invalid_trait", "batch[0].traits.timezone");
  quiesce(herald);
  CHECK_FALSE(get_customer(herald, "norm-2"));
}

TEST_CASE("context.traits on a track are merged into the customer's traits") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  check_success(post_ingest(herald, "identify", identify_body("ctx-1", {{"name", "Ada"}, {"plan", "free"}})), 1);
  traits_of(herald, "ctx-1", "name");
  Json t = track_body("ctx-1", "plan.changed");
  t["context"] = {{"traits", {{"plan", "pro"}, {"email", "ada@EXAMPLE.com"}}}, {"ip", "10.0.0.1"}};
  check_success(post_ingest(herald, "track", t), 1);
  const Json traits = traits_of(herald, "ctx-1", "email");
  CHECK(traits["email"] == "ada@example.com");
  CHECK(traits["plan"] == "pro");
  CHECK(traits["name"] == "Ada");
}

TEST_CASE("bodies exactly as analytics-node and analytics-python send them are accepted") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  // @segment/analytics-node 1.x: POST /v1/batch, Basic auth with the write key, _metadata.
  const std::string node =
      R"({"batch":[{"userId":"user-42","event":"Order Completed","properties":{"order_id":"50314b8e9bcf000000000000","total":27.5,"revenue":25,"currency":"USD","products":[{"product_id":"507f1f77bcf86cd799439011","sku":"45790-32","price":19,"quantity":1}]},"type":"track","context":{"library":{"name":"@segment/analytics-node","version":"1.1.4"}},"integrations":{},"timestamp":"2024-02-29T23:59:59.999Z","messageId":"node-next-1709251199999-6e5a1c1b-3b5a-4b1f-9c35-2d4f3e1b8a9c","_metadata":{"nodeVersion":"18.19.0","jsRuntime":"node"}},{"userId":"user-42","traits":{"name":"Ada","email":"ada@EXAMPLE.org","timezone":"America/New_York","locale":"en-US"},"type":"identify","context":{"library":{"name":"@segment/analytics-node","version":"1.1.4"}},"integrations":{},"timestamp":"2024-03-01T00:00:00.001Z","messageId":"node-next-1709251200001-0c3a","_metadata":{"nodeVersion":"18.19.0","jsRuntime":"node"}}],"sentAt":"2024-03-01T00:00:00.500Z"})";
  Headers node_headers = basic(kWriteKey);
  node_headers.emplace_back("User-Agent", "analytics-node-next/latest");
  check_success(post_ingest(herald, "batch", node, node_headers), 2);

  // analytics-python 2.x: POST /v1/batch with Basic auth, isoformat() times, null anonymousId,
  // originalTimestamp absent, sentAt on the batch.
  const std::string python =
      R"({"batch": [{"integrations": {}, "anonymousId": null, "properties": {"plan": "Enterprise", "seats": 12}, "event": "Signed Up", "context": {"library": {"name": "analytics-python", "version": "2.2.3"}}, "timestamp": "2024-02-29T18:04:05.123456+00:00", "userId": "019mr8mf4r", "type": "track", "messageId": "0b4a3b1e-5d39-4b38-9a7e-5b7b8c6f1f4e"}, {"integrations": {}, "anonymousId": null, "traits": {"email": "Peter@Example.com", "name": "Peter Gibbons", "birthday": "1985-07-14", "phone": "+1 (415) 555-2671"}, "context": {"library": {"name": "analytics-python", "version": "2.2.3"}}, "timestamp": "2024-02-29T18:04:05.200001-08:00", "userId": "019mr8mf4r", "type": "identify", "messageId": "8d3b6c1a-0d4b-4b7e-8f7e-2f4a8e2d1c3b"}], "sentAt": "2024-02-29T18:04:06.500000+00:00"})";
  Headers python_headers = basic(kWriteKey);
  python_headers.emplace_back("User-Agent", "analytics-python/2.2.3");
  check_success(post_ingest(herald, "batch", python, python_headers), 2);

  // analytics.js style single call: writeKey in the body, originalTimestamp, sentAt, _metadata.
  const std::string browser =
      R"({"timestamp":"2024-02-29T12:00:00.000Z","integrations":{"Segment.io":true},"userId":"u-9","anonymousId":"5f3c8a7e-2b1d-4c8e-9f7a-1d2e3c4b5a69","type":"track","event":"Product Viewed","properties":{"product_id":"p1","price":9.99},"context":{"page":{"path":"/p1","url":"https://shop.example/p1"},"userAgent":"Mozilla/5.0","locale":"fr-FR","library":{"name":"analytics.js","version":"next-1.64.0"},"traits":{"email":"u9@Shop.Example"}},"messageId":"ajs-next-2d5f1d8b7c","writeKey":")" +
      std::string(kWriteKey) +
      R"(","sentAt":"2024-02-29T12:00:00.050Z","originalTimestamp":"2024-02-29T11:59:59.990Z","_metadata":{"bundled":["Segment.io"],"unbundled":[],"bundledIds":[]}})";
  check_success(post_ingest(herald, "track", browser, Headers{}), 1);

  CHECK(traits_of(herald, "user-42", "email")["email"] == "ada@example.org");
  const Json peter = traits_of(herald, "019mr8mf4r", "phone");
  CHECK(peter["phone"] == "+14155552671");
  CHECK(peter["email"] == "Peter@example.com");
  CHECK(traits_of(herald, "u-9", "email")["email"] == "u9@shop.example");

  // A retry of the whole analytics-node batch (the library retries on timeouts) is acknowledged
  // and nothing is processed twice.
  check_success(post_ingest(herald, "batch", node, node_headers), 0, 2);
}
