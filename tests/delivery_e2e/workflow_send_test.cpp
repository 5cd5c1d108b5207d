// A workflow's `send` step delivered through the sandbox: the first of its channels the
// customer can receive, and at most one message per step per run when the event is
// processed again after a crash.
#include <ctime>

#include <catch2/catch.hpp>

#include "gateway/keys.hpp"

#include "tests/delivery_e2e/delivery_support.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using namespace herald::test::delivery;

namespace {

std::string rfc3339_seconds_ago(int seconds) {
  std::time_t t = std::time(nullptr) - seconds;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char out[40];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
  return out;
}

HttpResponse track(const HeraldProcess& herald, const Json& body) {
  return http(herald.port(), "POST", "/v1/track", body.dump(),
              {{"Authorization", std::string("Bearer ") + kWriteKey}});
}

Json messages_of(const HeraldProcess& herald, const std::string& customer) {
  auto list = admin_json(herald, "/v1/customers/" + customer + "/messages");
  return list.is_object() ? list["items"] : Json::array();
}

}  // namespace

TEST_CASE("a workflow send step reaches the provider once per run, even after a crash replay") {
  RedisServer redis;
  ProviderSandbox sandbox;
  TempDir templates, workflows;
  write_templates(templates);
  workflows.write("shipped.yaml", R"(workflow: shipped
name: Shipping notice
trigger:
  event: order.shipped
steps:
  - id: notify
    send:
      template: notice
      channels: [sms, email]
      data: { code: "{{ event.properties.code }}" }
)");
  auto herald = std::make_unique<HeraldProcess>(
      redis.url(), delivery_config(sandbox, templates, {}, {}, workflows.path()));
  REQUIRE(herald->wait_ready(200));

  // Wes receives sms (opted in); Val has no sms consent, so the step's email carries it.
  identify(*herald, "wes", {{"first_name", "Wes"}, {"phone", "+14155550111"},
                            {"email", "wes@example.com"}});
  set_consent(*herald, "wes", "sms", "opted_in");
  identify(*herald, "val", {{"first_name", "Val"}, {"phone", "+14155550112"},
                            {"email", "val@example.com"}});
  const auto at = rfc3339_seconds_ago(60);
  const Json wes_event{{"userId", "wes"}, {"event", "order.shipped"}, {"timestamp", at},
                       {"properties", {{"code", "W1"}}}, {"messageId", "ship-wes-1"}};
  REQUIRE(track(*herald, wes_event).status == 200);
  REQUIRE(track(*herald, {{"userId", "val"}, {"event", "order.shipped"}, {"timestamp", at},
                          {"properties", {{"code", "V1"}}}, {"messageId", "ship-val-1"}})
              .status == 200);

  Json wes, val;
  REQUIRE(eventually(
      [&] {
        auto w = messages_of(*herald, "wes");
        auto v = messages_of(*herald, "val");
        if (w.size() != 1 || v.size() != 1) return false;
        wes = w[0];
        val = v[0];
        return wes["status"] == "sent" && val["status"] == "sent";
      },
      std::chrono::seconds(15)));
  CHECK(wes["channel"] == "sms");
  CHECK(wes["workflow"] == "shipped");
  CHECK(wes["run"].is_string());
  CHECK(val["channel"] == "email");
  const auto wes_id = wes["id"].get<std::string>();
  // A workflow's message id names the customer's partition; the API finds it by id alone.
  CHECK(wes_id.find("-p") != std::string::npos);
  auto m = message(*herald, wes_id);
  CHECK(m["id"] == wes_id);
  CHECK(m["customer_id"] == "wes");
  CHECK(m["workflow"] == "shipped");
  CHECK(m["provider"] == "twilio");
  CHECK(statuses_of(m["timeline"]) == std::vector<std::string>{"queued", "sending", "sent"});
  auto sms = accepted_requests(sandbox, "twilio");
  REQUIRE(sms.size() == 1);
  CHECK(form_field(sms[0], "To") == "+14155550111");
  CHECK(form_field(sms[0], "Body") == "Hi Wes, your code is W1");
  auto mail = accepted_requests(sandbox, "sendgrid");
  REQUIRE(mail.size() == 1);
  CHECK(mail[0]["json"]["personalizations"][0]["to"][0]["email"] == "val@example.com");
  CHECK(mail[0]["json"]["content"][0]["value"] == "Hi Val, your email code is V1");

  // The gateway dies (kill -9) and the sender, having seen no answer, sends the same
  // event again with a new messageId. Its run has ended, so the event enters the workflow
  // again, at the same time: the run has the same id...
  herald->kill();
  herald->start();
  REQUIRE(herald->wait_ready(200));
  auto replay = wes_event;
  replay["messageId"] = "ship-wes-1-again";
  REQUIRE(track(*herald, replay).status == 200);
  // (The dead process's partitions are taken over once its leases lapse and it drops out
  // of the live consumers: up to 15 s.)
  REQUIRE(eventually(
      [&] { return admin_json(*herald, "/v1/workflows/shipped/stats")["entered"] == 3; },
      std::chrono::seconds(30)));
  // ...and its send step finds its message: nothing new is recorded or sent. A message
  // posted afterwards goes out, so the worker was running.
  auto marker = send_notice(*herald, "wes", {"sms"}, "after-replay");
  REQUIRE(wait_status(*herald, marker, {"sent"}).is_object());
  CHECK(messages_of(*herald, "wes").size() == 2);
  std::vector<std::string> bodies;
  for (const auto& r : accepted_requests(sandbox, "twilio")) bodies.push_back(form_field(r, "Body"));
  CHECK(bodies ==
        std::vector<std::string>{"Hi Wes, your code is W1", "Hi Wes, your code is after-replay"});
  CHECK(message(*herald, wes_id)["status"] == "sent");
}
