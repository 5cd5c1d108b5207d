#include "tests/hooks_e2e/hooks_env.hpp"

#include <chrono>
#include <stdexcept>

#include <catch2/catch.hpp>

#include "tests/support/process.hpp"

namespace hooks_e2e {

using namespace herald::test;

namespace {

// One template with a section for every channel; WhatsApp and WeChat have both their
// free-text form (inside the customer-care window) and their template form (outside).
const char* kTemplate = R"(template: hello
email:
  subject: "Hello {{ customer.first_name | default: 'there' }}"
  html: "<p>Hello {{ customer.first_name | default: 'there' }}</p>"
  text: "Hello {{ customer.first_name | default: 'there' }}"
sms:
  body: "Hello {{ customer.first_name | default: 'there' }}"
whatsapp:
  text: "Hello on WhatsApp"
  template: { name: hello_v1, language: en, params: ["{{ customer.first_name | default: 'there' }}"] }
wechat:
  text: "Hello on WeChat"
  template: { id: "TPL_HELLO", data: { first: "Hello" } }
social:
  text: "Hello on Messenger"
)";

std::string hook_config(const ProviderSandbox& sandbox, const TempDir& content,
                        const std::string& public_url) {
  auto base = [&](const char* provider) { return "\"" + sandbox.base_url(provider) + "\""; };
  std::string extra =
      "public_url: \"" + public_url + "\"\n"
      "templates_dir: " + content.file("templates") + "\n"
      "workflows_dir: " + content.file("workflows") + "\n"
      "policies:\n"
      "  quiet_hours: null\n"
      "  consent: { email: opt_out, sms: opt_out, whatsapp: opt_out, wechat: opt_out, social: opt_out }\n"
      "channels:\n"
      "  email: { provider: sendgrid, base_url: " + base("sendgrid") + ", api_key: \"" + kSendgridKey +
      "\", from: \"Herald <news@example.com>\", webhook_public_key: \"" + kSendgridWebhookPublicKey +
      "\", retries: 0 }\n"
      "  sms: { provider: twilio, base_url: " + base("twilio") + ", account_sid: " + kTwilioSid +
      ", auth_token: " + kTwilioToken + ", from: \"" + kHeraldNumber + "\", retries: 0 }\n"
      "  whatsapp: { provider: whatsapp_cloud, base_url: " + base("whatsapp") +
      ", phone_number_id: \"" + kWhatsappPhoneId + "\", access_token: " + kWhatsappToken +
      ", app_secret: " + kWhatsappAppSecret + ", verify_token: " + kWhatsappVerifyToken +
      ", retries: 0 }\n"
      "  wechat: { provider: wechat_oa, base_url: " + base("wechat") + ", app_id: " + kWechatAppId +
      ", app_secret: " + kWechatSecret + ", token: " + kWechatServerToken + ", retries: 0 }\n"
      "  social: { provider: messenger, base_url: " + base("messenger") +
      ", page_access_token: " + kMessengerToken + ", app_secret: " + kMessengerAppSecret +
      ", verify_token: " + kMessengerVerifyToken + ", retries: 0 }\n";
  return test_config(extra);
}

const TempDir& with_content(const TempDir& dir) {
  dir.write("templates/hello.yaml", kTemplate);
  dir.write("workflows/.keep", "");
  return dir;
}

}  // namespace

HookEnv::HookEnv(const std::string& public_url) {
  with_content(content);
  herald = std::make_unique<HeraldProcess>(redis.url(), hook_config(sandbox, content, public_url));
  if (!herald->wait_ready(200))
    throw std::runtime_error("herald is not ready:\n" + herald->log());
}

std::string HookEnv::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port()) + path;
}

HttpResponse HookEnv::admin(const std::string& method, const std::string& path,
                            const std::string& body) const {
  std::vector<std::pair<std::string, std::string>> headers{
      {"Authorization", std::string("Bearer ") + kAdminKey}};
  if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
  return http(port(), method, path, body, headers);
}

Json HookEnv::customer(const std::string& id) const {
  auto r = admin("GET", "/v1/customers/" + id);
  if (r.status == 404) return nullptr;
  if (r.status != 200) throw std::runtime_error("GET customer: " + std::to_string(r.status) + " " + r.body);
  return Json::parse(r.body);
}

Json HookEnv::export_of(const std::string& id) const {
  auto r = admin("GET", "/v1/customers/" + id + "/export");
  if (r.status == 404) return nullptr;
  if (r.status != 200) throw std::runtime_error("GET export: " + std::to_string(r.status) + " " + r.body);
  return Json::parse(r.body);
}

std::string HookEnv::consent(const std::string& id, const std::string& channel) const {
  auto c = customer(id);
  if (!c.is_object() || !c["consent"].is_object() || !c["consent"].contains(channel)) return "";
  const auto& v = c["consent"][channel];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) return v.value("status", "");
  return "";
}

void HookEnv::identify(const std::string& id, const Json& traits) const {
  Json body{{"userId", id}, {"traits", traits}};
  auto r = http(port(), "POST", "/v1/identify", body.dump(),
                {{"Authorization", std::string("Bearer ") + kWriteKey},
                 {"Content-Type", "application/json"}});
  REQUIRE(r.status == 200);
  REQUIRE(eventually([&] {
    auto c = customer(id);
    if (!c.is_object()) return false;
    for (auto& [k, v] : traits.items())
      if (!c["traits"].contains(k)) return false;
    return true;
  }));
}

std::string HookEnv::send(const std::string& customer, const std::string& channel,
                          bool transactional) const {
  Json body{{"customer_id", customer},
            {"template", "hello"},
            {"channels", Json::array({channel})},
            {"transactional", transactional}};
  auto r = admin("POST", "/v1/messages", body.dump());
  INFO(r.body);
  REQUIRE(r.status == 202);
  return Json::parse(r.body).at("id").get<std::string>();
}

Json HookEnv::message(const std::string& id) const {
  auto r = admin("GET", "/v1/messages/" + id);
  if (r.status != 200) throw std::runtime_error("GET message: " + std::to_string(r.status) + " " + r.body);
  return Json::parse(r.body);
}

Json HookEnv::wait_sent(const std::string& id) const {
  Json m;
  bool sent = eventually(
      [&] {
        m = message(id);
        return m.value("status", "") == "sent" && m.contains("provider_id");
      },
      std::chrono::seconds(15));
  INFO(m.dump() << "\n" << diagnostics());
  REQUIRE(sent);
  return m;
}

std::string HookEnv::sent_provider_id(const std::string& customer, const std::string& channel,
                                      Json* message_out, std::string* id_out) const {
  auto id = send(customer, channel);
  auto m = wait_sent(id);
  if (message_out) *message_out = m;
  if (id_out) *id_out = id;
  return m.at("provider_id").get<std::string>();
}

Json HookEnv::webhook(Json spec, const std::string& provider, const std::string& path) const {
  spec["provider"] = provider;
  if (!spec.contains("url")) spec["url"] = url(path);
  return sandbox.webhook(spec);
}

std::string HookEnv::meta_signature(const std::string& provider, const std::string& body) const {
  Json spec{{"provider", provider},
            {"url", "http://127.0.0.1:" + std::to_string(sandbox.port()) + "/_sandbox/echo"},
            {"body", body}};
  auto answer = sandbox.webhook(spec);
  auto echoed = Json::parse(answer.at("body").get<std::string>());
  return echoed.at("headers").at("x-hub-signature-256").get<std::string>();
}

std::vector<Json> HookEnv::received(const std::string& customer) const {
  std::vector<Json> out;
  auto e = export_of(customer);
  if (!e.is_object() || !e["events"].is_array()) return out;
  for (const auto& ev : e["events"])
    if (ev.value("event", "") == "message.received") out.push_back(ev);
  std::reverse(out.begin(), out.end());  // the export lists the newest first
  return out;
}

int HookEnv::received_count(const std::string& customer, const std::string& provider_message_id) const {
  int n = 0;
  for (const auto& ev : received(customer))
    if (ev["properties"].value("provider_message_id", "") == provider_message_id) ++n;
  return n;
}

bool HookEnv::wait_received(const std::string& customer, const std::string& provider_message_id) const {
  return eventually([&] { return received_count(customer, provider_message_id) > 0; },
                    std::chrono::seconds(15));
}

bool HookEnv::healthy() const {
  try {
    return herald->running() && http(port(), "GET", "/healthz").status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

std::string HookEnv::diagnostics() const {
  std::string log = herald->log();
  if (log.size() > 6000) log = log.substr(log.size() - 6000);
  return "--- herald log (tail) ---\n" + log;
}

bool is_api_error(const HttpResponse& response, int status, const std::string& code) {
  if (response.status != status) return false;
  if (response.header("content-type").find("application/json") == std::string::npos) return false;
  auto body = Json::parse(response.body, nullptr, false);
  return body.is_object() && body.contains("error") && body["error"].is_object() &&
         body["error"].value("code", "") == code && body["error"]["message"].is_string() &&
         !body["error"]["message"].get<std::string>().empty();
}

bool is_api_error(const Json& answer, int status, const std::string& code) {
  HttpResponse r;
  r.status = answer.value("status", 0);
  const Json headers = answer.value("headers", Json::object());
  for (auto& [k, v] : headers.items())
    r.headers[k] = v.is_string() ? v.get<std::string>() : v.dump();
  r.body = answer.value("body", "");
  return is_api_error(r, status, code);
}

long long now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace hooks_e2e
