// The asynchronous Redis client against a real redis-server.
#include <utility>

#include <signal.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include "gateway/redis/redis_client.hpp"
#include "tests/support/connected_client.hpp"
#include "tests/support/io_run.hpp"
#include "tests/support/redis_server.hpp"

namespace asio = boost::asio;
using herald::redis::Client;
using herald::redis::parse_url;
using herald::redis::Reply;
using herald::redis::Unavailable;
using herald::test::RedisServer;

using herald::test::run;
using herald::test::run_until;

namespace {

using Connected = herald::test::ConnectedClient;

}  // namespace

TEST_CASE("commands return every reply type") {
  RedisServer redis;
  Connected c(redis.url());
  auto set = run(c.ioc, c.client.command("SET", "k", std::string("v\0w", 3)));
  CHECK(set.type == Reply::Type::kStatus);
  CHECK(set.str == "OK");
  auto get = run(c.ioc, c.client.command("GET", "k"));
  CHECK(get.type == Reply::Type::kString);
  CHECK(get.str == std::string("v\0w", 3));  // binary-safe
  CHECK(run(c.ioc, c.client.command("GET", "missing")).is_nil());
  CHECK(run(c.ioc, c.client.command("INCRBY", "n", "41")).integer == 41);
  run(c.ioc, c.client.command("RPUSH", "l", "a", "b"));
  auto list = run(c.ioc, c.client.command("LRANGE", "l", "0", "-1"));
  REQUIRE(list.is_array());
  CHECK(list.elements.size() == 2);
  CHECK(list.elements[1].str == "b");
  auto error = run(c.ioc, c.client.command("INCR", "l"));
  CHECK(error.is_error());
  CHECK_THAT(error.str, Catch::Contains("WRONGTYPE"));
}

TEST_CASE("a pipeline returns replies in order, and many coroutines share the connection") {
  RedisServer redis;
  Connected c(redis.url());
  std::vector<std::vector<std::string>> cmds;
  for (int i = 0; i < 1000; ++i) cmds.push_back({"INCR", "counter"});
  auto replies = run(c.ioc, c.client.pipeline(cmds));
  REQUIRE(replies.size() == 1000);
  for (int i = 0; i < 1000; ++i) CHECK(replies[i].integer == i + 1);

  int finished = 0;
  for (int task = 0; task < 50; ++task) {
    asio::co_spawn(
        c.ioc,
        [&, task]() -> asio::awaitable<void> {
          for (int i = 0; i < 20; ++i)
            co_await c.client.command("RPUSH", "task:" + std::to_string(task), std::to_string(i));
          ++finished;
        },
        asio::detached);
  }
  REQUIRE(run_until(c.ioc, [&] { return finished == 50; }));
  CHECK(redis.cli({"LLEN", "task:7"}) == "20");
  CHECK(redis.cli({"LINDEX", "task:7", "19"}) == "19");
}

TEST_CASE("while Redis is down commands fail with 503 unavailable, and the client reconnects") {
  RedisServer redis;
  Connected c(redis.url());
  run(c.ioc, c.client.command("SET", "before", "1"));
  redis.stop();
  REQUIRE(run_until(c.ioc, [&] { return !c.client.connected(); }));
  try {
    run(c.ioc, c.client.command("GET", "before"));
    FAIL("expected Unavailable");
  } catch (const Unavailable& e) {
    CHECK(e.status() == 503);
    CHECK(e.code() == "unavailable");
  }
  CHECK_FALSE(c.client.last_error().empty());
  redis.start();
  REQUIRE(run_until(c.ioc, [&] { return c.client.connected(); }, std::chrono::seconds(15)));
  CHECK(run(c.ioc, c.client.command("GET", "before")).str == "1");  // append-only kept it
}

TEST_CASE("once Redis is back the next command is served, not failed until the back-off ends") {
  RedisServer redis;
  Connected c(redis.url());
  run(c.ioc, c.client.command("SET", "before", "1"));
  redis.stop();
  // Idle through the outage: the retries back off to their 2 s ceiling (50 ms doubling).
  run_until(c.ioc, [] { return false; }, std::chrono::milliseconds(4000));
  REQUIRE_FALSE(c.client.connected());
  redis.start();
  // The client would next try on its own up to 3 s from now; the command tries at once.
  auto started = std::chrono::steady_clock::now();
  CHECK(run(c.ioc, c.client.command("GET", "before")).str == "1");
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(1));
  CHECK(c.client.connected());
  // A pipeline takes the same path, also right after an attempt that failed: it waits
  // for the next one, 100 ms after that one began, instead of failing at once.
  redis.stop();
  run_until(c.ioc, [] { return false; }, std::chrono::milliseconds(4000));
  CHECK_THROWS_AS(run(c.ioc, c.client.command("GET", "before")), Unavailable);
  redis.start();
  std::vector<std::vector<std::string>> both{{"GET", "before"}, {"PING"}};
  auto replies = run(c.ioc, c.client.pipeline(both));
  REQUIRE(replies.size() == 2);
  CHECK(replies[0].str == "1");
  CHECK(replies[1].str == "PONG");
}

TEST_CASE("a connection Redis closes before its first command is replaced before it is used") {
  RedisServer redis;
  Connected c(redis.url());  // connected, no command sent yet
  auto killed = redis.cli({"CLIENT", "KILL", "TYPE", "normal"});  // every client but redis-cli
  REQUIRE(killed == "1");
  // The socket is watched from the connect on (hiredis asks for reads once connected), so
  // the close is noticed while idle and the client connects again (backoff from 50 ms):
  // the next command goes out on a live connection instead of failing with a 503.
  run_until(c.ioc, [] { return false; }, std::chrono::milliseconds(500));
  REQUIRE(c.client.connected());
  CHECK(run(c.ioc, c.client.command("PING")).str == "PONG");
}

TEST_CASE("commands in flight when the connection drops fail instead of hanging") {
  RedisServer redis;
  Connected c(redis.url());
  bool failed = false;
  asio::co_spawn(
      c.ioc,
      [&]() -> asio::awaitable<void> {
        try {
          co_await c.client.command("BLPOP", "never", "0");  // blocks until the server dies
        } catch (const Unavailable&) {
          failed = true;
        }
      },
      asio::detached);
  run_until(c.ioc, [] { return false; }, std::chrono::milliseconds(200));
  redis.kill();
  CHECK(run_until(c.ioc, [&] { return failed; }));
}

TEST_CASE("a server that stops answering is dropped after the command timeout") {
  RedisServer redis;
  Connected c(redis.url());
  // Freeze the server: the socket stays open but nothing answers.
  std::string pid = redis.cli({"INFO", "server"});
  auto at = pid.find("process_id:");
  REQUIRE(at != std::string::npos);
  int server_pid = std::stoi(pid.substr(at + 11));
  ::kill(server_pid, SIGSTOP);
  auto started = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(run(c.ioc, c.client.command("PING")), Unavailable);
  auto waited = std::chrono::steady_clock::now() - started;
  ::kill(server_pid, SIGCONT);
  CHECK(waited < std::chrono::seconds(8));
  REQUIRE(run_until(c.ioc, [&] { return c.client.connected(); }, std::chrono::seconds(15)));
  CHECK(run(c.ioc, c.client.command("PING")).str == "PONG");
}

TEST_CASE("password and database of the URL are applied on every connection") {
  RedisServer redis({"--requirepass", "s3cret"});
  Connected c("redis://:s3cret@127.0.0.1:" + std::to_string(redis.port()) + "/3");
  run(c.ioc, c.client.command("SET", "where", "db3"));
  CHECK(redis.cli({"-n", "3", "GET", "where"}) == "db3");
  CHECK(redis.cli({"-n", "0", "EXISTS", "where"}) == "0");
}

TEST_CASE("a wrong password keeps the client disconnected with the reason") {
  RedisServer redis({"--requirepass", "s3cret"});
  asio::io_context ioc;
  Client client(ioc, parse_url("redis://:wrong@127.0.0.1:" + std::to_string(redis.port())));
  client.start();
  run_until(ioc, [] { return false; }, std::chrono::milliseconds(500));
  CHECK_FALSE(client.connected());
  CHECK_THAT(client.last_error(), Catch::Contains("WRONGPASS") || Catch::Contains("invalid"));
  client.stop();
}

TEST_CASE("unix socket URLs") {
  herald::test::TempDir dir;
  auto sock = dir.file("r.sock");
  RedisServer redis({"--unixsocket", sock, "--unixsocketperm", "700"});
  Connected c("unix://" + sock);
  CHECK(run(c.ioc, c.client.command("PING")).str == "PONG");
}

TEST_CASE("an unreachable server is retried until it appears") {
  int port = herald::test::free_port();
  asio::io_context ioc;
  Client client(ioc, parse_url("redis://127.0.0.1:" + std::to_string(port)));
  client.start();
  run_until(ioc, [] { return false; }, std::chrono::milliseconds(300));
  CHECK_FALSE(client.connected());
  CHECK_THAT(client.last_error(), Catch::Contains("refused"));
  herald::test::Process server({"redis-server", "--port", std::to_string(port), "--save", "",
                                "--appendonly", "no"},
                               "/dev/null");
  CHECK(run_until(ioc, [&] { return client.connected(); }, std::chrono::seconds(15)));
  client.stop();
}
