// Correctly signed webhooks whose payload cannot be read: 400 in the JSON error shape,
// nothing recorded, and Herald keeps serving.
#include <catch2/catch.hpp>

#include "tests/hooks_e2e/hooks_env.hpp"
#include "tests/support/process.hpp"

using namespace hooks_e2e;
using herald::test::eventually;

namespace {

Json meta(const HookEnv& env, const std::string& provider, const std::string& body) {
  return env.webhook(Json{{"body", body}}, provider, "/hooks/" + provider);
}

Json wechat(const HookEnv& env, const std::string& xml) {
  return env.webhook(Json{{"xml", xml}}, "wechat", "/hooks/wechat");
}

}  // namespace

TEST_CASE("signed but malformed webhook payloads are 400 and record nothing") {
  HookEnv env;

  SECTION("twilio") {
    // Neither a status callback nor an inbound message; no MessageSid.
    auto none = env.webhook(Json{{"params", Json{{"From", "+14155550111"}, {"Body", "hi"}}}},
                            "twilio", "/hooks/twilio");
    CHECK(is_api_error(none, 400, "invalid_payload"));
    auto neither = env.webhook(
        Json{{"params", Json{{"MessageSid", "SM0123"}, {"From", "+14155550111"}}}}, "twilio",
        "/hooks/twilio");
    CHECK(is_api_error(neither, 400, "invalid_payload"));
    CHECK(env.customer("sms:+14155550111").is_null());
  }

  SECTION("whatsapp and messenger") {
    for (const std::string provider : {"whatsapp", "messenger"}) {
      INFO(provider);
      for (const std::string body :
           {"{\"object\": \"whatsapp_business_account\", \"entry\": [", "not json at all", "[]",
            "\"a string\"", "{\"object\": \"instagram-or-else\", \"entry\": []}",
            "{\"entry\": {\"id\": 1}}", ""}) {
        INFO(body);
        CHECK(is_api_error(meta(env, provider, body), 400, "invalid_payload"));
      }
    }
  }

  SECTION("wechat") {
    const std::string openid = "oBROKEN000000000000000001";
    std::vector<std::string> bodies{
        "",
        "not xml",
        "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[" + openid +
            "]]></FromUserName><MsgType><![CDATA[text]]></MsgType><Content>hi</Content>",
        "<xml><ToUserName>gh_x</ToUserName><FromUserName>" + openid +
            "</FromUserName><MsgType>text</MsgType><Content>hi</Contents></xml>",
        "<notxml><ToUserName>gh_x</ToUserName><FromUserName>" + openid +
            "</FromUserName><MsgType>text</MsgType></notxml>",
        "<xml><ToUserName>gh_x</ToUserName><Content>no sender</Content></xml>",
        "<!DOCTYPE xml [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><xml><ToUserName>gh_x</ToUserName>"
        "<FromUserName>" + openid + "</FromUserName><MsgType>text</MsgType><Content>&e;</Content></xml>",
        "<xml><ToUserName>gh_x</ToUserName><FromUserName>" + openid +
            "</FromUserName><MsgType>text</MsgType></xml><xml></xml>"};
    for (const auto& body : bodies) {
      INFO(body);
      CHECK(is_api_error(wechat(env, body), 400, "invalid_payload"));
    }
    CHECK(env.customer("wechat:" + openid).is_null());
  }

  // Still serving, and a valid push right after is taken.
  CHECK(env.healthy());
  CHECK(env.herald->get("/readyz").status == 200);
  const std::string openid = "oFINE0000000000000000000001";
  auto ok = wechat(env, "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[" +
                            openid + "]]></FromUserName><CreateTime>" + std::to_string(now_s()) +
                            "</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[ok]]>"
                            "</Content><MsgId>77</MsgId></xml>");
  CHECK(ok["body"] == "success");
  REQUIRE(env.wait_received("wechat:" + openid, "77"));
  // Only that one customer exists: GET of the malformed senders is still 404.
  CHECK(env.customer("wechat:oBROKEN000000000000000001").is_null());
  CHECK(env.customer("sms:+14155550111").is_null());
}
