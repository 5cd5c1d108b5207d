// The whatsapp_cloud adapter against the provider sandbox: text inside the 24 h window,
// the approved template outside it, the wamid of an accepted message, every error class
// (131047 retried once as the template), and its config errors.
#include "tests/channels/adapters_test.hpp"

#include "channels/whatsapp/whatsapp_channel.hpp"

using namespace adapters_test;
using herald::test::kWhatsappAppSecret;
using herald::test::kWhatsappPhoneId;
using herald::test::kWhatsappToken;
using herald::test::kWhatsappVerifyToken;

namespace {

std::string whatsapp_yaml(const std::string& access_token = kWhatsappToken,
                          const std::string& extra = {}) {
  return "    provider: whatsapp_cloud\n    base_url: " + sandbox().base_url("whatsapp") +
         "/v21.0/\n    phone_number_id: \"" + kWhatsappPhoneId + "\"\n    access_token: " +
         access_token + "\n    app_secret: " + kWhatsappAppSecret + "\n    verify_token: " +
         kWhatsappVerifyToken + "\n" + extra;
}

std::vector<std::string> params() { return {"Asha", "#1001"}; }

/// A rendered whatsapp section: text, and the template unless `with_template` is false.
OutboundMessage whatsapp(bool in_window, bool with_template = true) {
  OutboundMessage m;
  m.id = "msg-wa-1";
  m.channel = "whatsapp";
  m.to = "+15551234567";
  m.content = nlohmann::ordered_json::object();
  m.content["text"] = "Hi Asha, order #1001 is on its way: https://s.example/t/1";
  if (with_template) {
    nlohmann::ordered_json tpl = nlohmann::ordered_json::object();
    tpl["name"] = "order_confirmation";
    tpl["language"] = "en_US";
    tpl["params"] = params();
    m.content["template"] = tpl;
  }
  if (in_window) m.last_inbound = std::chrono::system_clock::now() - std::chrono::hours(23);
  return m;
}

Json expected_text() {
  return Json::parse(R"({"messaging_product": "whatsapp", "recipient_type": "individual",
    "to": "15551234567", "type": "text",
    "text": {"preview_url": false, "body": "Hi Asha, order #1001 is on its way: https://s.example/t/1"}})");
}

Json expected_template() {
  return Json::parse(R"({"messaging_product": "whatsapp", "recipient_type": "individual",
    "to": "15551234567", "type": "template",
    "template": {"name": "order_confirmation", "language": {"code": "en_US"},
      "components": [{"type": "body", "parameters": [{"type": "text", "text": "Asha"},
                                                     {"type": "text", "text": "#1001"}]}]}})");
}

}  // namespace

TEST_CASE("whatsapp: a text inside the 24 h window, accepted with its wamid", "[whatsapp]") {
  auto& sb = fresh_sandbox();
  auto channel = make_channel("whatsapp", whatsapp_yaml());
  CHECK(channel->provider() == "whatsapp_cloud");
  Worker w;
  auto r = w.send(*channel, whatsapp(true));
  REQUIRE(r.outcome == Outcome::kAccepted);
  CHECK(r.provider_message_id.rfind("wamid.", 0) == 0);
  CHECK(r.provider_message_id.size() > 20);

  auto requests = sb.requests("whatsapp");
  REQUIRE(requests.size() == 1);
  const auto& q = requests[0];
  CHECK(q["method"] == "POST");
  CHECK(q["path"] == std::string("/whatsapp/v21.0/") + kWhatsappPhoneId + "/messages");
  CHECK(q["query"].empty());
  CHECK(header(q, "authorization") == std::string("Bearer ") + kWhatsappToken);
  CHECK(header(q, "content-type") == "application/json");
  CHECK(q["json"] == expected_text());
  CHECK(q["status"] == 200);
}

TEST_CASE("whatsapp: outside the window the approved template goes", "[whatsapp]") {
  auto& sb = fresh_sandbox();
  auto channel = make_channel("whatsapp", whatsapp_yaml());
  Worker w;

  SECTION("never wrote") {
    auto r = w.send(*channel, whatsapp(false));
    REQUIRE(r.outcome == Outcome::kAccepted);
    CHECK(r.provider_message_id.rfind("wamid.", 0) == 0);
    CHECK(sb.requests("whatsapp").at(0)["json"] == expected_template());
  }
  SECTION("wrote 25 hours ago") {
    auto m = whatsapp(false);
    m.last_inbound = std::chrono::system_clock::now() - std::chrono::hours(25);
    REQUIRE(w.send(*channel, m).outcome == Outcome::kAccepted);
    CHECK(sb.requests("whatsapp").at(0)["json"] == expected_template());
  }
  SECTION("a template without parameters has no components") {
    auto m = whatsapp(false);
    m.content["template"]["params"] = nlohmann::ordered_json::array();
    REQUIRE(w.send(*channel, m).outcome == Outcome::kAccepted);
    auto body = sb.requests("whatsapp").at(0)["json"];
    CHECK(body["template"]["name"] == "order_confirmation");
    CHECK_FALSE(body["template"].contains("components"));
  }
  SECTION("a template only, inside the window") {
    auto m = whatsapp(true);
    m.content.erase("text");
    REQUIRE(w.send(*channel, m).outcome == Outcome::kAccepted);
    CHECK(sb.requests("whatsapp").at(0)["json"] == expected_template());
  }
  SECTION("no template: the text goes and WhatsApp decides") {
    REQUIRE(w.send(*channel, whatsapp(false, false)).outcome == Outcome::kAccepted);
    CHECK(sb.requests("whatsapp").at(0)["json"] == expected_text());
  }
  SECTION("neither text nor template: refused before any request") {
    auto m = whatsapp(true, false);
    m.content.erase("text");
    auto r = w.send(*channel, m);
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(sb.requests().empty());
  }
}

TEST_CASE("whatsapp: 131047 retries a text once as the template", "[whatsapp]") {
  auto& sb = fresh_sandbox();
  auto channel = make_channel("whatsapp", whatsapp_yaml());
  Worker w;
  sb.add_faults("whatsapp", Json{{"kind", "error"}, {"code", 131047}});

  SECTION("with a template: accepted with one extra request") {
    auto r = w.send(*channel, whatsapp(true));
    REQUIRE(r.outcome == Outcome::kAccepted);
    CHECK(r.provider_message_id.rfind("wamid.", 0) == 0);
    auto requests = sb.requests("whatsapp");
    REQUIRE(requests.size() == 2);
    CHECK(requests[0]["json"] == expected_text());
    CHECK(requests[0]["status"] == 400);
    CHECK(requests[1]["json"] == expected_template());
    CHECK(requests[1]["status"] == 200);
  }
  SECTION("without a template: window_closed after one request") {
    auto r = w.send(*channel, whatsapp(true, false));
    CHECK(r.outcome == Outcome::kWindowClosed);
    CHECK(r.error_code == "131047");
    CHECK(sb.requests("whatsapp").size() == 1);
  }
  SECTION("a template refused with 131047 is not sent again") {
    auto r = w.send(*channel, whatsapp(false));
    CHECK(r.outcome == Outcome::kWindowClosed);
    CHECK(sb.requests("whatsapp").size() == 1);
  }
  SECTION("the template's own failure is the result") {
    sb.add_faults("whatsapp", Json{{"kind", "error"}, {"code", 130429}});
    auto r = w.send(*channel, whatsapp(true));
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "130429");
    CHECK(sb.requests("whatsapp").size() == 2);
  }
}

TEST_CASE("whatsapp: every error class", "[whatsapp]") {
  auto& sb = fresh_sandbox();
  auto channel = make_channel("whatsapp", whatsapp_yaml(kWhatsappToken, "    timeout: 300ms\n"));
  Worker w;
  auto message = whatsapp(true);

  SECTION("429 with Retry-After") {
    sb.add_faults("whatsapp", Json{{"kind", "http"}, {"status", 429}, {"headers", {{"Retry-After", "12"}}}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "http_429");
    REQUIRE(r.retry_after);
    CHECK(*r.retry_after == std::chrono::seconds(12));
  }
  SECTION("130429 and 131056 (HTTP 400) and code 4 (HTTP 429) are throttling") {
    auto code = GENERATE(130429, 131056, 4);
    CAPTURE(code);
    sb.add_faults("whatsapp", Json{{"kind", "error"}, {"code", code}, {"retry_after", 2}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == std::to_string(code));
    REQUIRE(r.retry_after);
    CHECK(*r.retry_after == std::chrono::seconds(2));
  }
  SECTION("5xx") {
    sb.add_faults("whatsapp", Json{{"kind", "http"}, {"status", 502}, {"body", "<html>bad gateway</html>"}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "http_502");
  }
  SECTION("no answer within the timeout") {
    sb.add_faults("whatsapp", Json{{"kind", "delay"}, {"ms", 1500}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "timeout");
  }
  SECTION("the connection closed without an answer") {
    sb.add_faults("whatsapp", Json{{"kind", "close"}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "connection");
  }
  SECTION("190: a bad access token is permanent") {
    auto wrong = make_channel("whatsapp", whatsapp_yaml("expired-token"));
    auto r = w.send(*wrong, message);
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(r.error_code == "190");
    CHECK(sb.requests("whatsapp").at(0)["status"] == 401);
  }
  SECTION("131026: undeliverable is permanent") {
    sb.add_faults("whatsapp", Json{{"kind", "error"}, {"code", 131026}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(r.error_code == "131026");
    CHECK_THAT(r.error_message, Catch::Contains("Undeliverable"));
  }
}

TEST_CASE("whatsapp: config errors at their line and column", "[whatsapp][config]") {
  const std::string head = "    provider: whatsapp_cloud\n";
  SECTION("access_token missing: at the section") {
    auto e = config_error("whatsapp", head + "    phone_number_id: \"1\"\n    app_secret: s\n"
                                             "    verify_token: v\n");
    check_error_at(e, "whatsapp", 3, 5, "access_token");
  }
  SECTION("verify_token missing") {
    auto e = config_error("whatsapp", head + "    phone_number_id: \"1\"\n    access_token: t\n"
                                             "    app_secret: s\n");
    check_error_at(e, "whatsapp", 3, 5, "verify_token");
  }
  SECTION("an unknown key") {
    auto e = config_error("whatsapp", head + "    phone_number_id: \"1\"\n    access_token: t\n"
                                             "    app_secret: s\n    verify_token: v\n    from: x\n");
    check_error_at(e, "whatsapp", 8, 5, "\"from\"");
  }
  SECTION("a bad base_url") {
    auto e = config_error("whatsapp", head + "    base_url: graph.facebook.com\n    phone_number_id: \"1\"\n"
                                             "    access_token: t\n    app_secret: s\n    verify_token: v\n");
    check_error_at(e, "whatsapp", 4, 15, "base_url");
  }
  SECTION("the defaults") {
    auto s = herald::channels::whatsapp::parse_settings(
        channel_config("whatsapp", head + "    phone_number_id: \"1\"\n    access_token: t\n"
                                          "    app_secret: s\n    verify_token: v\n").section,
        "herald.yaml");
    CHECK(s.base_url == "https://graph.facebook.com/v21.0");
    CHECK(s.common.timeout == std::chrono::seconds(10));
  }
}
