#include "gateway/router.hpp"

#include <set>

#include "gateway/metrics.hpp"

namespace herald::gateway {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    auto end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    out.push_back(path.substr(i, end - i));
    i = end;
  }
  return out;
}

metrics::Histogram* latency_of(const std::string& pattern) {
  return &metrics::registry().histogram("herald_http_request_duration_seconds",
                                        "HTTP request latency by route",
                                        "route=\"" + metrics::label_value(pattern) + "\"");
}

}  // namespace

void Route::count(int status) const {
  if (status < 100 || status > 599) status = 599;
  auto& slot = by_status[status - 100];
  auto* counter = slot.load(std::memory_order_acquire);
  if (!counter) {
    counter = &metrics::registry().counter(
        "herald_http_requests_total", "HTTP requests by route, method and status",
        "route=\"" + metrics::label_value(pattern) + "\",method=\"" + method + "\",status=\"" +
            std::to_string(status) + "\"");
    slot.store(counter, std::memory_order_release);
  }
  counter->inc();
}

void Router::add(std::string method, std::string pattern, Access access, Handler handler) {
  auto route = std::make_unique<Route>();
  route->method = std::move(method);
  route->pattern = std::move(pattern);
  route->access = access;
  route->handler = std::move(handler);
  for (auto s : split_path(route->pattern)) route->segments.emplace_back(s);
  route->latency = latency_of(route->pattern);
  routes_.push_back(std::move(route));
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match result;
  auto parts = split_path(path);
  std::set<std::string> allowed;
  for (const auto& route : routes_) {
    if (route->segments.size() != parts.size()) continue;
    std::map<std::string, std::string> params;
    bool ok = true;
    for (std::size_t i = 0; i < parts.size() && ok; ++i) {
      const auto& seg = route->segments[i];
      if (seg.size() > 2 && seg.front() == '{' && seg.back() == '}') {
        if (parts[i].empty()) ok = false;
        else params[seg.substr(1, seg.size() - 2)] = std::string(parts[i]);
      } else {
        ok = seg == parts[i];
      }
    }
    if (!ok) continue;
    bool method_ok = route->method == method || (method == "HEAD" && route->method == "GET");
    if (method_ok) {
      result.kind = Match::Kind::kFound;
      result.route = route.get();
      result.params = std::move(params);
      return result;
    }
    allowed.insert(route->method);
  }
  if (!allowed.empty()) {
    result.kind = Match::Kind::kMethodNotAllowed;
    for (const auto& m : allowed) result.allow += (result.allow.empty() ? "" : ", ") + m;
  }
  return result;
}

Router::Router() {
  unmatched_.pattern = "unmatched";
  unmatched_.method = "any";
  unmatched_.latency = latency_of("unmatched");
}

void Router::count_unmatched(int status) const { unmatched_.count(status); }

}  // namespace herald::gateway
