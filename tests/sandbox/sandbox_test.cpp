// The provider sandbox (tests/sandbox/provider_sandbox.py) and the SMTP sink
// (tests/sandbox/smtp_sink.py) through their C++ fixtures and the raw HTTP client: each
// provider's wire format and authentication, the scripted faults, WeChat's token rotation,
// the webhook signer against published vectors, and SMTP with and without STARTTLS and AUTH.
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <regex>
#include <set>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/sandbox.hpp"
#include "tests/support/temp_dir.hpp"

using herald::test::HttpConnection;
using herald::test::HttpResponse;
using herald::test::ProviderSandbox;
using herald::test::SmtpSink;
using herald::test::SmtpSinkOptions;
using nlohmann::json;
namespace t = herald::test;
using Headers = std::vector<std::pair<std::string, std::string>>;
using namespace std::chrono_literals;

namespace {

std::string base64(const std::string& in) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += {table[v >> 18], table[v >> 12 & 63], table[v >> 6 & 63], table[v & 63]};
  }
  if (i + 1 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    out += {table[v >> 18], table[v >> 12 & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += {table[v >> 18], table[v >> 12 & 63], table[v >> 6 & 63], '='};
  }
  return out;
}

std::string hex(const unsigned char* data, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += {digits[data[i] >> 4], digits[data[i] & 15]};
  return out;
}

std::string hmac_sha256_hex(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return hex(out, len);
}

std::string sha1_hex(const std::string& data) {
  unsigned char out[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return hex(out, sizeof out);
}

std::string twilio_path() {
  return std::string("/twilio/2010-04-01/Accounts/") + t::kTwilioSid + "/Messages.json";
}

Headers twilio_headers(const std::string& token = t::kTwilioToken) {
  return {{"Authorization", "Basic " + base64(std::string(t::kTwilioSid) + ":" + token)},
          {"Content-Type", "application/x-www-form-urlencoded"}};
}

const std::string kTwilioForm = "To=%2B15551234567&From=%2B15550001111&Body=Hello+there";

HttpResponse twilio_send(const ProviderSandbox& sb, const std::string& form = kTwilioForm,
                         const std::string& token = t::kTwilioToken) {
  return t::http(sb.port(), "POST", twilio_path(), form, twilio_headers(token));
}

Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

HttpResponse whatsapp_send(const ProviderSandbox& sb, const json& body,
                           const std::string& token = t::kWhatsappToken) {
  return t::http(sb.port(), "POST", std::string("/whatsapp/") + t::kWhatsappPhoneId + "/messages",
                 body.dump(), bearer(token));
}

json whatsapp_text(const std::string& text = "Hello") {
  return {{"messaging_product", "whatsapp"}, {"recipient_type", "individual"},
          {"to", "15551234567"}, {"type", "text"},
          {"text", {{"preview_url", false}, {"body", text}}}};
}

json messenger_text(const std::string& text = "Hello") {
  return {{"recipient", {{"id", "6000000000001"}}},
          {"messaging_type", "RESPONSE"},
          {"message", {{"text", text}}}};
}

HttpResponse messenger_send(const ProviderSandbox& sb, const json& body,
                            const std::string& token = t::kMessengerToken) {
  return t::http(sb.port(), "POST", "/messenger/me/messages?access_token=" + token, body.dump());
}

json sendgrid_mail() {
  return json::parse(R"({
    "personalizations": [{"to": [{"email": "ann@example.com"}]}],
    "from": {"email": "shop@example.com", "name": "Shop"},
    "subject": "Your order",
    "content": [{"type": "text/plain", "value": "Thanks"},
                {"type": "text/html", "value": "<p>Thanks</p>"}]})");
}

HttpResponse sendgrid_send(const ProviderSandbox& sb, const json& body,
                           const std::string& key = t::kSendgridKey) {
  return t::http(sb.port(), "POST", "/sendgrid/v3/mail/send", body.dump(), bearer(key));
}

std::string wechat_token(const ProviderSandbox& sb, const std::string& secret = t::kWechatSecret) {
  auto r = t::http(sb.port(), "GET",
                   std::string("/wechat/cgi-bin/token?grant_type=client_credential&appid=") +
                       t::kWechatAppId + "&secret=" + secret);
  REQUIRE(r.status == 200);
  auto j = json::parse(r.body);
  REQUIRE(j.contains("access_token"));
  CHECK(j["expires_in"] == 7200);
  return j["access_token"];
}

json wechat_custom(const ProviderSandbox& sb, const std::string& token) {
  json body{{"touser", "oOPENID123"}, {"msgtype", "text"}, {"text", {{"content", "你好"}}}};
  auto r = t::http(sb.port(), "POST", "/wechat/cgi-bin/message/custom/send?access_token=" + token,
                   body.dump());
  REQUIRE(r.status == 200);  // WeChat answers 200 whatever happens
  return json::parse(r.body);
}

/// Runs a Python snippet (Debian's interpreter) to completion: {exit status, output}.
std::pair<int, std::string> run_python(const std::string& code, std::vector<std::string> args) {
  t::TempDir dir;
  std::vector<std::string> argv{t::sandbox_python(), "-c", code};
  argv.insert(argv.end(), args.begin(), args.end());
  t::Process p(argv, dir.file("out.log"));
  auto status = p.wait(60s);
  return {status.value_or(-1), p.output()};
}

// Sends two messages over one SMTP connection, then one over another.
// argv: port, starttls cafile ("-" for none), user ("-" for none), password.
const char* kSmtpClient = R"PY(
import smtplib, ssl, sys
port, cafile, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def connect():
    s = smtplib.SMTP("127.0.0.1", port, timeout=20)
    if cafile != "-":
        try:
            s.sendmail("a@shop.test", ["x@example.com"], "Subject: plain\r\n\r\nno\r\n")
            print("UNEXPECTED: accepted mail before STARTTLS"); sys.exit(3)
        except smtplib.SMTPSenderRefused as e:
            print("refused before STARTTLS:", e.smtp_code)
            if e.smtp_code != 530: sys.exit(4)
        s.starttls(context=ssl.create_default_context(cafile=cafile))
    if user != "-":
        try:
            s.sendmail("a@shop.test", ["x@example.com"], "Subject: noauth\r\n\r\nno\r\n")
            print("UNEXPECTED: accepted mail without AUTH"); sys.exit(5)
        except smtplib.SMTPSenderRefused as e:
            print("refused without AUTH:", e.smtp_code)
        try:
            s.login(user, password + "-wrong")
            print("UNEXPECTED: wrong password accepted"); sys.exit(6)
        except smtplib.SMTPAuthenticationError as e:
            print("wrong password:", e.smtp_code)
        s.login(user, password)
    return s
s = connect()
s.sendmail("shop@shop.test", ["ann@example.com", "bob@example.com"],
           "From: shop@shop.test\r\nTo: ann@example.com\r\nSubject: one\r\n\r\nfirst\r\n.leading dot\r\n")
s.sendmail("shop@shop.test", ["ann@example.com"], "Subject: two\r\n\r\nsecond\r\n")
s.quit()
s = connect()
s.sendmail("shop@shop.test", ["cat@example.com"], "Subject: three\r\n\r\nthird\r\n")
s.quit()
print("OK")
)PY";

void check_smtp_sink(SmtpSink& sink, const std::string& user, const std::string& password) {
  auto [status, output] =
      run_python(kSmtpClient, {std::to_string(sink.port()),
                               sink.cert_file().empty() ? "-" : sink.cert_file(),
                               user.empty() ? "-" : user, password});
  INFO(output);
  INFO(sink.log());
  REQUIRE(status == 0);
  REQUIRE(sink.wait_for(3));
  auto messages = sink.messages();
  REQUIRE(messages.size() == 3);
  CHECK(messages[0].mail_from == "shop@shop.test");
  CHECK(messages[0].rcpt_tos == std::vector<std::string>{"ann@example.com", "bob@example.com"});
  CHECK(messages[0].raw ==
        "From: shop@shop.test\r\nTo: ann@example.com\r\nSubject: one\r\n\r\nfirst\r\n.leading dot\r\n");
  CHECK(messages[1].raw.find("Subject: two") != std::string::npos);
  CHECK(messages[2].rcpt_tos == std::vector<std::string>{"cat@example.com"});
  // One connection carried the first two messages; the third came on another.
  CHECK(messages[0].connection_id == messages[1].connection_id);
  CHECK(messages[0].connection_id != messages[2].connection_id);
  bool tls = !sink.cert_file().empty();
  for (const auto& m : messages) {
    CHECK(m.tls == tls);
    CHECK(m.authenticated == !user.empty());
  }
}

}  // namespace

// ---------------------------------------------------------------------------- Twilio

TEST_CASE("twilio: a send answers 201 with Twilio's message JSON and checks Basic auth") {
  ProviderSandbox sb;
  auto r = twilio_send(sb);
  REQUIRE(r.status == 201);
  auto j = json::parse(r.body);
  CHECK(std::regex_match(j["sid"].get<std::string>(), std::regex("SM[0-9a-f]{32}")));
  CHECK(j["status"] == "queued");
  CHECK(j["to"] == "+15551234567");
  CHECK(j["from"] == "+15550001111");
  CHECK(j["body"] == "Hello there");
  CHECK(j["num_segments"] == "1");  // a string, as Twilio sends it
  CHECK(j["error_code"].is_null());
  CHECK(j["account_sid"] == t::kTwilioSid);
  CHECK(std::regex_match(j["date_created"].get<std::string>(),
                         std::regex(R"([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000)")));

  // A messaging service instead of a number: "accepted"; a long GSM body: several segments.
  r = twilio_send(sb, "To=%2B15551234567&MessagingServiceSid=MG123&Body=" + std::string(200, 'a'));
  REQUIRE(r.status == 201);
  CHECK(json::parse(r.body)["status"] == "accepted");
  CHECK(json::parse(r.body)["num_segments"] == "2");

  r = twilio_send(sb, kTwilioForm, "wrong-token");
  CHECK(r.status == 401);
  j = json::parse(r.body);
  CHECK(j["code"] == 20003);
  CHECK(j["status"] == 401);
  CHECK(j["more_info"] == "https://www.twilio.com/docs/errors/20003");
  CHECK(t::http(sb.port(), "POST", twilio_path(), kTwilioForm).status == 401);  // no auth at all

  r = twilio_send(sb, "To=5551234&From=%2B15550001111&Body=x");
  CHECK(r.status == 400);
  CHECK(json::parse(r.body)["code"] == 21211);
  r = twilio_send(sb, "To=%2B15551234567&From=%2B15550001111&Body=" + std::string(1601, 'b'));
  CHECK(r.status == 400);
  CHECK(json::parse(r.body)["code"] == 21617);
  r = twilio_send(sb, "To=%2B15551234567&From=%2B15550001111&Body=" + std::string(1600, 'b'));
  CHECK(r.status == 201);
  r = twilio_send(sb, "To=%2B15551234567&Body=x");
  CHECK(r.status == 400);
  CHECK(json::parse(r.body)["code"] == 21603);

  // The request log: form fields, lower-case headers, the answer given.
  auto items = sb.requests("twilio");
  REQUIRE(items.size() == 8);
  CHECK(items[0]["provider"] == "twilio");
  CHECK(items[0]["method"] == "POST");
  CHECK(items[0]["path"] == twilio_path());
  CHECK(items[0]["form"]["To"] == json::array({"+15551234567"}));
  CHECK(items[0]["form"]["Body"] == json::array({"Hello there"}));
  CHECK(items[0]["headers"]["authorization"].get<std::string>().rfind("Basic ", 0) == 0);
  CHECK(items[0]["body"] == kTwilioForm);
  CHECK(items[0]["json"].is_null());
  CHECK(items[0]["status"] == 201);
  CHECK(items[2]["status"] == 401);
  CHECK(sb.requests("whatsapp").empty());
  CHECK(sb.stats()["requests"]["twilio"] == 8);
  sb.clear();
  CHECK(sb.requests().empty());
  CHECK(sb.stats()["requests"]["twilio"] == 0);
}

// ---------------------------------------------------------------------------- WhatsApp

TEST_CASE("whatsapp: text and template sends, the Graph error envelope, bearer auth") {
  ProviderSandbox sb;
  auto r = whatsapp_send(sb, whatsapp_text());
  REQUIRE(r.status == 200);
  auto j = json::parse(r.body);
  CHECK(j["messaging_product"] == "whatsapp");
  CHECK(j["contacts"][0]["input"] == "15551234567");
  CHECK(j["contacts"][0]["wa_id"] == "15551234567");
  CHECK(j["messages"][0]["id"].get<std::string>().rfind("wamid.", 0) == 0);

  auto tpl = json::parse(R"({
    "messaging_product": "whatsapp", "to": "15551234567", "type": "template",
    "template": {"name": "order_confirmation", "language": {"code": "en_US"},
                 "components": [{"type": "body",
                                 "parameters": [{"type": "text", "text": "Asha"}]}]}})");
  r = whatsapp_send(sb, tpl);
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["messages"][0]["id"].get<std::string>().rfind("wamid.", 0) == 0);

  // A version segment in the base URL is accepted too.
  r = t::http(sb.port(), "POST", std::string("/whatsapp/v19.0/") + t::kWhatsappPhoneId + "/messages",
              whatsapp_text().dump(), bearer(t::kWhatsappToken));
  CHECK(r.status == 200);

  r = whatsapp_send(sb, whatsapp_text(), "bad-token");
  CHECK(r.status == 401);
  j = json::parse(r.body);
  CHECK(j["error"]["code"] == 190);
  CHECK(j["error"]["type"] == "OAuthException");
  CHECK(j["error"].contains("fbtrace_id"));

  auto missing_product = whatsapp_text();
  missing_product.erase("messaging_product");
  r = whatsapp_send(sb, missing_product);
  CHECK(r.status == 400);
  CHECK(json::parse(r.body)["error"]["code"] == 100);
  auto no_body = whatsapp_text();
  no_body["text"].erase("body");
  CHECK(whatsapp_send(sb, no_body).status == 400);
  auto no_lang = tpl;
  no_lang["template"].erase("language");
  CHECK(whatsapp_send(sb, no_lang).status == 400);
  auto no_to = whatsapp_text();
  no_to.erase("to");
  CHECK(whatsapp_send(sb, no_to).status == 400);

  auto items = sb.requests("whatsapp");
  REQUIRE(items.size() == 8);
  CHECK(items[0]["json"]["text"]["body"] == "Hello");
  CHECK(items[0]["headers"]["authorization"] == std::string("Bearer ") + t::kWhatsappToken);
  CHECK(items[0]["form"].is_null());
}

// ---------------------------------------------------------------------------- Messenger

TEST_CASE("messenger: sends through /me and /PAGE_ID, token and text checks") {
  ProviderSandbox sb;
  auto r = messenger_send(sb, messenger_text());
  REQUIRE(r.status == 200);
  auto j = json::parse(r.body);
  CHECK(j["recipient_id"] == "6000000000001");
  CHECK(j["message_id"].get<std::string>().rfind("m_", 0) == 0);

  r = t::http(sb.port(), "POST",
              std::string("/messenger/") + t::kMessengerPageId + "/messages?access_token=" +
                  t::kMessengerToken,
              messenger_text().dump());
  CHECK(r.status == 200);

  r = messenger_send(sb, messenger_text(), "wrong");
  CHECK(r.status == 401);
  CHECK(json::parse(r.body)["error"]["code"] == 190);

  r = messenger_send(sb, messenger_text(std::string(2001, 'x')));
  CHECK(r.status == 400);
  CHECK(json::parse(r.body)["error"]["code"] == 100);
  CHECK(messenger_send(sb, messenger_text(std::string(2000, 'x'))).status == 200);

  auto no_type = messenger_text();
  no_type.erase("messaging_type");
  CHECK(messenger_send(sb, no_type).status == 400);
  auto no_recipient = messenger_text();
  no_recipient.erase("recipient");
  CHECK(messenger_send(sb, no_recipient).status == 400);

  auto items = sb.requests("messenger");
  REQUIRE(items.size() == 7);
  CHECK(items[0]["query"]["access_token"] == t::kMessengerToken);
  CHECK(items[0]["json"]["recipient"]["id"] == "6000000000001");
}

// ---------------------------------------------------------------------------- SendGrid

TEST_CASE("sendgrid: 202 with X-Message-Id, errors in SendGrid's envelope") {
  ProviderSandbox sb;
  auto r = sendgrid_send(sb, sendgrid_mail());
  REQUIRE(r.status == 202);
  CHECK(r.body.empty());
  CHECK(r.header("content-length") == "0");
  CHECK(!r.header("x-message-id").empty());

  r = sendgrid_send(sb, sendgrid_mail(), "SG.wrong");
  CHECK(r.status == 401);
  auto j = json::parse(r.body);
  REQUIRE(j["errors"].is_array());
  CHECK(j["errors"][0].contains("message"));
  CHECK(j["errors"][0].contains("field"));
  CHECK(j["errors"][0].contains("help"));

  auto no_from = sendgrid_mail();
  no_from.erase("from");
  r = sendgrid_send(sb, no_from);
  CHECK(r.status == 400);
  CHECK(json::parse(r.body)["errors"][0]["field"] == "from");

  auto bad_to = sendgrid_mail();
  bad_to["personalizations"][0]["to"][0]["email"] = "not-an-address";
  r = sendgrid_send(sb, bad_to);
  CHECK(r.status == 400);
  CHECK(json::parse(r.body)["errors"][0]["field"] == "personalizations.0.to.0.email");

  auto no_subject = sendgrid_mail();
  no_subject.erase("subject");
  CHECK(sendgrid_send(sb, no_subject).status == 400);
  auto no_content = sendgrid_mail();
  no_content.erase("content");
  CHECK(sendgrid_send(sb, no_content).status == 400);

  auto items = sb.requests("sendgrid");
  REQUIRE(items.size() == 6);
  CHECK(items[0]["status"] == 202);
  CHECK(items[0]["json"]["subject"] == "Your order");
}

// ---------------------------------------------------------------------------- WeChat

TEST_CASE("wechat: tokens, sends, and a new token invalidating the previous one") {
  ProviderSandbox sb;
  auto first = wechat_token(sb);
  auto j = wechat_custom(sb, first);
  CHECK(j["errcode"] == 0);
  CHECK(j["errmsg"] == "ok");

  json tpl{{"touser", "oOPENID123"}, {"template_id", "TPL-1"}, {"url", "https://shop.example/o/1"},
           {"data", {{"keyword1", {{"value", "A-1001"}, {"color", "#173177"}}}}}};
  auto r = t::http(sb.port(), "POST", "/wechat/cgi-bin/message/template/send?access_token=" + first,
                   tpl.dump());
  REQUIRE(r.status == 200);
  j = json::parse(r.body);
  CHECK(j["errcode"] == 0);
  CHECK(j["msgid"].is_number_integer());

  auto second = wechat_token(sb);
  CHECK(second != first);
  j = wechat_custom(sb, first);
  CHECK(j["errcode"] == 40001);
  CHECK(wechat_custom(sb, second)["errcode"] == 0);
  CHECK(wechat_custom(sb, "")["errcode"] == 41001);

  // A wrong secret: errcode 40125 in an HTTP 200, and no token issued.
  r = t::http(sb.port(), "GET",
              std::string("/wechat/cgi-bin/token?grant_type=client_credential&appid=") +
                  t::kWechatAppId + "&secret=wrong");
  CHECK(r.status == 200);
  CHECK(json::parse(r.body)["errcode"] == 40125);
  CHECK(wechat_custom(sb, second)["errcode"] == 0);

  auto stats = sb.stats();
  CHECK(stats["wechat_tokens_issued"] == 2);
  CHECK(stats["wechat_access_token"] == second);
  CHECK(stats["requests"]["wechat"] == 9);
  sb.reset();
  CHECK(sb.stats()["wechat_tokens_issued"] == 0);
  CHECK(wechat_custom(sb, second)["errcode"] == 40001);
}

// ---------------------------------------------------------------------------- faults

TEST_CASE("faults: scripted faults are consumed in order, then normal behaviour") {
  ProviderSandbox sb;
  sb.add_faults("twilio", json::array({
                              {{"kind", "error"}, {"code", 21610}},
                              {{"kind", "error"}, {"code", 20429}},
                              {{"kind", "http"}, {"status", 503}, {"headers", {{"Retry-After", "2"}}},
                               {"body", "upstream unavailable"}},
                          }));
  CHECK(sb.stats()["pending_faults"]["twilio"] == 3);

  auto r = twilio_send(sb);
  CHECK(r.status == 400);
  CHECK(json::parse(r.body)["code"] == 21610);
  CHECK(json::parse(r.body)["more_info"] == "https://www.twilio.com/docs/errors/21610");

  r = twilio_send(sb);
  CHECK(r.status == 429);
  CHECK(json::parse(r.body)["code"] == 20429);
  CHECK(!r.header("retry-after").empty());

  r = twilio_send(sb);
  CHECK(r.status == 503);
  CHECK(r.header("retry-after") == "2");
  CHECK(r.body == "upstream unavailable");

  CHECK(twilio_send(sb).status == 201);
  auto items = sb.requests("twilio");
  REQUIRE(items.size() == 4);
  CHECK(items[0]["fault"] == "error");
  CHECK(items[2]["fault"] == "http");
  CHECK(items[3]["fault"].is_null());
  CHECK(items[2]["status"] == 503);

  // Faults only touch the provider they were given for.
  sb.add_faults("twilio", {{"kind", "error"}, {"code", 21211}});
  CHECK(whatsapp_send(sb, whatsapp_text()).status == 200);
  sb.clear_faults();
  CHECK(twilio_send(sb).status == 201);
}

TEST_CASE("faults: a delay is a timeout for an impatient client, then an answer") {
  ProviderSandbox sb;
  sb.add_faults("twilio", json::array({{{"kind", "delay"}, {"ms", 1500}},
                                       {{"kind", "delay"}, {"ms", 400}}}));
  {
    HttpConnection impatient(sb.port(), 300ms);
    impatient.send(t::build_request("POST", twilio_path(), kTwilioForm, twilio_headers()));
    auto start = std::chrono::steady_clock::now();
    CHECK(!impatient.read_response());  // nothing within 300 ms
    CHECK(std::chrono::steady_clock::now() - start < 1400ms);
  }
  auto start = std::chrono::steady_clock::now();
  auto r = twilio_send(sb);
  CHECK(r.status == 201);
  CHECK(std::chrono::steady_clock::now() - start >= 390ms);
  CHECK(t::eventually([&] { return sb.requests("twilio")[0]["status"] == 201; }, 5s));
}

TEST_CASE("faults: close drops the connection without an answer") {
  ProviderSandbox sb;
  sb.add_faults("sendgrid", {{"kind", "close"}});
  HttpConnection c(sb.port(), 5s);
  c.send(t::build_request("POST", "/sendgrid/v3/mail/send", sendgrid_mail().dump(),
                          bearer(t::kSendgridKey)));
  CHECK(!c.read_response());
  CHECK(sendgrid_send(sb, sendgrid_mail()).status == 202);
  auto items = sb.requests("sendgrid");
  REQUIRE(items.size() == 2);
  CHECK(items[0]["status"].is_null());
  CHECK(items[0]["fault"] == "close");
}

TEST_CASE("faults: an always fault applies until cleared") {
  ProviderSandbox sb;
  sb.set_always("whatsapp", {{"kind", "http"}, {"status", 500}, {"body", {{"error", "down"}}}});
  for (int i = 0; i < 3; ++i) {
    auto r = whatsapp_send(sb, whatsapp_text());
    CHECK(r.status == 500);
    CHECK(json::parse(r.body)["error"] == "down");
  }
  // Scripted faults come first, then the always fault again.
  sb.add_faults("whatsapp", {{"kind", "error"}, {"code", 131047}});
  CHECK(whatsapp_send(sb, whatsapp_text()).status == 400);
  CHECK(whatsapp_send(sb, whatsapp_text()).status == 500);
  sb.set_always("whatsapp", nullptr);
  CHECK(whatsapp_send(sb, whatsapp_text()).status == 200);
  sb.set_always("whatsapp", {{"kind", "error"}, {"code", 130429}});
  CHECK(whatsapp_send(sb, whatsapp_text()).status == 400);
  sb.clear_faults();
  CHECK(whatsapp_send(sb, whatsapp_text()).status == 200);
}

TEST_CASE("faults: error codes use each provider's envelope and HTTP status") {
  ProviderSandbox sb;
  SECTION("whatsapp") {
    sb.add_faults("whatsapp", json::array({{{"kind", "error"}, {"code", 130429}},
                                           {{"kind", "error"}, {"code", 131056}},
                                           {{"kind", "error"}, {"code", 131026}},
                                           {{"kind", "error"}, {"code", 190}}}));
    for (int code : {130429, 131056, 131026}) {
      auto r = whatsapp_send(sb, whatsapp_text());
      CHECK(r.status == 400);
      auto e = json::parse(r.body)["error"];
      CHECK(e["code"] == code);
      CHECK(e["message"].get<std::string>().find("(#" + std::to_string(code) + ")") == 0);
      CHECK(e["error_data"]["messaging_product"] == "whatsapp");
      CHECK(e["error_data"].contains("details"));
      CHECK(e.contains("fbtrace_id"));
    }
    auto r = whatsapp_send(sb, whatsapp_text());
    CHECK(r.status == 401);
    CHECK(json::parse(r.body)["error"]["code"] == 190);
  }
  SECTION("messenger") {
    sb.add_faults("messenger", json::array({{{"kind", "error"}, {"code", 10}},
                                            {{"kind", "error"}, {"code", 10}, {"subcode", 2018065}},
                                            {{"kind", "error"}, {"code", 613}},
                                            {{"kind", "error"}, {"code", 551}}}));
    auto r = messenger_send(sb, messenger_text());
    CHECK(r.status == 400);
    auto e = json::parse(r.body)["error"];
    CHECK(e["code"] == 10);
    CHECK(e["error_subcode"] == 2018278);
    CHECK(e.contains("fbtrace_id"));
    CHECK(!e.contains("error_data"));
    r = messenger_send(sb, messenger_text());
    CHECK(json::parse(r.body)["error"]["error_subcode"] == 2018065);
    r = messenger_send(sb, messenger_text());
    CHECK(r.status == 429);
    CHECK(json::parse(r.body)["error"]["code"] == 613);
    r = messenger_send(sb, messenger_text());
    CHECK(r.status == 400);
    CHECK(json::parse(r.body)["error"]["code"] == 551);
  }
  SECTION("sendgrid") {
    sb.add_faults("sendgrid", json::array({{{"kind", "error"}, {"status", 429}},
                                           {{"kind", "error"}, {"status", 413}, {"message", "too big"}}}));
    auto r = sendgrid_send(sb, sendgrid_mail());
    CHECK(r.status == 429);
    CHECK(json::parse(r.body)["errors"][0].contains("message"));
    CHECK(r.header("x-ratelimit-remaining") == "0");
    r = sendgrid_send(sb, sendgrid_mail());
    CHECK(r.status == 413);
    CHECK(json::parse(r.body)["errors"][0]["message"] == "too big");
  }
  SECTION("wechat: 200 with the errcode; 42001 also invalidates the token") {
    auto token = wechat_token(sb);
    sb.add_faults("wechat", json::array({{{"kind", "error"}, {"code", 45015}},
                                         {{"kind", "error"}, {"code", 42001}}}));
    CHECK(wechat_custom(sb, token)["errcode"] == 45015);
    CHECK(wechat_custom(sb, token)["errcode"] == 42001);
    CHECK(wechat_custom(sb, token)["errcode"] == 40001);  // the old token is dead
    auto fresh = wechat_token(sb);
    CHECK(wechat_custom(sb, fresh)["errcode"] == 0);
    CHECK(sb.stats()["wechat_tokens_issued"] == 2);
  }
  SECTION("twilio: an explicit status overrides the usual one") {
    sb.add_faults("twilio", {{"kind", "error"}, {"code", 20500}, {"status", 500}});
    auto r = twilio_send(sb);
    CHECK(r.status == 500);
    CHECK(json::parse(r.body)["code"] == 20500);
  }
}

TEST_CASE("faults: the control API refuses malformed faults") {
  ProviderSandbox sb;
  CHECK(sb.call("POST", "/_sandbox/faults", R"({"provider": "nope", "faults": []})").status == 400);
  CHECK(sb.call("POST", "/_sandbox/faults",
                R"({"provider": "twilio", "faults": [{"kind": "explode"}]})").status == 400);
  CHECK_THROWS(sb.add_faults("twilio", {{"kind", "delay"}}));
}

// ---------------------------------------------------------------------------- keep-alive

TEST_CASE("keep-alive: many requests over one connection") {
  ProviderSandbox sb;
  HttpConnection c(sb.port());
  for (int i = 0; i < 5; ++i) {
    auto r = c.request("POST", twilio_path(), kTwilioForm, twilio_headers());
    CHECK(r.status == 201);
    r = c.request("POST", "/sendgrid/v3/mail/send", sendgrid_mail().dump(), bearer(t::kSendgridKey));
    CHECK(r.status == 202);
  }
  CHECK(sb.requests().size() == 10);
}

// ---------------------------------------------------------------------------- webhooks

TEST_CASE("webhook: the Twilio signer matches Twilio's published vectors") {
  ProviderSandbox sb;
  std::string echo = "http://127.0.0.1:" + std::to_string(sb.port()) + "/_sandbox/echo";
  const std::string url = "https://mycompany.com/myapp.php?foo=1&bar=2";
  // The same request appears in published test suites with two caller numbers.
  auto [caller, expected] = GENERATE(
      std::make_pair(std::string("+14158675310"), std::string("GvWf1cFY/Q7PnoempGyD5oXAezc=")),
      std::make_pair(std::string("+12349013030"), std::string("0/KCTR6DLpKmkAf8muzZqo1nDgQ=")));
  json params{{"CallSid", "CA1234567890ABCDE"}, {"Caller", caller}, {"Digits", "1234"},
              {"From", caller}, {"To", "+18005551212"}};
  auto answer = sb.webhook({{"provider", "twilio"}, {"url", echo}, {"signed_url", url},
                            {"secret", "12345"}, {"params", params}});
  REQUIRE(answer["status"] == 200);
  auto received = json::parse(answer["body"].get<std::string>());
  CHECK(received["method"] == "POST");
  CHECK(received["headers"]["x-twilio-signature"] == expected);
  CHECK(received["headers"]["content-type"].get<std::string>().rfind(
            "application/x-www-form-urlencoded", 0) == 0);
  CHECK(received["body"].get<std::string>().find("Caller=" + std::string("%2B") + caller.substr(1)) !=
        std::string::npos);

  auto bad = sb.webhook({{"provider", "twilio"}, {"url", echo}, {"signed_url", url},
                         {"secret", "12345"}, {"params", params}, {"signature", "bad"}});
  auto bad_sig = json::parse(bad["body"].get<std::string>())["headers"]["x-twilio-signature"];
  CHECK(bad_sig != expected);
  auto none = sb.webhook({{"provider", "twilio"}, {"url", echo}, {"params", params},
                          {"signature", "none"}});
  CHECK(!json::parse(none["body"].get<std::string>())["headers"].contains("x-twilio-signature"));
}

TEST_CASE("webhook: Meta and WeChat signatures, GET verifications, delivery failures") {
  ProviderSandbox sb;
  std::string echo = "http://127.0.0.1:" + std::to_string(sb.port()) + "/_sandbox/echo";

  auto payload = json::parse(R"({
    "object": "whatsapp_business_account",
    "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
      "messaging_product": "whatsapp",
      "messages": [{"from": "15551234567", "id": "wamid.X", "timestamp": "1700000000",
                    "type": "text", "text": {"body": "Olá / hi"}}]}}]}]})");
  auto answer = sb.webhook({{"provider", "whatsapp"}, {"url", echo}, {"json", payload}});
  REQUIRE(answer["status"] == 200);
  auto received = json::parse(answer["body"].get<std::string>());
  std::string raw = received["body"];
  CHECK(raw.find("\\u00e1") != std::string::npos);  // Meta escapes non-ASCII...
  CHECK(raw.find("\\/") != std::string::npos);      // ...and slashes
  CHECK(json::parse(raw) == payload);
  CHECK(received["headers"]["x-hub-signature-256"] ==
        "sha256=" + hmac_sha256_hex(t::kWhatsappAppSecret, raw));

  answer = sb.webhook({{"provider", "messenger"}, {"url", echo}, {"json", {{"object", "page"}}},
                       {"secret", "s3cret"}, {"signature", "bad"}});
  received = json::parse(answer["body"].get<std::string>());
  CHECK(received["headers"]["x-hub-signature-256"] !=
        "sha256=" + hmac_sha256_hex("s3cret", received["body"].get<std::string>()));

  answer = sb.webhook({{"provider", "messenger"}, {"method", "GET"}, {"url", echo},
                       {"challenge", "1158201444"}});
  received = json::parse(answer["body"].get<std::string>());
  CHECK(received["method"] == "GET");
  CHECK(received["query"]["hub.mode"] == "subscribe");
  CHECK(received["query"]["hub.challenge"] == "1158201444");
  CHECK(received["query"]["hub.verify_token"] == t::kMessengerVerifyToken);

  std::string xml = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><MsgId>1</MsgId></xml>";
  answer = sb.webhook({{"provider", "wechat"}, {"url", echo}, {"xml", xml}, {"token", "tok"},
                       {"timestamp", "1409304348"}, {"nonce", "xxxxxx"}});
  received = json::parse(answer["body"].get<std::string>());
  CHECK(received["body"] == xml);
  CHECK(received["query"]["timestamp"] == "1409304348");
  CHECK(received["query"]["signature"] == sha1_hex("1409304348tokxxxxxx"));  // sorted, joined

  answer = sb.webhook({{"provider", "wechat"}, {"method", "GET"}, {"url", echo}, {"echostr", "e42"}});
  received = json::parse(answer["body"].get<std::string>());
  CHECK(received["query"]["echostr"] == "e42");
  std::vector<std::string> parts{t::kWechatServerToken,
                                 received["query"]["timestamp"].get<std::string>(),
                                 received["query"]["nonce"].get<std::string>()};
  std::sort(parts.begin(), parts.end());
  CHECK(received["query"]["signature"] == sha1_hex(parts[0] + parts[1] + parts[2]));

  // Herald's answer comes back as it was: status, headers, body.
  answer = sb.webhook({{"provider", "sendgrid"}, {"url", "http://127.0.0.1:" + std::to_string(sb.port()) + "/nowhere"},
                       {"json", json::array({{{"event", "delivered"}}})}});
  CHECK(answer["status"] == 404);
  CHECK(answer["headers"].contains("content-type"));

  auto refused = sb.call("POST", "/_sandbox/webhook",
                         json{{"provider", "twilio"}, {"url", "http://127.0.0.1:1/hook"}}.dump());
  CHECK(refused.status == 502);
  CHECK_THROWS(sb.webhook({{"provider", "twilio"}, {"url", "http://127.0.0.1:1/hook"}}));
}

// ---------------------------------------------------------------------------- SMTP

TEST_CASE("smtp sink: plain SMTP, one connection carrying two messages") {
  SmtpSink sink;
  CHECK(sink.cert_file().empty());
  CHECK(sink.url() == "smtp://127.0.0.1:" + std::to_string(sink.port()));
  check_smtp_sink(sink, "", "");
}

TEST_CASE("smtp sink: STARTTLS is required and the certificate verifies for 127.0.0.1") {
  SmtpSinkOptions options;
  options.starttls = true;
  SmtpSink sink(options);
  REQUIRE(!sink.cert_file().empty());
  check_smtp_sink(sink, "", "");
}

TEST_CASE("smtp sink: STARTTLS and AUTH required") {
  SmtpSinkOptions options;
  options.starttls = true;
  options.user = "mailer";
  options.password = "p4ss";
  SmtpSink sink(options);
  check_smtp_sink(sink, "mailer", "p4ss");
}

TEST_CASE("smtp sink: AUTH without TLS") {
  SmtpSinkOptions options;
  options.user = "mailer";
  options.password = "p4ss";
  SmtpSink sink(options);
  check_smtp_sink(sink, "mailer", "p4ss");
}
