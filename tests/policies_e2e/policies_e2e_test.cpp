// Quiet hours and frequency caps on the binary: a message inside the quiet window is
// deferred with the time it will go and sent then; caps hold across two gateways on
// one Redis; transactional messages are exempt from both.
#include <chrono>
#include <ctime>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/herald_process.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using Json = nlohmann::json;

namespace {

const char* kTemplate = R"(sms:
  body: "Hello {{ customer.first_name }}: {{ data.note }}"
)";

std::string config_with(const TempDir& templates, const std::string& policies) {
  return test_config("templates_dir: " + templates.path() + "\n" + policies);
}

HttpResponse identify(const HeraldProcess& h, const std::string& id, const std::string& phone) {
  return http(h.port(), "POST", "/v1/identify",
              R"({"userId": ")" + id + R"(", "traits": {"phone": ")" + phone +
                  R"(", "first_name": "Pat", "timezone": "UTC"}})",
              {{"Authorization", std::string("Bearer ") + kWriteKey}});
}

bool customer_exists(const HeraldProcess& h, const std::string& id) {
  return eventually([&] { return h.get("/v1/customers/" + id, kAdminKey).status == 200; });
}

Json send(const HeraldProcess& h, const std::string& customer, const std::string& note,
          bool transactional, const std::string& channel = "sms") {
  Json body{{"customer_id", customer}, {"template", "note"}, {"channels", {channel}},
            {"data", {{"note", note}}}, {"transactional", transactional}};
  auto r = h.post("/v1/messages", body.dump(), kAdminKey);
  REQUIRE(r.status == 202);
  return Json::parse(r.body);
}

Json message(const HeraldProcess& h, const std::string& id) {
  auto r = h.get("/v1/messages/" + id, kAdminKey);
  REQUIRE(r.status == 200);
  return Json::parse(r.body);
}

std::string hh_mm(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char out[6];
  std::strftime(out, sizeof out, "%H:%M", &tm);
  return out;
}

}  // namespace

TEST_CASE("frequency caps hold across two gateways, and transactional messages are exempt") {
  RedisServer redis;
  TempDir templates;
  templates.write("note.yaml", kTemplate);
  const std::string policies =
      "policies:\n"
      "  quiet_hours: { channels: [] }\n"
      "  frequency_caps:\n"
      "    - { max: 3, per: 1h, channels: [sms] }\n"
      "  consent: { sms: opt_out }\n";
  HeraldProcess a(redis.url(), config_with(templates, policies));
  HeraldProcess b(redis.url(), config_with(templates, policies));
  REQUIRE(a.wait_ready(200));
  REQUIRE(b.wait_ready(200));
  REQUIRE(identify(a, "cap-1", "+14155550101").status == 200);
  REQUIRE(customer_exists(a, "cap-1"));

  std::vector<std::string> marketing, transactional;
  for (int i = 0; i < 10; ++i)
    marketing.push_back(send(i % 2 ? b : a, "cap-1", "offer " + std::to_string(i), false)["id"]);
  for (int i = 0; i < 2; ++i)
    transactional.push_back(send(i % 2 ? a : b, "cap-1", "receipt " + std::to_string(i), true)["id"]);

  auto final_status = [&](const std::string& id) {
    std::string status;
    bool done = eventually([&] {
      status = message(a, id)["status"];
      return status == "sent" || status == "suppressed" || status == "failed";
    });
    REQUIRE(done);
    return status;
  };
  int sent = 0, capped = 0;
  for (const auto& id : marketing) {
    auto status = final_status(id);
    if (status == "sent") ++sent;
    if (status == "suppressed") {
      ++capped;
      auto m = message(b, id);
      CHECK(m["reason"] == "frequency_cap: 3 per 1h on sms");
      CHECK(m["timeline"].back()["status"] == "suppressed");
      CHECK(m["timeline"].back()["detail"] == "frequency_cap: 3 per 1h on sms");
    }
  }
  CHECK(sent == 3);
  CHECK(capped == 7);
  for (const auto& id : transactional) CHECK(final_status(id) == "sent");

  // Email is not capped (the cap lists sms only).
  REQUIRE(identify(a, "cap-2", "+14155550102").status == 200);
  REQUIRE(customer_exists(a, "cap-2"));
  for (int i = 0; i < 3; ++i) CHECK(final_status(send(b, "cap-2", "x", false)["id"]) == "sent");
  CHECK(final_status(send(a, "cap-2", "fourth", false)["id"]) == "suppressed");
}

TEST_CASE("quiet hours defer a message to the end of the window, and it goes then") {
  // A one-minute window around now, in the customer's zone (UTC): the message waits for
  // the next minute. Too close to the minute's end, wait for the next one to start.
  auto now = std::time(nullptr);
  if (now % 60 >= 45) {
    std::this_thread::sleep_for(std::chrono::seconds(61 - now % 60));
    now = std::time(nullptr);
  }
  RedisServer redis;
  TempDir templates;
  templates.write("note.yaml", kTemplate);
  const std::string policies = "policies:\n  quiet_hours: { from: \"" + hh_mm(now) + "\", to: \"" +
                               hh_mm(now + 60) + "\", channels: [sms] }\n  consent: { sms: opt_out }\n";
  HeraldProcess h(redis.url(), config_with(templates, policies));
  REQUIRE(h.wait_ready(200));
  REQUIRE(identify(h, "q-1", "+14155550111").status == 200);
  REQUIRE(customer_exists(h, "q-1"));

  auto marketing = send(h, "q-1", "tonight's offer", false)["id"].get<std::string>();
  auto receipt = send(h, "q-1", "your receipt", true)["id"].get<std::string>();

  // Deferred, with the time it will go, and not sent before then.
  Json m;
  REQUIRE(eventually([&] {
    m = message(h, marketing);
    return m["status"] == "deferred";
  }));
  CHECK(m["reason"] == "quiet_hours");
  CHECK(m["attempts"] == 0);  // not stored until the first attempt: read as 0
  const std::string detail = m["timeline"].back()["detail"];
  CHECK(detail.rfind("quiet_hours until ", 0) == 0);
  CHECK(detail.find("T" + hh_mm(now + 60) + ":00.000Z") != std::string::npos);
  // The transactional one is exempt.
  REQUIRE(eventually([&] { return message(h, receipt)["status"] == "sent"; }));
  CHECK(message(h, marketing)["status"] == "deferred");

  // At the end of the window it goes.
  REQUIRE(eventually([&] { return message(h, marketing)["status"] == "sent"; },
                     std::chrono::seconds(75)));
  m = message(h, marketing);
  std::vector<std::string> statuses;
  for (const auto& e : m["timeline"]) statuses.push_back(e["status"]);
  CHECK(statuses == std::vector<std::string>{"queued", "deferred", "sending", "sent"});
  // Sent at or after the window's end, never inside it.
  const std::string sent_at = m["timeline"].back()["at"];
  CHECK(sent_at.substr(11, 5) >= hh_mm(now + 60));
}
