// The herald binary over HTTP: routing, errors, limits, keep-alive, timeouts,
// readiness, graceful shutdown and the managed Redis.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/herald_process.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using Json = nlohmann::json;

namespace {

Json json_of(const HttpResponse& r) {
  INFO(r.body);
  return Json::parse(r.body);
}

void check_error(const HttpResponse& r, int status, const std::string& code) {
  INFO(r.body);
  CHECK(r.status == status);
  CHECK(r.header("content-type") == "application/json");
  auto j = json_of(r);
  REQUIRE(j.contains("error"));
  CHECK(j["error"]["code"] == code);
  CHECK(j["error"]["message"].is_string());
  CHECK_FALSE(j["error"]["message"].get<std::string>().empty());
}

}  // namespace

TEST_CASE("health, readiness and metrics answer without credentials") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  auto health = herald.get("/healthz");
  CHECK(health.status == 200);
  CHECK(json_of(health)["status"] == "ok");
  REQUIRE(herald.wait_ready(200));
  CHECK(json_of(herald.get("/readyz"))["status"] == "ready");
  for (int i = 0; i < 5; ++i) herald.get("/healthz");
  herald.get("/nowhere");
  auto metrics = herald.get("/metrics");
  CHECK(metrics.status == 200);
  CHECK_THAT(metrics.header("content-type"), Catch::StartsWith("text/plain"));
  CHECK_THAT(metrics.body, Catch::Contains(
                               "herald_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} "));
  CHECK_THAT(metrics.body, Catch::Contains(
                               "herald_http_requests_total{route=\"unmatched\",method=\"any\",status=\"404\"} 1"));
  CHECK_THAT(metrics.body, Catch::Contains("herald_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"}"));
  CHECK_THAT(metrics.body, Catch::Contains("herald_redis_command_duration_seconds_count "));
  CHECK_THAT(metrics.body, Catch::Contains("herald_process_resident_memory_bytes "));
}

TEST_CASE("unknown paths are 404 and wrong methods 405, in the contract's error shape") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  check_error(herald.get("/v1/nothing-here"), 404, "not_found");
  auto wrong = herald.post("/healthz", "{}");
  check_error(wrong, 405, "method_not_allowed");
  CHECK(wrong.header("allow") == "GET");
  check_error(http(herald.port(), "DELETE", "/metrics"), 405, "method_not_allowed");
}

TEST_CASE("request ids are echoed or generated, and appear in the request's log line") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  auto generated = herald.get("/healthz");
  CHECK_FALSE(generated.header("x-request-id").empty());
  auto other = herald.get("/healthz");
  CHECK(other.header("x-request-id") != generated.header("x-request-id"));
  auto echoed = http(herald.port(), "GET", "/nowhere", {}, {{"X-Request-Id", "trace-abc-123"}});
  CHECK(echoed.header("x-request-id") == "trace-abc-123");
  CHECK(eventually([&] { return herald.log().find("req=trace-abc-123 GET /nowhere -> 404") != std::string::npos; }));
  // An id that is not a safe token is replaced rather than logged.
  auto unsafe = http(herald.port(), "GET", "/healthz", {}, {{"X-Request-Id", "a b<script>"}});
  CHECK(unsafe.header("x-request-id") != "a b<script>");
}

TEST_CASE("bodies over server.max_body_bytes get 413 in the contract's shape") {
  RedisServer redis;
  HeraldProcess herald(redis.url(), test_config({}, "  max_body_bytes: 2048\n"));
  auto ok = herald.post("/healthz", std::string(2000, 'x'));
  CHECK(ok.status == 405);  // under the limit: reaches routing
  auto big = herald.post("/healthz", std::string(4096, 'x'));
  check_error(big, 413, "payload_too_large");

  // Chunked bodies are counted as they arrive.
  HttpConnection c(herald.port());
  std::string chunk(1500, 'y');
  char size[16];
  std::snprintf(size, sizeof size, "%zx", chunk.size());
  c.send("POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
         std::string(size) + "\r\n" + chunk + "\r\n" + size + "\r\n" + chunk + "\r\n0\r\n\r\n");
  auto chunked = c.read_response();
  REQUIRE(chunked);
  check_error(*chunked, 413, "payload_too_large");
  CHECK(herald.get("/healthz").status == 200);  // still serving
}

TEST_CASE("keep-alive carries many requests, and pipelined requests are answered in order") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  HttpConnection c(herald.port());
  for (int i = 0; i < 5; ++i) CHECK(c.request("GET", "/healthz").status == 200);

  c.send(build_request("GET", "/healthz", {}, {}) + build_request("GET", "/missing", {}, {}) +
         build_request("POST", "/healthz", "{}", {}) + build_request("GET", "/readyz", {}, {}));
  std::vector<int> statuses;
  for (int i = 0; i < 4; ++i) {
    auto r = c.read_response();
    REQUIRE(r);
    statuses.push_back(r->status);
  }
  CHECK(statuses == std::vector<int>{200, 404, 405, 200});

  HttpConnection old(herald.port());
  old.send("GET /healthz HTTP/1.0\r\n\r\n");
  auto r = old.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(old.closed_by_peer(std::chrono::seconds(2)));
}

TEST_CASE("malformed requests get 400 and the connection closes") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  HttpConnection c(herald.port());
  c.send("THIS IS NOT HTTP\r\n\r\n");
  auto r = c.read_response();
  REQUIRE(r);
  check_error(*r, 400, "bad_request");
  CHECK(c.closed_by_peer(std::chrono::seconds(2)));

  HttpConnection huge(herald.port());
  huge.send("GET /healthz HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  auto h = huge.read_response();
  REQUIRE(h);
  check_error(*h, 431, "headers_too_large");
  CHECK(herald.get("/healthz").status == 200);
}

TEST_CASE("slow headers and idle keep-alive connections are closed by their timeouts") {
  RedisServer redis;
  HeraldProcess herald(redis.url(),
                       test_config({}, "  header_timeout: 300ms\n  idle_timeout: 500ms\n"));
  HttpConnection slow(herald.port());
  slow.send("GET /healthz HTTP/1.1\r\nHost: x\r\n");  // never finishes its headers
  CHECK(slow.closed_by_peer(std::chrono::seconds(3)));

  HttpConnection idle(herald.port());
  CHECK(idle.request("GET", "/healthz").status == 200);
  CHECK_FALSE(idle.closed_by_peer(std::chrono::milliseconds(200)));  // not before its time
  CHECK(idle.closed_by_peer(std::chrono::seconds(3)));
}

TEST_CASE("SIGTERM finishes the request in flight, closes idle connections and exits 0") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  HttpConnection idle(herald.port());
  CHECK(idle.request("GET", "/healthz").status == 200);

  HttpConnection in_flight(herald.port());
  in_flight.send("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  herald.process().signal(SIGTERM);

  CHECK(idle.closed_by_peer(std::chrono::seconds(3)));
  CHECK(herald.running());  // waits for the request still arriving
  in_flight.send("67890");
  auto r = in_flight.read_response();
  REQUIRE(r);
  CHECK(r->status == 405);  // a full answer, from routing
  CHECK(r->header("connection") == "close");
  auto status = herald.process().wait(std::chrono::seconds(10));
  REQUIRE(status);
  CHECK(*status == 0);
  CHECK_THROWS(HttpConnection(herald.port()).request("GET", "/healthz"));
}

TEST_CASE("readiness follows Redis down and back up without a restart") {
  RedisServer redis;
  HeraldProcess herald(redis.url());
  REQUIRE(herald.wait_ready(200));
  redis.stop();
  REQUIRE(herald.wait_ready(503));
  auto down = herald.get("/readyz");
  check_error(down, 503, "not_ready");
  auto j = json_of(down);
  CHECK_THAT(j["error"]["message"].get<std::string>(), Catch::Contains("redis"));
  CHECK(j["error"]["details"][0]["field"] == "redis");
  CHECK(herald.get("/healthz").status == 200);  // alive, just not ready
  redis.start();
  CHECK(herald.wait_ready(200, std::chrono::seconds(15)));
}

TEST_CASE("with an empty redis.url Herald runs, supervises and stops its own redis-server") {
  HeraldProcess herald("");
  REQUIRE(herald.wait_ready(200));
  auto redis_dir = herald.dir().path() + "/var/redis";
  CHECK(std::filesystem::exists(redis_dir + "/redis.sock"));
  CHECK(std::filesystem::exists(redis_dir + "/appendonlydir"));  // append-only
  auto pid_of_redis = [&] {
    auto pids = pids_matching("redis-server unixsocket " + redis_dir + "/redis.sock");
    if (pids.empty()) pids = pids_matching(redis_dir + "/redis.sock");
    return pids.empty() ? 0 : pids.front();
  };
  int first = pid_of_redis();
  REQUIRE(first > 0);

  // A crashed redis-server is restarted and readiness comes back.
  ::kill(first, SIGKILL);
  CHECK(eventually([&] { int p = pid_of_redis(); return p > 0 && p != first; },
                   std::chrono::seconds(10)));
  CHECK(herald.wait_ready(200, std::chrono::seconds(15)));

  // A second Herald on the same data_dir refuses to start a second server on it.
  auto [code, output] = run_herald({"serve", "--config", herald.dir().file("herald.yaml")});
  CHECK(code == 1);
  CHECK_THAT(output, Catch::Contains("another Herald"));

  auto status = herald.stop();
  REQUIRE(status);
  CHECK(*status == 0);
  CHECK(eventually([&] { return pid_of_redis() == 0; }, std::chrono::seconds(10)));
}

TEST_CASE("the managed redis-server dies with a killed Herald") {
  HeraldProcess herald("");
  REQUIRE(herald.wait_ready(200));
  auto sock = herald.dir().path() + "/var/redis/redis.sock";
  auto running = [&] { return !pids_matching(sock).empty(); };
  REQUIRE(running());
  herald.kill();
  CHECK(eventually([&] { return !running(); }, std::chrono::seconds(10)));
  // and a new Herald starts on the same data, lock released by the kernel
  herald.start();
  CHECK(herald.wait_ready(200));
}

TEST_CASE("log.format json writes one JSON object a line") {
  RedisServer redis;
  HeraldProcess herald(redis.url(), test_config("").replace(test_config("").find("  level: debug"), 14,
                                                             "  level: debug\n  format: json"));
  herald.get("/nowhere");
  REQUIRE(eventually([&] { return herald.log().find("/nowhere") != std::string::npos; }));
  std::istringstream lines(herald.log());
  std::string line;
  int parsed = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    INFO(line);
    auto j = Json::parse(line);
    CHECK(j.contains("time"));
    CHECK(j.contains("level"));
    CHECK(j.contains("logger"));
    CHECK(j.contains("msg"));
    ++parsed;
  }
  CHECK(parsed >= 2);
}
