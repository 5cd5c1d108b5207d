// GET/POST /hooks/whatsapp and /hooks/messenger end to end: Meta's subscription handshake
// and pushes signed with X-Hub-Signature-256 by the sandbox, as Meta signs them.
#include <atomic>

#include <catch2/catch.hpp>

#include "tests/hooks_e2e/hooks_env.hpp"
#include "tests/support/process.hpp"

using namespace hooks_e2e;
using herald::test::eventually;
using herald::test::kMessengerPageId;
using herald::test::kWhatsappPhoneId;

namespace {

std::string unique_id(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + std::to_string(now_ms()) + "." + std::to_string(++n);
}

// ---------------------------------------------------------------------------- WhatsApp

Json wa_payload(const Json& value) {
  Json change{{"field", "messages"}, {"value", value}};
  Json entry{{"id", "102290129340398"}, {"changes", Json::array({change})}};
  return Json{{"object", "whatsapp_business_account"}, {"entry", Json::array({entry})}};
}

Json wa_metadata() {
  return Json{{"display_phone_number", "15550001111"}, {"phone_number_id", kWhatsappPhoneId}};
}

Json wa_inbound(const std::string& wamid, const std::string& wa_id, const std::string& text) {
  Json message{{"from", wa_id}, {"id", wamid}, {"timestamp", std::to_string(now_s())},
               {"type", "text"}, {"text", {{"body", text}}}};
  Json contact{{"profile", {{"name", "Ann"}}}, {"wa_id", wa_id}};
  return wa_payload(Json{{"messaging_product", "whatsapp"}, {"metadata", wa_metadata()},
                         {"contacts", Json::array({contact})},
                         {"messages", Json::array({message})}});
}

Json wa_status(const std::string& wamid, const std::string& status, const std::string& wa_id,
               const Json& errors = nullptr) {
  Json s{{"id", wamid}, {"status", status}, {"timestamp", std::to_string(now_s())},
         {"recipient_id", wa_id}};
  if (!errors.is_null()) s["errors"] = errors;
  return wa_payload(Json{{"messaging_product", "whatsapp"}, {"metadata", wa_metadata()},
                         {"statuses", Json::array({s})}});
}

Json whatsapp(const HookEnv& env, const Json& payload, const std::string& signature = "good") {
  return env.webhook(Json{{"json", payload}, {"signature", signature}}, "whatsapp",
                     "/hooks/whatsapp");
}

/// The last send request the sandbox received for a provider (its JSON body).
Json last_send(const HookEnv& env, const std::string& provider) {
  auto requests = env.sandbox.requests(provider);
  for (auto it = requests.rbegin(); it != requests.rend(); ++it)
    if ((*it)["method"] == "POST" && (*it)["json"].is_object()) return (*it)["json"];
  return nullptr;
}

// ---------------------------------------------------------------------------- Messenger

Json fb_payload(const Json& event) {
  Json entry{{"id", kMessengerPageId}, {"time", now_ms()}, {"messaging", Json::array({event})}};
  return Json{{"object", "page"}, {"entry", Json::array({entry})}};
}

Json fb_event(const std::string& psid) {
  return Json{{"sender", {{"id", psid}}}, {"recipient", {{"id", kMessengerPageId}}},
              {"timestamp", now_ms()}};
}

Json fb_message(const std::string& psid, const std::string& mid, const std::string& text) {
  auto e = fb_event(psid);
  e["message"] = {{"mid", mid}, {"text", text}};
  return fb_payload(e);
}

Json messenger(const HookEnv& env, const Json& payload, const std::string& signature = "good") {
  return env.webhook(Json{{"json", payload}, {"signature", signature}}, "messenger",
                     "/hooks/messenger");
}

void check_verification(const HookEnv& env, const std::string& provider, const std::string& path,
                        const std::string& verify_token) {
  auto ok = env.webhook(Json{{"method", "GET"}, {"challenge", "1158201444"},
                             {"verify_token", verify_token}},
                        provider, path);
  CHECK(ok["status"] == 200);
  CHECK(ok["body"] == "1158201444");
  auto wrong = env.webhook(Json{{"method", "GET"}, {"challenge", "1158201444"},
                                {"verify_token", verify_token + "-wrong"}},
                           provider, path);
  CHECK(wrong["status"] == 403);
  CHECK(wrong["body"].get<std::string>().find("1158201444") == std::string::npos);
  auto mode = env.webhook(Json{{"method", "GET"}, {"mode", "unsubscribe"},
                               {"challenge", "1158201444"}, {"verify_token", verify_token}},
                          provider, path);
  CHECK(mode["status"] == 403);
  // No verify_token at all.
  auto none = env.webhook(Json{{"method", "GET"}, {"params", Json{{"hub.mode", "subscribe"},
                                                                  {"hub.challenge", "1"}}}},
                          provider, path);
  CHECK(none["status"] == 403);
}

}  // namespace

TEST_CASE("whatsapp and messenger answer the subscription handshake") {
  HookEnv env;
  check_verification(env, "whatsapp", "/hooks/whatsapp", herald::test::kWhatsappVerifyToken);
  check_verification(env, "messenger", "/hooks/messenger", herald::test::kMessengerVerifyToken);
  auto crossed = env.webhook(Json{{"method", "GET"}, {"challenge", "77"},
                                  {"verify_token", herald::test::kMessengerVerifyToken}},
                             "whatsapp", "/hooks/whatsapp");
  CHECK(crossed["status"] == 403);
}

TEST_CASE("a whatsapp inbound message is recorded and opens the customer-care window") {
  HookEnv env;
  const std::string phone = "+14155552681", wa_id = "14155552681";
  env.identify("w-1", {{"phone", phone}, {"first_name", "Ann"}});

  // Outside the window the message goes as the approved template.
  auto before = env.send("w-1", "whatsapp");
  env.wait_sent(before);
  auto first = last_send(env, "whatsapp");
  INFO(first.dump());
  CHECK(first["type"] == "template");
  CHECK(first["template"]["name"] == "hello_v1");

  auto wamid = unique_id("wamid.IN");
  auto answer = whatsapp(env, wa_inbound(wamid, wa_id, "Is my order shipped?"));
  CHECK(answer["status"] == 200);
  INFO(env.diagnostics());
  REQUIRE(env.wait_received("w-1", wamid));
  auto ev = env.received("w-1").back();
  CHECK(ev["properties"]["channel"] == "whatsapp");
  CHECK(ev["properties"]["provider"] == "whatsapp_cloud");
  CHECK(ev["properties"]["text"] == "Is my order shipped?");

  // Inside the window: free text.
  auto after = env.send("w-1", "whatsapp");
  env.wait_sent(after);
  auto second = last_send(env, "whatsapp");
  INFO(second.dump());
  CHECK(second["type"] == "text");
  CHECK(second["text"]["body"] == "Hello on WhatsApp");

  // The same push again is not recorded twice.
  CHECK(whatsapp(env, wa_inbound(wamid, wa_id, "Is my order shipped?"))["status"] == 200);
  // Non-ASCII text, which Meta sends escaped (\uXXXX, and "/" as "\/"), signed as sent.
  const std::string text = "¿Dónde está? 😀 / ok";
  auto later = unique_id("wamid.IN");
  CHECK(whatsapp(env, wa_inbound(later, wa_id, text))["status"] == 200);
  REQUIRE(env.wait_received("w-1", later));
  CHECK(env.received_count("w-1", wamid) == 1);
  CHECK(env.received("w-1").back()["properties"]["text"] == text);

  // Somebody unknown writes: a new customer, keyed by the channel and number.
  auto stranger = unique_id("wamid.IN");
  CHECK(whatsapp(env, wa_inbound(stranger, "14155550177", "Hello?"))["status"] == 200);
  REQUIRE(env.wait_received("whatsapp:+14155550177", stranger));
  CHECK(env.customer("whatsapp:+14155550177")["traits"]["whatsapp"] == "+14155550177");
}

TEST_CASE("whatsapp statuses move messages forward, and bad signatures change nothing") {
  HookEnv env;
  const std::string phone = "+14155552682", wa_id = "14155552682";
  env.identify("w-2", {{"phone", phone}});
  std::string a, b;
  auto wamid_a = env.sent_provider_id("w-2", "whatsapp", nullptr, &a);
  auto wamid_b = env.sent_provider_id("w-2", "whatsapp", nullptr, &b);

  // Bad signature, no signature, a body changed after signing: 401, nothing changes.
  CHECK(is_api_error(whatsapp(env, wa_status(wamid_a, "delivered", wa_id), "bad"), 401,
                     "bad_signature"));
  CHECK(is_api_error(whatsapp(env, wa_status(wamid_a, "delivered", wa_id), "none"), 401,
                     "bad_signature"));
  auto genuine = wa_status(wamid_a, "read", wa_id).dump();
  auto signature = env.meta_signature("whatsapp", genuine);
  auto tampered = wa_status(wamid_b, "read", wa_id).dump();
  auto replayed = env.webhook(Json{{"body", tampered}, {"signature", "none"},
                                   {"headers", {{"X-Hub-Signature-256", signature}}}},
                              "whatsapp", "/hooks/whatsapp");
  CHECK(is_api_error(replayed, 401, "bad_signature"));
  // The genuine body with its signature passes (the check above failed for the body alone).
  auto same = env.webhook(Json{{"body", genuine}, {"signature", "none"},
                               {"headers", {{"X-Hub-Signature-256", signature}}}},
                          "whatsapp", "/hooks/whatsapp");
  CHECK(same["status"] == 200);
  REQUIRE(eventually([&] { return env.message(a)["status"] == "read"; }));
  CHECK(env.message(b)["status"] == "sent");

  // delivered for B, then read; a failure after that is ignored.
  CHECK(whatsapp(env, wa_status(wamid_b, "delivered", wa_id))["status"] == 200);
  REQUIRE(eventually([&] { return env.message(b)["status"] == "delivered"; }));
  CHECK(whatsapp(env, wa_status(wamid_b, "read", wa_id))["status"] == 200);
  REQUIRE(eventually([&] { return env.message(b)["status"] == "read"; }));
  Json errors = Json::array({{{"code", 131026}, {"title", "Message undeliverable"}}});
  CHECK(whatsapp(env, wa_status(wamid_b, "failed", wa_id, errors))["status"] == 200);
  CHECK(whatsapp(env, wa_status(wamid_b, "delivered", wa_id))["status"] == 200);
  CHECK(env.message(b)["status"] == "read");

  // A third message fails, with the provider's error code.
  std::string c;
  auto wamid_c = env.sent_provider_id("w-2", "whatsapp", nullptr, &c);
  CHECK(whatsapp(env, wa_status(wamid_c, "failed", wa_id, errors))["status"] == 200);
  REQUIRE(eventually([&] { return env.message(c)["status"] == "failed"; }));
  CHECK_THAT(env.message(c).value("reason", ""), Catch::Contains("131026"));

  // A status for a message Herald never sent is acknowledged.
  CHECK(whatsapp(env, wa_status("wamid.unknown", "delivered", wa_id))["status"] == 200);
  CHECK(env.healthy());
}

TEST_CASE("messenger: signed inbound messages, deliveries and reads") {
  HookEnv env;
  const std::string psid = "2400000000000001";
  env.identify("f-1", {{"messenger_psid", psid}});

  auto mid = unique_id("m_in");
  CHECK(is_api_error(messenger(env, fb_message(psid, mid, "forged"), "bad"), 401, "bad_signature"));
  CHECK(is_api_error(messenger(env, fb_message(psid, mid, "unsigned"), "none"), 401,
                     "bad_signature"));
  // Signed with WhatsApp's app secret: not Messenger's.
  auto crossed = env.webhook(Json{{"json", fb_message(psid, mid, "crossed")},
                                  {"secret", herald::test::kWhatsappAppSecret}},
                             "messenger", "/hooks/messenger");
  CHECK(is_api_error(crossed, 401, "bad_signature"));

  CHECK(messenger(env, fb_message(psid, mid, "Do you ship to Canada?"))["status"] == 200);
  INFO(env.diagnostics());
  REQUIRE(env.wait_received("f-1", mid));
  auto ev = env.received("f-1").back();
  CHECK(ev["properties"]["channel"] == "social");
  CHECK(ev["properties"]["provider"] == "messenger");
  CHECK(ev["properties"]["text"] == "Do you ship to Canada?");
  CHECK(env.received_count("f-1", "m_forged") == 0);
  CHECK(env.received("f-1").size() == 1);

  // The echo of a message the page sent is not an inbound message.
  auto echo = fb_message(psid, unique_id("m_echo"), "our own words");
  echo["entry"][0]["messaging"][0]["message"]["is_echo"] = true;
  CHECK(messenger(env, echo)["status"] == 200);

  // Deduplicated on mid.
  CHECK(messenger(env, fb_message(psid, mid, "Do you ship to Canada?"))["status"] == 200);
  auto later = unique_id("m_in");
  CHECK(messenger(env, fb_message(psid, later, "And to Mexico?"))["status"] == 200);
  REQUIRE(env.wait_received("f-1", later));
  CHECK(env.received_count("f-1", mid) == 1);
  CHECK(env.received("f-1").size() == 2);  // no echo

  // The customer wrote: the reply goes as a RESPONSE within the window.
  std::string id;
  auto message_id = env.sent_provider_id("f-1", "social", nullptr, &id);
  auto sent = last_send(env, "messenger");
  CHECK(sent["messaging_type"] == "RESPONSE");

  // A delivery naming the message, then a read watermark past it.
  auto delivery = fb_event(psid);
  delivery["delivery"] = {{"mids", Json::array({message_id})}, {"watermark", now_ms()}};
  CHECK(is_api_error(messenger(env, fb_payload(delivery), "bad"), 401, "bad_signature"));
  CHECK(env.message(id)["status"] == "sent");
  CHECK(messenger(env, fb_payload(delivery))["status"] == 200);
  REQUIRE(eventually([&] { return env.message(id)["status"] == "delivered"; }));

  auto read = fb_event(psid);
  read["read"] = {{"watermark", now_ms() + 1000}};
  CHECK(messenger(env, fb_payload(read))["status"] == 200);
  INFO(env.message(id).dump());
  CHECK(eventually([&] { return env.message(id)["status"] == "read"; }));

  // A delivery without mids is a watermark too; a read watermark older than a message
  // does not cover it.
  std::string newer;
  env.sent_provider_id("f-1", "social", nullptr, &newer);
  auto old_read = fb_event(psid);
  old_read["read"] = {{"watermark", now_ms() - 60000}};
  CHECK(messenger(env, fb_payload(old_read))["status"] == 200);
  CHECK(env.message(newer)["status"] == "sent");
  auto watermark = fb_event(psid);
  watermark["delivery"] = {{"watermark", now_ms() + 1000}};
  CHECK(messenger(env, fb_payload(watermark))["status"] == 200);
  CHECK(eventually([&] { return env.message(newer)["status"] == "delivered"; }));
  CHECK(env.message(id)["status"] == "read");  // never back
}

TEST_CASE("a late whatsapp message does not close the customer-care window") {
  HookEnv env;
  const std::string phone = "+14155552683", wa_id = "14155552683";
  env.identify("w-3", {{"phone", phone}});
  auto recent = unique_id("wamid.IN");
  CHECK(whatsapp(env, wa_inbound(recent, wa_id, "Hi"))["status"] == 200);
  REQUIRE(env.wait_received("w-3", recent));

  // A message the customer wrote 30 hours ago, delivered late (Meta retries for days).
  auto payload = wa_inbound(unique_id("wamid.IN"), wa_id, "an old message");
  auto& message = payload["entry"][0]["changes"][0]["value"]["messages"][0];
  message["timestamp"] = std::to_string(now_s() - 30 * 3600);
  CHECK(whatsapp(env, payload)["status"] == 200);
  REQUIRE(env.wait_received("w-3", message["id"].get<std::string>()));

  // The window is still the one the recent message opened: free text.
  env.wait_sent(env.send("w-3", "whatsapp"));
  auto sent = last_send(env, "whatsapp");
  INFO(sent.dump());
  CHECK(sent["type"] == "text");
}

TEST_CASE("a text reported failed with 131047 goes once more as the template") {
  HookEnv env;
  const std::string phone = "+14155552690", wa_id = "14155552690";
  env.identify("w-9", {{"phone", phone}, {"first_name", "Ann"}});
  // The customer writes: the window is open and the next message goes as free text.
  auto inbound = unique_id("wamid.IN");
  CHECK(whatsapp(env, wa_inbound(inbound, wa_id, "hi"))["status"] == 200);
  REQUIRE(env.wait_received("w-9", inbound));
  std::string id;
  auto wamid = env.sent_provider_id("w-9", "whatsapp", nullptr, &id);
  CHECK(last_send(env, "whatsapp")["type"] == "text");
  auto sends_before = env.sandbox.requests("whatsapp").size();

  // WhatsApp reports the text failed later: outside the window after all.
  Json errors = Json::array({{{"code", 131047}, {"title", "Re-engagement message"}}});
  CHECK(whatsapp(env, wa_status(wamid, "failed", wa_id, errors))["status"] == 200);
  REQUIRE(eventually([&] {
    auto m = env.message(id);
    return m["status"] == "sent" && m["timeline"].size() > 4;
  }));
  auto resent = last_send(env, "whatsapp");
  INFO(resent.dump());
  CHECK(resent["type"] == "template");
  CHECK(resent["template"]["name"] == "hello_v1");
  CHECK(env.sandbox.requests("whatsapp").size() == sends_before + 1);
  auto m = env.message(id);
  bool explained = false;
  for (const auto& e : m["timeline"])
    explained = explained || e.value("detail", "").find("sending again as the template") != std::string::npos;
  CHECK(explained);

  // Only once: the same report for the template's own id fails the message for good.
  auto second = m.value("provider_id", "");
  REQUIRE(!second.empty());
  CHECK(second != wamid);
  CHECK(whatsapp(env, wa_status(second, "failed", wa_id, errors))["status"] == 200);
  REQUIRE(eventually([&] { return env.message(id)["status"] == "failed"; }));
  CHECK(env.sandbox.requests("whatsapp").size() == sends_before + 1);
}
