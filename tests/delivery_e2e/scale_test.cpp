// A provider's `rate` is shared by every gateway process (through Redis), and a backlog that
// waits for its rate longer than the reclaim delay of dead workers' entries is not taken
// for the work of a dead worker.
#include <algorithm>

#include <catch2/catch.hpp>

#include "tests/delivery_e2e/delivery_support.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using namespace herald::test::delivery;

namespace {

/// herald_messages_total{channel="CHANNEL",status="STATUS"} from /metrics (0 when absent).
double messages_metric(const HeraldProcess& herald, const std::string& channel,
                       const std::string& status) {
  auto body = herald.get("/metrics").body;
  const std::string name =
      "herald_messages_total{channel=\"" + channel + "\",status=\"" + status + "\"} ";
  auto pos = body.find(name);
  if (pos == std::string::npos) return 0;
  return std::stod(body.substr(pos + name.size()));
}

/// Waits until `n` delivery workers have read the delivery stream (its consumer group
/// lists them), so that work posted afterwards is spread over all of them.
void wait_for_delivery_workers(const RedisServer& redis, std::size_t n) {
  bool ok = eventually([&] {
    auto out = redis.cli({"XINFO", "CONSUMERS", "herald:deliveries", "delivery"});
    std::size_t count = 0;
    for (auto pos = out.find("name"); pos != std::string::npos; pos = out.find("name", pos + 1))
      ++count;
    return count >= n;
  });
  if (!ok) throw std::runtime_error("the delivery workers did not start");
}

/// The most requests that arrived within any `window` seconds.
std::size_t densest(std::vector<double> times, double window) {
  std::sort(times.begin(), times.end());
  std::size_t best = 0, first = 0;
  for (std::size_t last = 0; last < times.size(); ++last) {
    while (times[last] - times[first] >= window) ++first;
    best = std::max(best, last - first + 1);
  }
  return best;
}

}  // namespace

TEST_CASE("two gateways share one provider rate limit") {
  RedisServer redis;
  ProviderSandbox sandbox;
  TempDir templates;
  write_templates(templates);
  ChannelOptions options;
  options.twilio_extra = "rate: 20, ";
  const auto config = delivery_config(sandbox, templates, options);
  HeraldProcess a(redis.url(), config), b(redis.url(), config);
  REQUIRE(a.wait_ready(200));
  REQUIRE(b.wait_ready(200));
  identify(a, "ann", {{"first_name", "Ann"}, {"phone", "+14155552671"}});
  set_consent(a, "ann", "sms", "opted_in");
  wait_for_delivery_workers(redis, 4);  // both gateways read the stream (2 threads each)

  constexpr int kMessages = 120;
  std::vector<std::string> ids;
  for (int i = 0; i < kMessages; ++i)
    ids.push_back(send_notice(i % 2 ? b : a, "ann", {"sms"}, "rl-" + std::to_string(i)));
  REQUIRE(eventually([&] { return accepted_requests(sandbox, "twilio").size() >= kMessages; },
                     std::chrono::seconds(30)));
  for (const auto& id : ids) CHECK(message(a, id)["status"] == "sent");

  std::vector<double> times;
  for (const auto& r : sandbox.requests("twilio")) times.push_back(r["time"].get<double>());
  REQUIRE(times.size() == kMessages);  // no retries were needed
  std::sort(times.begin(), times.end());
  const double span = times.back() - times.front();
  INFO("span " << span << " s, densest second " << densest(times, 1.0));
  // 20 per second: 119 intervals of 50 ms after the first. One slot of burst, and a little
  // jitter in the arrival of requests reserved on time.
  CHECK(span >= 5.5);
  CHECK(densest(times, 1.0) <= 23);
  CHECK(densest(times, 3.0) <= 63);
  // Both gateways handed messages over: the limit held across processes.
  std::string lines;
  for (auto* h : {&a, &b}) {
    auto metrics = h->get("/metrics").body;
    for (std::size_t pos = metrics.find("herald_messages_total"); pos != std::string::npos;
         pos = metrics.find("herald_messages_total", pos + 1))
      lines += metrics.substr(pos, metrics.find('\n', pos) - pos) + "\n";
    lines += "--\n";
  }
  INFO(lines);
  CHECK(messages_metric(a, "sms", "sent") > 0);
  CHECK(messages_metric(b, "sms", "sent") > 0);
  CHECK(messages_metric(a, "sms", "sent") + messages_metric(b, "sms", "sent") == kMessages);
}

TEST_CASE("a backlog held by the rate limit longer than the reclaim delay is sent, not interrupted") {
  // rate 1/s and 36 messages: the last waits ~35 s, past the 30 s after which a dead
  // worker's entries are reclaimed. The live workers' own entries must not be reclaimed
  // (and marked interrupted) while they wait.
  RedisServer redis;
  ProviderSandbox sandbox;
  TempDir templates;
  write_templates(templates);
  ChannelOptions options;
  options.twilio_extra = "rate: 1, ";
  const auto config = delivery_config(sandbox, templates, options);
  HeraldProcess a(redis.url(), config), b(redis.url(), config);
  REQUIRE(a.wait_ready(200));
  REQUIRE(b.wait_ready(200));
  identify(a, "ann", {{"first_name", "Ann"}, {"phone", "+14155552671"}});
  set_consent(a, "ann", "sms", "opted_in");
  wait_for_delivery_workers(redis, 4);
  constexpr int kMessages = 36;
  std::vector<std::string> ids;
  for (int i = 0; i < kMessages; ++i)
    ids.push_back(send_notice(i % 2 ? b : a, "ann", {"sms"}, "slow-" + std::to_string(i)));
  std::map<std::string, std::string> status;
  REQUIRE(eventually(
      [&] {
        for (const auto& id : ids) {
          auto m = message(a, id);
          auto s = m.is_object() ? m.value("status", std::string()) : std::string();
          status[id] = s;
          if (s != "sent" && s != "failed" && s != "suppressed") return false;
        }
        return true;
      },
      std::chrono::seconds(50)));
  for (const auto& id : ids) {
    INFO(id << " " << message(a, id).dump());
    CHECK(status[id] == "sent");
  }
  std::map<std::string, int> bodies;
  for (const auto& r : sandbox.requests("twilio")) ++bodies[form_field(r, "Body")];
  CHECK(bodies.size() == kMessages);
  for (const auto& [body, n] : bodies) {
    INFO(body);
    CHECK(n == 1);
  }
  CHECK(admin_json(a, "/v1/messages?status=dead_letter")["items"].empty());
}
