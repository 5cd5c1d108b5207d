// The wechat_oa adapter against the provider sandbox and a real redis-server: the access
// token fetched once and shared by two gateway instances through Redis (RedisStore),
// renewed once on 40001/42001, customer-service messages inside the 48 h window and
// template messages outside it, every error class, and its config errors.
#include "tests/channels/adapters_test.hpp"

#include <thread>

#include "channels/wechat/wechat_channel.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/redis/redis_store.hpp"
#include "gateway/redis/redis_url.hpp"
#include "tests/support/redis_server.hpp"

using namespace adapters_test;
using herald::test::kWechatAppId;
using herald::test::kWechatSecret;
using herald::test::kWechatServerToken;
using herald::test::RedisServer;

namespace {

std::string wechat_yaml(const std::string& extra = {}, const std::string& secret = kWechatSecret) {
  return "    provider: wechat_oa\n    base_url: " + sandbox().base_url("wechat") +
         "\n    app_id: " + kWechatAppId + "\n    app_secret: " + secret +
         "\n    token: " + kWechatServerToken + "\n" + extra;
}

/// A gateway instance: its worker, with a Redis client and the RedisStore on it.
struct Instance : Worker {
  explicit Instance(const RedisServer& redis)
      : client(ioc, herald::redis::parse_url(redis.url())), store(client) {
    context.shared = &store;
    client.start();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!client.connected() && std::chrono::steady_clock::now() < deadline) {
      ioc.restart();
      ioc.run_for(std::chrono::milliseconds(10));
    }
    REQUIRE(client.connected());
  }
  ~Instance() {
    client.stop();
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(50));
  }
  herald::redis::Client client;
  herald::redis::RedisStore store;
};

OutboundMessage wechat(const std::string& id, bool in_window, bool with_text = true,
                       bool with_template = true) {
  OutboundMessage m;
  m.id = id;
  m.channel = "wechat";
  m.to = "oABCD1234openid";
  m.content = nlohmann::ordered_json::object();
  if (with_text) m.content["text"] = "您好 Ann, your order #1001 shipped";
  if (with_template) {
    nlohmann::ordered_json tpl = nlohmann::ordered_json::object();
    tpl["id"] = "TPL_order_shipped";
    tpl["url"] = "https://s.example/o/1001";
    tpl["data"] = nlohmann::ordered_json::object();
    tpl["data"]["first"] = "Your order shipped";
    tpl["data"]["keyword1"] = "#1001";
    tpl["data"]["keyword2"] = "42.50";
    m.content["template"] = tpl;
  }
  if (in_window) m.last_inbound = std::chrono::system_clock::now() - std::chrono::hours(47);
  return m;
}

Json expected_custom() {
  return Json::parse(R"({"touser": "oABCD1234openid", "msgtype": "text",
                         "text": {"content": "您好 Ann, your order #1001 shipped"}})");
}

Json expected_template() {
  return Json::parse(R"({"touser": "oABCD1234openid", "template_id": "TPL_order_shipped",
    "url": "https://s.example/o/1001",
    "data": {"first": {"value": "Your order shipped"}, "keyword1": {"value": "#1001"},
             "keyword2": {"value": "42.50"}}})");
}

std::string current_token() { return sandbox().stats()["wechat_access_token"].get<std::string>(); }

int tokens_issued() { return sandbox().stats()["wechat_tokens_issued"].get<int>(); }

/// The recorded send requests (POSTs), token fetches left out.
Json send_requests() {
  Json out = Json::array();
  for (const auto& r : sandbox().requests("wechat"))
    if (r["path"] != "/wechat/cgi-bin/token") out.push_back(r);
  return out;
}

}  // namespace

TEST_CASE("wechat: a customer-service message inside the 48 h window", "[wechat]") {
  auto& sb = fresh_sandbox();
  RedisServer redis;
  Instance gw(redis);
  auto channel = make_channel("wechat", wechat_yaml());
  CHECK(channel->provider() == "wechat_oa");
  auto r = gw.send(*channel, wechat("msg-wx-1", true));
  REQUIRE(r.outcome == Outcome::kAccepted);
  CHECK(r.provider_message_id == "msg-wx-1");  // custom/send answers no msgid

  auto requests = sb.requests("wechat");
  REQUIRE(requests.size() == 2);
  const auto& token = requests[0];
  CHECK(token["method"] == "GET");
  CHECK(token["path"] == "/wechat/cgi-bin/token");
  CHECK(token["query"] == Json({{"grant_type", "client_credential"}, {"appid", kWechatAppId},
                                {"secret", kWechatSecret}}));
  const auto& send = requests[1];
  CHECK(send["method"] == "POST");
  CHECK(send["path"] == "/wechat/cgi-bin/message/custom/send");
  CHECK(send["query"] == Json({{"access_token", current_token()}}));
  CHECK(header(send, "content-type") == "application/json");
  CHECK(send["json"] == expected_custom());
}

TEST_CASE("wechat: a template message outside the window, accepted with its msgid", "[wechat]") {
  auto& sb = fresh_sandbox();
  RedisServer redis;
  Instance gw(redis);
  auto channel = make_channel("wechat", wechat_yaml());

  SECTION("never interacted") {
    auto r = gw.send(*channel, wechat("msg-wx-2", false));
    REQUIRE(r.outcome == Outcome::kAccepted);
    CHECK(r.provider_message_id == "200228333");
    auto sends = send_requests();
    REQUIRE(sends.size() == 1);
    CHECK(sends[0]["path"] == "/wechat/cgi-bin/message/template/send");
    CHECK(sends[0]["query"] == Json({{"access_token", current_token()}}));
    CHECK(sends[0]["json"] == expected_template());
  }
  SECTION("interacted 49 hours ago") {
    auto m = wechat("msg-wx-2", false);
    m.last_inbound = std::chrono::system_clock::now() - std::chrono::hours(49);
    REQUIRE(gw.send(*channel, m).outcome == Outcome::kAccepted);
    CHECK(send_requests().at(0)["json"] == expected_template());
  }
  SECTION("a template without url") {
    auto m = wechat("msg-wx-2", false);
    m.content["template"].erase("url");
    REQUIRE(gw.send(*channel, m).outcome == Outcome::kAccepted);
    CHECK_FALSE(send_requests().at(0)["json"].contains("url"));
  }
  SECTION("the token is reused by later sends") {
    for (int i = 0; i < 3; ++i)
      CHECK(gw.send(*channel, wechat("m" + std::to_string(i), i % 2 == 0)).outcome ==
            Outcome::kAccepted);
    CHECK(tokens_issued() == 1);
    CHECK(sb.requests("wechat").size() == 4);
  }
}

TEST_CASE("wechat: the token is cached in Redis with a TTL below expires_in", "[wechat]") {
  fresh_sandbox();
  RedisServer redis;
  Instance gw(redis);
  auto channel = make_channel("wechat", wechat_yaml());
  REQUIRE(gw.send(*channel, wechat("msg-wx-3", true)).outcome == Outcome::kAccepted);
  auto key = std::string("herald:wechat:token:") + kWechatAppId;
  CHECK(redis.cli({"GET", key}) == current_token());
  auto ttl = std::stol(redis.cli({"TTL", key}));
  CHECK(ttl > 600);
  CHECK(ttl < 7200);  // the sandbox's expires_in: refreshed before WeChat expires it
  CHECK(redis.cli({"EXISTS", key + ":lock"}) == "0");  // the fetch lock is released
}

TEST_CASE("wechat: two gateway instances sending 50 messages at once share one token",
          "[wechat]") {
  fresh_sandbox();
  RedisServer redis;
  Instance a(redis), b(redis);
  auto channel_a = make_channel("wechat", wechat_yaml());
  auto channel_b = make_channel("wechat", wechat_yaml());
  std::vector<OutboundMessage> batch_a, batch_b;
  for (int i = 0; i < 25; ++i) {
    batch_a.push_back(wechat("a-" + std::to_string(i), false));
    batch_b.push_back(wechat("b-" + std::to_string(i), i % 2 == 0));
  }
  std::vector<SendResult> results_a, results_b;
  std::thread ta([&] { results_a = a.send_concurrently(*channel_a, batch_a); });
  std::thread tb([&] { results_b = b.send_concurrently(*channel_b, batch_b); });
  ta.join();
  tb.join();
  for (const auto& r : results_a) CHECK_THAT(describe(r), Catch::StartsWith("accepted"));
  for (const auto& r : results_b) CHECK_THAT(describe(r), Catch::StartsWith("accepted"));
  CHECK(tokens_issued() == 1);
  CHECK(send_requests().size() == 50);
  for (const auto& s : send_requests()) CHECK(s["status"] == 200);

  SECTION("an invalidated token is renewed once for everyone") {
    // 40001 on the next send (whichever instance): the sandbox invalidates the token, so
    // every send in flight fails with 40001 too and asks for a new one.
    sandbox().clear();
    sandbox().add_faults("wechat", Json{{"kind", "error"}, {"code", 40001}});
    std::thread tc([&] { results_a = a.send_concurrently(*channel_a, batch_a); });
    std::thread td([&] { results_b = b.send_concurrently(*channel_b, batch_b); });
    tc.join();
    td.join();
    for (const auto& r : results_a) CHECK_THAT(describe(r), Catch::StartsWith("accepted"));
    for (const auto& r : results_b) CHECK_THAT(describe(r), Catch::StartsWith("accepted"));
    CHECK(tokens_issued() == 2);
    // 50 sends, and once more each one refused with the invalidated token.
    auto sends = send_requests();
    INFO("sends after the invalidation: " << sends.size());
    CHECK(sends.size() >= 51);
  }
}

TEST_CASE("wechat: 40001 and 42001 fetch a new token once", "[wechat]") {
  auto& sb = fresh_sandbox();
  RedisServer redis;
  Instance gw(redis);
  auto channel = make_channel("wechat", wechat_yaml());
  REQUIRE(gw.send(*channel, wechat("warm-up", true)).outcome == Outcome::kAccepted);
  auto first = current_token();
  sb.clear();

  SECTION("once: the message goes through") {
    auto code = GENERATE(40001, 42001);
    CAPTURE(code);
    sb.add_faults("wechat", Json{{"kind", "error"}, {"code", code}});
    auto r = gw.send(*channel, wechat("msg-wx-4", false));
    REQUIRE(r.outcome == Outcome::kAccepted);
    CHECK(tokens_issued() == 2);
    auto second = current_token();
    CHECK(second != first);
    auto sends = send_requests();
    REQUIRE(sends.size() == 2);
    CHECK(sends[0]["query"]["access_token"] == first);
    CHECK(sends[1]["query"]["access_token"] == second);
    CHECK(redis.cli({"GET", std::string("herald:wechat:token:") + kWechatAppId}) == second);
  }
  SECTION("twice: retryable after one renewal") {
    sb.add_faults("wechat", Json::array({Json{{"kind", "error"}, {"code", 40001}},
                                         Json{{"kind", "error"}, {"code", 42001}}}));
    auto r = gw.send(*channel, wechat("msg-wx-4", false));
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == "42001");
    CHECK(tokens_issued() == 2);
    CHECK(send_requests().size() == 2);
  }
}

TEST_CASE("wechat: every error class", "[wechat]") {
  auto& sb = fresh_sandbox();
  RedisServer redis;
  Instance gw(redis);
  auto channel = make_channel("wechat", wechat_yaml("    timeout: 300ms\n"));
  auto message = wechat("msg-wx-5", false);

  SECTION("-1 (busy) and 45011 (minute quota) are retryable") {
    auto code = GENERATE(-1, 45011);
    CAPTURE(code);
    sb.add_faults("wechat", Json{{"kind", "error"}, {"code", code}});
    auto r = gw.send(*channel, message);
    CHECK(r.outcome == Outcome::kRetryable);
    CHECK(r.error_code == std::to_string(code));
    CHECK(send_requests().size() == 1);
  }
  SECTION("45015 retries a text once as the template") {
    sb.add_faults("wechat", Json{{"kind", "error"}, {"code", 45015}});
    auto r = gw.send(*channel, wechat("msg-wx-5", true));
    REQUIRE(r.outcome == Outcome::kAccepted);
    CHECK(r.provider_message_id == "200228333");
    auto sends = send_requests();
    REQUIRE(sends.size() == 2);
    CHECK(sends[0]["path"] == "/wechat/cgi-bin/message/custom/send");
    CHECK(sends[0]["json"] == expected_custom());
    CHECK(sends[1]["path"] == "/wechat/cgi-bin/message/template/send");
    CHECK(sends[1]["json"] == expected_template());
    CHECK(tokens_issued() == 1);
  }
  SECTION("45015 without a template: window_closed") {
    sb.add_faults("wechat", Json{{"kind", "error"}, {"code", 45015}});
    auto r = gw.send(*channel, wechat("msg-wx-5", true, true, false));
    CHECK(r.outcome == Outcome::kWindowClosed);
    CHECK(r.error_code == "45015");
    CHECK(send_requests().size() == 1);
  }
  SECTION("40003: an invalid openid is permanent") {
    sb.add_faults("wechat", Json{{"kind", "error"}, {"code", 40003}});
    auto r = gw.send(*channel, message);
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(r.error_code == "40003");
  }
  SECTION("5xx, timeout and a closed connection are retryable") {
    sb.add_faults("wechat", Json::array({Json{{"kind", "http"}, {"status", 502}},
                                         Json{{"kind", "delay"}, {"ms", 1500}},
                                         Json{{"kind", "close"}}}));
    CHECK(gw.send(*channel, message).error_code == "http_502");
    auto timed_out = gw.send(*channel, message);
    CHECK(timed_out.outcome == Outcome::kRetryable);
    CHECK(timed_out.error_code == "timeout");
    Instance other(redis);  // a new connection, so that libcurl cannot retry it on its own
    auto closed = other.send(*channel, message);
    CHECK(closed.outcome == Outcome::kRetryable);
    CHECK(closed.error_code == "connection");
  }
  SECTION("a wrong app secret: permanent, and no message is sent") {
    auto wrong = make_channel("wechat", wechat_yaml({}, "wrong-secret"));
    auto r = gw.send(*wrong, message);
    CHECK(r.outcome == Outcome::kPermanent);
    CHECK(r.error_code == "40125");
    CHECK(send_requests().empty());
    CHECK(redis.cli({"EXISTS", std::string("herald:wechat:token:") + kWechatAppId + ":lock"}) == "0");
  }
}

TEST_CASE("wechat: a send without a shared store is a wiring bug, not a token fetch",
          "[wechat]") {
  auto& sb = fresh_sandbox();
  auto channel = make_channel("wechat", wechat_yaml());
  Worker w;  // context.shared is null
  CHECK_THROWS_AS(w.send(*channel, wechat("msg-wx-6", true)), std::logic_error);
  CHECK(sb.requests().empty());
}

TEST_CASE("wechat: config errors at their line and column", "[wechat][config]") {
  const std::string head = "    provider: wechat_oa\n";
  SECTION("app_secret missing: at the section") {
    auto e = config_error("wechat", head + "    app_id: wx1\n    token: t\n");
    check_error_at(e, "wechat", 3, 5, "app_secret");
  }
  SECTION("token null: at its value") {
    auto e = config_error("wechat", head + "    app_id: wx1\n    app_secret: s\n    token: ~\n");
    check_error_at(e, "wechat", 6, 12, "token");
  }
  SECTION("an unknown key") {
    auto e = config_error("wechat", head + "    app_id: wx1\n    app_secret: s\n    token: t\n"
                                           "    appid: wx1\n");
    check_error_at(e, "wechat", 7, 5, "\"appid\"");
  }
  SECTION("a bad base_url") {
    auto e = config_error("wechat", head + "    base_url: [x]\n    app_id: wx1\n"
                                           "    app_secret: s\n    token: t\n");
    check_error_at(e, "wechat", 4, 15, "base_url");
  }
  SECTION("the defaults") {
    auto s = herald::channels::wechat::parse_settings(
        channel_config("wechat", head + "    app_id: wx1\n    app_secret: s\n    token: t\n").section,
        "herald.yaml");
    CHECK(s.base_url == "https://api.weixin.qq.com");
  }
}
