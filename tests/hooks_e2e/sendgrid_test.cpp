// POST /hooks/sendgrid end to end: SendGrid's signed event webhook (ECDSA P-256 over the
// timestamp and the raw body, signed by the sandbox with its own key pair), statuses,
// hard bounces and spam complaints feeding the suppression list, unsubscribes.
#include <catch2/catch.hpp>

#include "tests/hooks_e2e/hooks_env.hpp"
#include "tests/support/process.hpp"

using namespace hooks_e2e;
using herald::test::eventually;

namespace {

Json event(const std::string& email, const std::string& kind, const std::string& sg_id,
           Json extra = Json::object()) {
  Json e{{"email", email},
         {"timestamp", now_ms() / 1000},
         {"event", kind},
         {"sg_event_id", "ev-" + kind + "-" + std::to_string(now_ms())},
         {"sg_message_id", sg_id.empty() ? sg_id : sg_id + ".filterdrecv-5645d9c87f-2ld9r-1-0"}};
  for (auto& [k, v] : extra.items()) e[k] = v;
  return e;
}

Json sendgrid(const HookEnv& env, const Json& events, const std::string& signature = "good") {
  return env.webhook(Json{{"json", events}, {"signature", signature}}, "sendgrid",
                     "/hooks/sendgrid");
}

}  // namespace

TEST_CASE("the sendgrid event webhook is refused without a valid ECDSA signature") {
  HookEnv env;
  env.identify("sg-0", {{"email", "zoe@example.com"}});
  Json sent;
  std::string id;
  auto pid = env.sent_provider_id("sg-0", "email", &sent, &id);
  auto events = Json::array({event("zoe@example.com", "delivered", pid)});

  CHECK(is_api_error(sendgrid(env, events, "bad"), 401, "bad_signature"));
  CHECK(is_api_error(sendgrid(env, events, "none"), 401, "bad_signature"));
  // A signature for another timestamp than the one sent.
  auto answer = env.webhook(Json{{"json", events},
                                 {"headers", {{"X-Twilio-Email-Event-Webhook-Timestamp", "1"}}}},
                            "sendgrid", "/hooks/sendgrid");
  CHECK(is_api_error(answer, 401, "bad_signature"));
  CHECK(env.message(id)["status"] == "sent");

  auto good = sendgrid(env, events);
  CHECK(good["status"] == 200);
  CHECK(eventually([&] { return env.message(id)["status"] == "delivered"; }));
  // Not an array: 400 in the error shape (signed, so it is the payload that is wrong).
  auto junk = env.webhook(Json{{"body", "{\"event\": \"delivered\"}"}}, "sendgrid", "/hooks/sendgrid");
  CHECK(is_api_error(junk, 400, "invalid_payload"));
  CHECK(env.healthy());
}

TEST_CASE("a hard bounce puts the address on the suppression list, a blocked bounce does not") {
  HookEnv env;
  env.identify("sg-1", {{"email", "gone@Example.com"}});
  env.identify("sg-2", {{"email", "busy@example.com"}});
  REQUIRE(env.admin("PUT", "/v1/customers/sg-1/consent/email", R"({"status": "opted_in"})").status == 200);
  REQUIRE(env.admin("PUT", "/v1/customers/sg-2/consent/email", R"({"status": "opted_in"})").status == 200);
  std::string first, second;
  auto pid1 = env.sent_provider_id("sg-1", "email", nullptr, &first);
  auto pid2 = env.sent_provider_id("sg-2", "email", nullptr, &second);

  auto answer = sendgrid(env, Json::array({
      event("gone@example.com", "bounce", pid1,
            {{"type", "bounce"}, {"status", "5.1.1"}, {"reason", "550 5.1.1 unknown user"}}),
      event("busy@example.com", "bounce", pid2,
            {{"type", "blocked"}, {"status", "4.0.0"}, {"reason", "try later"}}),
  }));
  REQUIRE(answer["status"] == 200);
  CHECK(eventually([&] { return env.message(first)["status"] == "failed"; }));
  CHECK(eventually([&] { return env.message(second)["status"] == "failed"; }));

  // The next message to the bounced address is suppressed at hand-off, with the reason.
  auto next = env.send("sg-1", "email");
  REQUIRE(eventually([&] { return env.message(next)["status"] == "suppressed"; }));
  auto m = env.message(next);
  CHECK(m["timeline"].back().value("detail", "") == "suppression_list: hard_bounce");
  // So is a message to another customer who later takes the same address.
  env.identify("sg-3", {{"email", "gone@example.com"}});
  REQUIRE(env.admin("PUT", "/v1/customers/sg-3/consent/email", R"({"status": "opted_in"})").status == 200);
  auto other = env.send("sg-3", "email");
  CHECK(eventually([&] { return env.message(other)["status"] == "suppressed"; }));
  // A transactional message too: the suppression list has no exemption.
  auto receipt = env.send("sg-1", "email", true);
  CHECK(eventually([&] { return env.message(receipt)["status"] == "suppressed"; }));

  // The blocked (temporary) bounce suppresses nothing.
  env.wait_sent(env.send("sg-2", "email"));
}

TEST_CASE("a spam complaint opts the customer out and suppresses the address, an unsubscribe opts out") {
  HookEnv env;
  env.identify("sg-4", {{"email", "angry@example.com"}});
  env.identify("sg-5", {{"email", "done@example.com"}});
  REQUIRE(env.admin("PUT", "/v1/customers/sg-4/consent/email", R"({"status": "opted_in"})").status == 200);
  REQUIRE(env.admin("PUT", "/v1/customers/sg-5/consent/email", R"({"status": "opted_in"})").status == 200);
  auto pid = env.sent_provider_id("sg-4", "email");
  auto answer = sendgrid(env, Json::array({event("angry@example.com", "spamreport", pid),
                                           event("done@example.com", "unsubscribe", "")}));
  REQUIRE(answer["status"] == 200);
  REQUIRE(eventually([&] { return env.consent("sg-4", "email") == "opted_out"; }));
  REQUIRE(eventually([&] { return env.consent("sg-5", "email") == "opted_out"; }));
  auto log = env.export_of("sg-4")["consent_log"];
  CHECK(log.back()["source"] == "provider:sendgrid");

  // The complaint also suppresses the address itself: opting back in through the API does
  // not make it sendable again.
  REQUIRE(env.admin("PUT", "/v1/customers/sg-4/consent/email", R"({"status": "opted_in"})").status == 200);
  auto next = env.send("sg-4", "email");
  REQUIRE(eventually([&] { return env.message(next)["status"] == "suppressed"; }));
  CHECK(env.message(next)["timeline"].back().value("detail", "") == "suppression_list: spam_complaint");
  // The unsubscribe is consent only: opted in again, the customer gets mail.
  REQUIRE(env.admin("PUT", "/v1/customers/sg-5/consent/email", R"({"status": "opted_in"})").status == 200);
  env.wait_sent(env.send("sg-5", "email"));
}
