// The sendgrid adapter (email) against the provider sandbox: v3 Mail Send's JSON with a
// bearer key, List-Unsubscribe on marketing mail only, X-Message-Id as the provider id,
// every error class, and its config errors.
#include "tests/channels/adapters_test.hpp"

#include "channels/sendgrid/sendgrid_channel.hpp"

using namespace adapters_test;
using herald::test::kSendgridKey;

namespace {

std::string sendgrid_yaml(const std::string& extra = {}, const std::string& key = kSendgridKey) {
  return "    provider: sendgrid\n    base_url: " + sandbox().base_url("sendgrid") +
         "\n    api_key: " + key + "\n    from: \"\\\"Boutique Élise\\\" <news@shop.example>\"\n" +
         extra;
}

OutboundMessage email(bool marketing) {
  OutboundMessage m;
  m.id = "msg-email-1";
  m.channel = "email";
  m.to = "ann@example.com";
  m.content = nlohmann::ordered_json::object();
  m.content["subject"] = "Votre panier vous attend — 10 % offerts";
  m.content["html"] = "<p>Bonjour <b>Ann</b></p>";
  m.content["text"] = "Bonjour Ann";
  m.transactional = !marketing;
  m.customer_id = "cust-1";
  m.template_name = "cart_reminder";
  if (marketing) m.unsubscribe_url = "https://herald.example/u/tok_abc123";
  return m;
}

Json expected_body(bool marketing, bool mailto) {
  Json body = Json::parse(R"({
    "personalizations": [{"to": [{"email": "ann@example.com"}]}],
    "from": {"email": "news@shop.example", "name": "Boutique Élise"},
    "subject": "Votre panier vous attend — 10 % offerts",
    "content": [{"type": "text/plain", "value": "Bonjour Ann"},
                {"type": "text/html", "value": "<p>Bonjour <b>Ann</b></p>"}],
    "custom_args": {"herald_message_id": "msg-email-1"}})");
  body["reply_to"] = Json{{"email", "help@shop.example"}};
  if (marketing) {
    std::string list = "<https://herald.example/u/tok_abc123>";
    if (mailto) list += ", <mailto:unsubscribe@shop.example?subject=unsubscribe>";
    body["headers"] = Json{{"List-Unsubscribe", list},
                           {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}};
  }
  return body;
}

}  // namespace

TEST_CASE("sendgrid: a marketing email, accepted with X-Message-Id", "[sendgrid]") {
  auto& sb = fresh_sandbox();
  auto channel = make_channel("email", sendgrid_yaml("    reply_to: help@shop.example\n"
                                                     "    unsubscribe_mailto: unsubscribe@shop.example\n"));
  CHECK(channel->provider() == "sendgrid");
  Worker w;
  auto r = w.send(*channel, email(true));
  REQUIRE(r.outcome == Outcome::kAccepted);
  CHECK(r.provider_message_id.size() >= 20);

  auto requests = sb.requests("sendgrid");
  REQUIRE(requests.size() == 1);
  const auto& q = requests[0];
  CHECK(q["method"] == "POST");
  CHECK(q["path"] == "/sendgrid/v3/mail/send");
  CHECK(header(q, "authorization") == std::string("Bearer ") + kSendgridKey);
  CHECK(header(q, "content-type") == "application/json");
  CHECK(q["json"] == expected_body(true, true));
  CHECK(q["status"] == 202);
}

TEST_CASE("sendgrid: List-Unsubscribe only on marketing mail", "[sendgrid]") {
  auto& sb = fresh_sandbox();
  Worker w;
  SECTION("transactional: no headers") {
    auto channel = make_channel("email", sendgrid_yaml("    reply_to: help@shop.example\n"));
    REQUIRE(w.send(*channel, email(false)).outcome == Outcome::kAccepted);
    auto body = sb.requests("sendgrid").at(0)["json"];
    CHECK(body == expected_body(false, false));
    CHECK_FALSE(body.contains("headers"));
  }
  SECTION("marketing without unsubscribe_mailto: the URL only") {
    auto channel = make_channel("email", sendgrid_yaml("    reply_to: help@shop.example\n"));
    REQUIRE(w.send(*channel, email(true)).outcome == Outcome::kAccepted);
    CHECK(sb.requests("sendgrid").at(0)["json"] == expected_body(true, false));
  }
  SECTION("a bare from address and no reply_to; text only") {
    auto channel = make_channel("email", "    provider: sendgrid\n    base_url: " +
                                             sb.base_url("sendgrid") + "\n    api_key: " +
                                             kSendgridKey + "\n    from: news@shop.example\n");
    auto m = email(false);
    m.content.erase("html");
    REQUIRE(w.send(*channel, m).outcome == Outcome::kAccepted);
    auto body = sb.requests("sendgrid").at(0)["json"];
    CHECK(body["from"] == Json{{"email", "news@shop.example"}});
    CHECK_FALSE(body.contains("reply_to"));
    CHECK(body["content"] == Json::parse(R"([{"type": "text/plain", "value": "Bonjour Ann"}])"));
  }
}

TEST_CASE("sendgrid: every error class", "[sendgrid]") {
  auto& sb = fresh_sandbox();
  auto channel = make_channel("email", sendgrid_yaml("    timeout: 300ms\n"));
  Worker w;
  auto message = email(true);

  SECTION("400: an invalid address, refused by the sandbox itself") {
    message.to = "not an address";
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(r.error_code == "http_400");
    CHECK_THAT(r.error_message, Catch::Contains("valid address"));
    CHECK_THAT(r.error_message, !Catch::Contains("not an address"));  // never the address
  }
  SECTION("401: a bad key") {
    auto wrong = make_channel("email", sendgrid_yaml({}, "SG.wrong"));
    auto r = w.send(*wrong, message);
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(r.error_code == "http_401");
  }
  SECTION("413: too large") {
    sb.add_faults("sendgrid", Json{{"kind", "error"}, {"status", 413}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(r.error_code == "http_413");
    CHECK_THAT(r.error_message, Catch::Contains("too large"));
  }
  SECTION("429 with Retry-After") {
    sb.add_faults("sendgrid", Json{{"kind", "error"}, {"status", 429}, {"retry_after", 4}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "http_429");
    REQUIRE(r.retry_after);
    CHECK(*r.retry_after == std::chrono::seconds(4));
  }
  SECTION("429 with SendGrid's X-RateLimit-Reset only") {
    auto reset = std::chrono::duration_cast<std::chrono::seconds>(
                     std::chrono::system_clock::now().time_since_epoch()).count() + 20;
    sb.add_faults("sendgrid", Json{{"kind", "http"}, {"status", 429},
                                   {"headers", {{"X-RateLimit-Reset", std::to_string(reset)}}},
                                   {"body", Json{{"errors", Json::array({Json{{"message", "too many requests"}}})}}}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    REQUIRE(r.retry_after);
    CHECK(*r.retry_after > std::chrono::seconds(15));
    CHECK(*r.retry_after <= std::chrono::seconds(20));
  }
  SECTION("5xx") {
    sb.add_faults("sendgrid", Json{{"kind", "error"}, {"status", 503}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "http_503");
  }
  SECTION("no answer within the timeout") {
    sb.add_faults("sendgrid", Json{{"kind", "delay"}, {"ms", 1500}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "timeout");
  }
  SECTION("the connection closed without an answer") {
    sb.add_faults("sendgrid", Json{{"kind", "close"}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "connection");
  }
}

TEST_CASE("sendgrid: config errors at their line and column", "[sendgrid][config]") {
  const std::string head = "    provider: sendgrid\n";
  SECTION("api_key missing: at the section") {
    auto e = config_error("email", head + "    from: news@shop.example\n");
    check_error_at(e, "email", 3, 5, "api_key");
  }
  SECTION("from missing") {
    auto e = config_error("email", head + "    api_key: k\n");
    check_error_at(e, "email", 3, 5, "from");
  }
  SECTION("from not an address: at its value") {
    auto e = config_error("email", head + "    api_key: k\n    from: Boutique\n");
    check_error_at(e, "email", 5, 11, "from");
  }
  SECTION("an unknown key") {
    auto e = config_error("email", head + "    api_key: k\n    from: a@b.example\n    url: x\n");
    check_error_at(e, "email", 6, 5, "\"url\"");
  }
  SECTION("a bad base_url") {
    auto e = config_error("email", head + "    base_url: api.sendgrid.com\n    api_key: k\n"
                                          "    from: a@b.example\n");
    check_error_at(e, "email", 4, 15, "base_url");
  }
  SECTION("the defaults and a named from") {
    auto s = herald::channels::sendgrid::parse_settings(
        channel_config("email", head + "    api_key: k\n    from: \"Shop <news@shop.example>\"\n")
            .section,
        "herald.yaml");
    CHECK(s.base_url == "https://api.sendgrid.com");
    CHECK(s.from_email == "news@shop.example");
    CHECK(s.from_name == "Shop");
  }
}
