#pragma once
// Helpers of the conversation tests: agents' calls, inbound messages signed by the
// sandbox (Twilio, WhatsApp), and the conversation lists.

#include <string>
#include <vector>

#include "tests/hooks_e2e/hooks_env.hpp"

namespace conversations_e2e {

using hooks_e2e::HookEnv;
using hooks_e2e::Json;
using herald::test::HttpResponse;

constexpr const char* kBobToken = "bob-token";

std::string unique_id(const std::string& prefix);
HttpResponse call(int port, const std::string& method, const std::string& path,
                  const std::string& token, const std::string& body = {});
HttpResponse agent(const HookEnv& env, const std::string& method, const std::string& path,
                   const std::string& token, const Json& body = nullptr);
/// REQUIREs 200 and parses the body.
Json json_of(const HttpResponse& r);
/// An inbound SMS signed by the sandbox as Twilio signs it.
void sms_in(const HookEnv& env, const std::string& from, const std::string& text);
/// An inbound WhatsApp text signed as Meta signs it, sent at unix second `at_s`.
void whatsapp_in(const HookEnv& env, const std::string& wa_id, const std::string& text,
                 long long at_s);
/// The customer's conversation listed under `status` (null when none).
Json listed(const HookEnv& env, const std::string& customer, const std::string& status);
/// Waits until it is listed there (REQUIREd).
Json wait_listed(const HookEnv& env, const std::string& customer, const std::string& status);
/// GET /v1/conversations/{id} as alice.
Json conversation(const HookEnv& env, const std::string& id);
/// The last JSON request the sandbox received for a provider.
Json last_json_send(const HookEnv& env, const std::string& provider);
/// The SMS bodies the sandbox received for a number, oldest first.
std::vector<std::string> twilio_bodies(const HookEnv& env, const std::string& to);

}  // namespace conversations_e2e
