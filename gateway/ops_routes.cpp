#include <utility>

#include "gateway/ops_routes.hpp"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "gateway/metrics.hpp"
#include "gateway/router.hpp"
#include "gateway/worker.hpp"

namespace herald::gateway {
namespace asio = boost::asio;

namespace {

const std::string kHealthy = R"({"status":"ok"})";
const std::string kRedis = "redis";

double statm_field(int index) {
  std::ifstream in("/proc/self/statm");
  long value = 0;
  for (int i = 0; i <= index && (in >> value); ++i) {
  }
  return static_cast<double>(value) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

// Kept out of the coroutine: g++ 12 mishandles some braced temporaries in coroutine frames.
Response readiness_response(const std::vector<ErrorDetail>& missing) {
  if (missing.empty()) return Response::text(200, R"({"status":"ready"})", "application/json");
  std::string names;
  for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m.field;
  return error_response(503, "not_ready", "not ready: " + names, {}, missing);
}

}  // namespace

void register_process_metrics() {
  auto& r = metrics::registry();
  r.gauge_fn("herald_process_resident_memory_bytes", "Resident memory of the process",
             [] { return statm_field(1); });
  r.gauge_fn("herald_process_virtual_memory_bytes", "Virtual memory of the process",
             [] { return statm_field(0); });
  r.gauge_fn("herald_process_open_fds", "Open file descriptors", [] {
    std::error_code ec;
    double n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
      ++n;
    return n;
  });
  static const auto started = std::chrono::steady_clock::now();
  r.gauge_fn("herald_process_uptime_seconds", "Seconds since the process started", [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  });
}

void add_ops_routes(Router& router, std::vector<ReadinessCheck> checks) {
  router.add("GET", "/healthz", Access::kPublic,
             [](Request&) -> asio::awaitable<Response> { co_return Response::text(200, kHealthy, "application/json"); });

  router.add("GET", "/readyz", Access::kPublic,
             [checks = std::move(checks)](Request&) -> asio::awaitable<Response> {
               std::vector<ErrorDetail> missing;
               auto& redis = *current_worker().redis;
               if (!redis.connected()) {
                 missing.push_back(ErrorDetail{kRedis, redis.last_error()});
               } else {
                 try {
                   auto pong = co_await redis.command("PING");
                   if (pong.is_error()) missing.push_back(ErrorDetail{kRedis, pong.str});
                 } catch (const std::exception& e) {
                   missing.push_back(ErrorDetail{kRedis, e.what()});
                 }
               }
               for (const auto& check : checks)
                 if (auto why = check()) missing.push_back(*why);
               co_return readiness_response(missing);
             });

  router.add("GET", "/metrics", Access::kPublic, [](Request&) -> asio::awaitable<Response> {
    co_return Response::text(200, metrics::registry().render(), "text/plain; version=0.0.4");
  });
}

}  // namespace herald::gateway
