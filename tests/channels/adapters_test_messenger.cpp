// The messenger adapter (social) against the provider sandbox: the page token in the
// query, messaging_type RESPONSE / UPDATE / MESSAGE_TAG by the 24 h window, the
// message_id of an accepted message, every error class, and its config errors.
#include "tests/channels/adapters_test.hpp"

#include "channels/messenger/messenger_channel.hpp"

using namespace adapters_test;
using herald::test::kMessengerAppSecret;
using herald::test::kMessengerToken;
using herald::test::kMessengerVerifyToken;

namespace {

std::string messenger_yaml(const std::string& extra = {},
                           const std::string& token = kMessengerToken) {
  return "    provider: messenger\n    base_url: " + sandbox().base_url("messenger") +
         "/v21.0\n    page_access_token: " + token + "\n    app_secret: " + kMessengerAppSecret +
         "\n    verify_token: " + kMessengerVerifyToken + "\n" + extra;
}

OutboundMessage social(std::optional<std::chrono::hours> wrote_ago) {
  OutboundMessage m;
  m.id = "msg-fb-1";
  m.channel = "social";
  m.to = "24601234567890123";
  m.content = nlohmann::ordered_json::object();
  m.content["text"] = "Your cart misses you 🛒 — https://s.example/c/1?x=1&y=2";
  if (wrote_ago) m.last_inbound = std::chrono::system_clock::now() - *wrote_ago;
  return m;
}

Json expected(const std::string& messaging_type, const std::string& tag = {}) {
  Json body = Json::object();
  body["recipient"] = Json{{"id", "24601234567890123"}};
  body["messaging_type"] = messaging_type;
  if (!tag.empty()) body["tag"] = tag;
  body["message"] = Json{{"text", "Your cart misses you 🛒 — https://s.example/c/1?x=1&y=2"}};
  return body;
}

}  // namespace

TEST_CASE("messenger: RESPONSE inside the 24 h window, accepted with its message_id",
          "[messenger]") {
  auto& sb = fresh_sandbox();
  auto channel = make_channel("social", messenger_yaml());
  CHECK(channel->provider() == "messenger");
  Worker w;
  auto r = w.send(*channel, social(std::chrono::hours(2)));
  REQUIRE(r.outcome == Outcome::kAccepted);
  CHECK(r.provider_message_id.rfind("m_", 0) == 0);

  auto requests = sb.requests("messenger");
  REQUIRE(requests.size() == 1);
  const auto& q = requests[0];
  CHECK(q["method"] == "POST");
  CHECK(q["path"] == "/messenger/v21.0/me/messages");
  CHECK(q["query"] == Json{{"access_token", kMessengerToken}});
  CHECK(header(q, "authorization").empty());  // the token travels in the query only
  CHECK(header(q, "content-type") == "application/json");
  CHECK(q["json"] == expected("RESPONSE"));
}

TEST_CASE("messenger: UPDATE outside the window, MESSAGE_TAG when a tag is configured",
          "[messenger]") {
  auto& sb = fresh_sandbox();
  Worker w;
  SECTION("no tag, never wrote: UPDATE") {
    auto channel = make_channel("social", messenger_yaml());
    REQUIRE(w.send(*channel, social(std::nullopt)).outcome == Outcome::kAccepted);
    CHECK(sb.requests("messenger").at(0)["json"] == expected("UPDATE"));
  }
  SECTION("no tag, wrote 25 hours ago: UPDATE") {
    auto channel = make_channel("social", messenger_yaml());
    REQUIRE(w.send(*channel, social(std::chrono::hours(25))).outcome == Outcome::kAccepted);
    CHECK(sb.requests("messenger").at(0)["json"] == expected("UPDATE"));
  }
  SECTION("message_tag outside the window: MESSAGE_TAG with the tag") {
    auto channel = make_channel("social", messenger_yaml("    message_tag: ACCOUNT_UPDATE\n"));
    REQUIRE(w.send(*channel, social(std::chrono::hours(30))).outcome == Outcome::kAccepted);
    CHECK(sb.requests("messenger").at(0)["json"] == expected("MESSAGE_TAG", "ACCOUNT_UPDATE"));
  }
  SECTION("message_tag inside the window: still RESPONSE") {
    auto channel = make_channel("social", messenger_yaml("    message_tag: ACCOUNT_UPDATE\n"));
    REQUIRE(w.send(*channel, social(std::chrono::hours(1))).outcome == Outcome::kAccepted);
    CHECK(sb.requests("messenger").at(0)["json"] == expected("RESPONSE"));
  }
}

TEST_CASE("messenger: every error class", "[messenger]") {
  auto& sb = fresh_sandbox();
  auto channel = make_channel("social", messenger_yaml("    timeout: 300ms\n"));
  Worker w;
  auto message = social(std::chrono::hours(1));

  SECTION("4 and 613: rate limits") {
    auto code = GENERATE(4, 613);
    CAPTURE(code);
    sb.add_faults("messenger", Json{{"kind", "error"}, {"code", code}, {"retry_after", 5}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == std::to_string(code));
    REQUIRE(r.retry_after);
    CHECK(*r.retry_after == std::chrono::seconds(5));
  }
  SECTION("10 / 2018278: outside the window") {
    sb.add_faults("messenger", Json{{"kind", "error"}, {"code", 10}});
    auto r = w.send(*channel, social(std::nullopt));
    CHECK(r.outcome == Outcome::kWindowClosed);
    CHECK(r.error_code == "10/2018278");
    CHECK(sb.requests("messenger").size() == 1);
  }
  SECTION("551: the person is unavailable") {
    sb.add_faults("messenger", Json{{"kind", "error"}, {"code", 551}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK_THAT(r.error_code, Catch::StartsWith("551"));
  }
  SECTION("190: a bad page token") {
    auto wrong = make_channel("social", messenger_yaml({}, "not-the-token"));
    auto r = w.send(*wrong, message);
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(r.error_code == "190");
  }
  SECTION("429 with Retry-After") {
    sb.add_faults("messenger", Json{{"kind", "http"}, {"status", 429}, {"headers", {{"Retry-After", "9"}}}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    REQUIRE(r.retry_after);
    CHECK(*r.retry_after == std::chrono::seconds(9));
  }
  SECTION("5xx") {
    sb.add_faults("messenger", Json{{"kind", "http"}, {"status", 500}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "http_500");
  }
  SECTION("no answer within the timeout") {
    sb.add_faults("messenger", Json{{"kind", "delay"}, {"ms", 1500}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "timeout");
  }
  SECTION("the connection closed without an answer") {
    sb.add_faults("messenger", Json{{"kind", "close"}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "connection");
  }
  SECTION("a text past 2000 characters is refused before any request") {
    auto m = message;
    m.content["text"] = std::string(2001, 'x');
    auto r = w.send(*channel, m);
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(sb.requests().empty());
    m.content["text"] = "é" + std::string(1999, 'x');  // 2000 characters, 2001 bytes
    CHECK(w.send(*channel, m).outcome == Outcome::kAccepted);
  }
}

TEST_CASE("messenger: config errors at their line and column", "[messenger][config]") {
  const std::string head = "    provider: messenger\n";
  SECTION("page_access_token missing: at the section") {
    auto e = config_error("social", head + "    app_secret: s\n    verify_token: v\n");
    check_error_at(e, "social", 3, 5, "page_access_token");
  }
  SECTION("an unknown key") {
    auto e = config_error("social", head + "    page_access_token: t\n    app_secret: s\n"
                                           "    verify_token: v\n    page_id: \"1\"\n");
    check_error_at(e, "social", 7, 5, "\"page_id\"");
  }
  SECTION("a bad base_url") {
    auto e = config_error("social", head + "    page_access_token: t\n    app_secret: s\n"
                                           "    verify_token: v\n    base_url: \"\"\n");
    check_error_at(e, "social", 7, 15, "base_url");
  }
  SECTION("the defaults") {
    auto s = herald::channels::messenger::parse_settings(
        channel_config("social", head + "    page_access_token: t\n    app_secret: s\n"
                                        "    verify_token: v\n").section,
        "herald.yaml");
    CHECK(s.base_url == "https://graph.facebook.com/v21.0");
    CHECK(s.message_tag.empty());
  }
}
