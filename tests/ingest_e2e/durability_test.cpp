// Durability: an acknowledged event survives kill -9 of herald; Redis going away is 503 and
// coming back needs no restart; overload is 429 with Retry-After and stores nothing.
#include <atomic>
#include <latch>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/ingest_e2e/ingest_client.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using namespace herald::test::ingest;

namespace {

int sum_orders(const HeraldProcess& herald, const std::vector<std::string>& ids,
               std::map<std::string, int>* per_customer = nullptr) {
  HttpConnection c(herald.port());
  int total = 0;
  for (const auto& id : ids) {
    const auto r = c.request("GET", "/v1/customers/" + id, {}, bearer(kAdminKey));
    if (r.status != 200) continue;
    const int orders = Json::parse(r.body)["stats"]["orders"].get<int>();
    total += orders;
    if (per_customer) (*per_customer)[id] = orders;
  }
  return total;
}

}  // namespace

TEST_CASE("every acknowledged event is processed once across kill -9 of herald") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  constexpr int kCustomers = 200, kSenders = 8, kPerSender = 250;
  std::vector<std::string> ids;
  for (int i = 0; i < kCustomers; ++i) ids.push_back("dur-" + std::to_string(i));

  std::vector<std::map<std::string, int>> acked(kSenders);
  std::vector<std::string> problems(kSenders);
  std::latch start(kSenders);
  std::vector<std::thread> threads;
  for (int t = 0; t < kSenders; ++t)
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      try {
        auto conn = std::make_unique<HttpConnection>(herald.port());
        for (int i = 0; i < kPerSender; ++i) {
          const int n = t * kPerSender + i;
          const std::string id = ids[static_cast<std::size_t>(n % kCustomers)];
          const std::string body = order_body(id, 1, "dur-msg-" + std::to_string(n)).dump();
          const auto r = conn->request("POST", "/v1/track", body, bearer(kWriteKey));
          if (r.status == 200 && Json::parse(r.body)["accepted"] == 1) ++acked[t][id];
          else if (problems[t].empty()) problems[t] = std::to_string(r.status) + " " + r.body;
        }
      } catch (const std::exception& e) {
        problems[t] += std::string(" exception: ") + e.what();
      }
    });
  for (auto& th : threads) th.join();
  // A last batch leaves processing with work in hand at the moment of the kill.
  Json batch = Json::array();
  for (int k = 0; k < 2500; ++k) {
    Json order = order_body(ids[static_cast<std::size_t>(k % kCustomers)], 1, "dur-batch-" + std::to_string(k));
    order["type"] = "track";
    batch.push_back(order);
  }
  const auto last = post_ingest(herald, "batch", Json{{"batch", batch}});
  herald.kill();  // kill -9 right after the last 200 OK
  if (last.status == 200 && Json::parse(last.body)["accepted"] == 2500)
    for (int k = 0; k < 2500; ++k) ++acked[0][ids[static_cast<std::size_t>(k % kCustomers)]];
  else
    problems[0] += " last batch: " + std::to_string(last.status) + " " + last.body;

  std::map<std::string, int> expected;
  int total_acked = 0;
  for (int t = 0; t < kSenders; ++t) {
    INFO("sender " << t << ": " << problems[t]);
    CHECK(problems[t].empty());
    for (const auto& [id, n] : acked[t]) {
      expected[id] += n;
      total_acked += n;
    }
  }
  CHECK(total_acked == kSenders * kPerSender + 2500);
  REQUIRE(total_acked > 0);

  herald.start();  // same config, same Redis
  REQUIRE(herald.wait_ready());
  int seen = 0;
  const bool all = eventually([&] { return (seen = sum_orders(herald, ids)) >= total_acked; },
                              std::chrono::seconds(60));
  INFO("orders processed " << seen << " of " << total_acked << " acknowledged");
  CHECK(all);
  quiesce(herald);
  std::map<std::string, int> per_customer;
  CHECK(sum_orders(herald, ids, &per_customer) == total_acked);  // none twice
  for (const auto& [id, n] : expected) {
    INFO(id);
    CHECK(per_customer[id] == n);
  }
}

TEST_CASE("with Redis down ingest is 503 unavailable while healthz stays 200 and recovery needs no restart") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  check_success(post_ingest(herald, "track", order_body("rd-1", 1, "rd-msg-0")), 1);
  REQUIRE(wait_customer(herald, "rd-1"));

  redis.stop();
  std::vector<int> statuses;
  std::vector<std::string> errors;
  auto attempt = [&](const std::string& endpoint, const Json& body) -> std::optional<HttpResponse> {
    try {
      auto r = post_ingest(herald, endpoint, body);
      statuses.push_back(r.status);
      return r;
    } catch (const std::exception& e) {
      errors.push_back(e.what());  // no answer within the client's 10 s
      return std::nullopt;
    }
  };
  int n = 0;
  std::optional<HttpResponse> last;
  const bool unavailable = eventually(
      [&] {
        last = attempt("track", order_body("rd-1", 1, "rd-msg-down-" + std::to_string(++n)));
        return last && last->status == 503;
      },
      std::chrono::seconds(20));
  INFO("statuses while down: " << Json(statuses).dump() << " errors: " << Json(errors).dump());
  REQUIRE(unavailable);
  check_error(*last, 503, "unavailable");
  for (int i = 0; i < 3; ++i) {
    auto r = attempt("identify", identify_body("rd-2", {{"a", i}}));
    REQUIRE(r);
    check_error(*r, 503, "unavailable");
    r = attempt("batch", Json{{"batch", {{{"type", "track"}, {"userId", "rd-2"}, {"event", "e"}}}}});
    REQUIRE(r);
    check_error(*r, 503, "unavailable");
  }
  for (int s : statuses) CHECK((s < 200 || s >= 300));
  CHECK(herald.get("/healthz").status == 200);
  CHECK(herald.running());

  redis.start();
  HttpResponse back;
  const bool recovered = eventually(
      [&] {
        try {
          back = post_ingest(herald, "track", order_body("rd-1", 1, "rd-msg-after"));
          return back.status == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      std::chrono::seconds(30));
  INFO(back.status << " " << back.body);
  REQUIRE(recovered);
  check_success(back, 1);
  // The event before the outage and the one after are both there, nothing from the outage.
  auto c = wait_customer(herald, "rd-1", [](const Json& c) { return c["stats"]["orders"] == 2; });
  REQUIRE(c);
  quiesce(herald);
  CHECK(get_customer(herald, "rd-1").value()["stats"]["orders"] == 2);
  CHECK_FALSE(get_customer(herald, "rd-2"));
}

TEST_CASE("past ingest.max_backlog ingest is 429 overloaded with Retry-After and stores nothing") {
  // A backlog of 1 is passed by any batch that processing has not finished; four senders posting
  // 2,500-event batches back to back keep it there for a while.
  RedisServer redis;
  HeraldProcess herald(redis.url(), test_config("ingest:\n  max_backlog: 1\n"));
  REQUIRE(herald.wait_ready());
  constexpr int kSenders = 4, kEvents = 2500, kCustomersPerRequest = 10;
  struct Outcome {
    std::string request;
    int status;
    std::string retry_after;
    std::string body;
  };
  std::mutex mutex;
  std::vector<Outcome> outcomes;
  std::atomic<bool> overloaded{false};
  std::latch start(kSenders);
  std::vector<std::thread> threads;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int t = 0; t < kSenders; ++t)
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      try {
        HttpConnection conn(herald.port(), std::chrono::seconds(30));
        for (int i = 0; !overloaded && std::chrono::steady_clock::now() < deadline; ++i) {
          const std::string request = "ov-" + std::to_string(t) + "-" + std::to_string(i);
          Json batch = Json::array();
          for (int k = 0; k < kEvents; ++k)
            batch.push_back({{"type", "track"},
                             {"userId", request + "-" + std::to_string(k % kCustomersPerRequest)},
                             {"event", "order.completed"},
                             {"properties", {{"total", 1}}}});
          const auto r =
              conn.request("POST", "/v1/batch", Json{{"batch", batch}}.dump(), bearer(kWriteKey));
          std::lock_guard lock(mutex);
          outcomes.push_back({request, r.status, r.header("retry-after"), r.body.substr(0, 500)});
          if (r.status == 429) overloaded = true;
        }
      } catch (const std::exception& e) {
        std::lock_guard lock(mutex);
        outcomes.push_back({"exception", 0, {}, e.what()});
      }
    });
  for (auto& th : threads) th.join();

  std::vector<std::string> accepted, refused;
  for (const auto& o : outcomes) {
    INFO(o.request << ": " << o.status << " " << o.body);
    CHECK((o.status == 200 || o.status == 429));
    if (o.status == 200) accepted.push_back(o.request);
    if (o.status == 429) {
      refused.push_back(o.request);
      CHECK(Json::parse(o.body)["error"]["code"] == "overloaded");
      REQUIRE_FALSE(o.retry_after.empty());
      CHECK(std::stoi(o.retry_after) >= 1);
    }
  }
  INFO(accepted.size() << " batches accepted, " << refused.size() << " refused");
  REQUIRE(!refused.empty());
  REQUIRE(!accepted.empty());

  // Once processing catches up, ingest is accepted again.
  HttpResponse again;
  CHECK(eventually(
      [&] {
        again = post_ingest(herald, "track", track_body("ov-after", "e"));
        return again.status == 200;
      },
      std::chrono::seconds(60)));
  quiesce(herald);
  int wrong = 0;
  for (const auto& request : accepted)
    for (int k = 0; k < kCustomersPerRequest; ++k) {
      const auto c = get_customer(herald, request + "-" + std::to_string(k));
      INFO(request << "-" << k);
      REQUIRE(c);
      CHECK((*c)["stats"]["orders"] == kEvents / kCustomersPerRequest);
      if ((*c)["stats"]["orders"] != kEvents / kCustomersPerRequest) ++wrong;
    }
  if (wrong) {
    std::istringstream lines(herald.log());
    std::string line, kept;
    while (std::getline(lines, line))
      if (line.find(" -> ") == std::string::npos) kept += line + "\n";  // not an access line
    WARN("herald's log without access lines, last 8000 bytes:\n"
         << kept.substr(kept.size() > 8000 ? kept.size() - 8000 : 0));
  }
  for (const auto& request : refused)
    for (int k = 0; k < kCustomersPerRequest; ++k) {
      INFO(request);
      CHECK_FALSE(get_customer(herald, request + "-" + std::to_string(k)));
    }
}

TEST_CASE("concurrent batches are appended once even when Redis has just lost its scripts") {
  // Redis forgets loaded scripts on restart (and on SCRIPT FLUSH): the first appends afterwards
  // meet NOSCRIPT, and whatever recovers from it must not append any event twice.
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready());
  constexpr int kRounds = 10, kSenders = 8, kPerBatch = 64;
  std::vector<std::string> problems;
  std::mutex mutex;
  for (int round = 0; round < kRounds; ++round) {
    REQUIRE(redis.cli({"SCRIPT", "FLUSH"}) == "OK");
    std::latch start(kSenders);
    std::vector<std::thread> threads;
    for (int t = 0; t < kSenders; ++t)
      threads.emplace_back([&, round, t] {
        Json batch = Json::array();
        for (int k = 0; k < kPerBatch; ++k) {
          const std::string id = "ns-" + std::to_string(round) + "-" + std::to_string(t) + "-" + std::to_string(k);
          Json order = order_body(id, 1, t % 2 ? "ns-msg-" + id : std::string());
          order["type"] = "track";
          batch.push_back(order);
        }
        const std::string body = Json{{"batch", batch}}.dump();
        try {
          HttpConnection conn(herald.port());
          start.arrive_and_wait();
          const auto r = conn.request("POST", "/v1/batch", body, bearer(kWriteKey));
          const Json j = Json::parse(r.body);
          if (r.status != 200 || j["accepted"] != kPerBatch || j["duplicates"] != 0) {
            std::lock_guard lock(mutex);
            problems.push_back("round " + std::to_string(round) + " sender " + std::to_string(t) +
                               ": " + std::to_string(r.status) + " " + r.body);
          }
        } catch (const std::exception& e) {
          std::lock_guard lock(mutex);
          problems.push_back(e.what());
        }
      });
    for (auto& th : threads) th.join();
  }
  for (const auto& p : problems) FAIL_CHECK(p);

  quiesce(herald);
  HttpConnection c(herald.port());
  int twice = 0, missing = 0;
  for (int round = 0; round < kRounds; ++round)
    for (int t = 0; t < kSenders; ++t)
      for (int k = 0; k < kPerBatch; ++k) {
        const std::string id = "ns-" + std::to_string(round) + "-" + std::to_string(t) + "-" + std::to_string(k);
        const auto r = c.request("GET", "/v1/customers/" + id, {}, bearer(kAdminKey));
        if (r.status != 200) {
          ++missing;
          continue;
        }
        const int orders = Json::parse(r.body)["stats"]["orders"].get<int>();
        if (orders != 1) {
          ++twice;
          UNSCOPED_INFO(id << " has " << orders << " orders");
        }
      }
  CHECK(twice == 0);  // the ids above are attached to this check
  CHECK(missing == 0);
}
