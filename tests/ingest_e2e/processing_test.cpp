// Idempotency by messageId and the processing of events into customer profiles:
// traits merged by identify, order stats and churn risk (workflows.md "Churn risk"), order.
#include <cmath>
#include <latch>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/ingest_e2e/ingest_client.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using namespace herald::test::ingest;

TEST_CASE("the same messageId twice is acknowledged twice and processed once") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  const Json order = order_body("dup-1", 10, "msg-dup-1");
  check_success(post_ingest(herald, "track", order), 1, 0);
  check_success(post_ingest(herald, "track", order), 0, 1);
  // The same id inside a batch, next to a new one.
  Json again = order;
  again["type"] = "track";
  Json fresh = order_body("dup-1", 5, "msg-dup-2");
  fresh["type"] = "track";
  check_success(post_ingest(herald, "batch", Json{{"batch", Json::array({again, fresh})}}), 1, 1);
  auto c = wait_customer(herald, "dup-1", [](const Json& c) { return c["stats"]["orders"] == 2; });
  REQUIRE(c);
  quiesce(herald);
  c = get_customer(herald, "dup-1");
  REQUIRE(c);
  CHECK((*c)["stats"]["orders"] == 2);
  CHECK((*c)["stats"]["revenue"].get<double>() == Approx(15));
}

TEST_CASE("a messageId is forgotten after ingest.dedupe_window") {
  RedisServer redis;
  HeraldProcess herald(redis.url(), test_config("ingest:\n  dedupe_window: 2s\n"));
  REQUIRE(herald.wait_ready());
  const Json order = order_body("win-1", 1, "msg-win-1");
  check_success(post_ingest(herald, "track", order), 1, 0);
  check_success(post_ingest(herald, "track", order), 0, 1);
  HttpResponse again;
  const bool forgotten = eventually(
      [&] {
        again = post_ingest(herald, "track", order);
        return again.status == 200 && json_of(again)["accepted"] == 1;
      },
      std::chrono::seconds(10));
  INFO(again.body);
  CHECK(forgotten);
  auto c = wait_customer(herald, "win-1", [](const Json& c) { return c["stats"]["orders"] == 2; });
  REQUIRE(c);
  quiesce(herald);
  CHECK(get_customer(herald, "win-1").value()["stats"]["orders"] == 2);
}

TEST_CASE("the same messageId from 8 connections at once is accepted and processed once") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  constexpr int kSenders = 8;
  const std::string body = order_body("race-1", 10, "msg-race-1").dump();
  std::vector<std::unique_ptr<HttpConnection>> connections;
  for (int i = 0; i < kSenders; ++i) connections.push_back(std::make_unique<HttpConnection>(herald.port()));
  std::vector<HttpResponse> answers(kSenders);
  std::vector<std::string> failures(kSenders);
  std::latch start(kSenders);
  std::vector<std::thread> threads;
  for (int i = 0; i < kSenders; ++i)
    threads.emplace_back([&, i] {
      const std::string request =
          build_request("POST", "/v1/track", body, {{"Authorization", std::string("Bearer ") + kWriteKey}});
      start.arrive_and_wait();
      try {
        connections[i]->send(request);
        auto r = connections[i]->read_response();
        if (r) answers[i] = *r;
        else failures[i] = "connection closed";
      } catch (const std::exception& e) {
        failures[i] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  int accepted = 0, duplicates = 0;
  for (int i = 0; i < kSenders; ++i) {
    INFO("sender " << i << ": " << failures[i] << " " << answers[i].status << " " << answers[i].body);
    REQUIRE(failures[i].empty());
    REQUIRE(answers[i].status == 200);
    const Json j = json_of(answers[i]);
    CHECK(j["success"] == true);
    accepted += j["accepted"].get<int>();
    duplicates += j["duplicates"].get<int>();
  }
  CHECK(accepted == 1);
  CHECK(duplicates == kSenders - 1);

  REQUIRE(wait_customer(herald, "race-1", [](const Json& c) { return c["stats"]["orders"] == 1; }));
  quiesce(herald);
  const auto c = get_customer(herald, "race-1");
  REQUIRE(c);
  CHECK((*c)["stats"]["orders"] == 1);
  CHECK((*c)["stats"]["revenue"].get<double>() == Approx(10));
}

TEST_CASE("identify creates the profile and later identifies merge into it") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  const auto before = std::chrono::system_clock::now() - std::chrono::seconds(2);
  check_success(post_ingest(herald, "identify",
                            identify_body("p-1", {{"name", "Ada"}, {"plan", "free"}, {"seats", 3}})), 1);
  auto first = wait_customer(herald, "p-1", [](const Json& c) { return c["traits"].contains("name"); });
  INFO((first ? first->dump() : "absent"));
  REQUIRE(first);
  const Json& c = *first;
  CHECK(c["id"] == "p-1");
  CHECK(c["traits"] == Json({{"name", "Ada"}, {"plan", "free"}, {"seats", 3}}));
  CHECK(c["consent"].is_object());
  CHECK(c["runs"].is_array());
  REQUIRE(c["stats"].is_object());
  CHECK(c["stats"]["orders"] == 0);
  CHECK(c["stats"]["churn_risk"].is_null());
  CHECK(c["stats"]["first_order_at"].is_null());
  CHECK(c["stats"]["last_order_at"].is_null());
  REQUIRE(c["created_at"].is_string());
  REQUIRE(c["updated_at"].is_string());
  CHECK(is_rfc3339_utc(c["created_at"]));
  CHECK(is_rfc3339_utc(c["updated_at"]));
  const auto after = std::chrono::system_clock::now() + std::chrono::seconds(2);
  const auto ms = [](auto tp) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count();
  };
  CHECK(epoch_ms(c["created_at"]) >= ms(before));
  CHECK(epoch_ms(c["created_at"]) <= ms(after));

  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // so updated_at can move
  check_success(post_ingest(herald, "identify", identify_body("p-1", {{"plan", "pro"}, {"email", "ada@x.io"}})), 1);
  auto second = wait_customer(herald, "p-1", [](const Json& c) { return c["traits"].contains("email"); });
  INFO((second ? second->dump() : "absent"));
  REQUIRE(second);
  CHECK((*second)["traits"] == Json({{"name", "Ada"}, {"plan", "pro"}, {"seats", 3}, {"email", "ada@x.io"}}));
  CHECK((*second)["created_at"] == c["created_at"]);
  CHECK(epoch_ms((*second)["updated_at"]) >= epoch_ms(c["updated_at"]));
  CHECK(epoch_ms((*second)["updated_at"]) >= epoch_ms((*second)["created_at"]));
}

TEST_CASE("order events update the customer's stats and churn risk") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());

  SECTION("one order just now: risk in [0, 1) and near 0") {
    check_success(post_ingest(herald, "track", order_body("o-1", 19.5)), 1);
    auto c = wait_customer(herald, "o-1", [](const Json& c) { return c["stats"]["orders"] == 1; });
    REQUIRE(c);
    const Json s = (*c)["stats"];
    INFO(s.dump());
    CHECK(s["revenue"].get<double>() == Approx(19.5));
    CHECK(is_rfc3339_utc(s["first_order_at"]));
    CHECK(s["first_order_at"] == s["last_order_at"]);
    REQUIRE(s["churn_risk"].is_number());
    CHECK(s["churn_risk"].get<double>() >= 0);
    CHECK(s["churn_risk"].get<double>() < 0.01);  // minutes out of a 30-day default gap
  }
  SECTION("orders at known times: sums, first and last, and 1 - exp(-r/g)") {
    const auto now = std::chrono::system_clock::now();
    const auto day = std::chrono::hours(24);
    // Sent out of time order: first and last are the earliest and latest.
    const std::vector<std::pair<std::chrono::system_clock::time_point, double>> orders{
        {now - 30 * day, 10}, {now - 10 * day, 2.5}, {now - 50 * day, 100}};
    for (const auto& [at, total] : orders)
      check_success(post_ingest(herald, "track", order_body("o-2", total, {}, rfc3339(at))), 1);
    // Revenue may come as properties.revenue, and a numeric string counts.
    Json by_revenue = track_body("o-2", "order.completed", {{"revenue", "7.5"}});
    by_revenue["timestamp"] = rfc3339(now - 20 * day);
    check_success(post_ingest(herald, "track", by_revenue), 1);
    // Other events do not count.
    check_success(post_ingest(herald, "track", track_body("o-2", "order.refunded", {{"total", 1000}})), 1);

    auto c = wait_customer(herald, "o-2", [](const Json& c) { return c["stats"]["orders"] == 4; });
    REQUIRE(c);
    quiesce(herald);
    c = get_customer(herald, "o-2");
    const Json s = (*c)["stats"];
    INFO(s.dump());
    CHECK(s["orders"] == 4);
    CHECK(s["revenue"].get<double>() == Approx(120));
    CHECK(epoch_ms(s["first_order_at"]) == epoch_ms(rfc3339(now - 50 * day)));
    CHECK(epoch_ms(s["last_order_at"]) == epoch_ms(rfc3339(now - 10 * day)));
    // g = 40 days / 3; r = 10 days (plus the seconds since): 1 - exp(-0.75)
    REQUIRE(s["churn_risk"].is_number());
    CHECK(s["churn_risk"].get<double>() == Approx(1 - std::exp(-0.75)).epsilon(0.001));
  }
  SECTION("stats.order_event names the order event") {
    RedisServer redis2;
    HeraldProcess custom(redis2.url(), test_config("stats:\n  order_event: purchase\n"));
    REQUIRE(custom.wait_ready());
    check_success(post_ingest(custom, "track", track_body("o-3", "order.completed", {{"total", 3}})), 1);
    check_success(post_ingest(custom, "track", track_body("o-3", "purchase", {{"total", 4}})), 1);
    auto c = wait_customer(custom, "o-3", [](const Json& c) { return c["stats"]["orders"] == 1; });
    REQUIRE(c);
    quiesce(custom);
    c = get_customer(custom, "o-3");
    CHECK((*c)["stats"]["orders"] == 1);
    CHECK((*c)["stats"]["revenue"].get<double>() == Approx(4));
  }
}

TEST_CASE("events of one customer are applied in the order they were posted") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  // Stats take the earliest and latest times whatever the processing order, so order is made
  // visible through context.traits: the last write must win.
  const auto start = std::chrono::system_clock::now() - std::chrono::hours(1);
  HttpConnection c(herald.port());
  std::string last_timestamp;
  for (int i = 0; i < 50; ++i) {
    last_timestamp = rfc3339(start + std::chrono::seconds(i));
    Json order = order_body("seq-1", 1, "seq-msg-" + std::to_string(i), last_timestamp);
    order["context"] = {{"traits", {{"last_seq", i}}}};
    const auto r = c.request("POST", "/v1/track", order.dump(), bearer(kWriteKey));
    check_success(r, 1);
  }
  auto profile = wait_customer(herald, "seq-1", [](const Json& c) { return c["stats"]["orders"] == 50; },
                               std::chrono::seconds(30));
  INFO((profile ? profile->dump() : "absent"));
  REQUIRE(profile);
  CHECK(epoch_ms((*profile)["stats"]["last_order_at"]) == epoch_ms(last_timestamp));
  CHECK((*profile)["stats"]["revenue"].get<double>() == Approx(50));
  CHECK((*profile)["traits"]["last_seq"] == 49);

  // The same through one batch and then single identify calls interleaved.
  Json batch = Json::array();
  for (int i = 0; i < 100; ++i)
    batch.push_back({{"type", "identify"}, {"userId", "seq-2"}, {"traits", {{"n", i}}}});
  check_success(post_ingest(herald, "batch", Json{{"batch", batch}}), 100);
  check_success(post_ingest(herald, "identify", identify_body("seq-2", {{"n", 100}})), 1);
  check_success(post_ingest(herald, "identify", identify_body("seq-2", {{"n", 101}, {"done", true}})), 1);
  profile = wait_customer(herald, "seq-2", [](const Json& c) { return c["traits"].contains("done"); });
  REQUIRE(profile);
  CHECK((*profile)["traits"]["n"] == 101);
}
