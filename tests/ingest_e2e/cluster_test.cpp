// Ingest and customer state on a real three-master Redis Cluster (redis.cluster: true):
// events spread over every node, processed once, the customers API, erasure, and kill -9
// of herald in the middle of the load.
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "gateway/keys.hpp"
#include "tests/ingest_e2e/ingest_client.hpp"
#include "tests/support/redis_cluster.hpp"

using namespace herald::test;
using namespace herald::test::ingest;

namespace {

std::string cluster_config() {
  auto config = test_config();
  const std::string url = "  url: \"{redis}\"\n";
  config.replace(config.find(url), url.size(), url + "  cluster: true\n");
  return config;
}

int orders_of(const HeraldProcess& herald, const std::string& id) {
  auto c = get_customer(herald, id);
  return c ? (*c)["stats"]["orders"].get<int>() : 0;
}

}  // namespace

TEST_CASE("on a Redis Cluster, events are processed once and the customers API works") {
  RedisCluster cluster;
  HeraldProcess herald(cluster.url(), cluster_config());
  REQUIRE(herald.wait_ready());

  constexpr int kCustomers = 60;
  std::vector<std::string> ids;
  for (int i = 0; i < kCustomers; ++i) ids.push_back("cl-" + std::to_string(i));
  Json batch = Json::array();
  for (int i = 0; i < kCustomers; ++i) {
    Json identify = identify_body(ids[static_cast<std::size_t>(i)],
                                  {{"email", "cl" + std::to_string(i) + "@example.com"},
                                   {"first_name", "C" + std::to_string(i)}});
    identify["type"] = "identify";
    batch.push_back(identify);
  }
  for (int k = 0; k < 3 * kCustomers; ++k) {
    Json order = order_body(ids[static_cast<std::size_t>(k % kCustomers)], 10,
                            "cl-order-" + std::to_string(k));
    order["type"] = "track";
    batch.push_back(order);
  }
  check_success(post_ingest(herald, "batch", Json{{"batch", batch}}), 4 * kCustomers);
  // The same messageId again: acknowledged as a duplicate, not processed twice.
  check_success(post_ingest(herald, "track", order_body(ids[0], 10, "cl-order-0")), 0, 1);

  for (const auto& id : ids) {
    INFO(id);
    auto c = wait_customer(herald, id, [](const Json& c) { return c["stats"]["orders"] == 3; });
    REQUIRE(c);
    CHECK((*c)["stats"]["revenue"] == 30);
    CHECK((*c)["traits"]["first_name"] == "C" + id.substr(3));
  }
  // The customers' keys are spread over the three masters.
  std::set<int> nodes;
  for (const auto& id : ids) nodes.insert(cluster.node_of(herald::keys::customer(id)));
  CHECK(nodes.size() == 3);
  // Each customer's keys share the slot of their partition's stream.
  CHECK(cluster.cli({"CLUSTER", "KEYSLOT", herald::keys::customer(ids[7])}) ==
        cluster.cli({"CLUSTER", "KEYSLOT",
                     herald::keys::stream(herald::keys::partition_of(ids[7], 16))}));
  // The address index finds the customer of an email.
  CHECK(cluster.cli({"GET", herald::keys::address("email", "cl7@example.com")}) == "cl-7");

  SECTION("consent, export, erasure") {
    HttpConnection c(herald.port());
    auto consent = c.request("PUT", "/v1/customers/cl-7/consent/email",
                             R"({"status":"opted_out","source":"test"})", bearer(kAdminKey));
    CHECK(consent.status == 200);
    auto profile = get_customer(herald, "cl-7");
    REQUIRE(profile);
    CHECK((*profile)["consent"]["email"] == "opted_out");
    auto exported = c.request("GET", "/v1/customers/cl-7/export", {}, bearer(kAdminKey));
    CHECK(exported.status == 200);
    CHECK(exported.body.find("cl7@example.com") != std::string::npos);

    auto erased = c.request("DELETE", "/v1/customers/cl-7", {}, bearer(kAdminKey));
    CHECK(erased.status == 204);
    CHECK(!get_customer(herald, "cl-7"));
    CHECK(cluster.cli({"EXISTS", herald::keys::address("email", "cl7@example.com")}) == "0");
    CHECK(cluster.cli({"EXISTS", herald::keys::customer_events("cl-7")}) == "0");
    // Idempotent.
    CHECK(c.request("DELETE", "/v1/customers/cl-7", {}, bearer(kAdminKey)).status == 204);
    CHECK(orders_of(herald, "cl-8") == 3);  // the others are untouched
  }
}

TEST_CASE("on a Redis Cluster, every acknowledged event is processed once across kill -9") {
  RedisCluster cluster;
  HeraldProcess herald(cluster.url(), cluster_config());
  REQUIRE(herald.wait_ready());
  constexpr int kCustomers = 80, kEvents = 1200;
  std::vector<std::string> ids;
  for (int i = 0; i < kCustomers; ++i) ids.push_back("ck-" + std::to_string(i));
  std::map<std::string, int> expected;
  for (int round = 0; round < 3; ++round) {
    Json batch = Json::array();
    for (int k = 0; k < kEvents / 3; ++k) {
      const auto& id = ids[static_cast<std::size_t>(k % kCustomers)];
      Json order = order_body(id, 1, "ck-" + std::to_string(round) + "-" + std::to_string(k));
      order["type"] = "track";
      batch.push_back(order);
    }
    auto r = post_ingest(herald, "batch", Json{{"batch", batch}});
    REQUIRE(r.status == 200);
    for (int k = 0; k < kEvents / 3; ++k) ++expected[ids[static_cast<std::size_t>(k % kCustomers)]];
  }
  herald.kill();  // kill -9 right after the last 200 OK, with processing in hand

  herald.start();
  REQUIRE(herald.wait_ready());
  int total = 0;
  bool all = eventually(
      [&] {
        total = 0;
        for (const auto& id : ids) total += orders_of(herald, id);
        return total >= kEvents;
      },
      std::chrono::seconds(60));
  INFO("processed " << total << " of " << kEvents);
  REQUIRE(all);
  for (const auto& id : ids) {
    INFO(id);
    CHECK(orders_of(herald, id) == expected[id]);  // none lost, none twice
  }
}

TEST_CASE("on a Redis Cluster, a master down makes ingest 503, and its return needs no restart") {
  RedisCluster cluster;
  HeraldProcess herald(cluster.url(), cluster_config());
  REQUIRE(herald.wait_ready());
  check_success(post_ingest(herald, "track", order_body("co-0", 1, "co-before")), 1);
  REQUIRE(wait_customer(herald, "co-0"));

  cluster.kill(1);
  int n = 0;
  std::vector<int> statuses;
  HttpResponse last;
  const bool unavailable = eventually(
      [&] {
        last = post_ingest(herald, "track", order_body("co-" + std::to_string(++n % 40), 1,
                                                       "co-down-" + std::to_string(n)));
        statuses.push_back(last.status);
        return last.status == 503;
      },
      std::chrono::seconds(20));
  REQUIRE(unavailable);
  check_error(last, 503, "unavailable");
  CHECK(herald.get("/healthz").status == 200);

  cluster.restart(1);
  // Every customer's partition is writable again, node 1's included, without a restart.
  std::map<std::string, int> acked;
  bool back = eventually(
      [&] {
        for (int i = 0; i < 40; ++i) {
          const auto id = "co-" + std::to_string(i);
          if (acked.count(id)) continue;
          auto r = post_ingest(herald, "track", order_body(id, 1, "co-after-" + id));
          if (r.status != 200) return false;
          acked[id] = 1;
        }
        return true;
      },
      std::chrono::seconds(30));
  INFO("statuses while down: " << Json(statuses).dump());
  REQUIRE(back);
  std::set<int> nodes;
  for (int i = 0; i < 40; ++i) {
    const auto id = "co-" + std::to_string(i);
    nodes.insert(cluster.node_of(herald::keys::customer(id)));
    REQUIRE(wait_customer(herald, id, [](const Json& c) { return c["stats"]["orders"] >= 1; },
                          std::chrono::seconds(30)));
  }
  CHECK(nodes.count(1) == 1);  // customers of the node that was down were processed too
}

TEST_CASE("on a Redis Cluster, workflows are refused at start-up, with the reason") {
  RedisCluster cluster;
  TempDir dir;
  auto text = cluster_config() + "workflows_dir: " + HERALD_SOURCE_DIR + "/workflows/examples\n" +
              "templates_dir: " + HERALD_SOURCE_DIR + "/templates/examples\n";
  for (auto [from, to] : {std::pair<std::string, std::string>{"{port}", std::to_string(free_port())},
                          {"{dir}", dir.path()},
                          {"{redis}", cluster.url()}})
    for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from))
      text.replace(pos, from.size(), to);
  dir.write("herald.yaml", text);
  auto [code, out] = run_herald({"serve", "--config", dir.file("herald.yaml")});
  CHECK(code == 1);
  CHECK_THAT(out, Catch::Contains("workflows do not run on a Redis Cluster yet"));
}
