// POST /v1/messages and GET /v1/messages/{id} on the binary, with every channel's provider
// in the sandbox: the message reaches the provider in its own wire format, its status and
// timeline follow; idempotency keys; transactional messages and consent.
#include <thread>

#include <catch2/catch.hpp>

#include "gateway/keys.hpp"
#include "tests/delivery_e2e/delivery_support.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

using namespace herald::test;
using namespace herald::test::delivery;

namespace {

const Json kAnn{{"first_name", "Ann"},
                {"email", "ann@example.com"},
                {"phone", "+14155552671"},
                {"wechat_openid", "oWX-ann-0001"},
                {"messenger_psid", "2400011122"}};

struct Fixture {
  RedisServer redis;
  ProviderSandbox sandbox;
  TempDir templates;
  std::unique_ptr<HeraldProcess> herald;

  explicit Fixture(const ChannelOptions& options = {}) {
    write_templates(templates);
    herald = std::make_unique<HeraldProcess>(redis.url(),
                                             delivery_config(sandbox, templates, options));
    if (!herald->wait_ready(200)) throw std::runtime_error("not ready:\n" + herald->log());
  }
};

}  // namespace

TEST_CASE("a message goes out by sms in Twilio's format and its status follows") {
  Fixture f;
  auto& herald = *f.herald;
  identify(herald, "ann", kAnn);
  set_consent(herald, "ann", "sms", "opted_in");

  auto r = post_message(herald, {{"customer_id", "ann"}, {"template", "notice"},
                                 {"channels", {"sms"}}, {"data", {{"code", "4711"}}}});
  REQUIRE(r.status == 202);
  auto accepted = Json::parse(r.body);
  CHECK(accepted["status"] == "queued");
  const auto id = accepted["id"].get<std::string>();
  REQUIRE_FALSE(id.empty());

  auto m = wait_status(herald, id, {"sent", "failed", "suppressed"});
  REQUIRE(m.is_object());
  CHECK(m["status"] == "sent");
  CHECK(m["id"] == id);
  CHECK(m["customer_id"] == "ann");
  CHECK(m["channel"] == "sms");
  CHECK(m["provider"] == "twilio");
  CHECK(m["template"] == "notice");
  CHECK(m["workflow"].is_null());
  CHECK(m["run"].is_null());
  REQUIRE(m["provider_id"].is_string());
  const auto sid = m["provider_id"].get<std::string>();
  CHECK(sid.rfind("SM", 0) == 0);
  CHECK(statuses_of(m["timeline"]) == std::vector<std::string>{"queued", "sending", "sent"});
  CHECK(m["timeline"][2]["detail"] == sid);
  int64_t previous = 0;
  for (const auto& e : m["timeline"]) {  // times in order
    auto at = parse_time_ms(e["at"].get<std::string>());
    CHECK(at >= previous);
    previous = at;
  }

  // The sandbox got one Twilio request: the rendered body, to the customer's number.
  auto sent = accepted_requests(f.sandbox, "twilio");
  REQUIRE(sent.size() == 1);
  const auto& req = sent[0];
  CHECK(req["method"] == "POST");
  CHECK(req["path"] == std::string("/twilio/2010-04-01/Accounts/") + kTwilioSid + "/Messages.json");
  CHECK(form_field(req, "To") == "+14155552671");
  CHECK(form_field(req, "From") == kSmsFrom);
  CHECK(form_field(req, "Body") == "Hi Ann, your code is 4711");
  CHECK(form_field(req, "StatusCallback") ==
        "http://127.0.0.1:" + std::to_string(herald.port()) + "/hooks/twilio");
  CHECK(req["status"] == 201);

  // The customer's messages list shows it, sent.
  auto list = admin_json(herald, "/v1/customers/ann/messages");
  REQUIRE(list["items"].size() == 1);
  CHECK(list["items"][0]["id"] == id);
  CHECK(list["items"][0]["status"] == "sent");
  CHECK(list["items"][0]["provider_id"] == sid);
  CHECK(list["items"][0]["customer_id"] == "ann");
  CHECK(list["items"][0]["channel"] == "sms");
  CHECK(list["items"][0]["provider"] == "twilio");
  CHECK(list["items"][0]["template"] == "notice");
  CHECK(list["items"][0]["workflow"].is_null());
  CHECK(statuses_of(list["items"][0]["timeline"]) ==
        std::vector<std::string>{"queued", "sending", "sent"});
  // The export lists it the same way.
  auto exported = admin_json(herald, "/v1/customers/ann/export");
  REQUIRE(exported["messages"].size() == 1);
  CHECK(exported["messages"][0] == list["items"][0]);

  // A marketing email carries the one-click unsubscribe headers (RFC 8058).
  auto email_id = send_notice(herald, "ann", {"email"}, "E1");
  REQUIRE(wait_status(herald, email_id, {"sent"}).is_object());
  auto mails = accepted_requests(f.sandbox, "sendgrid");
  REQUIRE(mails.size() == 1);
  const auto& mail = mails[0]["json"];
  CHECK(mail["personalizations"][0]["to"][0]["email"] == "ann@example.com");
  CHECK(mail["from"]["email"] == kEmailFrom);
  CHECK(mail["subject"] == "Your code, Ann");
  CHECK(mail["content"][0]["value"] == "Hi Ann, your email code is E1");
  CHECK(mail["custom_args"]["herald_message_id"] == email_id);
  CHECK_THAT(mail["headers"]["List-Unsubscribe"].get<std::string>(),
             Catch::StartsWith("<http://127.0.0.1:" + std::to_string(herald.port()) + "/u/"));
  CHECK(mail["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click");
}

TEST_CASE("each channel reaches its provider in the provider's format") {
  Fixture f;
  auto& herald = *f.herald;
  identify(herald, "ann", kAnn);
  // Transactional: the consent defaults (sms and whatsapp opt_in) do not hold them back.
  std::map<std::string, std::string> ids;
  for (const std::string channel : {"email", "sms", "whatsapp", "wechat", "social"})
    ids[channel] = send_notice(herald, "ann", {channel}, "C-" + channel, true);
  const std::map<std::string, std::string> provider_of{{"email", "sendgrid"},
                                                       {"sms", "twilio"},
                                                       {"whatsapp", "whatsapp_cloud"},
                                                       {"wechat", "wechat_oa"},
                                                       {"social", "messenger"}};
  for (const auto& [channel, id] : ids) {
    INFO(channel);
    auto m = wait_status(herald, id, {"sent", "failed", "suppressed"});
    REQUIRE(m.is_object());
    CHECK(m["status"] == "sent");
    CHECK(m["channel"] == channel);
    CHECK(m["provider"] == provider_of.at(channel));
    CHECK(m.value("provider_id", std::string()) != "");
  }
  auto mail = accepted_requests(f.sandbox, "sendgrid");
  REQUIRE(mail.size() == 1);
  CHECK(mail[0]["json"]["content"][0]["value"] == "Hi Ann, your email code is C-email");
  CHECK_FALSE(mail[0]["json"].contains("headers"));  // transactional: no unsubscribe link
  auto sms = accepted_requests(f.sandbox, "twilio");
  REQUIRE(sms.size() == 1);
  CHECK(form_field(sms[0], "Body") == "Hi Ann, your code is C-sms");
  // WhatsApp: outside the 24 h window, the approved template with its parameters.
  auto wa = accepted_requests(f.sandbox, "whatsapp");
  REQUIRE(wa.size() == 1);
  CHECK(wa[0]["path"] == std::string("/whatsapp/") + kWhatsappPhoneId + "/messages");
  CHECK(wa[0]["json"]["messaging_product"] == "whatsapp");
  CHECK(wa[0]["json"]["to"].get<std::string>().find("14155552671") != std::string::npos);
  CHECK(wa[0]["json"]["type"] == "template");
  CHECK(wa[0]["json"]["template"]["name"] == "notice_v1");
  CHECK_THAT(wa[0]["json"]["template"].dump(), Catch::Contains("C-whatsapp"));
  // WeChat: outside the 48 h window, a template message with the data.
  auto wc = accepted_requests(f.sandbox, "wechat");
  REQUIRE(wc.size() == 1);
  CHECK_THAT(wc[0]["path"].get<std::string>(), Catch::Contains("/cgi-bin/message/template/send"));
  CHECK(wc[0]["json"]["touser"] == "oWX-ann-0001");
  CHECK(wc[0]["json"]["template_id"] == "TPL_NOTICE");
  CHECK(wc[0]["json"]["data"]["keyword1"]["value"] == "C-wechat");
  auto fb = accepted_requests(f.sandbox, "messenger");
  REQUIRE(fb.size() == 1);
  CHECK(fb[0]["json"]["recipient"]["id"] == "2400011122");
  CHECK(fb[0]["json"]["message"]["text"] == "Messenger C-social");
}

TEST_CASE("POST /v1/messages refuses bad requests, naming the field") {
  Fixture f;
  auto& herald = *f.herald;
  identify(herald, "ann", kAnn);
  const Json good{{"customer_id", "ann"}, {"template", "notice"}, {"channels", {"sms"}}};
  struct Bad {
    std::string field;
    Json value;  // null: removed
    std::string expected_field;
  };
  const std::vector<Bad> bad{
      {"customer_id", nullptr, "customer_id"},    {"customer_id", 5, "customer_id"},
      {"customer_id", "", "customer_id"},         {"template", nullptr, "template"},
      {"template", Json::array(), "template"},    {"channels", nullptr, "channels"},
      {"channels", Json::array(), "channels"},    {"channels", "sms", "channels"},
      {"channels", {"fax"}, "channels[0]"},       {"channels", {"sms", 3}, "channels[1]"},
      {"data", "x", "data"},                      {"data", Json::array(), "data"},
      {"transactional", "yes", "transactional"},  {"idempotency_key", 7, "idempotency_key"},
      {"idempotency_key", std::string(300, 'k'), "idempotency_key"}};
  for (const auto& b : bad) {
    Json body = good;
    if (b.value.is_null())
      body.erase(b.field);
    else
      body[b.field] = b.value;
    INFO(body.dump());
    auto r = post_message(herald, body);
    CHECK(r.status == 400);
    auto error = Json::parse(r.body, nullptr, false);
    CHECK(error["error"]["code"] == "invalid_message");
    CHECK(error["error"]["field"] == b.expected_field);
  }
  auto not_json = post_message(herald, Json::array({1}));
  CHECK(not_json.status == 400);
  CHECK(Json::parse(not_json.body)["error"]["code"] == "invalid_json");

  // Unknown template, and a channel the template has no section for: 422.
  auto unknown = good;
  unknown["template"] = "no_such_template";
  auto r = post_message(herald, unknown);
  CHECK(r.status == 422);
  CHECK(Json::parse(r.body)["error"]["field"] == "template");
  auto no_section = good;
  no_section["template"] = "email_only";
  no_section["channels"] = {"email", "sms"};
  r = post_message(herald, no_section);
  CHECK(r.status == 422);
  CHECK(Json::parse(r.body)["error"]["field"] == "channels[1]");

  // Unknown customer and unknown message: 404.
  auto stranger = good;
  stranger["customer_id"] = "nobody";
  r = post_message(herald, stranger);
  CHECK(r.status == 404);
  CHECK(Json::parse(r.body)["error"]["code"] == "not_found");
  r = admin(herald, "GET", "/v1/messages/t000000000000000000000000");
  CHECK(r.status == 404);
  CHECK(Json::parse(r.body)["error"]["code"] == "not_found");
  r = admin(herald, "GET", "/v1/messages/m0123456789abcdef-p0");  // a workflow's form
  CHECK(r.status == 404);
  CHECK(Json::parse(r.body)["error"]["code"] == "not_found");

  // The messages list has one filter, the dead letters.
  r = admin(herald, "GET", "/v1/messages?status=sent");
  CHECK(r.status == 400);
  CHECK(Json::parse(r.body)["error"]["field"] == "status");
  r = admin(herald, "GET", "/v1/messages?status=dead_letter");
  CHECK(r.status == 200);
  CHECK(Json::parse(r.body)["items"].empty());

  // Without the admin key: 401; with a write key (the wrong role): 403.
  CHECK(http(herald.port(), "POST", "/v1/messages", good.dump()).status == 401);
  CHECK(http(herald.port(), "GET", "/v1/messages?status=dead_letter").status == 401);
  CHECK(http(herald.port(), "POST", "/v1/messages", good.dump(),
             {{"Authorization", "Bearer wrong-key"}}).status == 401);
  CHECK(http(herald.port(), "POST", "/v1/messages", good.dump(),
             {{"Authorization", std::string("Bearer ") + kWriteKey}}).status == 403);
  CHECK(http(herald.port(), "GET", "/v1/messages/x",  {},
             {{"Authorization", std::string("Bearer ") + kWriteKey}}).status == 403);
  // None of these sent or recorded anything.
  CHECK(admin_json(herald, "/v1/customers/ann/messages")["items"].empty());
  CHECK(f.sandbox.requests().empty());
}

TEST_CASE("an idempotency key makes repeated and concurrent requests one message") {
  Fixture f;
  auto& herald = *f.herald;
  identify(herald, "ann", kAnn);
  set_consent(herald, "ann", "sms", "opted_in");

  auto first = send_notice(herald, "ann", {"sms"}, "once", false, "order-1001");
  auto second = send_notice(herald, "ann", {"sms"}, "once", false, "order-1001");
  CHECK(first == second);
  // Another customer with the same key is another message.
  identify(herald, "bob", {{"phone", "+14155550100"}, {"first_name", "Bob"}});
  set_consent(herald, "bob", "sms", "opted_in");
  CHECK(send_notice(herald, "bob", {"sms"}, "once", false, "order-1001") != first);

  // Ten at once with a new key.
  std::vector<std::string> ids(10);
  std::vector<int> statuses(10);
  std::vector<std::thread> threads;
  for (int i = 0; i < 10; ++i)
    threads.emplace_back([&, i] {
      Json body{{"customer_id", "ann"}, {"template", "notice"}, {"channels", {"sms"}},
                {"data", {{"code", "burst"}}}, {"idempotency_key", "order-1002"}};
      auto r = post_message(herald, body);
      statuses[i] = r.status;
      if (r.status == 202) ids[i] = Json::parse(r.body)["id"].get<std::string>();
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 10; ++i) {
    CHECK(statuses[i] == 202);
    CHECK(ids[i] == ids[0]);
  }
  REQUIRE(wait_status(herald, first, {"sent"}).is_object());
  REQUIRE(wait_status(herald, ids[0], {"sent"}).is_object());
  // A request repeated after the send answers with the message's current status.
  auto again = post_message(herald, {{"customer_id", "ann"}, {"template", "notice"},
                                     {"channels", {"sms"}}, {"idempotency_key", "order-1001"}});
  CHECK(again.status == 202);
  CHECK(Json::parse(again.body)["id"] == first);
  CHECK(Json::parse(again.body)["status"] == "sent");

  // Two of ann's messages recorded, and one Twilio request each.
  CHECK(admin_json(herald, "/v1/customers/ann/messages")["items"].size() == 2);
  REQUIRE(eventually([&] { return accepted_requests(f.sandbox, "twilio").size() >= 3; }));
  std::map<std::string, int> bodies;
  for (const auto& r : accepted_requests(f.sandbox, "twilio"))
    ++bodies[form_field(r, "To") + " " + form_field(r, "Body")];
  CHECK(bodies["+14155552671 Hi Ann, your code is once"] == 1);
  CHECK(bodies["+14155552671 Hi Ann, your code is burst"] == 1);
  CHECK(bodies["+14155550100 Hi Bob, your code is once"] == 1);
  CHECK(bodies.size() == 3);
}

TEST_CASE("transactional messages pass the consent default, never an explicit opt-out") {
  Fixture f;
  auto& herald = *f.herald;
  // No consent recorded on sms, whose policies.consent default is opt_in.
  identify(herald, "tom", {{"phone", "+14155550123"}, {"first_name", "Tom"}});

  auto marketing = send_notice(herald, "tom", {"sms"}, "promo");
  auto m = wait_status(herald, marketing, {"suppressed", "sent", "failed"});
  REQUIRE(m.is_object());
  CHECK(m["status"] == "suppressed");
  CHECK(m["reason"] == "consent");
  CHECK(m["transactional"] == false);

  auto receipt = send_notice(herald, "tom", {"sms"}, "receipt", true);
  m = wait_status(herald, receipt, {"sent", "failed", "suppressed"});
  REQUIRE(m.is_object());
  CHECK(m["status"] == "sent");
  CHECK(m["transactional"] == true);
  auto sent = accepted_requests(f.sandbox, "twilio");
  REQUIRE(sent.size() == 1);
  CHECK(form_field(sent[0], "Body") == "Hi Tom, your code is receipt");

  // An explicit opt-out stops transactional messages too.
  set_consent(herald, "tom", "sms", "opted_out", "test");
  auto after = send_notice(herald, "tom", {"sms"}, "receipt-2", true);
  m = wait_status(herald, after, {"suppressed", "sent", "failed"});
  REQUIRE(m.is_object());
  CHECK(m["status"] == "suppressed");
  CHECK(m["reason"] == "consent");
  // A later message (opted back in) goes out: so nothing of receipt-2 was merely late.
  set_consent(herald, "tom", "sms", "opted_in", "test");
  auto later = send_notice(herald, "tom", {"sms"}, "receipt-3", true);
  REQUIRE(wait_status(herald, later, {"sent"}).is_object());
  std::vector<std::string> bodies;
  for (const auto& r : accepted_requests(f.sandbox, "twilio")) bodies.push_back(form_field(r, "Body"));
  CHECK(bodies == std::vector<std::string>{"Hi Tom, your code is receipt", "Hi Tom, your code is receipt-3"});
}

TEST_CASE("an opt-out recorded while a message waits for its retry stops it") {
  // Policies apply at send time (principle 5): consent is checked again at the hand-off.
  Fixture f;
  auto& herald = *f.herald;
  identify(herald, "una", {{"phone", "+14155550124"}, {"first_name", "Una"}});
  set_consent(herald, "una", "sms", "opted_in");
  f.sandbox.add_faults("twilio", Json{{"kind", "http"}, {"status", 503}});
  auto id = send_notice(herald, "una", {"sms"}, "late");
  REQUIRE(wait_status(herald, id, {"deferred"}).is_object());
  set_consent(herald, "una", "sms", "opted_out", "test");
  auto m = wait_status(herald, id, {"sent", "failed", "suppressed"});
  REQUIRE(m.is_object());
  CHECK(m["status"] == "suppressed");
  CHECK(m["reason"] == "consent");
  CHECK(accepted_requests(f.sandbox, "twilio").empty());
}

TEST_CASE("a message recorded with each field on its own, as earlier versions did, reads and goes out") {
  Fixture f;
  auto& herald = *f.herald;
  identify(herald, "ann", kAnn);
  set_consent(herald, "ann", "sms", "opted_in");
  const auto first = send_notice(herald, "ann", {"sms"}, "1111");
  REQUIRE(wait_status(herald, first, {"sent"}).is_object());
  // Recorded now: the fields it never changes are packed into one.
  const auto first_key = "herald:msg:" + herald::keys::tag("ann") + ":" + first;
  CHECK(f.redis.cli({"HEXISTS", first_key, "template"}) == "0");
  auto origin = Json::parse(f.redis.cli({"HGET", first_key, "o"}));
  CHECK(origin["template"] == "notice");
  CHECK(origin["customer_id"] == "ann");

  // The same message as an earlier version wrote it, under a new id, queued.
  const std::string id = "t00000000000000000000legacy";
  const auto key = "herald:msg:" + herald::keys::tag("ann") + ":" + id;
  const auto content = f.redis.cli({"HGET", first_key, "content"});
  const std::string at = "2026-01-02T03:04:05.678Z";
  f.redis.cli({"HSET", key, "id", id, "customer_id", "ann", "channel", "sms", "provider", "twilio",
               "template", "notice", "workflow", "winback", "run", "r1", "step", "nudge", "status",
               "queued", "content", content, "created_at", at, "timeline",
               R"([{"status":"queued","at":")" + at + R"("}])"});
  f.redis.cli({"SET", "herald:mi:" + id, "ann"});
  f.redis.cli({"LPUSH", herald::keys::customer_messages("ann"),
               R"({"id":")" + id + R"(","channel":"sms","workflow":"winback","run":"r1"})"});
  f.redis.cli({"XADD", "herald:deliveries", "*", "id", id, "customer", "ann"});

  auto m = wait_status(herald, id, {"sent", "failed", "suppressed"});
  REQUIRE(m.is_object());
  CHECK(m["status"] == "sent");
  CHECK(m["id"] == id);
  CHECK(m["customer_id"] == "ann");
  CHECK(m["template"] == "notice");
  CHECK(m["workflow"] == "winback");
  CHECK(m["run"] == "r1");
  CHECK(m["step"] == "nudge");
  CHECK(m["created_at"] == at);
  CHECK(accepted_requests(f.sandbox, "twilio").size() == 2);
  // The customer's list reads both.
  auto list = admin_json(herald, "/v1/customers/ann/messages");
  REQUIRE(list["items"].size() == 2);
  CHECK(list["items"][0]["id"] == id);
  CHECK(list["items"][0]["template"] == "notice");
  CHECK(list["items"][1]["id"] == first);
  CHECK(list["items"][1]["template"] == "notice");
}
