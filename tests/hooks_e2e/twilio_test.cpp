// POST /hooks/twilio end to end: status callbacks and inbound SMS, signed by the sandbox
// exactly as Twilio signs them (X-Twilio-Signature over the URL and sorted parameters).
#include <atomic>
#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/hooks_e2e/hooks_env.hpp"
#include "tests/support/process.hpp"

using namespace hooks_e2e;
using herald::test::eventually;

namespace {

std::string unique_sid(const char* prefix) {
  static std::atomic<int> n{0};
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%s%016llx%08x", prefix,
                static_cast<unsigned long long>(now_ms()), ++n);
  return buffer;
}

Json status_params(const std::string& sid, const std::string& status, const std::string& to) {
  return Json{{"MessageSid", sid},      {"SmsSid", sid},
              {"MessageStatus", status}, {"SmsStatus", status},
              {"To", to},                {"From", kHeraldNumber},
              {"AccountSid", herald::test::kTwilioSid}, {"ApiVersion", "2010-04-01"}};
}

Json inbound_params(const std::string& sid, const std::string& from, const std::string& body) {
  return Json{{"MessageSid", sid}, {"SmsMessageSid", sid}, {"SmsSid", sid},
              {"AccountSid", herald::test::kTwilioSid}, {"From", from},
              {"To", kHeraldNumber}, {"Body", body}, {"NumMedia", "0"},
              {"NumSegments", "1"}, {"SmsStatus", "received"}, {"ApiVersion", "2010-04-01"}};
}

Json twilio(const HookEnv& env, const Json& params, const std::string& signature = "good") {
  return env.webhook(Json{{"params", params}, {"signature", signature}}, "twilio", "/hooks/twilio");
}

/// Twilio's expected answer: 200, an empty TwiML <Response/>, as XML.
void check_twiml(const Json& answer) {
  INFO(answer.dump());
  CHECK(answer["status"] == 200);
  CHECK(answer["headers"].value("content-type", "").rfind("text/xml", 0) == 0);
  auto body = answer.value("body", "");
  CHECK((body.find("<Response/>") != std::string::npos ||
         body.find("<Response></Response>") != std::string::npos));
}

std::vector<Json> consent_log(const HookEnv& env, const std::string& id, const std::string& source) {
  std::vector<Json> out;
  auto e = env.export_of(id);
  for (const auto& entry : e.value("consent_log", Json::array()))
    if (source.empty() || entry.value("source", "") == source) out.push_back(entry);
  return out;
}

/// The bodies of the SMS Herald sent to `to` through the sandbox, in order.
std::vector<std::string> sms_to(const HookEnv& env, const std::string& to) {
  std::vector<std::string> out;
  for (const auto& r : env.sandbox.requests("twilio")) {
    const auto& form = r["form"];
    if (!form.is_object() || !form.contains("To") || form["To"][0] != to) continue;
    out.push_back(form.contains("Body") ? form["Body"][0].get<std::string>() : std::string());
  }
  return out;
}

}  // namespace

TEST_CASE("twilio status callbacks move a sent message forward only") {
  HookEnv env;
  const std::string phone = "+14155552671";
  env.identify("t-1", {{"phone", phone}, {"first_name", "Ann"}});
  Json sent;
  std::string id;
  auto sid = env.sent_provider_id("t-1", "sms", &sent, &id);
  CHECK(sid.rfind("SM", 0) == 0);
  const auto timeline_before = env.message(id)["timeline"].size();

  // A bad signature and a missing one: 401 in the JSON error shape, nothing changes.
  auto bad = twilio(env, status_params(sid, "delivered", phone), "bad");
  CHECK(is_api_error(bad, 401, "bad_signature"));
  auto missing = twilio(env, status_params(sid, "delivered", phone), "none");
  CHECK(missing["status"] == 401);
  CHECK(is_api_error(missing, 401, "bad_signature"));
  // Signed with another account's token.
  auto other = env.webhook(Json{{"params", status_params(sid, "delivered", phone)},
                                {"secret", "another-auth-token"}},
                           "twilio", "/hooks/twilio");
  CHECK(other["status"] == 401);
  CHECK(env.message(id)["status"] == "sent");
  CHECK(env.message(id)["timeline"].size() == timeline_before);

  // delivered: the message moves, and Twilio gets an empty TwiML answer.
  auto delivered = twilio(env, status_params(sid, "delivered", phone));
  check_twiml(delivered);
  REQUIRE(eventually([&] { return env.message(id)["status"] == "delivered"; }));
  auto m = env.message(id);
  CHECK(m["timeline"].back()["status"] == "delivered");
  const auto timeline_delivered = m["timeline"].size();

  // A late `sent` and a `failed` after delivery change nothing.
  check_twiml(twilio(env, status_params(sid, "sent", phone)));
  auto failed = status_params(sid, "failed", phone);
  failed["ErrorCode"] = "30008";
  check_twiml(twilio(env, failed));
  check_twiml(twilio(env, status_params(sid, "queued", phone)));
  m = env.message(id);
  CHECK(m["status"] == "delivered");
  CHECK(m["timeline"].size() == timeline_delivered);
  CHECK_FALSE(m.contains("reason"));

  // Statuses for a message Herald never sent are acknowledged and ignored.
  check_twiml(twilio(env, status_params(unique_sid("SM"), "delivered", phone)));
  CHECK(env.healthy());
}

TEST_CASE("twilio undelivered before delivery fails the message with the error code") {
  HookEnv env;
  const std::string phone = "+14155552673";
  env.identify("t-u", {{"phone", phone}});
  std::string id;
  auto sid = env.sent_provider_id("t-u", "sms", nullptr, &id);

  auto params = status_params(sid, "undelivered", phone);
  params["ErrorCode"] = "30003";
  check_twiml(twilio(env, params));
  REQUIRE(eventually([&] { return env.message(id)["status"] == "failed"; }));
  auto m = env.message(id);
  INFO(m.dump());
  CHECK_THAT(m.value("reason", ""), Catch::Contains("30003"));
  CHECK(m["timeline"].back()["status"] == "failed");
  CHECK_THAT(m["timeline"].back().value("detail", ""), Catch::Contains("30003"));

  // A later `sent` does not revive it.
  check_twiml(twilio(env, status_params(sid, "sent", phone)));
  CHECK(env.message(id)["status"] == "failed");
}

TEST_CASE("twilio signatures over the public URL, with and without its default port") {
  // Herald behind a proxy on port 80: the URL Twilio signs has no port, or an explicit :80.
  HookEnv env("http://127.0.0.1");
  auto params = status_params(unique_sid("SM"), "delivered", "+14155552600");
  auto signed_for = [&](const std::string& signed_url) {
    return env.webhook(Json{{"params", params}, {"signed_url", signed_url}}, "twilio",
                       "/hooks/twilio");
  };
  check_twiml(signed_for("http://127.0.0.1/hooks/twilio"));
  check_twiml(signed_for("http://127.0.0.1:80/hooks/twilio"));
  // Another port, path, scheme or host is another URL: refused.
  CHECK(is_api_error(signed_for("http://127.0.0.1:8080/hooks/twilio"), 401, "bad_signature"));
  CHECK(is_api_error(signed_for("http://127.0.0.1/hooks/twilio/"), 401, "bad_signature"));
  CHECK(is_api_error(signed_for("https://127.0.0.1/hooks/twilio"), 401, "bad_signature"));
  CHECK(is_api_error(signed_for("http://example.com/hooks/twilio"), 401, "bad_signature"));

  // The query string is part of the signed URL.
  auto with_query = env.webhook(
      Json{{"params", params},
           {"url", env.url("/hooks/twilio?tenant=a%20b")},
           {"signed_url", "http://127.0.0.1:80/hooks/twilio?tenant=a%20b"}},
      "twilio", "/hooks/twilio");
  check_twiml(with_query);
  auto query_changed = env.webhook(
      Json{{"params", params},
           {"url", env.url("/hooks/twilio?tenant=b")},
           {"signed_url", "http://127.0.0.1/hooks/twilio?tenant=a"}},
      "twilio", "/hooks/twilio");
  CHECK(is_api_error(query_changed, 401, "bad_signature"));
}

TEST_CASE("twilio inbound SMS from a known customer is recorded once") {
  HookEnv env;
  const std::string phone = "+14155552672";
  env.identify("t-2", {{"phone", phone}});
  auto sid = unique_sid("SM");
  auto spec = inbound_params(sid, phone, "Where is my order?");
  check_twiml(twilio(env, spec));
  INFO(env.diagnostics());
  REQUIRE(env.wait_received("t-2", sid));
  auto ev = env.received("t-2").back();
  CHECK(ev["properties"]["channel"] == "sms");
  CHECK(ev["properties"]["provider"] == "twilio");
  CHECK(ev["properties"]["text"] == "Where is my order?");

  // Twilio retries: the same MessageSid again is acknowledged, not recorded again. A later
  // message of the same customer (processed in order) shows the retry was dealt with.
  check_twiml(twilio(env, spec));
  auto later = unique_sid("SM");
  check_twiml(twilio(env, inbound_params(later, phone, "Hello?")));
  REQUIRE(env.wait_received("t-2", later));
  CHECK(env.received_count("t-2", sid) == 1);
  CHECK(env.received("t-2").size() == 2);

  // A bad signature records nothing.
  auto forged = unique_sid("SM");
  CHECK(is_api_error(twilio(env, inbound_params(forged, phone, "forged"), "bad"), 401,
                     "bad_signature"));
  auto last = unique_sid("SM");
  check_twiml(twilio(env, inbound_params(last, phone, "last")));
  REQUIRE(env.wait_received("t-2", last));
  CHECK(env.received_count("t-2", forged) == 0);

  // Text that form encoding must escape, and a picture (MMS): signed and read back intact.
  const std::string text = "Où est ma commande? 100% + ✓ & a=b";
  auto mms = unique_sid("MM");
  auto params = inbound_params(mms, phone, text);
  params["NumMedia"] = "1";
  params["MediaUrl0"] = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1";
  params["MediaContentType0"] = "image/jpeg";
  check_twiml(twilio(env, params));
  REQUIRE(env.wait_received("t-2", mms));
  auto picture = env.received("t-2").back();
  CHECK(picture["properties"]["text"] == text);
  CHECK(picture["properties"]["media_urls"] == Json::array({params["MediaUrl0"]}));
}

TEST_CASE("twilio inbound SMS from an unknown number creates the customer") {
  HookEnv env;
  const std::string phone = "+14155550199";
  auto sid = unique_sid("SM");
  check_twiml(twilio(env, inbound_params(sid, phone, "Hi, I saw your ad")));
  const std::string id = "sms:" + phone;
  INFO(env.diagnostics());
  REQUIRE(env.wait_received(id, sid));
  auto c = env.customer(id);
  CHECK(c["traits"]["phone"] == phone);
  // The address now leads to that customer: a second message joins it.
  auto again = unique_sid("SM");
  check_twiml(twilio(env, inbound_params(again, phone, "Anyone there?")));
  REQUIRE(env.wait_received(id, again));
  CHECK(env.customer("sms:sms:" + phone).is_null());
}

TEST_CASE("STOP and START by SMS record the customer's consent") {
  HookEnv env;
  const std::string phone = "+14155552674";
  env.identify("t-3", {{"phone", phone}});

  auto stop_sid = unique_sid("SM");
  auto stop = inbound_params(stop_sid, phone, " Stop ");
  check_twiml(twilio(env, stop));
  REQUIRE(eventually([&] { return env.consent("t-3", "sms") == "opted_out"; }));
  auto stops = consent_log(env, "t-3", "inbound:STOP");
  REQUIRE(stops.size() == 1);
  CHECK(stops[0]["channel"] == "sms");
  CHECK(stops[0]["status"] == "opted_out");
  REQUIRE(env.wait_received("t-3", stop_sid));

  // The opt-out is confirmed once, by SMS, through the adapter, as a tracked message
  // (the opt-out it confirms does not stop it).
  const std::string stop_text =
      "You are unsubscribed and will get no more messages here. Reply START to resubscribe.";
  REQUIRE(eventually([&] { return sms_to(env, phone).size() == 1; }));
  CHECK(sms_to(env, phone)[0] == stop_text);
  auto listed = env.admin("GET", "/v1/customers/t-3/messages");
  REQUIRE(listed.status == 200);
  auto items = Json::parse(listed.body)["items"];
  REQUIRE(items.size() == 1);
  CHECK(items[0]["channel"] == "sms");
  CHECK(eventually([&] { return env.message(items[0]["id"])["status"] == "sent"; }));

  // The same webhook again (a provider retry) is not a second opt-out, nor a second
  // confirmation; neither is a second STOP with a new id.
  check_twiml(twilio(env, stop));
  CHECK(consent_log(env, "t-3", "inbound:STOP").size() == 1);
  auto second_stop = unique_sid("SM");
  check_twiml(twilio(env, inbound_params(second_stop, phone, "STOP")));
  REQUIRE(env.wait_received("t-3", second_stop));

  // HELP is answered with conversations.help_text, opted out or not.
  auto help = unique_sid("SM");
  check_twiml(twilio(env, inbound_params(help, phone, "help")));
  REQUIRE(eventually([&] { return sms_to(env, phone).size() == 2; }));
  CHECK(sms_to(env, phone)[1] == "Reply STOP to opt out.");
  // A retried HELP webhook is answered once.
  check_twiml(twilio(env, inbound_params(help, phone, "help")));
  // A marketing message to the opted-out customer is still refused.
  auto refused = env.send("t-3", "sms");
  CHECK(eventually([&] { return env.message(refused)["status"] == "suppressed"; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(sms_to(env, phone).size() == 2);

  // A sentence that merely contains the word is not a keyword.
  auto sentence = unique_sid("SM");
  check_twiml(twilio(env, inbound_params(sentence, phone, "please stop the noise")));
  REQUIRE(env.wait_received("t-3", sentence));
  CHECK(consent_log(env, "t-3", "").size() == 2);  // the two STOPs

  auto start = unique_sid("SM");
  check_twiml(twilio(env, inbound_params(start, phone, "start")));
  REQUIRE(eventually([&] { return env.consent("t-3", "sms") == "opted_in"; }));
  auto starts = consent_log(env, "t-3", "inbound:START");
  REQUIRE(starts.size() == 1);
  CHECK(starts[0]["status"] == "opted_in");

  // The other keywords opt out too (here from an unknown number: a new customer).
  const std::string other = "+14155550123";
  check_twiml(twilio(env, inbound_params(unique_sid("SM"), other, "unsubscribe")));
  REQUIRE(eventually([&] { return env.consent("sms:" + other, "sms") == "opted_out"; }));
  CHECK(consent_log(env, "sms:" + other, "inbound:UNSUBSCRIBE").size() == 1);
}

TEST_CASE("a status callback that overtakes the record of Twilio's answer is applied when it lands") {
  HookEnv env;
  env.identify("t-early", {{"phone", "+14155552799"}});
  // Twilio's callback for a sid Herald has not recorded yet: acknowledged and kept.
  const auto sid = unique_sid("SM");
  check_twiml(twilio(env, status_params(sid, "delivered", "+14155552799")));
  // Then the send whose answer carries that sid (the sandbox answers Twilio's success
  // body with it), as when the provider's callback beats the worker's own write.
  Json body{{"sid", sid}, {"status", "queued"}, {"to", "+14155552799"}, {"num_segments", "1"}};
  env.sandbox.add_faults("twilio", Json{{"kind", "http"}, {"status", 201}, {"body", body.dump()},
                                        {"headers", {{"Content-Type", "application/json"}}}});
  auto id = env.send("t-early", "sms");
  REQUIRE(eventually([&] { return env.message(id)["status"] == "delivered"; }));
  auto m = env.message(id);
  CHECK(m["provider_id"] == sid);
  std::vector<std::string> statuses;
  for (const auto& e : m["timeline"]) statuses.push_back(e["status"]);
  CHECK(statuses == std::vector<std::string>{"queued", "sending", "sent", "delivered"});
}
