// Conversations and the agents' API end to end: inbound messages (signed by the sandbox as
// Twilio and Meta sign them) start and escalate conversations; agents claim (atomically,
// across two gateway processes on one Redis), reply through the provider, release and
// resolve.
#include <atomic>
#include <future>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/conversations_e2e/support.hpp"
#include "tests/hooks_e2e/hooks_env.hpp"
#include "tests/support/process.hpp"

using namespace hooks_e2e;
using namespace conversations_e2e;
using herald::test::eventually;
using herald::test::HttpResponse;
using herald::test::kAgentToken;
using herald::test::kWhatsappPhoneId;


TEST_CASE("an inbound message starts a conversation and a keyword escalates it") {
  HookEnv env;
  const std::string phone = "+14155552671";
  env.identify("c-1", {{"phone", phone}, {"first_name", "Ann"}});

  sms_in(env, phone, "Hello, where is my parcel?");
  auto open = wait_listed(env, "c-1", "open");
  CHECK(open["channel"] == "sms");
  CHECK(open["assignee"].is_null());
  CHECK(listed(env, "c-1", "escalated").is_null());

  // "human" as a word of the message (case-insensitive) escalates the same conversation.
  sms_in(env, phone, "I want a HUMAN!");
  auto escalated = wait_listed(env, "c-1", "escalated");
  CHECK(escalated["id"] == open["id"]);
  CHECK(escalated["escalation"]["reason"] == "keyword");
  CHECK(escalated["escalation"]["keyword"] == "human");
  CHECK(listed(env, "c-1", "open").is_null());
  // A word that merely contains the keyword does not.
  sms_in(env, "+14155552672", "humanity is great");
  auto other = wait_listed(env, "sms:+14155552672", "open");
  CHECK(other["escalation"].is_null());

  auto full = conversation(env, open["id"]);
  REQUIRE(full["thread"].size() == 2);
  CHECK(full["thread"][0]["direction"] == "inbound");
  CHECK(full["thread"][0]["text"] == "Hello, where is my parcel?");
  CHECK(full["thread"][1]["text"] == "I want a HUMAN!");
  CHECK(full["customer"]["id"] == "c-1");
  CHECK(full["customer"]["traits"]["first_name"] == "Ann");
  CHECK(full["customer"].contains("consent"));
  CHECK(full["recent_orders"].is_array());

  // An admin key may read conversations too; agent tokens reach only conversations.
  CHECK(call(env.port(), "GET", "/v1/conversations/" + open["id"].get<std::string>(),
             herald::test::kAdminKey)
            .status == 200);
  CHECK(is_api_error(agent(env, "GET", "/v1/customers/c-1", kAgentToken), 403, "forbidden"));
  CHECK(is_api_error(agent(env, "POST", "/v1/messages", kAgentToken, Json::object()), 403,
                     "forbidden"));
  CHECK(is_api_error(agent(env, "GET", "/v1/conversations", ""), 401, "unauthorized"));
  CHECK(is_api_error(agent(env, "GET", "/v1/conversations", herald::test::kWriteKey), 403,
                     "forbidden"));
  CHECK(
      is_api_error(agent(env, "GET", "/v1/conversations/cv-nope", kAgentToken), 404, "not_found"));
  CHECK(is_api_error(agent(env, "GET", "/v1/conversations?status=lost", kAgentToken), 400,
                     "invalid_query"));
  // Claiming needs an agent: the holder is a named agent.
  CHECK(is_api_error(
      call(env.port(), "POST", "/v1/conversations/" + open["id"].get<std::string>() + "/claim",
           herald::test::kAdminKey),
      403, "forbidden"));
}

TEST_CASE("twenty concurrent claims over two gateways: exactly one wins") {
  HookEnv env;
  herald::test::HeraldProcess second(env.redis.url());
  REQUIRE(second.wait_ready(200));
  const std::string phone = "+14155552673";
  env.identify("c-2", {{"phone", phone}});
  sms_in(env, phone, "complaint: my order is late");
  auto c = wait_listed(env, "c-2", "escalated");
  const std::string id = c["id"];
  const std::string path = "/v1/conversations/" + id + "/claim";

  std::vector<std::future<HttpResponse>> claims;
  std::atomic<bool> go{false};
  for (int i = 0; i < 20; ++i) {
    const int port = i % 2 ? second.port() : env.port();
    const std::string token = i % 4 < 2 ? kAgentToken : kBobToken;
    claims.push_back(std::async(std::launch::async, [&go, port, token, path] {
      while (!go) std::this_thread::yield();
      return call(port, "POST", path, token);
    }));
  }
  go = true;
  int won = 0;
  std::vector<HttpResponse> answers;
  for (auto& f : claims) answers.push_back(f.get());
  std::string winner;
  for (const auto& r : answers) {
    if (r.status == 200) {
      ++won;
      winner = Json::parse(r.body)["assignee"].get<std::string>();
    }
  }
  REQUIRE(won == 1);
  CHECK((winner == "alice" || winner == "bob"));
  for (const auto& r : answers) {
    if (r.status == 200) continue;
    INFO(r.body);
    CHECK(is_api_error(r, 409, "already_claimed"));
    CHECK(Json::parse(r.body)["error"]["holder"] == winner);
    CHECK(Json::parse(r.body)["error"]["message"].get<std::string>().find(winner) !=
          std::string::npos);
  }
  CHECK(wait_listed(env, "c-2", "assigned")["assignee"] == winner);
  CHECK(listed(env, "c-2", "escalated").is_null());

  const std::string holder = winner == "alice" ? kAgentToken : kBobToken;
  const std::string other = winner == "alice" ? kBobToken : kAgentToken;
  const std::string other_name = winner == "alice" ? "bob" : "alice";

  // Only the holder replies; the reply goes out through Twilio and joins the thread.
  CHECK(is_api_error(
      agent(env, "POST", "/v1/conversations/" + id + "/reply", other, Json{{"text", "hi"}}), 403,
      "forbidden"));
  auto sent = agent(env, "POST", "/v1/conversations/" + id + "/reply", holder,
                    Json{{"text", "Sorry! It ships today."}, {"idempotency_key", "r-1"}});
  INFO(sent.body);
  REQUIRE(sent.status == 202);
  const std::string message_id = Json::parse(sent.body)["id"];
  // The same idempotency key: the same message, sent once.
  auto again = agent(env, "POST", "/v1/conversations/" + id + "/reply", holder,
                     Json{{"text", "Sorry! It ships today."}, {"idempotency_key", "r-1"}});
  REQUIRE(again.status == 202);
  CHECK(Json::parse(again.body)["id"] == message_id);
  REQUIRE(eventually([&] { return !twilio_bodies(env, phone).empty(); }, std::chrono::seconds(15)));
  Json last;
  REQUIRE(eventually(
      [&] {
        last = conversation(env, id)["thread"].back();
        return last.value("status", Json()) == "sent";
      },
      std::chrono::seconds(15)));
  CHECK(last["direction"] == "outbound");
  CHECK(last["message_id"] == message_id);
  CHECK(last["agent"] == winner);
  CHECK(last["text"] == "Sorry! It ships today.");
  CHECK(last["channel"] == "sms");
  CHECK(last["provider_id"].get<std::string>().rfind("SM", 0) == 0);
  CHECK(twilio_bodies(env, phone) == std::vector<std::string>{"Sorry! It ships today."});
  CHECK(conversation(env, id)["thread"].size() == 2);

  // Release: only the holder (or an admin); escalated again, unassigned.
  CHECK(is_api_error(agent(env, "POST", "/v1/conversations/" + id + "/release", other), 403,
                     "forbidden"));
  auto released = json_of(agent(env, "POST", "/v1/conversations/" + id + "/release", holder));
  CHECK(released["status"] == "escalated");
  CHECK(released["assignee"].is_null());
  CHECK(is_api_error(agent(env, "POST", "/v1/conversations/" + id + "/release", holder), 409,
                     "not_claimed"));
  CHECK(is_api_error(
      agent(env, "POST", "/v1/conversations/" + id + "/reply", holder, Json{{"text", "x"}}), 403,
      "forbidden"));

  // The other agent takes it (on the second gateway) and resolves it.
  auto taken = call(second.port(), "POST", "/v1/conversations/" + id + "/claim", other);
  REQUIRE(taken.status == 200);
  CHECK(Json::parse(taken.body)["assignee"] == other_name);
  CHECK(is_api_error(agent(env, "POST", "/v1/conversations/" + id + "/resolve", holder), 403,
                     "forbidden"));
  auto resolved = json_of(agent(env, "POST", "/v1/conversations/" + id + "/resolve", other));
  CHECK(resolved["status"] == "resolved");
  CHECK(wait_listed(env, "c-2", "resolved")["id"] == id);
  CHECK(listed(env, "c-2", "assigned").is_null());
  CHECK(is_api_error(agent(env, "POST", "/v1/conversations/" + id + "/claim", holder), 409,
                     "conversation_resolved"));

  // A new message after resolve starts a new conversation.
  sms_in(env, phone, "one more thing");
  auto fresh = wait_listed(env, "c-2", "open");
  CHECK(fresh["id"] != id);
  CHECK(conversation(env, fresh["id"])["thread"].size() == 1);
  CHECK(conversation(env, id)["thread"].size() == 2);
}

TEST_CASE("a whatsapp text reply outside the care window is refused and a template goes") {
  HookEnv env;
  const std::string phone = "+14155552681", wa_id = "14155552681";
  env.identify("w-1", {{"phone", phone}, {"first_name", "Ann"}});
  // The customer wrote two days ago: the 24 h window is closed.
  whatsapp_in(env, wa_id, "I need an agent", now_s() - 2 * 86400);
  auto c = wait_listed(env, "w-1", "escalated");
  CHECK(c["channel"] == "whatsapp");
  const std::string id = c["id"];
  REQUIRE(agent(env, "POST", "/v1/conversations/" + id + "/claim", kAgentToken).status == 200);

  auto closed = agent(env, "POST", "/v1/conversations/" + id + "/reply", kAgentToken,
                      Json{{"text", "Hi Ann"}});
  CHECK(is_api_error(closed, 422, "window_closed"));
  CHECK(is_api_error(agent(env, "POST", "/v1/conversations/" + id + "/reply", kAgentToken,
                           Json{{"template", "missing"}}),
                     422, "unknown_template"));
  CHECK(is_api_error(
      agent(env, "POST", "/v1/conversations/" + id + "/reply", kAgentToken, Json::object()), 400,
      "invalid_reply"));

  auto templated = agent(env, "POST", "/v1/conversations/" + id + "/reply", kAgentToken,
                         Json{{"template", "hello"}, {"data", Json::object()}});
  INFO(templated.body);
  REQUIRE(templated.status == 202);
  Json sent;
  REQUIRE(eventually(
      [&] {
        sent = last_json_send(env, "whatsapp");
        return sent.is_object();
      },
      std::chrono::seconds(15)));
  CHECK(sent["type"] == "template");
  CHECK(sent["template"]["name"] == "hello_v1");

  // The customer writes again: the window opens and free text goes as text.
  whatsapp_in(env, wa_id, "Thanks", now_s());
  REQUIRE(eventually([&] { return conversation(env, id)["thread"].size() == 3; }));
  auto text = agent(env, "POST", "/v1/conversations/" + id + "/reply", kAgentToken,
                    Json{{"text", "You are welcome"}});
  INFO(text.body);
  REQUIRE(text.status == 202);
  REQUIRE(eventually(
      [&] {
        sent = last_json_send(env, "whatsapp");
        return sent.value("type", "") == "text";
      },
      std::chrono::seconds(15)));
  CHECK(sent["text"]["body"] == "You are welcome");
  auto thread = conversation(env, id)["thread"];
  REQUIRE(thread.size() == 4);
  CHECK(thread[1]["direction"] == "outbound");
  CHECK(thread[1]["template"] == "hello");
  CHECK(thread[2]["text"] == "Thanks");
  CHECK(thread[3]["text"] == "You are welcome");
}

TEST_CASE("a reply to a message of a workflow with escalate_replies escalates with its run") {
  HookEnv env;
  env.content.write("workflows/ping.yaml", R"(workflow: ping
name: Support ping
trigger:
  event: support.ping
escalate_replies: true
steps:
  - id: hello
    send:
      template: hello
      channels: [sms]
  - wait: 1d
)");
  env.herald->stop();
  env.herald->start();
  REQUIRE(env.herald->wait_ready(200));
  const std::string phone = "+14155552690";
  env.identify("p-1", {{"phone", phone}});
  REQUIRE(env.admin("PUT", "/v1/customers/p-1/consent/sms",
                    Json{{"status", "opted_in"}, {"source", "test"}}.dump())
              .status == 200);
  auto tracked = herald::test::http(
      env.port(), "POST", "/v1/track",
      Json{{"userId", "p-1"}, {"event", "support.ping"}, {"messageId", unique_id("ping-")}}.dump(),
      {{"Authorization", std::string("Bearer ") + herald::test::kWriteKey},
       {"Content-Type", "application/json"}});
  REQUIRE(tracked.status == 200);
  Json message;
  REQUIRE(eventually(
      [&] {
        auto r = env.admin("GET", "/v1/customers/p-1/messages");
        auto items = Json::parse(r.body, nullptr, false);
        if (!items.is_object() || items["items"].empty()) return false;
        message = items["items"][0];
        return message.value("workflow", Json()) == "ping";
      },
      std::chrono::seconds(15)));

  sms_in(env, phone, "it arrived broken");
  auto c = wait_listed(env, "p-1", "escalated");
  CHECK(c["escalation"]["reason"] == "reply");
  CHECK(c["escalation"]["workflow"] == "ping");
  CHECK(c["escalation"]["message_id"] == message["id"]);
  CHECK(c["escalation"]["run"] == message["run"]);
  auto full = conversation(env, c["id"]);
  CHECK(full["run"]["workflow"] == "ping");
  CHECK(full["run"]["run"] == message["run"]);
  CHECK(full["run"]["active"].is_object());
}

TEST_CASE("erasing a customer removes their conversations") {
  HookEnv env;
  const std::string phone = "+14155552681";
  env.identify("c-9", {{"phone", phone}});
  sms_in(env, phone, "I want a human please");
  auto escalated = wait_listed(env, "c-9", "escalated");
  const std::string id = escalated["id"];
  CHECK(conversation(env, id)["thread"].size() == 1);

  CHECK(call(env.port(), "DELETE", "/v1/customers/c-9", herald::test::kAdminKey).status == 204);
  CHECK(is_api_error(agent(env, "GET", "/v1/conversations/" + id, kAgentToken), 404, "not_found"));
  CHECK(listed(env, "c-9", "escalated").is_null());
  CHECK(env.export_of("c-9").is_null());
}
