// The asynchronous HTTP client against a real server (the herald binary) and against
// sockets that refuse or never answer.
#include <utility>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "channels/http_client.hpp"
#include "tests/support/herald_process.hpp"
#include "tests/support/redis_server.hpp"

namespace asio = boost::asio;
using herald::channels::HttpClient;
using herald::channels::HttpRequest;
using Response = herald::channels::HttpResponse;
using herald::test::free_port;
using herald::test::HeraldProcess;
using herald::test::kWriteKey;
using herald::test::RedisServer;

namespace {

/// Runs `count` requests at once on one io_context and returns their responses.
std::vector<Response> run_all(HttpClient& client, asio::io_context& ioc,
                                  std::vector<HttpRequest> requests) {
  std::vector<Response> out(requests.size());
  std::size_t done = 0;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    asio::co_spawn(
        ioc,
        [&, i, r = std::move(requests[i])]() mutable -> asio::awaitable<void> {
          auto response = co_await client.request(std::move(r));
          out[i] = std::move(response);
          ++done;
        },
        asio::detached);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (done < out.size() && std::chrono::steady_clock::now() < deadline) {
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(10));
  }
  REQUIRE(done == out.size());
  return out;
}

HttpRequest get(const std::string& url) {
  HttpRequest r;
  r.url = url;
  return r;
}

}  // namespace

TEST_CASE("requests get status, headers and body, and reuse the connection") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  asio::io_context ioc;
  HttpClient client(ioc);
  auto base = "http://127.0.0.1:" + std::to_string(herald.port());

  auto first = run_all(client, ioc, {get(base + "/healthz")}).at(0);
  CHECK(first.status == 200);
  CHECK(first.body == R"({"status":"ok"})");
  CHECK(first.header("content-type") == "application/json");
  CHECK_FALSE(first.header("x-request-id").empty());
  CHECK_FALSE(first.reused_connection);

  auto second = run_all(client, ioc, {get(base + "/healthz")}).at(0);
  CHECK(second.status == 200);
  CHECK(second.reused_connection);  // keep-alive

  HttpRequest post;
  post.method = "POST";
  post.url = base + "/v1/templates/x/preview";
  post.headers = {{"Authorization", std::string("Bearer ") + kWriteKey},
                  {"Content-Type", "application/json"}};
  post.body = "{}";
  auto forbidden = run_all(client, ioc, {post}).at(0);
  CHECK(forbidden.status == 403);
  CHECK_THAT(forbidden.body, Catch::Contains("\"forbidden\""));
}

TEST_CASE("many requests run at once on one thread") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  asio::io_context ioc;
  HttpClient client(ioc);
  std::vector<HttpRequest> requests;
  for (int i = 0; i < 100; ++i)
    requests.push_back(get("http://127.0.0.1:" + std::to_string(herald.port()) +
                           (i % 2 ? "/healthz" : "/nowhere")));
  auto responses = run_all(client, ioc, requests);
  for (int i = 0; i < 100; ++i) CHECK(responses[i].status == (i % 2 ? 200 : 404));
  CHECK(client.active() == 0);
}

TEST_CASE("a refused connection and a silent server are reported, not thrown") {
  asio::io_context ioc;
  HttpClient client(ioc);
  auto refused = run_all(client, ioc, {get("http://127.0.0.1:" + std::to_string(free_port()) + "/")});
  CHECK(refused.at(0).status == 0);
  CHECK_FALSE(refused.at(0).error.empty());
  CHECK_FALSE(refused.at(0).timed_out);

  // A socket that accepts connections (the kernel's backlog) and never answers.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 16) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto silent = get("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/");
  silent.timeout = std::chrono::milliseconds(300);
  auto started = std::chrono::steady_clock::now();
  auto r = run_all(client, ioc, {silent}).at(0);
  auto waited = std::chrono::steady_clock::now() - started;
  ::close(fd);
  CHECK(r.status == 0);
  CHECK(r.timed_out);
  CHECK(waited >= std::chrono::milliseconds(250));
  CHECK(waited < std::chrono::seconds(5));
}
