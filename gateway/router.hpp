#pragma once
// Routes: method, path pattern with {parameters}, the key kind it needs, and a
// coroutine handler. Matching tells 404 from 405 (with the methods allowed).

#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "gateway/http_types.hpp"

namespace herald::metrics {
class Counter;
class Histogram;
}  // namespace herald::metrics

namespace herald::gateway {

/// Who may call a route (api.md, Authentication).
enum class Access {
  kPublic,        // no credentials (/healthz, /readyz, /metrics, provider webhooks)
  kWrite,         // a write key (or an admin key); the handler may accept writeKey in the body
  kAdmin,         // an admin key
  kAgent,         // an agent token
  kAdminOrAgent,  // reading conversations
};

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;

struct Route {
  std::string method;
  std::string pattern;
  Access access = Access::kPublic;
  Handler handler;

  std::vector<std::string> segments;  // "{name}" marks a parameter

  // Metrics of the route, created on first use.
  metrics::Histogram* latency = nullptr;
  mutable std::array<std::atomic<metrics::Counter*>, 500> by_status{};
  void count(int status) const;
};

class Router {
 public:
  Router();
  void add(std::string method, std::string pattern, Access access, Handler handler);

  struct Match {
    enum class Kind { kFound, kNotFound, kMethodNotAllowed } kind = Kind::kNotFound;
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    std::string allow;  // for 405
  };
  Match match(std::string_view method, std::string_view path) const;

  /// Counts a request that matched no route.
  void count_unmatched(int status) const;
  const Route& unmatched() const { return unmatched_; }

 private:
  std::vector<std::unique_ptr<Route>> routes_;
  Route unmatched_;
};

}  // namespace herald::gateway
