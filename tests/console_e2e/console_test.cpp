// The agents' console in a real browser: Debian's Chromium driven by playwright-core
// (installed by ops/test.sh from the npm registry with npm ci) against the herald binary,
// a real redis-server and the provider sandbox. An agent signs in, sees an escalation
// arrive live (an inbound WhatsApp "I want a human" signed by the sandbox as Meta signs
// it), claims it, replies, and the sandbox receives the reply on WhatsApp.
#include <catch2/catch.hpp>

#include "tests/conversations_e2e/support.hpp"
#include "tests/hooks_e2e/hooks_env.hpp"
#include "tests/support/process.hpp"

using namespace hooks_e2e;
using namespace conversations_e2e;
using herald::test::eventually;

TEST_CASE("an agent claims and answers an escalation in the console") {
  const std::string dir = HERALD_SOURCE_DIR "/tests/console_e2e";
  HookEnv env;
  const std::string phone = "+14155559001", wa_id = "14155559001";
  env.identify("console-1", {{"phone", phone}, {"first_name", "Ann"}});

  herald::test::TempDir out;
  const std::string reply = "Hello Ann, I am looking into it.";
  herald::test::Process node(
      {"node", dir + "/agent.js", "http://127.0.0.1:" + std::to_string(env.port()),
       herald::test::kAgentToken, "console-1", reply, out.file("console.png")},
      out.file("node.txt"), dir);
  const bool ready = eventually(
      [&] { return node.output().find("ready") != std::string::npos || !node.running(); },
      std::chrono::seconds(60));
  INFO(node.output());
  REQUIRE(ready);
  REQUIRE(node.output().find("ready") != std::string::npos);

  whatsapp_in(env, wa_id, "I want a human", now_s());
  auto status = node.wait(std::chrono::seconds(90));
  INFO(node.output() << "\n" << env.diagnostics());
  REQUIRE(status);
  CHECK(*status == 0);
  CHECK(node.output().find("escalation seen") != std::string::npos);
  CHECK(node.output().find("replied") != std::string::npos);

  // The reply went out on WhatsApp as free text, and the conversation is resolved by alice.
  Json sent = last_json_send(env, "whatsapp");
  REQUIRE(sent.is_object());
  CHECK(sent["type"] == "text");
  CHECK(sent["to"].get<std::string>().find("4155559001") != std::string::npos);
  CHECK(sent["text"]["body"] == reply);
  auto resolved = wait_listed(env, "console-1", "resolved");
  CHECK(resolved["channel"] == "whatsapp");
  auto full = conversation(env, resolved["id"]);
  REQUIRE(full["thread"].size() == 2);
  CHECK(full["thread"][1]["agent"] == "alice");
}
