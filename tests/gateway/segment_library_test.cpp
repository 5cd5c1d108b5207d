// Segment's own Node.js library (analytics-node, installed by ops/test.sh from the npm
// registry) pointed at Herald delivers its events.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/herald_process.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using Json = nlohmann::json;

TEST_CASE("analytics-node delivers identify and track calls through /v1/batch") {
  const std::string dir = HERALD_SOURCE_DIR "/tests/gateway/segment_library";
  RedisServer redis;
  HeraldProcess herald(redis.url());
  TempDir out;
  Process node({"node", dir + "/send.js", "http://127.0.0.1:" + std::to_string(herald.port()),
                kWriteKey, "segment-user-1", "25"},
               out.file("node.txt"), dir);
  auto status = node.wait(std::chrono::seconds(60));
  INFO(node.output());
  REQUIRE(status);
  REQUIRE(*status == 0);
  CHECK_THAT(node.output(), Catch::Contains("flushed"));

  Json customer;
  REQUIRE(eventually(
      [&] {
        auto r = herald.get("/v1/customers/segment-user-1", kAdminKey);
        if (r.status != 200) return false;
        customer = Json::parse(r.body);
        return customer["stats"]["orders"] == 25;
      },
      std::chrono::seconds(20)));
  CHECK(customer["traits"]["email"] == "Segment.User@example.com");
  CHECK(customer["traits"]["plan"] == "pro");
  CHECK(customer["stats"]["revenue"] == 250.0);
}
