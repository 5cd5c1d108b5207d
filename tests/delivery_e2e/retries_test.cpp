// Provider failures on the binary, with faults scripted in the sandbox: retries with
// back-off (Retry-After honoured), dead letters, fallback to the step's next channel, and
// a provider's opt-out recorded as the customer's consent.
#include <filesystem>

#include <catch2/catch.hpp>

#include "tests/delivery_e2e/delivery_support.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using namespace herald::test::delivery;

namespace {

struct Fixture {
  RedisServer redis;
  ProviderSandbox sandbox;
  TempDir templates;
  std::unique_ptr<HeraldProcess> herald;

  Fixture() {
    write_templates(templates);
    herald = std::make_unique<HeraldProcess>(redis.url(), delivery_config(sandbox, templates));
    if (!herald->wait_ready(200)) throw std::runtime_error("not ready:\n" + herald->log());
    identify(*herald, "ann", {{"first_name", "Ann"}, {"email", "ann@example.com"},
                              {"phone", "+14155552671"}});
    set_consent(*herald, "ann", "sms", "opted_in");
  }
};

const std::vector<std::string> kEnded{"sent", "failed", "suppressed"};

/// Twilio requests whose Body carries `code`.
Json twilio_requests_for(const ProviderSandbox& sandbox, const std::string& code) {
  Json out = Json::array();
  for (const auto& r : sandbox.requests("twilio"))
    if (form_field(r, "Body").find(code) != std::string::npos) out.push_back(r);
  return out;
}

Json dead_letters(const HeraldProcess& herald) {
  auto list = admin_json(herald, "/v1/messages?status=dead_letter");
  return list.is_object() ? list["items"] : Json::array();
}

}  // namespace

TEST_CASE("503, 503, then success: sent after three attempts, the deferrals explained") {
  Fixture f;
  f.sandbox.add_faults("twilio", Json::array({{{"kind", "http"}, {"status", 503}},
                                              {{"kind", "http"}, {"status", 503}}}));
  auto id = send_notice(*f.herald, "ann", {"sms"}, "R1");
  auto m = wait_status(*f.herald, id, kEnded);
  REQUIRE(m.is_object());
  CHECK(m["status"] == "sent");
  CHECK(m["attempts"] == 3);
  CHECK(statuses_of(m["timeline"]) ==
        std::vector<std::string>{"queued", "sending", "deferred", "sending", "deferred", "sending",
                                 "sent"});
  for (int i : {2, 4}) {
    auto detail = m["timeline"][i].value("detail", std::string());
    CHECK_THAT(detail, Catch::Contains("http_503"));
    CHECK_THAT(detail, Catch::Contains("retry " + std::to_string(i / 2) + " of 2"));
  }
  auto requests = twilio_requests_for(f.sandbox, "R1");
  REQUIRE(requests.size() == 3);
  CHECK(requests[0]["status"] == 503);
  CHECK(requests[1]["status"] == 503);
  CHECK(requests[2]["status"] == 201);
  CHECK(m["provider_id"].is_string());
  CHECK_FALSE(m.contains("dead_letter"));
  CHECK(dead_letters(*f.herald).empty());
}

TEST_CASE("a 429 with Retry-After: 2 holds the next attempt back at least 2 s") {
  Fixture f;
  f.sandbox.add_faults("twilio", Json{{"kind", "error"}, {"code", 20429}, {"retry_after", 2}});
  auto id = send_notice(*f.herald, "ann", {"sms"}, "R2");
  auto m = wait_status(*f.herald, id, kEnded);
  REQUIRE(m.is_object());
  CHECK(m["status"] == "sent");
  REQUIRE(statuses_of(m["timeline"]) ==
          std::vector<std::string>{"queued", "sending", "deferred", "sending", "sent"});
  CHECK_THAT(m["timeline"][2]["detail"].get<std::string>(), Catch::Contains("20429"));
  auto deferred_at = parse_time_ms(m["timeline"][2]["at"].get<std::string>());
  auto retried_at = parse_time_ms(m["timeline"][3]["at"].get<std::string>());
  CHECK(retried_at - deferred_at >= 1990);
  CHECK(retried_at - deferred_at < 4000);
  auto requests = twilio_requests_for(f.sandbox, "R2");
  REQUIRE(requests.size() == 2);
  CHECK(requests[0]["status"] == 429);
  CHECK(requests[1]["time"].get<double>() - requests[0]["time"].get<double>() >= 1.95);
}

TEST_CASE("retries exhausted: failed with the provider's error, and a dead letter") {
  Fixture f;
  f.sandbox.set_always("twilio", {{"kind", "http"}, {"status", 503}});
  auto id = send_notice(*f.herald, "ann", {"sms"}, "R3");
  auto m = wait_status(*f.herald, id, kEnded, std::chrono::seconds(20));
  REQUIRE(m.is_object());
  CHECK(m["status"] == "failed");
  CHECK(m["attempts"] == 3);  // the first attempt and retries: 2
  CHECK_THAT(m["reason"].get<std::string>(), Catch::Contains("http_503"));
  auto timeline = statuses_of(m["timeline"]);
  REQUIRE_FALSE(timeline.empty());
  CHECK(timeline.back() == "failed");
  CHECK(std::count(timeline.begin(), timeline.end(), "deferred") == 2);
  REQUIRE(m["dead_letter"].is_object());
  CHECK_THAT(m["dead_letter"]["reason"].get<std::string>(), Catch::Contains("http_503"));
  CHECK(m["dead_letter"]["at"].is_string());
  CHECK(twilio_requests_for(f.sandbox, "R3").size() == 3);

  auto dead = dead_letters(*f.herald);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0]["id"] == id);
  CHECK(dead[0]["customer_id"] == "ann");
  CHECK(dead[0]["channel"] == "sms");
  CHECK(dead[0]["provider"] == "twilio");
  CHECK_THAT(dead[0]["reason"].get<std::string>(), Catch::Contains("http_503"));
  // Nothing more is tried once given up.
  f.sandbox.clear_faults();
  auto later = send_notice(*f.herald, "ann", {"sms"}, "R3-after");
  REQUIRE(wait_status(*f.herald, later, {"sent"}).is_object());
  CHECK(twilio_requests_for(f.sandbox, "R3").size() == 4);  // "R3-after" contains "R3"
  CHECK(message(*f.herald, id)["status"] == "failed");
}

TEST_CASE("a permanent sms failure falls back to the step's next channel") {
  Fixture f;
  f.sandbox.add_faults("twilio", Json{{"kind", "error"}, {"code", 21211}});
  auto id = send_notice(*f.herald, "ann", {"sms", "email"}, "F1");
  auto m = wait_status(*f.herald, id, kEnded);
  REQUIRE(m.is_object());
  CHECK(m["status"] == "sent");
  CHECK(m["channel"] == "email");
  CHECK(m["provider"] == "sendgrid");
  CHECK(statuses_of(m["timeline"]) ==
        std::vector<std::string>{"queued", "sending", "queued", "sending", "sent"});
  auto why = m["timeline"][2]["detail"].get<std::string>();
  CHECK_THAT(why, Catch::Contains("falling back to email"));
  CHECK_THAT(why, Catch::Contains("21211"));
  CHECK_THAT(m["timeline"][3]["detail"].get<std::string>(), Catch::Contains("sendgrid"));
  CHECK(twilio_requests_for(f.sandbox, "F1").size() == 1);  // not retried: permanent
  auto mail = accepted_requests(f.sandbox, "sendgrid");
  REQUIRE(mail.size() == 1);
  CHECK(mail[0]["json"]["content"][0]["value"] == "Hi Ann, your email code is F1");
  CHECK(mail[0]["json"]["custom_args"]["herald_message_id"] == id);
  CHECK(dead_letters(*f.herald).empty());
  auto list = admin_json(*f.herald, "/v1/customers/ann/messages");
  REQUIRE(list["items"].size() == 1);
  CHECK(list["items"][0]["status"] == "sent");
  CHECK(list["items"][0]["channel"] == "email");  // the list follows the fallback
  CHECK(list["items"][0]["provider"] == "sendgrid");
}

TEST_CASE("every channel failing: failed, with a dead letter") {
  Fixture f;
  f.sandbox.add_faults("twilio", Json{{"kind", "error"}, {"code", 21211}});
  f.sandbox.set_always("sendgrid", {{"kind", "error"}, {"code", 400}, {"message", "bad from"}});
  auto id = send_notice(*f.herald, "ann", {"sms", "email"}, "F2");
  auto m = wait_status(*f.herald, id, kEnded);
  REQUIRE(m.is_object());
  CHECK(m["status"] == "failed");
  CHECK(m["channel"] == "email");
  CHECK_THAT(m["reason"].get<std::string>(), Catch::Contains("http_400"));
  CHECK(statuses_of(m["timeline"]) ==
        std::vector<std::string>{"queued", "sending", "queued", "sending", "failed"});
  auto dead = dead_letters(*f.herald);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0]["id"] == id);
  CHECK(dead[0]["channel"] == "email");
  CHECK(m["dead_letter"]["reason"] == dead[0]["reason"]);
}

TEST_CASE("Twilio 21610 records the customer's opt-out from the provider") {
  Fixture f;
  f.sandbox.add_faults("twilio", Json{{"kind", "error"}, {"code", 21610}});
  auto id = send_notice(*f.herald, "ann", {"sms", "email"}, "S1");
  auto m = wait_status(*f.herald, id, kEnded);
  REQUIRE(m.is_object());
  // The opt-out is kept, and the step's next channel still carries the message.
  CHECK(m["status"] == "sent");
  CHECK(m["channel"] == "email");
  CHECK_THAT(m["timeline"][2]["detail"].get<std::string>(), Catch::Contains("21610"));
  auto customer = admin_json(*f.herald, "/v1/customers/ann");
  CHECK(customer["consent"]["sms"] == "opted_out");
  auto exported = admin_json(*f.herald, "/v1/customers/ann/export");
  REQUIRE(exported["consent_log"].is_array());
  REQUIRE_FALSE(exported["consent_log"].empty());
  const auto& last = exported["consent_log"].back();
  CHECK(last["channel"] == "sms");
  CHECK(last["status"] == "opted_out");
  CHECK(last["source"] == "provider:twilio");
  CHECK(twilio_requests_for(f.sandbox, "S1").size() == 1);  // not retried
  // The next sms, even transactional, is stopped by the recorded opt-out.
  auto next = send_notice(*f.herald, "ann", {"sms"}, "S2", true);
  auto n = wait_status(*f.herald, next, kEnded);
  REQUIRE(n.is_object());
  CHECK(n["status"] == "suppressed");
  CHECK(twilio_requests_for(f.sandbox, "S2").empty());
}

TEST_CASE("an SMTP server refusing the recipient with 550 is a hard bounce: the address is suppressed") {
  RedisServer redis;
  SmtpSinkOptions options;
  options.rejects = {"nobody:550", "later:451"};
  SmtpSink sink(options);
  TempDir templates;
  write_templates(templates);
  std::filesystem::create_directories(templates.file("no-workflows"));
  HeraldProcess herald(
      redis.url(),
      test_config("workflows_dir: " + templates.file("no-workflows") + "\ntemplates_dir: " +
                  templates.path() + "\nchannels:\n  email: { provider: smtp, url: \"smtp://127.0.0.1:" +
                  std::to_string(sink.port()) + "\", starttls: false, from: \"" + kEmailFrom +
                  "\", retries: 0 }\n"));
  REQUIRE(herald.wait_ready(200));
  identify(herald, "gone", {{"email", "nobody@example.com"}});
  identify(herald, "busy", {{"email", "later@example.com"}});

  auto first = send_notice(herald, "gone", {"email"}, "B1", true);
  auto m = wait_status(herald, first, kEnded);
  REQUIRE(m.is_object());
  CHECK(m["status"] == "failed");
  CHECK_THAT(m.dump(), Catch::Contains("smtp_550"));
  // The next message to that address, transactional or not, is stopped at hand-off.
  auto second = send_notice(herald, "gone", {"email"}, "B2", true);
  auto n = wait_status(herald, second, kEnded);
  REQUIRE(n.is_object());
  CHECK(n["status"] == "suppressed");
  CHECK(n["timeline"].back()["detail"] == "suppression_list: hard_bounce");
  // A temporary refusal (451, retries exhausted) suppresses nothing.
  auto deferred = send_notice(herald, "busy", {"email"}, "B3", true);
  CHECK(wait_status(herald, deferred, kEnded)["status"] == "failed");
  auto again = send_notice(herald, "busy", {"email"}, "B4", true);
  CHECK(wait_status(herald, again, kEnded)["status"] == "failed");
  CHECK(sink.messages().empty());
}
