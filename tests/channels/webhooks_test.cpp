// Provider webhooks: signature checks against known vectors and independently computed
// digests, payload parsers on realistic payloads (with fields the providers may add),
// malformed input returned as errors, the forward-only status rule, and random
// mutations of valid payloads that must never make a parser throw.
#include <cstdint>
#include <random>
#include <string>
#include <variant>

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "channels/webhooks.hpp"

namespace wh = herald::channels::webhooks;

namespace {

// Independent helpers (OpenSSL directly), so the tests do not trust the code under test.
std::string hex(const unsigned char* p, std::size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

std::string hmac_sha256_hex(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n);
  return hex(out, n);
}

std::string hmac_sha1_b64(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n);
  unsigned char b64[64];
  int len = EVP_EncodeBlock(b64, out, static_cast<int>(n));
  return std::string(reinterpret_cast<char*>(b64), static_cast<std::size_t>(len));
}

std::string sha1_hex(const std::string& data) {
  unsigned char out[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return hex(out, sizeof out);
}

std::string upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

wh::ParsedHook ok(const wh::HookResult& r) {
  if (const auto* e = std::get_if<std::string>(&r)) FAIL("unexpected error: " << *e);
  return std::get<wh::ParsedHook>(r);
}

bool is_error(const wh::HookResult& r) { return std::holds_alternative<std::string>(r); }

wh::WechatInbound ok(const std::variant<wh::WechatInbound, std::string>& r) {
  if (const auto* e = std::get_if<std::string>(&r)) FAIL("unexpected error: " << *e);
  return std::get<wh::WechatInbound>(r);
}

const wh::FormParams kDocParams = {{"CallSid", "CA1234567890ABCDE"},
                                   {"Caller", "+12349013030"},
                                   {"Digits", "1234"},
                                   {"From", "+12349013030"},
                                   {"To", "+18005551212"}};
const std::string kDocUrl = "https://mycompany.com/myapp.php?foo=1&bar=2";

// --- Realistic payloads (providers.md's shapes, plus fields Herald does not know) -------

const char* kWhatsAppInbound = R"({
  "object": "whatsapp_business_account",
  "entry": [{
    "id": "102290129340398",
    "changes": [{
      "field": "messages",
      "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Asha"}, "wa_id": "16505551234", "user_id": "US.1"}],
        "messages": [
          {"from": "16505551234", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
           "timestamp": "1749416383", "type": "text", "text": {"body": "STOP"},
           "context": {"from": "15550783881", "id": "wamid.prev"}, "brand_new_field": {"x": [1, 2]}},
          {"from": "16505551234", "id": "wamid.image1", "timestamp": 1749416390, "type": "image",
           "image": {"caption": "my order", "mime_type": "image/jpeg", "sha256": "abc", "id": "1479537139650973"}}
        ]
      }
    }]
  }]
})";

const char* kWhatsAppStatuses = R"({
  "object": "whatsapp_business_account",
  "entry": [{"id": "102290129340398", "changes": [
    {"field": "messages", "value": {
      "messaging_product": "whatsapp",
      "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
      "statuses": [
        {"id": "wamid.out1", "status": "delivered", "timestamp": "1750263773", "recipient_id": "16505551234",
         "conversation": {"id": "c1", "origin": {"type": "utility"}}, "pricing": {"billable": true, "category": "utility"}},
        {"id": "wamid.out2", "status": "failed", "timestamp": "1750263774", "recipient_id": "16505551234",
         "errors": [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                     "error_data": {"details": "Message failed to send because more than 24 hours have passed"}}]},
        {"id": "wamid.out3", "status": "deleted", "timestamp": "1750263775", "recipient_id": "16505551234"},
        {"id": "wamid.out4", "status": "read", "timestamp": "1750263776", "recipient_id": "16505551234"}
      ]}},
    {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}
  ]}]
})";

const char* kMessenger = R"({
  "object": "page",
  "entry": [{
    "id": "PAGE_ID", "time": 1458692752478,
    "messaging": [
      {"sender": {"id": "PSID_1"}, "recipient": {"id": "PAGE_ID"}, "timestamp": 1458692752478,
       "message": {"mid": "m_1", "text": "hello, world!", "quick_reply": {"payload": "X"}, "nlp": {}}},
      {"sender": {"id": "PAGE_ID"}, "recipient": {"id": "PSID_1"}, "timestamp": 1458692752479,
       "message": {"mid": "m_echo", "is_echo": true, "app_id": 1517776481860111, "text": "our reply"}},
      {"sender": {"id": "PSID_1"}, "recipient": {"id": "PAGE_ID"}, "timestamp": 1458692752480,
       "message": {"mid": "m_2", "attachments": [{"type": "image", "payload": {"url": "https://cdn.example/p.jpg"}}]}},
      {"sender": {"id": "PSID_1"}, "recipient": {"id": "PAGE_ID"},
       "delivery": {"mids": ["m_out1", "m_out2"], "watermark": 1458668856253, "seq": 37}},
      {"sender": {"id": "PSID_1"}, "recipient": {"id": "PAGE_ID"},
       "delivery": {"watermark": 1458668856300}},
      {"sender": {"id": "PSID_1"}, "recipient": {"id": "PAGE_ID"}, "timestamp": 1458668856463,
       "read": {"watermark": 1458668856253, "seq": 38}},
      {"sender": {"id": "PSID_1"}, "recipient": {"id": "PAGE_ID"}, "timestamp": 1458668856500,
       "postback": {"mid": "m_pb", "title": "Talk to a human", "payload": "HUMAN"}},
      {"sender": {"id": "PSID_1"}, "recipient": {"id": "PAGE_ID"}, "timestamp": 1, "reaction": {"mid": "m_1", "action": "react"}}
    ]
  }, {"id": "PAGE_ID", "time": 1, "standby": [{"sender": {"id": "PSID_2"}}]}]
})";

const char* kSendGrid = R"([
  {"email": "ann@example.com", "timestamp": 1513299569, "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
   "event": "processed", "category": "cat facts", "sg_event_id": "e1", "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"},
  {"email": "ann@example.com", "timestamp": 1513299570, "event": "deferred", "response": "400 try again later", "attempt": "5",
   "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"},
  {"email": "ann@example.com", "timestamp": 1513299571, "event": "delivered", "response": "250 OK",
   "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "custom_arg": {"herald_id": "msg-1"}},
  {"email": "ann@example.com", "timestamp": 1513299572, "event": "open", "useragent": "Mozilla/4.0", "ip": "255.255.255.255",
   "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "sg_machine_open": false},
  {"email": "bob@example.com", "timestamp": 1513299573, "event": "bounce", "status": "5.0.0", "type": "bounce",
   "reason": "500 unknown recipient", "sg_message_id": "AbCdEf.filter0002"},
  {"email": "cat@example.com", "timestamp": 1513299574, "event": "dropped", "reason": "Bounced Address",
   "sg_message_id": "XyZ123.filter0003"},
  {"email": "dan@example.com", "timestamp": 1513299575, "event": "spamreport", "sg_message_id": "Spam1.filter"},
  {"email": "eve@example.com", "timestamp": 1513299576, "event": "unsubscribe"},
  {"email": "eve@example.com", "timestamp": 1513299577, "event": "group_resubscribe", "asm_group_id": 10},
  {"email": "fay@example.com", "timestamp": 1513299578, "event": "click", "url": "https://x", "sg_message_id": "Clk.f"},
  "not an event",
  {"email": "gus@example.com", "timestamp": 1513299579, "event": "delivered"}
])";

const char* kWechatText =
    "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>"
    "<FromUserName><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></FromUserName>"
    "<CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[你好 <b>&amp; STOP]]></Content><MsgId>1234567890123456</MsgId>"
    "<MsgDataId>xxxx</MsgDataId><Idx>1</Idx></xml>";

}  // namespace

// ---------------------------------------------------------------------------------------

TEST_CASE("form bodies and URL encoding") {
  CHECK(wh::url_decode("a+b%20c%2Bd") == "a b c+d");
  CHECK(wh::url_decode("a+b", false) == "a+b");
  CHECK(wh::url_decode("100%") == "100%");
  CHECK(wh::url_decode("%zz%4") == "%zz%4");
  CHECK(wh::url_decode("%e4%BD%A0") == "\xe4\xbd\xa0");
  CHECK(wh::url_encode("a b+c/~._-Z9é") == "a%20b%2Bc%2F~._-Z9%C3%A9");
  CHECK(wh::url_decode(wh::url_encode("any \x01 bytes &=?")) == "any \x01 bytes &=?");

  auto p = wh::parse_form("To=%2B18005551212&Body=Hello+there%21&MediaUrl=a&MediaUrl=b&&flag&=v&k=");
  REQUIRE(p.size() == 7);
  CHECK(p[0] == std::pair<std::string, std::string>{"To", "+18005551212"});
  CHECK(p[1].second == "Hello there!");
  CHECK(p[2] == std::pair<std::string, std::string>{"MediaUrl", "a"});
  CHECK(p[3] == std::pair<std::string, std::string>{"MediaUrl", "b"});
  CHECK(p[4] == std::pair<std::string, std::string>{"flag", ""});
  CHECK(p[5] == std::pair<std::string, std::string>{"", "v"});
  CHECK(p[6] == std::pair<std::string, std::string>{"k", ""});
  CHECK(wh::parse_form("").empty());
  REQUIRE(wh::find_param(p, "MediaUrl") != nullptr);
  CHECK(*wh::find_param(p, "MediaUrl") == "a");
  CHECK(wh::find_param(p, "Missing") == nullptr);
}

TEST_CASE("Twilio signature: the documentation's worked example") {
  // Twilio's page prints two versions of the example; the signature depends on the
  // phone numbers used. Both were checked against an independent HMAC (Python).
  CHECK(wh::twilio_signature(kDocUrl, kDocParams, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
  wh::FormParams other = {{"Digits", "1234"},
                          {"To", "+18005551212"},
                          {"From", "+14158675310"},
                          {"Caller", "+14158675310"},
                          {"CallSid", "CA1234567890ABCDE"}};
  CHECK(wh::twilio_signature(kDocUrl, other, "12345") == "GvWf1cFY/Q7PnoempGyD5oXAezc=");
  CHECK(wh::twilio_valid(kDocUrl, other, "GvWf1cFY/Q7PnoempGyD5oXAezc=", "12345"));
  CHECK(wh::twilio_valid(kDocUrl, kDocParams, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", "12345"));

  // The same from a form body, in any order.
  auto body = wh::parse_form(
      "To=%2B18005551212&Digits=1234&From=%2B12349013030&CallSid=CA1234567890ABCDE&Caller=%2B12349013030");
  CHECK(wh::twilio_valid(kDocUrl, body, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", "12345"));
  // Independently computed.
  CHECK(wh::twilio_signature(kDocUrl, kDocParams, "12345") ==
        hmac_sha1_b64("12345", kDocUrl +
                                   "CallSidCA1234567890ABCDECaller+12349013030Digits1234"
                                   "From+12349013030To+18005551212"));
}

TEST_CASE("Twilio signature: default ports added and removed") {
  const std::string with443 = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
  std::string signed_without = wh::twilio_signature(kDocUrl, kDocParams, "12345");
  std::string signed_with = wh::twilio_signature(with443, kDocParams, "12345");
  CHECK(signed_with != signed_without);
  CHECK(signed_with == "EpDEmp1PyjDYp77YxYU3GILBWzE=");
  // Twilio signed one form, the server reconstructed the other.
  CHECK(wh::twilio_valid(kDocUrl, kDocParams, signed_with, "12345"));
  CHECK(wh::twilio_valid(with443, kDocParams, signed_without, "12345"));
  CHECK(wh::twilio_valid(with443, kDocParams, signed_with, "12345"));

  const std::string http = "http://hooks.example.com/hooks/twilio";
  const std::string http80 = "http://hooks.example.com:80/hooks/twilio";
  CHECK(wh::twilio_valid(http, kDocParams, wh::twilio_signature(http80, kDocParams, "t"), "t"));
  CHECK(wh::twilio_valid(http80, kDocParams, wh::twilio_signature(http, kDocParams, "t"), "t"));
  // https with :80 is not a default-port variant of https://host/.
  CHECK_FALSE(wh::twilio_valid(
      "https://hooks.example.com/x", kDocParams,
      wh::twilio_signature("https://hooks.example.com:80/x", kDocParams, "t"), "t"));
  // A non-default port, as given, with user info and IPv6 literals.
  const std::string custom = "https://user:pw@[2001:db8::1]:8443/hooks/twilio?x=1";
  CHECK(wh::twilio_valid(custom, kDocParams, wh::twilio_signature(custom, kDocParams, "t"), "t"));
  CHECK(wh::twilio_valid("https://[2001:db8::1]/h", kDocParams,
                         wh::twilio_signature("https://[2001:db8::1]:443/h", kDocParams, "t"),
                         "t"));
  // A URL without a path.
  CHECK(wh::twilio_valid("https://a.example", {}, wh::twilio_signature("https://a.example:443", {}, "t"), "t"));
}

TEST_CASE("Twilio signature: repeated names are sorted by value") {
  wh::FormParams a = {{"MediaUrl", "https://b"}, {"Body", "x"}, {"MediaUrl", "https://a"}};
  wh::FormParams b = {{"MediaUrl", "https://a"}, {"MediaUrl", "https://b"}, {"Body", "x"}};
  std::string url = "https://h.example/hooks/twilio";
  CHECK(wh::twilio_signature(url, a, "tok") == wh::twilio_signature(url, b, "tok"));
  CHECK(wh::twilio_signature(url, a, "tok") ==
        hmac_sha1_b64("tok", url + "BodyxMediaUrlhttps://aMediaUrlhttps://b"));
  CHECK(wh::twilio_valid(url, a, hmac_sha1_b64("tok", url + "BodyxMediaUrlhttps://aMediaUrlhttps://b"), "tok"));
  // Dropping one of the repeated values breaks it.
  wh::FormParams c = {{"MediaUrl", "https://a"}, {"Body", "x"}};
  CHECK_FALSE(wh::twilio_valid(url, c, wh::twilio_signature(url, a, "tok"), "tok"));
}

TEST_CASE("Twilio signature: tampering is rejected") {
  const std::string sig = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";
  auto tampered = kDocParams;
  tampered[2].second = "9999";
  CHECK_FALSE(wh::twilio_valid(kDocUrl, tampered, sig, "12345"));
  auto extra = kDocParams;
  extra.emplace_back("Injected", "1");
  CHECK_FALSE(wh::twilio_valid(kDocUrl, extra, sig, "12345"));
  CHECK_FALSE(wh::twilio_valid("https://mycompany.com/myapp.php?foo=1&bar=3", kDocParams, sig, "12345"));
  CHECK_FALSE(wh::twilio_valid("http://mycompany.com/myapp.php?foo=1&bar=2", kDocParams, sig, "12345"));
  CHECK_FALSE(wh::twilio_valid("https://evil.example/myapp.php?foo=1&bar=2", kDocParams, sig, "12345"));
  CHECK_FALSE(wh::twilio_valid(kDocUrl, kDocParams, sig, "12346"));
  CHECK_FALSE(wh::twilio_valid(kDocUrl, kDocParams, "0/KCTR6DLpKmkAf8muzZqo1nDgQ", "12345"));
  CHECK_FALSE(wh::twilio_valid(kDocUrl, kDocParams, "1/KCTR6DLpKmkAf8muzZqo1nDgQ=", "12345"));
  CHECK_FALSE(wh::twilio_valid(kDocUrl, kDocParams, "", "12345"));
  CHECK_FALSE(wh::twilio_valid(kDocUrl, kDocParams, sig, ""));
  CHECK_FALSE(wh::twilio_valid("", {}, wh::twilio_signature("", {}, ""), ""));
}

TEST_CASE("Meta hub signature") {
  const std::string body = kWhatsAppInbound;
  const std::string secret = "app-secret-123";
  const std::string digest = hmac_sha256_hex(secret, body);
  REQUIRE(digest.size() == 64);
  CHECK(wh::hub_signature_valid(body, "sha256=" + digest, secret));
  CHECK(wh::hub_signature_valid(body, "sha256=" + upper(digest), secret));
  CHECK(wh::hub_signature_valid(body, "SHA256=" + digest, secret));
  CHECK(wh::hub_signature_valid(body, " sha256=" + digest + " ", secret));

  CHECK_FALSE(wh::hub_signature_valid(body, "sha256=" + digest, "other-secret"));
  CHECK_FALSE(wh::hub_signature_valid(body, "sha256=" + digest, ""));
  std::string changed = body;
  changed[changed.size() / 2] ^= 1;
  CHECK_FALSE(wh::hub_signature_valid(changed, "sha256=" + digest, secret));
  CHECK_FALSE(wh::hub_signature_valid(body + " ", "sha256=" + digest, secret));

  CHECK_FALSE(wh::hub_signature_valid(body, digest, secret));                      // no prefix
  CHECK_FALSE(wh::hub_signature_valid(body, "sha1=" + digest, secret));            // wrong algorithm
  CHECK_FALSE(wh::hub_signature_valid(body, "sha256=" + digest.substr(1), secret));  // odd hex
  CHECK_FALSE(wh::hub_signature_valid(body, "sha256=" + digest.substr(2), secret));  // short
  CHECK_FALSE(wh::hub_signature_valid(body, "sha256=" + digest + "00", secret));     // long
  std::string bad = digest;
  bad[10] = 'g';
  CHECK_FALSE(wh::hub_signature_valid(body, "sha256=" + bad, secret));
  CHECK_FALSE(wh::hub_signature_valid(body, "", secret));
  CHECK_FALSE(wh::hub_signature_valid(body, "sha256=", secret));
  CHECK_FALSE(wh::hub_signature_valid("", "sha256=" + hmac_sha256_hex(secret, "x"), secret));
  CHECK(wh::hub_signature_valid("", "sha256=" + hmac_sha256_hex(secret, ""), secret));
}

TEST_CASE("Meta hub challenge") {
  auto q = wh::parse_form("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock");
  REQUIRE(wh::hub_challenge(q, "meatyhamhock").has_value());
  CHECK(*wh::hub_challenge(q, "meatyhamhock") == "1158201444");
  CHECK_FALSE(wh::hub_challenge(q, "meatyhamhoc").has_value());
  CHECK_FALSE(wh::hub_challenge(q, "meatyhamhockX").has_value());
  CHECK_FALSE(wh::hub_challenge(q, "").has_value());
  auto wrong_mode = wh::parse_form("hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=t");
  CHECK_FALSE(wh::hub_challenge(wrong_mode, "t").has_value());
  auto no_mode = wh::parse_form("hub.challenge=1&hub.verify_token=t");
  CHECK_FALSE(wh::hub_challenge(no_mode, "t").has_value());
  auto no_token = wh::parse_form("hub.mode=subscribe&hub.challenge=1");
  CHECK_FALSE(wh::hub_challenge(no_token, "t").has_value());
  auto no_challenge = wh::parse_form("hub.mode=subscribe&hub.verify_token=t");
  CHECK_FALSE(wh::hub_challenge(no_challenge, "t").has_value());
  auto encoded = wh::parse_form("hub.mode=subscribe&hub.challenge=a%20b&hub.verify_token=t%26u");
  REQUIRE(wh::hub_challenge(encoded, "t&u").has_value());
  CHECK(*wh::hub_challenge(encoded, "t&u") == "a b");
}

TEST_CASE("WeChat server signature") {
  // sorted("herald", "1700000000", "42") = "1700000000", "42", "herald"
  const std::string expected = sha1_hex("170000000042herald");
  CHECK(expected == "1f0a1594d7323c7246bf828176504e7af45b0c1f");
  CHECK(wh::wechat_signature_valid("herald", "1700000000", "42", expected));
  CHECK(wh::wechat_signature_valid("herald", "1700000000", "42", upper(expected)));
  CHECK_FALSE(wh::wechat_signature_valid("herald2", "1700000000", "42", expected));
  CHECK_FALSE(wh::wechat_signature_valid("herald", "1700000001", "42", expected));
  CHECK_FALSE(wh::wechat_signature_valid("herald", "1700000000", "43", expected));
  CHECK_FALSE(wh::wechat_signature_valid("herald", "1700000000", "42", expected.substr(1)));
  CHECK_FALSE(wh::wechat_signature_valid("herald", "1700000000", "42", ""));
  CHECK_FALSE(wh::wechat_signature_valid("", "1700000000", "42", sha1_hex("170000000042")));
  // Sorting is by bytes, not by number: "9" sorts after "10".
  CHECK(wh::wechat_signature_valid("tok", "9", "10", sha1_hex("109tok")));
}

TEST_CASE("WeChat XML: a text message in CDATA") {
  const auto& m = ok(wh::parse_wechat_xml(kWechatText));
  CHECK(m.to_user_name == "gh_0123456789ab");
  CHECK(m.from_user_name == "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
  CHECK(m.create_time == 1348831860);
  CHECK(m.msg_type == "text");
  CHECK(m.content == "你好 <b>&amp; STOP");  // CDATA is verbatim: no entity decoding
  CHECK(m.msg_id == "1234567890123456");
  CHECK(m.event.empty());
}

TEST_CASE("WeChat XML: plain text, entities, whitespace, declaration and comments") {
  const char* xml =
      "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- pushed -->\n<xml>\n"
      "  <ToUserName>gh_1</ToUserName>\n"
      "  <FromUserName>\n    <![CDATA[open-1]]>\n  </FromUserName>\n"
      "  <CreateTime> 1700000000 </CreateTime>\n"
      "  <MsgType a=\"b>c\">text</MsgType>\n"
      "  <Content>a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; &#20320;&#x597D; &unknown; & x</Content>\n"
      "  <Empty/>\n"
      "  <ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult>1</ScanResult></ScanCodeInfo>\n"
      "  <MsgId>42</MsgId>\n"
      "</xml>\n";
  const auto& m = ok(wh::parse_wechat_xml(xml));
  CHECK(m.to_user_name == "gh_1");
  CHECK(m.from_user_name == "open-1");  // blank text around CDATA is left out
  CHECK(m.create_time == 1700000000);
  CHECK(m.msg_type == "text");
  CHECK(m.content == "a <b> & \"c\" 'd' 你好 &unknown; & x");
  CHECK(m.msg_id == "42");
}

TEST_CASE("WeChat XML: events and missing optional fields") {
  const auto& e = ok(wh::parse_wechat_xml(
      "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[open-2]]></FromUserName>"
      "<CreateTime>1700000001</CreateTime><MsgType><![CDATA[event]]></MsgType>"
      "<Event><![CDATA[unsubscribe]]></Event><EventKey><![CDATA[]]></EventKey></xml>"));
  CHECK(e.msg_type == "event");
  CHECK(e.event == "unsubscribe");
  CHECK(e.content.empty());
  CHECK(e.msg_id.empty());

  const auto& t = ok(wh::parse_wechat_xml(
      "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[open-3]]></FromUserName>"
      "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
      "<MsgID>200163836</MsgID><Status><![CDATA[failed:user block]]></Status></xml>"));
  CHECK_FALSE(t.create_time.has_value());
  CHECK(t.msg_id == "200163836");
  CHECK(t.status == "failed:user block");

  const auto& bad_time = ok(wh::parse_wechat_xml(
      "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>text</MsgType>"
      "<CreateTime>soon</CreateTime></xml>"));
  CHECK_FALSE(bad_time.create_time.has_value());
}

TEST_CASE("WeChat XML: malformed input is an error") {
  auto err = [](std::string_view x) {
    return std::holds_alternative<std::string>(wh::parse_wechat_xml(x));
  };
  CHECK(err(""));
  CHECK(err("garbage"));
  CHECK(err("{\"json\": true}"));
  CHECK(err("<xml>"));
  CHECK(err("<xml><ToUserName>a</ToUserName>"));
  CHECK(err("<xml><ToUserName>a</FromUserName></xml>"));
  CHECK(err("<xml><Content><![CDATA[never closed</Content></xml>"));
  CHECK(err("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>text</MsgType></xml>trailing"));
  CHECK(err("<other><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>text</MsgType></other>"));
  CHECK(err("<!DOCTYPE xml [<!ENTITY a \"aaaa\">]><xml><ToUserName>&a;</ToUserName></xml>"));
  CHECK(err("<xml><ToUserName>a</ToUserName><MsgType>text</MsgType></xml>"));  // no FromUserName
  CHECK(err("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName></xml>"));  // no MsgType
  CHECK(err("<xml/>"));
  CHECK(err("<xml><a b=\"unterminated></a></xml>"));
  CHECK(err("<xml><</xml>"));
  CHECK(err("<xml></ >"));
  // Deep nesting is refused, not recursed into.
  std::string deep = "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>t</MsgType>";
  for (int i = 0; i < 100000; ++i) deep += "<a>";
  CHECK(err(deep));
}

TEST_CASE("WeChat XML: huge input") {
  std::string head =
      "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>text</MsgType><Content><![CDATA[";
  std::string tail = "]]></Content></xml>";
  std::string big = head + std::string(900 * 1024, 'x') + tail;
  const auto& m = ok(wh::parse_wechat_xml(big));
  CHECK(m.content.size() == 900 * 1024);
  std::string too_big = head + std::string(4 * 1024 * 1024, 'x') + tail;
  CHECK(std::holds_alternative<std::string>(wh::parse_wechat_xml(too_big)));
  // Many elements, each scanned once.
  std::string many = "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>text</MsgType>";
  while (many.size() < 1000 * 1000) many += "<K>&amp;v</K>";
  many += "</xml>";
  CHECK(ok(wh::parse_wechat_xml(many)).from_user_name == "b");
}

TEST_CASE("WeChat passive text reply") {
  std::string xml = wh::wechat_text_reply("open-1", "gh_1", "Reply ]]> with <tags> & ]]]]>", 1700000000);
  CHECK(xml.rfind("<xml><ToUserName><![CDATA[open-1]]></ToUserName>", 0) == 0);
  CHECK(xml.find("<CreateTime>1700000000</CreateTime>") != std::string::npos);
  CHECK(xml.find("<MsgType><![CDATA[text]]></MsgType>") != std::string::npos);
  CHECK(xml.find("]]]]><![CDATA[>") != std::string::npos);
  // It reads back exactly.
  const auto& m = ok(wh::parse_wechat_xml(xml));
  CHECK(m.to_user_name == "open-1");
  CHECK(m.from_user_name == "gh_1");
  CHECK(m.msg_type == "text");
  CHECK(m.create_time == 1700000000);
  CHECK(m.content == "Reply ]]> with <tags> & ]]]]>");
  CHECK(ok(wh::parse_wechat_xml(wh::wechat_text_reply("a", "b", "", 0))).content.empty());
}

TEST_CASE("parse_twilio: status callbacks") {
  auto delivered = wh::parse_form(
      "SmsSid=SM1&SmsStatus=delivered&MessageStatus=delivered&To=%2B15558675310&MessagingServiceSid=MG1"
      "&MessageSid=SM1&AccountSid=AC1&From=%2B15017250604&ApiVersion=2010-04-01&RawDlrDoneDate=2401011200");
  const auto& h = ok(wh::parse_twilio(delivered));
  REQUIRE(h.statuses.size() == 1);
  CHECK(h.inbound.empty());
  CHECK(h.statuses[0].provider_message_id == "SM1");
  CHECK(h.statuses[0].status == "delivered");
  CHECK(h.statuses[0].recipient == "+15558675310");
  CHECK(h.statuses[0].error_code.empty());
  CHECK_FALSE(h.statuses[0].opt_out);

  auto undelivered = wh::parse_form(
      "MessageSid=SM2&MessageStatus=undelivered&ErrorCode=30003&To=%2B15558675310&AccountSid=AC1");
  const auto& u = ok(wh::parse_twilio(undelivered));
  REQUIRE(u.statuses.size() == 1);
  CHECK(u.statuses[0].status == "failed");
  CHECK(u.statuses[0].error_code == "30003");
  CHECK(u.statuses[0].error_message == "undelivered");

  auto failed = wh::parse_form("MessageSid=SM3&MessageStatus=failed&ErrorCode=30007&ErrorMessage=Carrier+violation");
  const auto& f = ok(wh::parse_twilio(failed));
  REQUIRE(f.statuses.size() == 1);
  CHECK(f.statuses[0].status == "failed");
  CHECK(f.statuses[0].error_message == "Carrier violation");

  for (const char* st : {"sent", "read"}) {
    auto p = wh::parse_form(std::string("MessageSid=SM4&MessageStatus=") + st);
    const auto& r = ok(wh::parse_twilio(p));
    REQUIRE(r.statuses.size() == 1);
    CHECK(r.statuses[0].status == st);
  }
  for (const char* st : {"queued", "accepted", "sending", "scheduled", "brand_new_status"}) {
    auto p = wh::parse_form(std::string("MessageSid=SM5&MessageStatus=") + st);
    const auto& r = ok(wh::parse_twilio(p));
    CHECK(r.statuses.empty());
    CHECK(r.inbound.empty());
  }
}

TEST_CASE("parse_twilio: inbound messages") {
  auto in = wh::parse_form(
      "ToCountry=US&MediaContentType1=image%2Fpng&SmsMessageSid=SM9&NumMedia=2&ToCity=&FromZip=94105"
      "&SmsSid=SM9&SmsStatus=received&Body=STOP+please&MediaUrl1=https%3A%2F%2Fapi.twilio.com%2Fm1"
      "&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2Fm0&To=%2B15017250604&MessageSid=SM9"
      "&AccountSid=AC1&From=%2B15558675310&ApiVersion=2010-04-01&ProfileName=Ann&MediaUrlX=ignored");
  const auto& h = ok(wh::parse_twilio(in));
  REQUIRE(h.inbound.size() == 1);
  CHECK(h.statuses.empty());
  const auto& m = h.inbound[0];
  CHECK(m.provider_message_id == "SM9");
  CHECK(m.from == "+15558675310");
  CHECK(m.to == "+15017250604");
  CHECK(m.text == "STOP please");
  CHECK(m.profile_name == "Ann");
  CHECK(m.media_urls == std::vector<std::string>{"https://api.twilio.com/m0", "https://api.twilio.com/m1"});
  CHECK_FALSE(m.at_unix_ms.has_value());

  auto media_only = wh::parse_form("MessageSid=SM10&From=%2B1555&To=%2B1666&NumMedia=0");
  const auto& mo = ok(wh::parse_twilio(media_only));
  REQUIRE(mo.inbound.size() == 1);
  CHECK(mo.inbound[0].text.empty());

  CHECK(is_error(wh::parse_twilio(wh::parse_form("From=%2B1555&Body=hi"))));  // no MessageSid
  CHECK(is_error(wh::parse_twilio(wh::parse_form("MessageSid=SM1&AccountSid=AC1"))));
  CHECK(is_error(wh::parse_twilio({})));
}

TEST_CASE("parse_whatsapp: inbound messages") {
  const auto& h = ok(wh::parse_whatsapp(kWhatsAppInbound));
  CHECK(h.statuses.empty());
  REQUIRE(h.inbound.size() == 2);
  const auto& t = h.inbound[0];
  CHECK(t.provider_message_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=");
  CHECK(t.from == "+16505551234");
  CHECK(t.to == "106540352242922");
  CHECK(t.text == "STOP");
  CHECK(t.at_unix_ms == 1749416383000LL);
  CHECK(t.profile_name == "Asha");
  const auto& i = h.inbound[1];
  CHECK(i.text == "[image] my order");
  CHECK(i.at_unix_ms == 1749416390000LL);  // a number is accepted too
  CHECK(i.media_urls.empty());
}

TEST_CASE("parse_whatsapp: statuses") {
  const auto& h = ok(wh::parse_whatsapp(kWhatsAppStatuses));
  CHECK(h.inbound.empty());
  REQUIRE(h.statuses.size() == 3);  // "deleted" is not a delivery status
  CHECK(h.statuses[0].provider_message_id == "wamid.out1");
  CHECK(h.statuses[0].status == "delivered");
  CHECK(h.statuses[0].recipient == "+16505551234");
  CHECK(h.statuses[0].at_unix_ms == 1750263773000LL);
  CHECK(h.statuses[1].status == "failed");
  CHECK(h.statuses[1].error_code == "131047");
  CHECK(h.statuses[1].error_message == "Re-engagement message");
  CHECK(h.statuses[2].status == "read");
}

TEST_CASE("parse_whatsapp: other message types and odd shapes") {
  const auto& h = ok(wh::parse_whatsapp(R"({"object": "whatsapp_business_account", "entry": [
    {"changes": [{"value": {"messages": [
      {"from": "+447700900123", "id": "w1", "timestamp": "x", "type": "button", "button": {"text": "Yes", "payload": "Y"}},
      {"from": "447700900123", "id": "w2", "type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": "1", "title": "Track order"}}},
      {"from": "447700900123", "id": "w3", "type": "sticker", "sticker": {"id": "9"}},
      {"from": "447700900123", "id": "w4"},
      {"from": "447700900123", "type": "text", "text": {"body": "no id"}},
      "junk", 42, null
    ]}}, "junk"]},
    {"changes": "not an array"}, 7
  ]})"));
  REQUIRE(h.inbound.size() == 4);
  CHECK(h.inbound[0].from == "+447700900123");
  CHECK(h.inbound[0].text == "Yes");
  CHECK_FALSE(h.inbound[0].at_unix_ms.has_value());
  CHECK(h.inbound[1].text == "Track order");
  CHECK(h.inbound[2].text == "[sticker]");
  CHECK(h.inbound[3].text == "[unknown]");
  CHECK(ok(wh::parse_whatsapp(R"({"entry": []})")).inbound.empty());
}

TEST_CASE("parse_whatsapp: malformed payloads are errors") {
  CHECK(is_error(wh::parse_whatsapp("")));
  CHECK(is_error(wh::parse_whatsapp("{")));
  CHECK(is_error(wh::parse_whatsapp("[]")));
  CHECK(is_error(wh::parse_whatsapp("\"text\"")));
  CHECK(is_error(wh::parse_whatsapp(R"({"object": "page", "entry": []})")));
  CHECK(is_error(wh::parse_whatsapp(R"({"object": "whatsapp_business_account"})")));
  CHECK(is_error(wh::parse_whatsapp(R"({"object": "whatsapp_business_account", "entry": {}})")));
  CHECK(is_error(wh::parse_whatsapp("{\"entry\": [\"\xff\xfe\"]}")));  // invalid UTF-8
  std::string deep(200000, '[');
  CHECK(is_error(wh::parse_whatsapp(deep)));
  std::string deep_valid = std::string(100000, '[') + std::string(100000, ']');
  CHECK(is_error(wh::parse_whatsapp(deep_valid)));
}

TEST_CASE("parse_messenger") {
  const auto& h = ok(wh::parse_messenger(kMessenger));
  REQUIRE(h.inbound.size() == 3);
  CHECK(h.inbound[0].provider_message_id == "m_1");
  CHECK(h.inbound[0].from == "PSID_1");
  CHECK(h.inbound[0].to == "PAGE_ID");
  CHECK(h.inbound[0].text == "hello, world!");
  CHECK(h.inbound[0].at_unix_ms == 1458692752478LL);
  CHECK(h.inbound[1].provider_message_id == "m_2");  // the echo was skipped
  CHECK(h.inbound[1].text == "[image]");
  CHECK(h.inbound[1].media_urls == std::vector<std::string>{"https://cdn.example/p.jpg"});
  CHECK(h.inbound[2].provider_message_id == "m_pb");
  CHECK(h.inbound[2].text == "Talk to a human");

  REQUIRE(h.statuses.size() == 4);
  CHECK(h.statuses[0].provider_message_id == "m_out1");
  CHECK(h.statuses[0].status == "delivered");
  CHECK(h.statuses[0].at_unix_ms == 1458668856253LL);
  CHECK(h.statuses[0].recipient == "PSID_1");
  CHECK(h.statuses[1].provider_message_id == "m_out2");
  CHECK(h.statuses[2].provider_message_id.empty());  // a delivery watermark
  CHECK(h.statuses[2].status == "delivered");
  CHECK(h.statuses[2].at_unix_ms == 1458668856300LL);
  CHECK(h.statuses[3].provider_message_id.empty());  // a read watermark
  CHECK(h.statuses[3].status == "read");
  CHECK(h.statuses[3].at_unix_ms == 1458668856253LL);
  CHECK(h.statuses[3].recipient == "PSID_1");

  CHECK(ok(wh::parse_messenger(R"({"object": "instagram", "entry": []})")).inbound.empty());
  CHECK(is_error(wh::parse_messenger("not json")));
  CHECK(is_error(wh::parse_messenger("[]")));
  CHECK(is_error(wh::parse_messenger(R"({"object": "whatsapp_business_account", "entry": []})")));
  CHECK(is_error(wh::parse_messenger(R"({"object": "page"})")));
  CHECK(is_error(wh::parse_messenger(R"({"object": 1, "entry": []})")));
}

TEST_CASE("parse_wechat") {
  const auto& text = wh::parse_wechat(ok(wh::parse_wechat_xml(kWechatText)));
  REQUIRE(text.inbound.size() == 1);
  CHECK(text.inbound[0].provider_message_id == "1234567890123456");
  CHECK(text.inbound[0].from == "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
  CHECK(text.inbound[0].to == "gh_0123456789ab");
  CHECK(text.inbound[0].at_unix_ms == 1348831860000LL);
  CHECK(text.inbound[0].text == "你好 <b>&amp; STOP");

  wh::WechatInbound image;
  image.to_user_name = "gh_1";
  image.from_user_name = "open-1";
  image.msg_type = "image";
  image.msg_id = "7";
  image.pic_url = "http://mmbiz.example/p";
  const auto& im = wh::parse_wechat(image);
  REQUIRE(im.inbound.size() == 1);
  CHECK(im.inbound[0].text == "[image]");
  CHECK(im.inbound[0].media_urls == std::vector<std::string>{"http://mmbiz.example/p"});

  wh::WechatInbound ev = image;
  ev.msg_type = "event";
  ev.msg_id.clear();
  ev.event = "unsubscribe";
  ev.create_time = 1700000000;
  const auto& un = wh::parse_wechat(ev);
  CHECK(un.inbound.empty());
  REQUIRE(un.statuses.size() == 1);
  CHECK(un.statuses[0].status == "unsubscribed");
  CHECK(un.statuses[0].opt_out);
  CHECK(un.statuses[0].recipient == "open-1");
  CHECK(un.statuses[0].provider_message_id.empty());
  CHECK(un.statuses[0].at_unix_ms == 1700000000000LL);

  ev.event = "subscribe";
  CHECK(wh::parse_wechat(ev).statuses.empty());
  CHECK(wh::parse_wechat(ev).inbound.empty());

  ev.event = "TEMPLATESENDJOBFINISH";
  ev.msg_id = "200163836";
  ev.status = "success";
  const auto& done = wh::parse_wechat(ev);
  REQUIRE(done.statuses.size() == 1);
  CHECK(done.statuses[0].provider_message_id == "200163836");
  CHECK(done.statuses[0].status == "delivered");
  ev.status = "failed: system failed";
  const auto& failed = wh::parse_wechat(ev);
  REQUIRE(failed.statuses.size() == 1);
  CHECK(failed.statuses[0].status == "failed");
  CHECK(failed.statuses[0].error_message == "failed: system failed");
}

TEST_CASE("parse_sendgrid") {
  const auto& h = ok(wh::parse_sendgrid(kSendGrid));
  CHECK(h.inbound.empty());
  REQUIRE(h.statuses.size() == 7);
  CHECK(h.statuses[0].status == "delivered");
  CHECK(h.statuses[0].provider_message_id == "14c5d75ce93");
  CHECK(h.statuses[0].recipient == "ann@example.com");
  CHECK(h.statuses[0].at_unix_ms == 1513299571000LL);
  CHECK(h.statuses[1].status == "read");
  CHECK(h.statuses[2].status == "failed");
  CHECK(h.statuses[2].provider_message_id == "AbCdEf");
  CHECK(h.statuses[2].error_code == "5.0.0");
  CHECK(h.statuses[2].error_message == "500 unknown recipient");
  CHECK(h.statuses[3].status == "failed");
  CHECK(h.statuses[3].error_message == "Bounced Address");
  CHECK(h.statuses[4].status == "complained");
  CHECK(h.statuses[4].opt_out);
  CHECK(h.statuses[4].recipient == "dan@example.com");
  CHECK(h.statuses[5].status == "unsubscribed");
  CHECK(h.statuses[5].opt_out);
  CHECK(h.statuses[5].provider_message_id.empty());
  CHECK(h.statuses[5].recipient == "eve@example.com");
  CHECK(h.statuses[6].status == "read");  // a click
  CHECK(h.statuses[6].provider_message_id == "Clk");
  for (const auto& s : h.statuses)
    if (s.status != "complained" && s.status != "unsubscribed") CHECK_FALSE(s.opt_out);
  // A hard bounce and a spam complaint feed the suppression list; a dropped message does not.
  CHECK(h.statuses[2].suppress == "hard_bounce");
  CHECK(h.statuses[3].suppress.empty());
  CHECK(h.statuses[4].suppress == "spam_complaint");
  CHECK(h.statuses[5].suppress.empty());
  auto blocked = ok(wh::parse_sendgrid(
      R"([{"email": "x@example.com", "event": "bounce", "type": "blocked", "sg_message_id": "B1.f"}])"));
  REQUIRE(blocked.statuses.size() == 1);
  CHECK(blocked.statuses[0].status == "failed");
  CHECK(blocked.statuses[0].suppress.empty());

  CHECK(ok(wh::parse_sendgrid("[]")).statuses.empty());
  CHECK(is_error(wh::parse_sendgrid("")));
  CHECK(is_error(wh::parse_sendgrid("{\"event\": \"delivered\"}")));
  CHECK(is_error(wh::parse_sendgrid("[{\"event\": ")));
  CHECK(is_error(wh::parse_sendgrid("null")));
}

TEST_CASE("sendgrid_signature_valid: ECDSA P-256 over the timestamp and the body") {
  // Made with the openssl command line: a P-256 key pair, then
  // `printf '1700000000<body>' | openssl dgst -sha256 -sign key.pem | base64`.
  const std::string key =
      "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9DAgQaXyPmpYIQ0R/6HmoQCnbMfOXRpP"
      "bqx0SMIRphJ3bs75fQBpFh3bcRJY24kOpR5J/BliZVg+Abk+SGNyPw==";
  const std::string body = R"([{"email":"a@example.com","event":"delivered"}])";
  const std::string signature =
      "MEYCIQClGHTpJHynR0mTJty0mFmK9FCYWbb1RWowuWFT/QVR7wIhAJFo+fs4u+VqxI2WkI/JK5rvrsfCDbIirtSpSvCfIWeY";
  CHECK(wh::sendgrid_key_valid(key));
  CHECK(wh::sendgrid_signature_valid(key, signature, "1700000000", body));
  // PEM armour around the same key.
  CHECK(wh::sendgrid_signature_valid(
      "-----BEGIN PUBLIC KEY-----\n" + key.substr(0, 64) + "\n" + key.substr(64) +
          "\n-----END PUBLIC KEY-----\n",
      signature, "1700000000", body));
  CHECK_FALSE(wh::sendgrid_signature_valid(key, signature, "1700000001", body));
  CHECK_FALSE(wh::sendgrid_signature_valid(key, signature, "1700000000", body + " "));
  CHECK_FALSE(wh::sendgrid_signature_valid(key, signature, "", body));
  CHECK_FALSE(wh::sendgrid_signature_valid(key, "", "1700000000", body));
  CHECK_FALSE(wh::sendgrid_signature_valid(key, "not base64!", "1700000000", body));
  CHECK_FALSE(wh::sendgrid_signature_valid("", signature, "1700000000", body));
  CHECK_FALSE(wh::sendgrid_key_valid(""));
  CHECK_FALSE(wh::sendgrid_key_valid("bm90IGEga2V5"));  // base64 of "not a key"
  // Every single-character change of the signature is refused.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  int accepted = 0;
  for (std::size_t i = 0; i < signature.size(); ++i) {
    auto forged = signature;
    forged[i] = alphabet[(alphabet.find(forged[i]) + 7) % alphabet.size()];
    accepted += wh::sendgrid_signature_valid(key, forged, "1700000000", body);
  }
  CHECK(accepted == 0);
}

TEST_CASE("status ranks and the forward-only rule") {
  CHECK(wh::status_rank("queued") == 0);
  CHECK(wh::status_rank("deferred") == 1);
  CHECK(wh::status_rank("sending") == 2);
  CHECK(wh::status_rank("sent") == 3);
  CHECK(wh::status_rank("failed") == 3);
  CHECK(wh::status_rank("suppressed") == 3);
  CHECK(wh::status_rank("delivered") == 4);
  CHECK(wh::status_rank("read") == 5);
  CHECK(wh::status_rank("complained") == -1);
  CHECK(wh::status_rank("") == -1);

  struct Row {
    const char* current;
    const char* next;
    bool moves;
  };
  const Row table[] = {
      {"queued", "sent", true},        {"queued", "delivered", true},  {"queued", "failed", true},
      {"queued", "queued", false},     {"deferred", "sending", true},  {"sending", "deferred", false},
      {"sent", "delivered", true},     {"sent", "read", true},         {"sent", "failed", true},
      {"sent", "sent", false},         {"sent", "queued", false},      {"sent", "sending", false},
      {"delivered", "sent", false},    {"delivered", "failed", false}, {"delivered", "read", true},
      {"delivered", "delivered", false}, {"read", "delivered", false}, {"read", "failed", false},
      {"read", "sent", false},         {"read", "read", false},        {"failed", "sent", false},
      {"failed", "queued", false},     {"failed", "failed", false},    {"failed", "suppressed", false},
      {"failed", "delivered", true},   {"failed", "read", true},       {"suppressed", "delivered", false},
      {"suppressed", "sent", false},   {"queued", "suppressed", true}, {"sent", "suppressed", true},
      {"delivered", "suppressed", false}, {"", "sent", true},          {"", "failed", true},
      {"sent", "complained", false},   {"sent", "bogus", false},       {"", "", false},
  };
  for (const auto& row : table) {
    INFO(row.current << " -> " << row.next);
    CHECK(wh::status_moves_forward(row.current, row.next) == row.moves);
  }
}

// ---------------------------------------------------------------------------------------
// Robustness: random mutations of valid payloads never make a parser throw.

namespace {

std::string mutate(const std::string& seed, std::mt19937& rng) {
  static const std::string specials = std::string("{}[]\",:<>/![]&;%+=\\ \xff\xc3") +
                                      '\0' + "0123456789-.eE";
  std::string s = seed;
  int ops = 1 + static_cast<int>(rng() % 4);
  for (int k = 0; k < ops; ++k) {
    std::size_t n = s.size();
    std::size_t at = n == 0 ? 0 : rng() % n;
    switch (rng() % 7) {
      case 0:  // truncate
        s.resize(at);
        break;
      case 1:  // flip a bit
        if (n) s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8)));
        break;
      case 2:  // insert a structural character
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), specials[rng() % specials.size()]);
        break;
      case 3: {  // delete a range
        std::size_t len = 1 + rng() % 16;
        if (n) s.erase(at, std::min(len, n - at));
        break;
      }
      case 4: {  // duplicate a range
        std::size_t len = 1 + rng() % 64;
        if (n) s.insert(at, s.substr(at, std::min(len, n - at)));
        break;
      }
      case 5:  // replace with a random byte
        if (n) s[at] = static_cast<char>(rng() % 256);
        break;
      default: {  // swap two ranges' starts
        if (n > 1) std::swap(s[at], s[rng() % n]);
        break;
      }
    }
  }
  return s;
}

template <class F>
int escapes(const std::string& seed, int iterations, std::uint32_t seed_value, F&& parse) {
  std::mt19937 rng(seed_value);
  int thrown = 0;
  for (int i = 0; i < iterations; ++i) {
    std::string input = mutate(seed, rng);
    try {
      parse(input);
    } catch (...) {
      ++thrown;
    }
  }
  return thrown;
}

}  // namespace

TEST_CASE("robustness: 10,000 mutations per parser") {
  constexpr int N = 10000;
  CHECK(escapes(kWhatsAppInbound, N, 1, [](const std::string& s) { (void)wh::parse_whatsapp(s); }) == 0);
  CHECK(escapes(kWhatsAppStatuses, N, 2, [](const std::string& s) { (void)wh::parse_whatsapp(s); }) == 0);
  CHECK(escapes(kMessenger, N, 3, [](const std::string& s) { (void)wh::parse_messenger(s); }) == 0);
  CHECK(escapes(kSendGrid, N, 4, [](const std::string& s) { (void)wh::parse_sendgrid(s); }) == 0);
  CHECK(escapes(kWechatText, N, 5, [](const std::string& s) {
          auto r = wh::parse_wechat_xml(s);
          if (auto* m = std::get_if<wh::WechatInbound>(&r)) (void)wh::parse_wechat(*m);
        }) == 0);
  const std::string twilio_body =
      "SmsSid=SM1&SmsStatus=received&Body=STOP+please%21&MediaUrl0=https%3A%2F%2Fa&NumMedia=1"
      "&MessageSid=SM1&From=%2B15558675310&To=%2B15017250604&MessageStatus=delivered&ErrorCode=30003";
  CHECK(escapes(twilio_body, N, 6, [](const std::string& s) {
          auto params = wh::parse_form(s);
          (void)wh::parse_twilio(params);
          (void)wh::twilio_valid(s, params, s, "token");
        }) == 0);
  const std::string header = "sha256=" + hmac_sha256_hex("secret", kWhatsAppInbound);
  CHECK(escapes(header, N, 7, [](const std::string& s) {
          (void)wh::hub_signature_valid(kWhatsAppInbound, s, "secret");
          (void)wh::hub_challenge(wh::parse_form(s), "t");
          (void)wh::wechat_signature_valid("t", s, s, s);
        }) == 0);
  // The mutations stay realistic: some still parse, many do not.
  std::mt19937 rng(8);
  int parsed = 0;
  for (int i = 0; i < 1000; ++i)
    if (!is_error(wh::parse_whatsapp(mutate(kWhatsAppInbound, rng)))) ++parsed;
  CHECK(parsed > 0);
  CHECK(parsed < 1000);
}
