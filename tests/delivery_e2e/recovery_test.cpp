// Crashes during delivery: a gateway killed with hand-offs in flight, and Redis restarted
// under queued messages. Nothing reaches a provider twice; what was cut mid-hand-off is
// marked failed (`interrupted`), everything else is sent exactly once.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include "gateway/keys.hpp"

#include "tests/delivery_e2e/delivery_support.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using namespace herald::test::delivery;

namespace {

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Outcome {
  std::map<std::string, Json> messages;  // id -> GET /v1/messages/{id}
  std::size_t sent = 0, interrupted = 0, other = 0;
};

/// Waits until every message has ended (sent, failed, suppressed) and sorts them out.
Outcome wait_all_ended(const HeraldProcess& herald, const std::vector<std::string>& ids,
                       std::chrono::seconds timeout) {
  Outcome out;
  eventually(
      [&] {
        for (const auto& id : ids) {
          auto found = out.messages.find(id);
          if (found != out.messages.end() && found->second.is_object()) {
            auto s = found->second.value("status", std::string());
            if (s == "sent" || s == "failed" || s == "suppressed") continue;
          }
          out.messages[id] = message(herald, id);
          if (!out.messages[id].is_object()) return false;
          auto s = out.messages[id].value("status", std::string());
          if (s != "sent" && s != "failed" && s != "suppressed") return false;
        }
        return true;
      },
      timeout);
  for (const auto& id : ids) {
    auto& m = out.messages[id];
    if (!m.is_object()) m = Json::object();
    auto s = m.is_object() ? m.value("status", std::string()) : std::string();
    if (s == "sent")
      ++out.sent;
    else if (s == "failed" && m.value("reason", std::string()) == "interrupted")
      ++out.interrupted;
    else
      ++out.other;
  }
  return out;
}

/// Twilio requests by Body, each with its arrival times.
std::map<std::string, std::vector<double>> requests_by_body(const ProviderSandbox& sandbox) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& r : sandbox.requests("twilio"))
    out[form_field(r, "To") + "|" + form_field(r, "Body")].push_back(r["time"].get<double>());
  return out;
}

/// The status of each message, read from Redis directly (the gateway may be dead).
std::vector<std::string> statuses_in_redis(const RedisServer& redis, const std::string& customer,
                                           const std::vector<std::string>& ids) {
  std::vector<std::string> args{"EVAL",
                                // (double quotes: redis-cli's arguments go through a
                                // shell in single quotes)
                                "local out = {} for i, k in ipairs(KEYS) do "
                                "out[i] = redis.call(\"HGET\", k, \"status\") or \"missing\" end "
                                "return table.concat(out, \",\")",
                                std::to_string(ids.size())};
  for (const auto& id : ids) args.push_back("herald:msg:" + herald::keys::tag(customer) + ":" + id);
  auto text = redis.cli(args);
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  if (out.size() != ids.size()) throw std::runtime_error("cannot read the statuses: " + text);
  return out;
}

std::string key_of(const std::string& code) { return "+14155552671|Hi Ann, your code is " + code; }

}  // namespace

TEST_CASE("kill -9 with hand-offs in flight: nothing is sent twice, the cut ones are marked") {
  RedisServer redis;
  ProviderSandbox sandbox;
  TempDir templates;
  write_templates(templates);
  ChannelOptions options;
  options.twilio_extra = "rate: 50, ";
  options.timeout = "5s";
  const auto config = delivery_config(sandbox, templates, options);
  auto first = std::make_unique<HeraldProcess>(redis.url(), config);
  REQUIRE(first->wait_ready(200));
  identify(*first, "ann", {{"first_name", "Ann"}, {"phone", "+14155552671"}});
  set_consent(*first, "ann", "sms", "opted_in");

  // Every Twilio answer takes 1.5 s; 50 hand-offs a second.
  sandbox.set_always("twilio", {{"kind", "delay"}, {"ms", 1500}});
  constexpr int kMessages = 200;
  std::vector<std::string> ids, codes;
  for (int i = 0; i < kMessages; ++i) {
    codes.push_back("k-" + std::to_string(i));
    ids.push_back(send_notice(*first, "ann", {"sms"}, codes.back()));
  }
  // Kill once the first answers came back: some sent, many in flight, the rest queued.
  REQUIRE(eventually([&] { return message(*first, ids[10])["status"] == "sent"; },
                     std::chrono::seconds(15)));
  first->process().signal(SIGKILL);
  first->process().wait(std::chrono::seconds(10));
  sandbox.clear_faults();
  // The statuses at the kill, read from Redis before anything else runs: `sending` ones
  // were being handed over (the provider may have them), `queued` ones were not yet.
  const auto at_kill = statuses_in_redis(redis, "ann", ids);
  const auto in_flight = static_cast<std::size_t>(
      std::count(at_kill.begin(), at_kill.end(), std::string("sending")));
  const auto sent_before = static_cast<std::size_t>(
      std::count(at_kill.begin(), at_kill.end(), std::string("sent")));

  auto second = std::make_unique<HeraldProcess>(redis.url(), config);
  REQUIRE(second->wait_ready(200));
  auto outcome = wait_all_ended(*second, ids, std::chrono::seconds(50));

  auto requests = requests_by_body(sandbox);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& m = outcome.messages[ids[i]];
    INFO(ids[i] << " was " << at_kill[i] << " at the kill, now " << m.dump());
    auto it = requests.find(key_of(codes[i]));
    const std::size_t reached = it == requests.end() ? 0 : it->second.size();
    CHECK(reached <= 1);  // never twice
    const auto status = m.value("status", std::string());
    if (at_kill[i] == "sending") {
      // Cut mid-hand-off: marked, dead-lettered, not handed over again.
      CHECK(status == "failed");
      CHECK(m.value("reason", std::string()) == "interrupted");
      REQUIRE(m["dead_letter"].is_object());
      CHECK(m["dead_letter"]["reason"] == "interrupted");
    } else {
      // Sent before the kill, or still queued then (waiting for a rate slot included):
      // sent exactly once.
      CHECK(status == "sent");
      CHECK(reached == 1);
    }
  }
  INFO("sent " << outcome.sent << ", interrupted " << outcome.interrupted << ", other "
               << outcome.other << "; at the kill: sent " << sent_before << ", in flight "
               << in_flight);
  CHECK(outcome.other == 0);
  CHECK(outcome.sent + outcome.interrupted == kMessages);
  REQUIRE(in_flight > 0);  // the kill did cut hand-offs
  REQUIRE(sent_before > 0);
  // 50 hand-offs a second, each answered after 1.5 s: about 75 open at once. The others
  // wait for their rate slot still queued, and go out after the restart.
  CHECK(in_flight <= 100);
  CHECK(outcome.interrupted == in_flight);
  auto dead = admin_json(*second, "/v1/messages?status=dead_letter&limit=1000")["items"];
  CHECK(dead.size() == outcome.interrupted);
}

TEST_CASE("Redis restarted while messages are queued: each is sent once or marked") {
  RedisServer redis;
  ProviderSandbox sandbox;
  TempDir templates;
  write_templates(templates);
  ChannelOptions options;
  options.twilio_extra = "rate: 10, ";
  HeraldProcess herald(redis.url(), delivery_config(sandbox, templates, options));
  REQUIRE(herald.wait_ready(200));
  identify(herald, "ann", {{"first_name", "Ann"}, {"phone", "+14155552671"}});
  set_consent(herald, "ann", "sms", "opted_in");

  constexpr int kMessages = 40;  // four seconds of backlog at 10 a second
  std::vector<std::string> ids, codes;
  for (int i = 0; i < kMessages; ++i) {
    codes.push_back("q-" + std::to_string(i));
    ids.push_back(send_notice(herald, "ann", {"sms"}, codes.back()));
  }
  REQUIRE(eventually([&] { return accepted_requests(sandbox, "twilio").size() >= 8; }));
  redis.stop();  // a clean shutdown: the append-only file has everything acknowledged
  const double stopped_at = wall_seconds();
  REQUIRE(herald.wait_ready(503, std::chrono::seconds(10)));
  redis.start();  // same port, same data
  REQUIRE(herald.wait_ready(200, std::chrono::seconds(20)));

  auto outcome = wait_all_ended(herald, ids, std::chrono::seconds(50));
  auto requests = requests_by_body(sandbox);
  std::size_t in_flight_at_stop = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& m = outcome.messages[ids[i]];
    INFO(ids[i] << " " << m.dump());
    auto it = requests.find(key_of(codes[i]));
    const std::size_t reached = it == requests.end() ? 0 : it->second.size();
    CHECK(reached <= 1);
    if (m.value("status", std::string()) == "sent") CHECK(reached == 1);
    else CHECK(m.value("reason", std::string()) == "interrupted");
    // In flight at the stop: handed to the sandbox around it, or claimed (`sending`) by a
    // script whose answer the stopping Redis never sent, so never handed over at all.
    if (m.value("status", std::string()) != "sent" &&
        (it == requests.end() || std::abs(it->second[0] - stopped_at) < 3.0))
      ++in_flight_at_stop;
  }
  INFO("sent " << outcome.sent << ", interrupted " << outcome.interrupted);
  CHECK(outcome.other == 0);
  CHECK(outcome.sent + outcome.interrupted == kMessages);
  CHECK(outcome.interrupted <= in_flight_at_stop);
  CHECK(outcome.sent >= kMessages - 2);
}

TEST_CASE("SIGTERM lets hand-offs in flight finish: none is left interrupted") {
  RedisServer redis;
  ProviderSandbox sandbox;
  TempDir templates;
  write_templates(templates);
  ChannelOptions options;
  options.timeout = "5s";
  const auto config = delivery_config(sandbox, templates, options);
  auto first = std::make_unique<HeraldProcess>(redis.url(), config);
  REQUIRE(first->wait_ready(200));
  identify(*first, "ann", {{"first_name", "Ann"}, {"phone", "+14155552671"}});
  set_consent(*first, "ann", "sms", "opted_in");

  // Every Twilio answer takes 1 s: stop while all of them are being handed over.
  sandbox.set_always("twilio", {{"kind", "delay"}, {"ms", 1000}});
  std::vector<std::string> ids, codes;
  for (int i = 0; i < 20; ++i) {
    codes.push_back("t-" + std::to_string(i));
    ids.push_back(send_notice(*first, "ann", {"sms"}, codes.back()));
  }
  REQUIRE(eventually([&] {
    auto s = statuses_in_redis(redis, "ann", ids);
    return std::count(s.begin(), s.end(), std::string("sending")) > 0;
  }));
  auto status = first->stop(std::chrono::seconds(20));
  REQUIRE(status);
  CHECK(*status == 0);
  // After a graceful stop nothing is left mid-hand-off.
  const auto at_stop = statuses_in_redis(redis, "ann", ids);
  CHECK(std::count(at_stop.begin(), at_stop.end(), std::string("sending")) == 0);
  sandbox.clear_faults();

  auto second = std::make_unique<HeraldProcess>(redis.url(), config);
  REQUIRE(second->wait_ready(200));
  auto outcome = wait_all_ended(*second, ids, std::chrono::seconds(30));
  CHECK(outcome.sent == ids.size());
  CHECK(outcome.interrupted == 0);
  auto requests = requests_by_body(sandbox);
  for (const auto& code : codes) CHECK(requests[key_of(code)].size() == 1);
}
