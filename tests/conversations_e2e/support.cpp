#include "tests/conversations_e2e/support.hpp"

#include <atomic>

#include <catch2/catch.hpp>

#include "tests/support/process.hpp"

namespace conversations_e2e {

using herald::test::eventually;
using herald::test::kAgentToken;
using herald::test::kWhatsappPhoneId;
using herald::test::HttpResponse;
using namespace hooks_e2e;


std::string unique_id(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + std::to_string(now_ms()) + "x" + std::to_string(++n);
}

HttpResponse call(int port, const std::string& method, const std::string& path,
                  const std::string& token, const std::string& body) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
  return herald::test::http(port, method, path, body, headers);
}

HttpResponse agent(const HookEnv& env, const std::string& method, const std::string& path,
                   const std::string& token, const Json& body) {
  return call(env.port(), method, path, token, body.is_null() ? std::string() : body.dump());
}

Json json_of(const HttpResponse& r) {
  INFO(r.status << " " << r.body);
  REQUIRE(r.status == 200);
  return Json::parse(r.body);
}

void sms_in(const HookEnv& env, const std::string& from, const std::string& text) {
  auto sid = unique_id("SM");
  Json params{{"MessageSid", sid},
              {"SmsMessageSid", sid},
              {"SmsSid", sid},
              {"AccountSid", herald::test::kTwilioSid},
              {"From", from},
              {"To", kHeraldNumber},
              {"Body", text},
              {"NumMedia", "0"},
              {"NumSegments", "1"},
              {"SmsStatus", "received"},
              {"ApiVersion", "2010-04-01"}};
  auto answer =
      env.webhook(Json{{"params", params}, {"signature", "good"}}, "twilio", "/hooks/twilio");
  INFO(answer.dump());
  REQUIRE(answer["status"] == 200);
}

void whatsapp_in(const HookEnv& env, const std::string& wa_id, const std::string& text,
                 long long at_s) {
  Json message{{"from", wa_id},
               {"id", unique_id("wamid.IN")},
               {"timestamp", std::to_string(at_s)},
               {"type", "text"},
               {"text", {{"body", text}}}};
  Json contact{{"profile", {{"name", "Ann"}}}, {"wa_id", wa_id}};
  Json value{{"messaging_product", "whatsapp"},
             {"metadata",
              {{"display_phone_number", "15550001111"}, {"phone_number_id", kWhatsappPhoneId}}},
             {"contacts", Json::array({contact})},
             {"messages", Json::array({message})}};
  Json change{{"field", "messages"}, {"value", value}};
  Json entry{{"id", "102290129340398"}, {"changes", Json::array({change})}};
  Json payload{{"object", "whatsapp_business_account"}, {"entry", Json::array({entry})}};
  auto answer =
      env.webhook(Json{{"json", payload}, {"signature", "good"}}, "whatsapp", "/hooks/whatsapp");
  INFO(answer.dump());
  REQUIRE(answer["status"] == 200);
}

/// The customer's conversation listed under `status` (empty when none).
Json listed(const HookEnv& env, const std::string& customer, const std::string& status) {
  auto page = json_of(agent(env, "GET", "/v1/conversations?status=" + status, kAgentToken));
  for (const auto& c : page["items"])
    if (c["customer_id"] == customer) return c;
  return nullptr;
}

Json wait_listed(const HookEnv& env, const std::string& customer, const std::string& status) {
  Json found;
  bool ok = eventually([&] {
    found = listed(env, customer, status);
    return !found.is_null();
  });
  INFO(customer << " " << status << "\n" << env.diagnostics());
  REQUIRE(ok);
  return found;
}

Json conversation(const HookEnv& env, const std::string& id) {
  return json_of(agent(env, "GET", "/v1/conversations/" + id, kAgentToken));
}

/// The last request the sandbox received for a provider that carries a JSON body.
Json last_json_send(const HookEnv& env, const std::string& provider) {
  auto requests = env.sandbox.requests(provider);
  for (auto it = requests.rbegin(); it != requests.rend(); ++it)
    if ((*it)["method"] == "POST" && (*it)["json"].is_object()) return (*it)["json"];
  return nullptr;
}

std::vector<std::string> twilio_bodies(const HookEnv& env, const std::string& to) {
  std::vector<std::string> out;
  for (const auto& r : env.sandbox.requests("twilio")) {
    const auto& form = r["form"];
    if (!form.is_object() || !form.contains("Body") || !form.contains("To")) continue;
    if (form["To"][0] == to) out.push_back(form["Body"][0].get<std::string>());
  }
  return out;
}


}  // namespace conversations_e2e
