// GET/POST /hooks/wechat end to end: the server check (echostr) and pushed XML, signed by
// the sandbox as WeChat signs them (signature, timestamp and nonce in the query).
#include <atomic>

#include <catch2/catch.hpp>

#include "tests/hooks_e2e/hooks_env.hpp"
#include "tests/support/process.hpp"

using namespace hooks_e2e;
using herald::test::eventually;

namespace {

std::string unique_msg_id() {
  static std::atomic<int> n{0};
  return std::to_string(now_ms() * 1000 + (++n % 1000));
}

std::string cdata(const std::string& name, const std::string& value) {
  return "<" + name + "><![CDATA[" + value + "]]></" + name + ">";
}

std::string text_xml(const std::string& openid, const std::string& msg_id, const std::string& text) {
  return "<xml>" + cdata("ToUserName", kWechatAccount) + cdata("FromUserName", openid) +
         "<CreateTime>" + std::to_string(now_s()) + "</CreateTime>" + cdata("MsgType", "text") +
         cdata("Content", text) + "<MsgId>" + msg_id + "</MsgId></xml>";
}

std::string event_xml(const std::string& openid, const std::string& event,
                      const std::string& extra = {}) {
  return "<xml>" + cdata("ToUserName", kWechatAccount) + cdata("FromUserName", openid) +
         "<CreateTime>" + std::to_string(now_s()) + "</CreateTime>" + cdata("MsgType", "event") +
         cdata("Event", event) + extra + "</xml>";
}

Json wechat(const HookEnv& env, const std::string& xml, const std::string& signature = "good",
            const std::string& openid = {}) {
  Json spec{{"xml", xml}, {"signature", signature}};
  if (!openid.empty()) spec["openid"] = openid;
  return env.webhook(spec, "wechat", "/hooks/wechat");
}

}  // namespace

TEST_CASE("wechat server check answers echostr verbatim") {
  HookEnv env;
  auto ok = env.webhook(Json{{"method", "GET"}, {"echostr", "8237461928374619283"}}, "wechat",
                        "/hooks/wechat");
  CHECK(ok["status"] == 200);
  CHECK(ok["body"] == "8237461928374619283");

  // Characters that need escaping in a query come back as they were.
  auto odd = env.webhook(Json{{"method", "GET"}, {"echostr", "a b+c/d=&e"}}, "wechat",
                         "/hooks/wechat");
  CHECK(odd["status"] == 200);
  CHECK(odd["body"] == "a b+c/d=&e");

  auto bad = env.webhook(Json{{"method", "GET"}, {"echostr", "1"}, {"signature", "bad"}},
                         "wechat", "/hooks/wechat");
  CHECK(is_api_error(bad, 401, "bad_signature"));
  auto none = env.webhook(Json{{"method", "GET"}, {"echostr", "1"}, {"signature", "none"}},
                          "wechat", "/hooks/wechat");
  CHECK(is_api_error(none, 401, "bad_signature"));
  auto other_token = env.webhook(Json{{"method", "GET"}, {"echostr", "1"}, {"token", "not-ours"}},
                                 "wechat", "/hooks/wechat");
  CHECK(is_api_error(other_token, 401, "bad_signature"));
}

TEST_CASE("wechat inbound XML is acknowledged, recorded once, and opens the window") {
  HookEnv env;
  const std::string openid = "oUSER0001abcdefghijklmnopqr";
  env.identify("c-1", {{"wechat_openid", openid}});

  auto forged_id = unique_msg_id();
  auto forged = wechat(env, text_xml(openid, forged_id, "forged"), "bad", openid);
  CHECK(is_api_error(forged, 401, "bad_signature"));

  auto msg_id = unique_msg_id();
  auto answer = wechat(env, text_xml(openid, msg_id, "你好，我的订单呢？"), "good", openid);
  CHECK(answer["status"] == 200);
  CHECK(answer["body"] == "success");
  INFO(env.diagnostics());
  REQUIRE(env.wait_received("c-1", msg_id));
  auto ev = env.received("c-1").back();
  CHECK(ev["properties"]["channel"] == "wechat");
  CHECK(ev["properties"]["provider"] == "wechat_oa");
  CHECK(ev["properties"]["text"] == "你好，我的订单呢？");

  // WeChat retries a push it got no answer for: deduplicated by MsgId.
  CHECK(wechat(env, text_xml(openid, msg_id, "你好，我的订单呢？"), "good", openid)["body"] ==
        "success");
  auto later = unique_msg_id();
  CHECK(wechat(env, text_xml(openid, later, "谢谢"))["body"] == "success");
  REQUIRE(env.wait_received("c-1", later));
  CHECK(env.received_count("c-1", msg_id) == 1);
  CHECK(env.received_count("c-1", forged_id) == 0);

  // Within the 48 h window a message goes as a customer-service text.
  env.sandbox.clear();
  auto id = env.send("c-1", "wechat");
  env.wait_sent(id);
  bool custom = false;
  for (const auto& r : env.sandbox.requests("wechat"))
    if (r["path"].get<std::string>().find("/message/custom/send") != std::string::npos) custom = true;
  CHECK(custom);

  // An unknown follower becomes a customer keyed by the channel and OpenID.
  const std::string stranger = "oSTRANGER00000000000000001";
  auto first = unique_msg_id();
  CHECK(wechat(env, text_xml(stranger, first, "hi"))["body"] == "success");
  REQUIRE(env.wait_received("wechat:" + stranger, first));
  CHECK(env.customer("wechat:" + stranger)["traits"]["wechat_openid"] == stranger);
}

TEST_CASE("wechat events: unsubscribe opts out, template job reports move the message") {
  HookEnv env;
  const std::string openid = "oUSER0002abcdefghijklmnopqr";
  env.identify("c-2", {{"wechat_openid", openid}});

  // Outside the window: a template message, whose msgid the job report names.
  std::string id;
  auto msgid = env.sent_provider_id("c-2", "wechat", nullptr, &id);
  auto finished = wechat(env, event_xml(openid, "TEMPLATESENDJOBFINISH",
                                        "<MsgID>" + msgid + "</MsgID>" + cdata("Status", "success")));
  CHECK(finished["body"] == "success");
  REQUIRE(eventually([&] { return env.message(id)["status"] == "delivered"; }));

  // Unsubscribing (unfollowing) is an opt-out of the channel; a bad signature is not.
  auto forged = wechat(env, event_xml(openid, "unsubscribe"), "bad");
  CHECK(is_api_error(forged, 401, "bad_signature"));
  CHECK(env.consent("c-2", "wechat") == "");
  auto answer = wechat(env, event_xml(openid, "unsubscribe"));
  CHECK(answer["status"] == 200);
  CHECK(answer["body"] == "success");
  REQUIRE(eventually([&] { return env.consent("c-2", "wechat") == "opted_out"; }));
  auto log = env.export_of("c-2")["consent_log"];
  REQUIRE(log.size() == 1);
  CHECK(log[0]["channel"] == "wechat");
  CHECK(log[0]["status"] == "opted_out");
  CHECK(log[0]["source"] == "provider:wechat_oa");
  // Events are not messages: nothing was recorded as received.
  CHECK(env.received("c-2").empty());
}
