// The Redis client's cluster mode against a real three-master Redis Cluster: routing by
// slot, pipelines split across nodes, MULTI blocks, scripts, MOVED and ASK, a node down.
#include <utility>

#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include "gateway/redis/cluster_slots.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/redis/script.hpp"
#include "tests/support/connected_client.hpp"
#include "tests/support/io_run.hpp"
#include "tests/support/redis_cluster.hpp"

namespace asio = boost::asio;
using herald::redis::Client;
using herald::redis::hash_slot;
using herald::redis::parse_redirect;
using herald::redis::parse_url;
using herald::redis::Reply;
using herald::redis::routing_key;
using herald::redis::Unavailable;
using herald::test::RedisCluster;
using Commands = std::vector<std::vector<std::string>>;

using herald::test::run;
using herald::test::run_until;

namespace {

struct Connected : herald::test::ConnectedClient {
  explicit Connected(const std::string& url) : ConnectedClient(url, true) {}
};

/// A key of the given node.
std::string key_on(const RedisCluster& cluster, int node, const std::string& prefix) {
  for (int i = 0;; ++i) {
    auto key = prefix + std::to_string(i);
    if (cluster.node_of(key) == node) return key;
  }
}

}  // namespace

TEST_CASE("hash slots and routing keys follow the cluster specification") {
  // Values from the Redis Cluster specification and CLUSTER KEYSLOT.
  CHECK(hash_slot("123456789") == 0x31C3);
  CHECK(hash_slot("foo") == 12182);
  CHECK(hash_slot("{user1000}.following") == hash_slot("{user1000}.followers"));
  CHECK(hash_slot("{user1000}.following") == hash_slot("user1000"));
  CHECK(hash_slot("foo{}{bar}") == hash_slot("foo{}{bar}"));  // an empty tag: the whole key
  CHECK(hash_slot("foo{}{bar}") != hash_slot("bar"));
  CHECK(hash_slot("foo{{bar}}zap") == hash_slot("{bar"));
  CHECK(hash_slot("foo{bar}{zap}") == hash_slot("bar"));

  CHECK(routing_key({"GET", "k"}) == std::optional<std::string_view>("k"));
  CHECK(!routing_key({"MULTI"}));
  CHECK(!routing_key({"EVALSHA", "abc", "0", "arg"}));
  CHECK(routing_key({"evalsha", "abc", "2", "k1", "k2"}) == std::optional<std::string_view>("k1"));
  CHECK(routing_key({"XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "BLOCK", "5", "STREAMS",
                     "s", ">"}) == std::optional<std::string_view>("s"));
  CHECK(routing_key({"XGROUP", "CREATE", "s", "g", "$"}) == std::optional<std::string_view>("s"));
  CHECK(!routing_key({"SCRIPT", "LOAD", "return 1"}));

  auto moved = parse_redirect("MOVED 3999 127.0.0.1:6381");
  REQUIRE(moved);
  CHECK(!moved->ask);
  CHECK(moved->slot == 3999);
  CHECK(moved->address == "127.0.0.1:6381");
  auto ask = parse_redirect("ASK 12 10.0.0.2:7000");
  REQUIRE(ask);
  CHECK(ask->ask);
  CHECK(!parse_redirect("MOVED x 127.0.0.1:1"));
  CHECK(!parse_redirect("MOVED 16384 127.0.0.1:1"));
  CHECK(!parse_redirect("ERR MOVED 1 a:1"));
}

TEST_CASE("cluster mode sends each command, block and script to the node of its slot") {
  RedisCluster cluster;
  Connected c(cluster.url());

  SECTION("single commands reach every node") {
    for (int i = 0; i < 300; ++i)
      run(c.ioc, c.client.command("SET", "key:" + std::to_string(i), std::to_string(i)));
    std::set<int> nodes;
    for (int i = 0; i < 300; i += 7) {
      auto key = "key:" + std::to_string(i);
      CHECK(cluster.cli({"GET", key}) == std::to_string(i));  // redis-cli -c follows MOVED
      nodes.insert(cluster.node_of(key));
      CHECK(run(c.ioc, c.client.command("GET", key)).str == std::to_string(i));
    }
    CHECK(nodes.size() == 3);
  }

  SECTION("a pipeline across nodes answers in order") {
    Commands cmds;
    for (int i = 0; i < 500; ++i) cmds.push_back({"INCR", "n:" + std::to_string(i % 50)});
    auto replies = run(c.ioc, c.client.pipeline(cmds));
    REQUIRE(replies.size() == 500);
    for (int i = 0; i < 500; ++i) CHECK(replies[static_cast<std::size_t>(i)].integer == i / 50 + 1);
  }

  SECTION("a MULTI block goes whole to the node of its tag, between commands of other nodes") {
    auto other = key_on(cluster, (cluster.node_of("{cust}:a") + 1) % 3, "other:");
    Commands cmds{{"SET", other, "1"},
                  {"MULTI"},
                  {"SET", "{cust}:a", "1"},
                  {"INCR", "{cust}:b"},
                  {"EXEC"},
                  {"GET", other}};
    auto replies = run(c.ioc, c.client.pipeline(cmds));
    REQUIRE(replies.size() == 6);
    CHECK(replies[1].str == "OK");
    CHECK(replies[2].str == "QUEUED");
    REQUIRE(replies[4].is_array());
    CHECK(replies[4].elements[1].integer == 1);
    CHECK(replies[5].str == "1");
    // A block across slots is refused by Redis, as on any cluster.
    Commands cross{{"MULTI"}, {"SET", "{a}x", "1"}, {"SET", "{b}x", "1"}, {"EXEC"}};
    auto refused = run(c.ioc, c.client.pipeline(cross));
    CHECK(refused.back().is_error());
  }

  SECTION("scripts run where their keys are, loaded on every master") {
    herald::redis::Script script("return redis.call('INCR', KEYS[1])");
    for (int node = 0; node < 3; ++node) {
      auto key = key_on(cluster, node, "script:");
      CHECK(run(c.ioc, script.run(c.client, {key}, {})).integer == 1);
      CHECK(run(c.ioc, script.run(c.client, {key}, {})).integer == 2);
    }
    herald::redis::Script loaded("return 'loaded'");
    Commands load{{"SCRIPT", "LOAD", loaded.source()}};
    CHECK(run(c.ioc, c.client.pipeline(load))[0].str.size() == 40);
    for (int node = 0; node < 3; ++node) {
      auto key = key_on(cluster, node, "sha:");
      auto reply = run(c.ioc, c.client.command(loaded.command({key}, {})));
      CHECK(reply.str == "loaded");
    }
  }
}

TEST_CASE("cluster mode follows MOVED after a slot changes node, and ASK during the move") {
  RedisCluster cluster;
  Connected c(cluster.url());
  run(c.ioc, c.client.command("SET", "{moving}:k", "v"));
  run(c.ioc, c.client.command("SET", "{moving}:n", "10"));
  auto slot = hash_slot("{moving}");
  int from = cluster.node_of("{moving}:k");
  int to = (from + 1) % 3;

  SECTION("MOVED") {
    cluster.move_slot(slot, to);
    REQUIRE(cluster.node_of("{moving}:k") == to);
    CHECK(run(c.ioc, c.client.command("GET", "{moving}:k")).str == "v");
    Commands block{{"MULTI"}, {"INCR", "{moving}:n"}, {"GET", "{moving}:k"}, {"EXEC"}};
    auto replies = run(c.ioc, c.client.pipeline(block));
    REQUIRE(replies.back().is_array());
    CHECK(replies.back().elements[0].integer == 11);
  }

  SECTION("ASK while the keys are half moved") {
    auto source_id = cluster.cli({"CLUSTER", "MYID"}, from);
    auto target_id = cluster.cli({"CLUSTER", "MYID"}, to);
    auto s = std::to_string(slot);
    cluster.cli({"CLUSTER", "SETSLOT", s, "IMPORTING", source_id}, to);
    cluster.cli({"CLUSTER", "SETSLOT", s, "MIGRATING", target_id}, from);
    auto moved = herald::test::shell_output(
        "redis-cli -p " + std::to_string(cluster.port(from)) + " MIGRATE 127.0.0.1 " +
        std::to_string(cluster.port(to)) + " '{moving}:k' 0 5000");
    REQUIRE(moved == "OK");
    // The source answers ASK for the moved key; the client asks the target.
    CHECK(run(c.ioc, c.client.command("GET", "{moving}:k")).str == "v");
    Commands two{{"GET", "{moving}:k"}, {"GET", "{moving}:n"}};
    auto replies = run(c.ioc, c.client.pipeline(two));
    CHECK(replies[0].str == "v");
    CHECK(replies[1].str == "10");
  }
}

TEST_CASE("cluster mode: a node down fails its commands at once, and the client recovers") {
  RedisCluster cluster;
  Connected c(cluster.url());
  auto down_key = key_on(cluster, 1, "down:");
  run(c.ioc, c.client.command("SET", down_key, "1"));
  cluster.kill(1);
  REQUIRE(run_until(c.ioc, [&] { return !c.client.connected(); }));
  CHECK_THROWS_AS(run(c.ioc, c.client.command("GET", down_key)), Unavailable);
  cluster.restart(1);
  REQUIRE(run_until(c.ioc, [&] { return c.client.connected(); }, std::chrono::seconds(30)));
  CHECK(run(c.ioc, c.client.command("GET", down_key)).str == "1");  // append-only
}
