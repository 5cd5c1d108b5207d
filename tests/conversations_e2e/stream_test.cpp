// The agents' stream end to end (api.md "Conversations": GET /v1/conversations/stream):
// credentials, every transition pushed, fan-out across two gateways on one Redis,
// auto-assignment (round robin among the agents on the stream, with the per-agent cap),
// outbound messages joining the thread, the workflow step `escalate`, slow consumers and
// the close on shutdown.
#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/conversations_e2e/support.hpp"
#include "tests/conversations_e2e/ws_client.hpp"
#include "tests/hooks_e2e/hooks_env.hpp"
#include "tests/support/process.hpp"

using namespace hooks_e2e;
using namespace conversations_e2e;
using herald::test::eventually;
using herald::test::kAdminKey;
using herald::test::kAgentToken;

namespace {

const char* kStream = "/v1/conversations/stream";

std::vector<std::pair<std::string, std::string>> bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

/// A raw upgrade request: what the server answers when it refuses.
HttpResponse raw_upgrade(int port, const std::string& target, const std::string& token) {
  std::vector<std::pair<std::string, std::string>> headers{
      {"Connection", "Upgrade"},
      {"Upgrade", "websocket"},
      {"Sec-WebSocket-Version", "13"},
      {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  return herald::test::http(port, "GET", target, "", headers);
}

/// Restarts herald with a `conversations:` section appended to its config.
void restart_with(HookEnv& env, const std::string& section) {
  env.herald->stop();
  auto config = env.herald->dir().read("herald.yaml");
  env.herald->dir().write("herald.yaml", config + section);
  env.herald->start();
  REQUIRE(env.herald->wait_ready(200));
}

std::string id_of(const std::optional<Json>& frame) {
  REQUIRE(frame);
  return (*frame)["conversation"]["id"].get<std::string>();
}

/// The value of a metric line (0 when absent).
double metric(const HookEnv& env, const std::string& name) {
  auto r = herald::test::http(env.port(), "GET", "/metrics");
  auto at = r.body.find("\n" + name + " ");
  if (at == std::string::npos) return 0;
  return std::stod(r.body.substr(at + name.size() + 2));
}

}  // namespace

TEST_CASE("the stream needs an agent token in the header or the access_token parameter") {
  HookEnv env;
  CHECK(is_api_error(raw_upgrade(env.port(), kStream, ""), 401, "unauthorized"));
  CHECK(is_api_error(raw_upgrade(env.port(), kStream, "wrong-token"), 401, "unauthorized"));
  CHECK(is_api_error(raw_upgrade(env.port(), std::string(kStream) + "?access_token=wrong", ""),
                     401, "unauthorized"));
  CHECK(is_api_error(raw_upgrade(env.port(), kStream, herald::test::kWriteKey), 401,
                     "unauthorized"));
  CHECK_THROWS(WsClient(env.port(), kStream));
  // Not an upgrade: 426, and the connection still serves normal requests.
  CHECK(is_api_error(call(env.port(), "GET", kStream, kAgentToken), 426, "upgrade_required"));

  WsClient by_header(env.port(), kStream, bearer(kAgentToken));
  WsClient by_query(env.port(), std::string(kStream) + "?access_token=" + kBobToken);
  WsClient admin(env.port(), kStream, bearer(kAdminKey));
  // All three receive the next transition.
  const std::string phone = "+14155553001";
  env.identify("s-1", {{"phone", phone}});
  sms_in(env, phone, "hello");
  for (auto* client : {&by_header, &by_query, &admin})
    CHECK(client->wait_for(event_of("inbound", "s-1")));
  // Normal routes keep working beside the sockets.
  CHECK(env.healthy());
}

TEST_CASE("every transition is pushed to every connected agent") {
  HookEnv env;
  WsClient alice(env.port(), kStream, bearer(kAgentToken));
  WsClient bob(env.port(), std::string(kStream) + "?access_token=" + kBobToken);
  const std::string phone = "+14155553002";
  env.identify("s-2", {{"phone", phone}});

  sms_in(env, phone, "Where is my parcel?");
  auto inbound = alice.wait_for(event_of("inbound", "s-2"));
  const std::string id = id_of(inbound);
  CHECK((*inbound)["conversation"]["status"] == "open");
  CHECK((*inbound)["conversation"]["channel"] == "sms");
  CHECK((*inbound)["conversation"]["assignee"].is_null());
  CHECK(bob.wait_for(event("inbound", id)));

  sms_in(env, phone, "I want a human");
  for (auto* client : {&alice, &bob}) {
    auto again = client->wait_for(event("inbound", id));
    REQUIRE(again);
    auto escalated = client->wait_for(event("escalated", id));
    REQUIRE(escalated);
    CHECK((*escalated)["conversation"]["status"] == "escalated");
    CHECK((*escalated)["conversation"]["escalation"]["keyword"] == "human");
  }

  REQUIRE(agent(env, "POST", "/v1/conversations/" + id + "/claim", kAgentToken).status == 200);
  for (auto* client : {&alice, &bob}) {
    auto claimed = client->wait_for(event("claimed", id));
    REQUIRE(claimed);
    CHECK((*claimed)["conversation"]["status"] == "assigned");
    CHECK((*claimed)["conversation"]["assignee"] == "alice");
  }
  REQUIRE(agent(env, "POST", "/v1/conversations/" + id + "/release", kAgentToken).status == 200);
  for (auto* client : {&alice, &bob}) {
    auto released = client->wait_for(event("released", id));
    REQUIRE(released);
    CHECK((*released)["conversation"]["status"] == "escalated");
    CHECK((*released)["conversation"]["assignee"].is_null());
  }
  REQUIRE(agent(env, "POST", "/v1/conversations/" + id + "/resolve", kBobToken).status == 200);
  for (auto* client : {&alice, &bob}) {
    auto resolved = client->wait_for(event("resolved", id));
    REQUIRE(resolved);
    CHECK((*resolved)["conversation"]["status"] == "resolved");
  }
  // Refused transitions push nothing: a claim of a resolved conversation.
  CHECK(agent(env, "POST", "/v1/conversations/" + id + "/claim", kAgentToken).status == 409);
  CHECK_FALSE(alice.wait_for(event("claimed", id), std::chrono::milliseconds(500)));
}

TEST_CASE("transitions on one gateway reach agents connected to another") {
  HookEnv env;
  herald::test::HeraldProcess second(env.redis.url());
  REQUIRE(second.wait_ready(200));
  WsClient on_first(env.port(), kStream, bearer(kAgentToken));
  WsClient on_second(second.port(), kStream, bearer(kBobToken));
  const std::string phone = "+14155553003";
  env.identify("s-3", {{"phone", phone}});

  // The webhook reaches the first gateway; the agent on the second sees it.
  sms_in(env, phone, "talk to an agent");
  auto escalated = on_second.wait_for(event_of("escalated", "s-3"));
  const std::string id = id_of(escalated);
  CHECK(on_first.wait_for(event("escalated", id)));
  // A claim on the second gateway reaches the agent on the first.
  REQUIRE(call(second.port(), "POST", "/v1/conversations/" + id + "/claim", kBobToken).status ==
          200);
  auto claimed = on_first.wait_for(event("claimed", id));
  REQUIRE(claimed);
  CHECK((*claimed)["conversation"]["assignee"] == "bob");
  CHECK(on_second.wait_for(event("claimed", id)));
}

TEST_CASE("auto-assignment goes round robin among connected agents up to max_per_agent") {
  HookEnv env;
  restart_with(env, "conversations:\n  auto_assign: true\n  max_per_agent: 1\n");
  auto alice = std::make_unique<WsClient>(env.port(), kStream, bearer(kAgentToken));
  auto bob = std::make_unique<WsClient>(env.port(), kStream, bearer(kBobToken));
  // An admin watching is not an agent to assign to.
  WsClient admin(env.port(), kStream, bearer(kAdminKey));

  auto escalate = [&](const std::string& customer, const std::string& phone) {
    env.identify(customer, {{"phone", phone}});
    sms_in(env, phone, "complaint");
    auto escalated = admin.wait_for(event_of("escalated", customer));
    return id_of(escalated);
  };
  const std::string first = escalate("a-1", "+14155553101");
  auto claimed = admin.wait_for(event("claimed", first));
  REQUIRE(claimed);
  CHECK((*claimed)["conversation"]["assignee"] == "alice");
  CHECK((*claimed)["conversation"]["status"] == "assigned");
  CHECK(alice->wait_for(event("claimed", first)));
  CHECK(wait_listed(env, "a-1", "assigned")["assignee"] == "alice");

  const std::string second = escalate("a-2", "+14155553102");
  claimed = admin.wait_for(event("claimed", second));
  REQUIRE(claimed);
  CHECK((*claimed)["conversation"]["assignee"] == "bob");

  // Both at their cap (1): the third waits in the queue.
  const std::string third = escalate("a-3", "+14155553103");
  CHECK_FALSE(admin.wait_for(event("claimed", third), std::chrono::milliseconds(800)));
  CHECK(wait_listed(env, "a-3", "escalated")["assignee"].is_null());

  // Alice resolves hers: the one waiting, the oldest, goes to her (bob is at his cap).
  REQUIRE(agent(env, "POST", "/v1/conversations/" + first + "/resolve", kAgentToken).status ==
          200);
  claimed = admin.wait_for(event("claimed", third));
  REQUIRE(claimed);
  CHECK((*claimed)["conversation"]["assignee"] == "alice");
  const std::string fourth = escalate("a-4", "+14155553104");
  CHECK_FALSE(admin.wait_for(event("claimed", fourth), std::chrono::milliseconds(800)));

  // Bob releases his: the oldest waiting (the fourth) goes to him; the one he released
  // waits, as alice is at her cap and he is not given it back.
  REQUIRE(agent(env, "POST", "/v1/conversations/" + second + "/release", kBobToken).status ==
          200);
  claimed = admin.wait_for(event("claimed", fourth));
  REQUIRE(claimed);
  CHECK((*claimed)["conversation"]["assignee"] == "bob");
  CHECK(wait_listed(env, "a-2", "escalated")["assignee"].is_null());

  // Bob leaves the stream: he is no longer a candidate, and alice is at her cap, so the
  // next one waits.
  bob.reset();
  REQUIRE(eventually([&] {
    return env.redis.cli({"ZRANGE", "herald:cv:agents", "0", "-1"}).find("bob") ==
           std::string::npos;
  }));
  const std::string fifth = escalate("a-5", "+14155553105");
  CHECK_FALSE(admin.wait_for(event("claimed", fifth), std::chrono::milliseconds(800)));
  CHECK(listed(env, "a-5", "escalated")["id"] == fifth);

  // A manual claim is not capped.
  CHECK(agent(env, "POST", "/v1/conversations/" + fifth + "/claim", kAgentToken).status == 200);
}

TEST_CASE("auto-assignment: an agent who connects takes the oldest waiting escalation") {
  HookEnv env;
  restart_with(env, "conversations:\n  auto_assign: true\n  max_per_agent: 1\n");
  WsClient admin(env.port(), kStream, bearer(kAdminKey));
  auto escalate = [&](const std::string& customer, const std::string& phone) {
    env.identify(customer, {{"phone", phone}});
    sms_in(env, phone, "complaint");
    return id_of(admin.wait_for(event_of("escalated", customer)));
  };
  // Nobody on the stream: both wait.
  const std::string older = escalate("w-1", "+14155553301");
  const std::string newer = escalate("w-2", "+14155553302");
  CHECK_FALSE(admin.wait_for(event("claimed", older), std::chrono::milliseconds(500)));

  WsClient alice(env.port(), kStream, bearer(kAgentToken));
  auto claimed = admin.wait_for(event("claimed", older));
  REQUIRE(claimed);
  CHECK((*claimed)["conversation"]["assignee"] == "alice");
  // At her cap: the newer one keeps waiting.
  CHECK_FALSE(admin.wait_for(event("claimed", newer), std::chrono::milliseconds(800)));
  CHECK(listed(env, "w-2", "escalated")["id"] == newer);
}

TEST_CASE("auto-assignment is off by default: escalations wait for a claim") {
  HookEnv env;
  WsClient alice(env.port(), kStream, bearer(kAgentToken));
  const std::string phone = "+14155553201";
  env.identify("d-1", {{"phone", phone}});
  sms_in(env, phone, "human please");
  auto escalated = alice.wait_for(event_of("escalated", "d-1"));
  const std::string id = id_of(escalated);
  CHECK_FALSE(alice.wait_for(event("claimed", id), std::chrono::milliseconds(800)));
  CHECK(listed(env, "d-1", "escalated")["id"] == id);
}

TEST_CASE("outbound messages to a customer with an open conversation join its thread") {
  HookEnv env;
  const std::string phone = "+14155553301";
  env.identify("o-1", {{"phone", phone}, {"email", "o1@example.com"}});
  sms_in(env, phone, "hello there");
  const std::string id = wait_listed(env, "o-1", "open")["id"];

  // POST /v1/messages on the conversation's channel: joins, with its live status.
  auto message_id = env.send("o-1", "sms", true);
  env.wait_sent(message_id);
  Json thread;
  REQUIRE(eventually(
      [&] {
        thread = conversation(env, id)["thread"];
        return thread.size() == 2 && thread[1].value("status", Json()) == "sent";
      },
      std::chrono::seconds(15)));
  CHECK(thread[1]["direction"] == "outbound");
  CHECK(thread[1]["message_id"] == message_id);
  CHECK(thread[1]["agent"].is_null());
  CHECK(thread[1]["channel"] == "sms");
  CHECK(thread[1]["text"] == "Hello there");

  // On another channel (email: no conversation there): not in this thread.
  auto email_id = env.send("o-1", "email", true);
  env.wait_sent(email_id);
  // The customer answers, then the next SMS joins after it: the order is kept.
  sms_in(env, phone, "thanks");
  REQUIRE(eventually([&] { return conversation(env, id)["thread"].size() == 3; }));
  auto later = env.send("o-1", "sms", true);
  env.wait_sent(later);
  REQUIRE(eventually([&] { return conversation(env, id)["thread"].size() == 4; },
                     std::chrono::seconds(15)));
  thread = conversation(env, id)["thread"];
  CHECK(thread[2]["text"] == "thanks");
  CHECK(thread[3]["message_id"] == later);
  for (const auto& item : thread) CHECK(item.value("message_id", "") != email_id);

  // An agent's reply joins once, with the agent's name.
  sms_in(env, phone, "agent please");
  wait_listed(env, "o-1", "escalated");
  REQUIRE(agent(env, "POST", "/v1/conversations/" + id + "/claim", kAgentToken).status == 200);
  auto reply = agent(env, "POST", "/v1/conversations/" + id + "/reply", kAgentToken,
                     Json{{"text", "On it"}});
  REQUIRE(reply.status == 202);
  const std::string reply_id = Json::parse(reply.body)["id"];
  REQUIRE(eventually(
      [&] {
        thread = conversation(env, id)["thread"];
        return thread.back().value("status", Json()) == "sent";
      },
      std::chrono::seconds(15)));
  int copies = 0;
  for (const auto& item : thread)
    if (item.value("message_id", "") == reply_id) {
      ++copies;
      CHECK(item["agent"] == "alice");
    }
  CHECK(copies == 1);

  // After resolve, messages no longer join it.
  REQUIRE(agent(env, "POST", "/v1/conversations/" + id + "/resolve", kAgentToken).status == 200);
  const auto size = conversation(env, id)["thread"].size();
  env.wait_sent(env.send("o-1", "sms", true));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // nothing to wait for
  CHECK(conversation(env, id)["thread"].size() == size);
}

TEST_CASE("the workflow step escalate opens a conversation with the run's context") {
  HookEnv env;
  env.content.write("workflows/vip.yaml", R"(workflow: vip
name: VIP complaint
trigger:
  event: order.complained
steps:
  - id: sorry
    send:
      template: hello
      channels: [whatsapp, sms]
  - id: to_agents
    escalate:
      reason: vip_complaint
      note: "Order {{ event.properties.order_id }} for {{ customer.first_name }}"
  - wait: 1d
)");
  env.herald->stop();
  env.herald->start();
  REQUIRE(env.herald->wait_ready(200));
  WsClient alice(env.port(), kStream, bearer(kAgentToken));

  // The run's message goes on SMS (no WhatsApp consent): the conversation opens there.
  const std::string phone = "+14155553401";
  env.identify("e-1", {{"phone", phone}, {"first_name", "Ann"}});
  REQUIRE(env.admin("PUT", "/v1/customers/e-1/consent/sms",
                    Json{{"status", "opted_in"}, {"source", "test"}}.dump())
              .status == 200);
  REQUIRE(env.admin("PUT", "/v1/customers/e-1/consent/whatsapp",
                    Json{{"status", "opted_out"}, {"source", "test"}}.dump())
              .status == 200);
  auto tracked = herald::test::http(
      env.port(), "POST", "/v1/track",
      Json{{"userId", "e-1"},
           {"event", "order.complained"},
           {"messageId", unique_id("vip-")},
           {"properties", {{"order_id", "A-17"}}}}
          .dump(),
      {{"Authorization", std::string("Bearer ") + herald::test::kWriteKey},
       {"Content-Type", "application/json"}});
  REQUIRE(tracked.status == 200);

  auto escalated = alice.wait_for(event_of("escalated", "e-1"), std::chrono::seconds(15));
  INFO(env.diagnostics());
  REQUIRE(escalated);
  const auto& c = (*escalated)["conversation"];
  const std::string id = c["id"];
  CHECK(c["channel"] == "sms");
  CHECK(c["status"] == "escalated");
  CHECK(c["escalation"]["reason"] == "vip_complaint");
  CHECK(c["escalation"]["note"] == "Order A-17 for Ann");
  CHECK(c["escalation"]["workflow"] == "vip");
  CHECK(c["escalation"]["step"] == "to_agents");
  const std::string run = c["escalation"]["run"];
  CHECK(!run.empty());

  // The run's SMS joins the thread once handed over; the conversation shows the run.
  Json full;
  REQUIRE(eventually(
      [&] {
        full = conversation(env, id);
        return full["thread"].size() == 1 && full["thread"][0].value("status", Json()) == "sent";
      },
      std::chrono::seconds(15)));
  CHECK(full["thread"][0]["channel"] == "sms");
  CHECK(full["run"]["workflow"] == "vip");
  CHECK(full["run"]["run"] == run);
  CHECK(full["run"]["active"].is_object());
  CHECK(wait_listed(env, "e-1", "escalated")["id"] == id);
  CHECK(env.redis.cli({"HGET", "herald:wfstats:{vip}", "to_agents:escalated"}) == "1");

  // The customer answers: the same conversation continues.
  sms_in(env, phone, "thank you");
  CHECK(alice.wait_for(event("inbound", id)));

  // A customer with no address on a chat channel but an email: the conversation is on
  // email; with no address at all, nothing opens and the step counts a failure.
  env.identify("e-2", {{"email", "e2@example.com"}, {"first_name", "Bo"}});
  herald::test::http(env.port(), "POST", "/v1/track",
                     Json{{"userId", "e-2"},
                          {"event", "order.complained"},
                          {"messageId", unique_id("vip-")},
                          {"properties", {{"order_id", "B-2"}}}}
                         .dump(),
                     {{"Authorization", std::string("Bearer ") + herald::test::kWriteKey},
                      {"Content-Type", "application/json"}});
  auto by_email = alice.wait_for(event_of("escalated", "e-2"), std::chrono::seconds(15));
  REQUIRE(by_email);
  CHECK((*by_email)["conversation"]["channel"] == "email");
}

TEST_CASE("a socket that does not read is dropped and the others go on") {
  HookEnv env;
  WsClient slow(env.port(), kStream, bearer(kAgentToken), 4096, false);
  WsClient fast(env.port(), kStream, bearer(kBobToken));
  // Thousands of 1 KiB transitions straight into the stream, in bursts of 500 that a
  // reading socket takes in its stride: more than the slow socket's queue (1024 frames)
  // and the kernel's buffers hold.
  // (Double quotes in the script: redis-cli runs through the shell in single quotes.)
  const std::string burst =
      "for i = 1, 500 do redis.call(\"XADD\", KEYS[1], \"*\", \"type\", \"inbound\", "
      "\"id\", \"cvbulk\" .. i, \"customer_id\", \"bulk\", \"channel\", \"sms\", "
      "\"status\", \"open\", \"created_at\", string.rep(\"x\", 1024)) end";
  for (std::size_t n = 1; n <= 8; ++n) {
    env.redis.cli({"EVAL", burst, "1", "herald:cv:ev"});
    INFO("burst " << n << ": the reading socket has " << fast.received() << " frames");
    REQUIRE(eventually([&] { return fast.received() >= n * 500; }, std::chrono::seconds(10)));
  }
  REQUIRE(env.redis.cli({"XLEN", "herald:cv:ev"}) == "4000");
  const bool dropped = eventually(
      [&] { return metric(env, "herald_conversation_stream_dropped_total") >= 1; },
      std::chrono::seconds(15));
  INFO(env.diagnostics());
  REQUIRE(dropped);
  CHECK(metric(env, "herald_conversation_stream_dropped_total") == 1);
  CHECK(fast.received() == 4000);
  CHECK_FALSE(fast.closed());
  // The slow one finds its connection ended (after what was already in flight).
  slow.start_reading();
  auto code = slow.wait_closed(std::chrono::seconds(20));
  REQUIRE(code);
  CHECK(*code == 0);  // dropped, no close frame
}

TEST_CASE("on SIGTERM the sockets are closed with going away") {
  HookEnv env;
  WsClient alice(env.port(), kStream, bearer(kAgentToken));
  WsClient bob(env.port(), kStream, bearer(kBobToken));
  auto status = env.herald->stop(std::chrono::seconds(15));
  REQUIRE(status);
  CHECK(*status == 0);
  auto a = alice.wait_closed(std::chrono::seconds(5));
  REQUIRE(a);
  CHECK(*a == 1001);
  auto b = bob.wait_closed(std::chrono::seconds(5));
  REQUIRE(b);
  CHECK(*b == 1001);
}

TEST_CASE("the console is served with a strict policy and lists templates for replies") {
  HookEnv env;
  auto page = herald::test::http(env.port(), "GET", "/console");
  REQUIRE(page.status == 200);
  CHECK(page.header("content-type").find("text/html") == 0);
  CHECK(page.body.find("<title>Herald console</title>") != std::string::npos);
  CHECK(page.header("content-security-policy").find("script-src 'self'") != std::string::npos);
  auto script = herald::test::http(env.port(), "GET", "/console/console.js");
  REQUIRE(script.status == 200);
  CHECK(script.header("content-type").find("text/javascript") == 0);
  CHECK(script.body.find("/v1/conversations/stream") != std::string::npos);
  CHECK(herald::test::http(env.port(), "GET", "/console/console.css").status == 200);
  CHECK(herald::test::http(env.port(), "GET", "/console/nope.js").status == 404);

  const std::string phone = "+14155553501";
  env.identify("t-1", {{"phone", phone}});
  sms_in(env, phone, "hi");
  const std::string id = wait_listed(env, "t-1", "open")["id"];
  auto list = json_of(agent(env, "GET", "/v1/conversations/" + id + "/templates", kAgentToken));
  REQUIRE(list["items"].size() == 1);
  CHECK(list["items"][0]["name"] == "hello");
  CHECK(list["items"][0]["channel"] == "sms");
  CHECK(call(env.port(), "GET", "/v1/conversations/" + id + "/templates", kAdminKey).status ==
        200);
  CHECK(is_api_error(agent(env, "GET", "/v1/conversations/" + id + "/templates", ""), 401,
                     "unauthorized"));
  CHECK(is_api_error(agent(env, "GET", "/v1/conversations/cvnope/templates", kAgentToken), 404,
                     "not_found"));
}
