// Hostile bodies on /v1/track and /v1/batch: each is a 4xx in the contract's error shape, and
// the gateway keeps serving.
#include <catch2/catch.hpp>

#include "tests/ingest_e2e/ingest_client.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using namespace herald::test::ingest;

namespace {

std::string nested(int depth) {
  return R"({"userId": "h", "event": "e", "properties": {"x": )" + std::string(depth, '[') +
         std::string(depth, ']') + "}}";
}

std::string in_batch(const std::string& event) { return R"({"batch": [)" + event + "]}"; }

struct Case {
  std::string name;
  std::string body;
  int status;        // 0: any 4xx
  std::string code;  // empty: any code
};

std::vector<Case> hostile_events() {
  using namespace std::string_literals;
  return {
      {"nesting 100,000 deep", nested(100000), 400, "invalid_json"},
      {"nesting 65 deep", nested(63), 400, "invalid_json"},  // the event object is level 1
      {"a 400 KiB string", R"({"userId": "h", "event": "e", "properties": {"s": ")" +
                                std::string(400 * 1024, 'a') + R"("}})",
       400, "event_too_large"},
      {"invalid UTF-8", "{\"userId\": \"h\xff\xfe\", \"event\": \"e\"}", 400, "invalid_json"},
      {"overlong UTF-8", "{\"userId\": \"h\", \"event\": \"\xc0\xaf\"}", 400, "invalid_json"},
      {"lone surrogate escape", R"({"userId": "h", "event": "\ud800"})", 0, ""},
      {"1e400", R"({"userId": "h", "event": "e", "properties": {"total": 1e400}})", 400,
       "invalid_json"},
      {"-1e400", R"({"userId": "h", "event": "e", "properties": {"total": -1e400}})", 400,
       "invalid_json"},
      {"escaped NUL", R"({"userId": "h\u0000x", "event": "e"})", 400, "invalid_json"},
      {"raw NUL", "{\"userId\": \"h\0x\", \"event\": \"e\"}"s, 400, "invalid_json"},
      {"NUL in a key", R"({"userId": "h", "event": "e", "properties": {"a\u0000b": 1}})", 400,
       "invalid_json"},
      {"duplicate userId", R"({"userId": "h", "userId": "g", "event": "e"})", 400, "invalid_json"},
      {"truncated", R"({"userId": "h", "event": "e")", 400, "invalid_json"},
      {"trailing garbage", R"({"userId": "h", "event": "e"} x)", 400, "invalid_json"},
      {"NaN", R"({"userId": "h", "event": "e", "properties": {"x": NaN}})", 400, "invalid_json"},
      {"userId true", R"({"userId": true, "event": "e"})", 400, "invalid_event"},
      {"userId object", R"({"userId": {"a": 1}, "event": "e"})", 400, "invalid_event"},
      {"userId array", R"({"userId": ["h"], "event": "e"})", 400, "invalid_event"},
      {"event number", R"({"userId": "h", "event": 5})", 400, "invalid_event"},
      {"event object", R"({"userId": "h", "event": {}})", 400, "invalid_event"},
      {"properties string", R"({"userId": "h", "event": "e", "properties": "x"})", 400, "invalid_event"},
      {"properties array", R"({"userId": "h", "event": "e", "properties": [1]})", 400, "invalid_event"},
      {"context number", R"({"userId": "h", "event": "e", "context": 5})", 400, "invalid_event"},
      {"context.traits string", R"({"userId": "h", "event": "e", "context": {"traits": "x"}})", 400,
       "invalid_event"},
      {"integrations string", R"({"userId": "h", "event": "e", "integrations": "x"})", 400,
       "invalid_event"},
      {"timestamp number", R"({"userId": "h", "event": "e", "timestamp": 1700000000})", 400,
       "invalid_event"},
      {"timestamp words", R"({"userId": "h", "event": "e", "timestamp": "yesterday"})", 400,
       "invalid_event"},
      {"timestamp without offset", R"({"userId": "h", "event": "e", "timestamp": "2024-01-01T00:00:00"})",
       400, "invalid_event"},
      {"messageId number", R"({"userId": "h", "event": "e", "messageId": 5})", 400, "invalid_event"},
      {"messageId object", R"({"userId": "h", "event": "e", "messageId": {}})", 400, "invalid_event"},
      {"sentAt bool", R"({"userId": "h", "event": "e", "sentAt": true})", 400, "invalid_event"},
      {"anonymousId array with no userId", R"({"anonymousId": [], "event": "e"})", 400, ""},
  };
}

}  // namespace

TEST_CASE("hostile bodies are 4xx in the error shape and the gateway keeps serving") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());

  SECTION("whole bodies") {
    for (const std::string endpoint : {"track", "identify", "batch"})
      for (const auto& [name, body] : std::vector<std::pair<std::string, std::string>>{
               {"empty body", ""},
               {"a JSON array", R"([{"userId": "h", "event": "e"}])"},
               {"null", "null"},
               {"a string", R"("track")"},
               {"a number", "42"},
               {"white space", "   \n"},
               {"not JSON", "userId=h&event=e"},
               {"nesting 100,000 deep arrays", std::string(100000, '[') + std::string(100000, ']')},
               {"nesting 100,000 deep objects, unclosed", [] {
                  std::string s;
                  for (int i = 0; i < 50000; ++i) s += "{\"a\":";
                  return s;
                }()}}) {
        INFO(endpoint << ": " << name);
        const auto r = post_ingest(herald, endpoint, body);
        check_error(r, 400, "invalid_json");
      }
  }
  SECTION("hostile events, alone on /v1/track and inside a batch") {
    for (const auto& c : hostile_events()) {
      {
        INFO("track: " << c.name);
        const auto r = post_ingest(herald, "track", c.body);
        check_client_error(r);
        if (c.status) CHECK(r.status == c.status);
        if (!c.code.empty()) CHECK(json_of(r)["error"]["code"] == c.code);
      }
      {
        INFO("batch: " << c.name);
        // a good event first: the whole batch must still fail
        const std::string item = c.body.substr(0, 1) + R"("type": "track", )" + c.body.substr(1);
        const auto r = post_ingest(herald, "batch",
                                   in_batch(R"({"type": "track", "userId": "h-good", "event": "e"}, )" + item));
        check_client_error(r);
        if (c.status) CHECK(r.status == c.status);
        if (!c.code.empty()) CHECK(json_of(r)["error"]["code"] == c.code);
      }
    }
  }
  SECTION("hostile batch shapes") {
    for (const auto& [name, body] : std::vector<std::pair<std::string, std::string>>{
             {"batch missing", R"({"sentAt": "2024-01-01T00:00:00Z"})"},
             {"batch an object", R"({"batch": {"type": "track"}})"},
             {"batch a string", R"({"batch": "x"})"},
             {"batch null", R"({"batch": null})"},
             {"an item that is a number", R"({"batch": [5]})"},
             {"an item that is null", R"({"batch": [null]})"},
             {"an item without type", R"({"batch": [{"userId": "h", "event": "e"}]})"},
             {"type a number", R"({"batch": [{"type": 1, "userId": "h", "event": "e"}]})"},
             {"unknown type", R"({"batch": [{"type": "purchase", "userId": "h", "event": "e"}]})"},
             {"batch-level context a string", R"({"batch": [{"type": "track", "userId": "h", "event": "e"}], "context": "x"})"},
             {"writeKey a number", R"({"batch": [], "writeKey": 5})"}}) {
      INFO(name);
      check_client_error(post_ingest(herald, "batch", body));
    }
  }

  CHECK(herald.get("/healthz").status == 200);
  CHECK(herald.running());
  check_success(post_ingest(herald, "track", order_body("h-after", 3)), 1);
  const auto c = wait_customer(herald, "h-after", [](const Json& c) { return c["stats"]["orders"] == 1; });
  REQUIRE(c);
  quiesce(herald);
  CHECK_FALSE(get_customer(herald, "h"));
  CHECK_FALSE(get_customer(herald, "h-good"));
}

TEST_CASE("a slowly sent hostile body does not stop other requests") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  // Half of a deep body, then nothing: other clients are still served.
  HttpConnection slow(herald.port());
  const std::string body = nested(100000);
  slow.send("POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer " +
            std::string(kWriteKey) + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
            body.substr(0, body.size() / 2));
  check_success(post_ingest(herald, "track", track_body("slow-other", "e")), 1);
  slow.send(body.substr(body.size() / 2));
  auto r = slow.read_response();
  REQUIRE(r);
  check_error(*r, 400, "invalid_json");
}
