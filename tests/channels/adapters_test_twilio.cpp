// The twilio adapter (sms) against the provider sandbox: the Messages resource's form
// POST with HTTP Basic, the sid of an accepted message, every error class, the segment
// limit enforced before any request, and its config errors.
#include "tests/channels/adapters_test.hpp"

#include <ctime>

#include "channels/twilio/twilio_channel.hpp"

using namespace adapters_test;
using herald::test::kTwilioSid;
using herald::test::kTwilioToken;

namespace {

std::string twilio_yaml(const std::string& extra = "    from: \"+15005550006\"\n") {
  return "    provider: twilio\n    base_url: " + sandbox().base_url("twilio") +
         "\n    account_sid: " + kTwilioSid + "\n    auth_token: " + kTwilioToken +
         "\n" + extra;
}

OutboundMessage sms(const std::string& body, const std::string& to = "+14155552671") {
  OutboundMessage m;
  m.id = "msg-sms-1";
  m.channel = "sms";
  m.to = to;
  m.content = nlohmann::ordered_json::object();
  m.content["body"] = body;
  m.content["segments"] = 1u;
  m.content["encoding"] = "GSM-7";
  m.customer_id = "cust-1";
  m.template_name = "cart_reminder";
  return m;
}

/// An HTTP date `seconds` from now.
std::string http_date_in(int seconds) {
  std::time_t t = std::time(nullptr) + seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

}  // namespace

TEST_CASE("twilio: a message is a form POST with Basic auth, accepted with its sid",
          "[twilio]") {
  auto& sb = fresh_sandbox();
  auto channel = make_channel("sms", twilio_yaml());
  CHECK(channel->provider() == "twilio");
  Worker w;
  const std::string body = "Ann, 5 + 3 = 8 & 100% off: café ✓ https://s.example/c?a=1&b=2";
  auto result = w.send(*channel, sms(body));
  REQUIRE(result.outcome == Outcome::kAccepted);
  CHECK(result.provider_message_id.rfind("SM", 0) == 0);
  CHECK(result.provider_message_id.size() == 34);
  CHECK(result.error_code.empty());

  auto requests = sb.requests("twilio");
  REQUIRE(requests.size() == 1);
  const auto& r = requests[0];
  CHECK(r["method"] == "POST");
  CHECK(r["path"] == std::string("/twilio/2010-04-01/Accounts/") + kTwilioSid + "/Messages.json");
  CHECK(r["query"].empty());
  CHECK(r["status"] == 201);
  CHECK(header(r, "authorization") ==
        "Basic QUN0ZXN0MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA6dHdpbGlvLWF1dGgtdG9rZW4=");
  CHECK(header(r, "content-type") == "application/x-www-form-urlencoded");
  CHECK(form_field(r, "To") == "+14155552671");
  CHECK(form_field(r, "From") == "+15005550006");
  CHECK(form_field(r, "Body") == body);  // '+', '&', '%' and UTF-8 survive the encoding
  CHECK(form_field(r, "MessagingServiceSid") == "<absent>");
  CHECK(form_field(r, "StatusCallback") == "<absent>");  // no public_url
  CHECK(r["form"].size() == 3);
}

TEST_CASE("twilio: a messaging service and a status callback under public_url", "[twilio]") {
  auto& sb = fresh_sandbox();
  auto channel = make_channel("sms", twilio_yaml("    messaging_service_sid: MG0123456789\n"),
                              "https://herald.example");
  Worker w;
  auto result = w.send(*channel, sms("Your order shipped."));
  REQUIRE(result.outcome == Outcome::kAccepted);
  CHECK(result.provider_message_id.rfind("SM", 0) == 0);
  auto r = sb.requests("twilio").at(0);
  CHECK(form_field(r, "To") == "+14155552671");
  CHECK(form_field(r, "MessagingServiceSid") == "MG0123456789");
  CHECK(form_field(r, "From") == "<absent>");
  CHECK(form_field(r, "Body") == "Your order shipped.");
  CHECK(form_field(r, "StatusCallback") == "https://herald.example/hooks/twilio");
}

TEST_CASE("twilio: every error class", "[twilio]") {
  auto& sb = fresh_sandbox();
  auto channel = make_channel("sms", twilio_yaml("    from: \"+15005550006\"\n    timeout: 300ms\n"));
  Worker w;
  auto message = sms("Hello");

  SECTION("429 with Retry-After in seconds") {
    sb.add_faults("twilio", Json{{"kind", "http"}, {"status", 429}, {"headers", {{"Retry-After", "7"}}}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "http_429");
    REQUIRE(r.retry_after);
    CHECK(*r.retry_after == std::chrono::seconds(7));
  }
  SECTION("429 with Retry-After as an HTTP date") {
    sb.add_faults("twilio",
                  Json{{"kind", "http"}, {"status", 429}, {"headers", {{"Retry-After", http_date_in(30)}}}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    REQUIRE(r.retry_after);
    CHECK(*r.retry_after > std::chrono::seconds(25));
    CHECK(*r.retry_after <= std::chrono::seconds(30));
  }
  SECTION("20429: too many concurrent requests") {
    sb.add_faults("twilio", Json{{"kind", "error"}, {"code", 20429}, {"retry_after", 3}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "20429");
    REQUIRE(r.retry_after);
    CHECK(*r.retry_after == std::chrono::seconds(3));
  }
  SECTION("5xx") {
    sb.add_faults("twilio", Json{{"kind", "http"}, {"status", 503}, {"body", "upstream down"}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "http_503");
    CHECK_FALSE(r.retry_after);
  }
  SECTION("a 500 with Twilio's error body keeps its code") {
    sb.add_faults("twilio", Json{{"kind", "error"}, {"code", 20500}, {"status", 500}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "20500");
  }
  SECTION("no answer within the timeout") {
    sb.add_faults("twilio", Json{{"kind", "delay"}, {"ms", 1500}});
    auto started = std::chrono::steady_clock::now();
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "timeout");
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(1400));
  }
  SECTION("the connection closed without an answer") {
    sb.add_faults("twilio", Json{{"kind", "close"}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "connection");
  }
  SECTION("21211: an invalid To, refused by the sandbox itself") {
    auto r = w.send(*channel, sms("Hello", "555-1234"));
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(r.error_code == "21211");
    CHECK_THAT(r.error_message, Catch::Contains("not a valid phone number"));
  }
  SECTION("21610: the recipient opted out") {
    sb.add_faults("twilio", Json{{"kind", "error"}, {"code", 21610}});
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kOptedOut);
    CHECK(r.error_code == "21610");
    CHECK_FALSE(r.retry_after);
  }
  SECTION("bad credentials") {
    auto wrong = make_channel("sms", "    provider: twilio\n    base_url: " + sb.base_url("twilio") +
                                         "\n    account_sid: " + kTwilioSid +
                                         "\n    auth_token: not-the-token\n    from: \"+15005550006\"\n");
    auto r = w.send(*wrong, message);
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(r.error_code == "20003");
    CHECK(sb.requests("twilio").at(0)["status"] == 401);
  }
}

TEST_CASE("twilio: a body past max_segments is refused before any request", "[twilio]") {
  auto& sb = fresh_sandbox();
  Worker w;
  auto message = sms(std::string(700, 'a'));  // 5 GSM-7 segments of 153
  message.content["segments"] = 5;            // a plain (signed) int, as JSON code often writes it

  SECTION("default max_segments: 4") {
    auto channel = make_channel("sms", twilio_yaml());
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(r.error_code == "too_many_segments");
    CHECK(sb.stats()["requests"]["twilio"] == 0);
    CHECK(sb.requests().empty());
  }
  SECTION("max_segments: 3 refuses 4 segments") {
    auto channel = make_channel("sms", twilio_yaml("    from: \"+15005550006\"\n    max_segments: 3\n"));
    message.content["segments"] = 4u;
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(r.error_code == "too_many_segments");
    CHECK(sb.requests().empty());
  }
  SECTION("the count is the body's when the content does not give it") {
    auto channel = make_channel("sms", twilio_yaml());
    message.content.erase("segments");
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(r.error_code == "too_many_segments");
    CHECK(sb.requests().empty());
  }
  SECTION("max_segments: 6 lets it through") {
    auto channel = make_channel("sms", twilio_yaml("    from: \"+15005550006\"\n    max_segments: 6\n"));
    auto r = w.send(*channel, message);
    CHECK(r.outcome == Outcome::kAccepted);
    CHECK(sb.requests("twilio").size() == 1);
  }
}

namespace {
std::string repeat(const std::string& piece, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += piece;
  return out;
}
}  // namespace

TEST_CASE("twilio: segments are counted from the body, GSM-7 or UCS-2", "[twilio]") {
  auto& sb = fresh_sandbox();
  auto channel = make_channel("sms", twilio_yaml("    from: \"+15005550006\"\n    max_segments: 1\n"));
  Worker w;
  auto [piece, fits, too_many] = GENERATE(table<std::string, int, int>({
      {"a", 160, 161},       // GSM-7: 160 septets
      {"\u20ac", 80, 81},    // the euro sign takes two septets (extension table)
      {"\u00e9", 160, 161},  // é is in the GSM-7 basic set
      {"\u2713", 70, 71},    // ✓ is not: UCS-2, 70 units
      {"\U0001F389", 35, 36},  // 🎉 is a surrogate pair: two units
  }));
  CAPTURE(piece);
  auto message = sms(repeat(piece, fits));
  message.content.erase("segments");
  CHECK(w.send(*channel, message).outcome == Outcome::kAccepted);
  message.content["body"] = repeat(piece, too_many);
  auto r = w.send(*channel, message);
  CHECK(r.outcome == Outcome::kPermanent);
  CHECK(r.error_code == "too_many_segments");
  CHECK(sb.requests("twilio").size() == 1);
}

TEST_CASE("twilio: config errors at their line and column", "[twilio][config]") {
  const std::string base = "    provider: twilio\n    base_url: http://127.0.0.1:1/twilio\n";
  SECTION("account_sid missing: at the section") {
    auto e = config_error("sms", base + "    auth_token: t\n    from: \"+15005550006\"\n");
    check_error_at(e, "sms", 3, 5, "account_sid");
  }
  SECTION("auth_token empty: at its value") {
    auto e = config_error("sms", base + "    account_sid: AC1\n    auth_token: \"\"\n    from: \"+1500\"\n");
    check_error_at(e, "sms", 6, 17, "auth_token");
  }
  SECTION("an unknown key") {
    auto e = config_error("sms", base + "    account_sid: AC1\n    auth_tokn: t\n    from: \"+1500\"\n");
    check_error_at(e, "sms", 6, 5, "\"auth_tokn\"");
  }
  SECTION("a base_url that is not http(s)") {
    auto e = config_error("sms", "    provider: twilio\n    base_url: ftp://api.twilio.com\n"
                                 "    account_sid: AC1\n    auth_token: t\n    from: \"+1500\"\n");
    check_error_at(e, "sms", 4, 15, "base_url");
  }
  SECTION("both from and messaging_service_sid") {
    auto e = config_error("sms", base + "    account_sid: AC1\n    auth_token: t\n"
                                        "    from: \"+15005550006\"\n    messaging_service_sid: MG1\n");
    check_error_at(e, "sms", 7, 11, "exactly one of from and messaging_service_sid");
  }
  SECTION("neither from nor messaging_service_sid") {
    auto e = config_error("sms", base + "    account_sid: AC1\n    auth_token: t\n");
    check_error_at(e, "sms", 3, 5, "exactly one of from and messaging_service_sid");
  }
  SECTION("max_segments out of range or not a number") {
    auto value = GENERATE(as<std::string>{}, "0", "101", "four", "-1", "2.5", "99999999999");
    CAPTURE(value);
    auto e = config_error("sms", base + "    account_sid: AC1\n    auth_token: t\n"
                                        "    from: \"+1500\"\n    max_segments: " + value + "\n");
    check_error_at(e, "sms", 8, 19, "max_segments");
  }
  SECTION("the defaults") {
    auto s = herald::channels::twilio::parse_settings(
        channel_config("sms", "    provider: twilio\n    account_sid: AC1\n    auth_token: t\n"
                              "    from: \"+1500\"\n").section,
        AdapterContext{}, "herald.yaml");
    CHECK(s.base_url == "https://api.twilio.com");
    CHECK(s.max_segments == 4u);
    CHECK(s.common.timeout == std::chrono::seconds(10));
    CHECK(s.common.retries == 5u);
    CHECK(s.status_callback.empty());
  }
}
