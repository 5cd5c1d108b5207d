#include "tests/delivery_e2e/delivery_support.hpp"

#include <ctime>
#include <filesystem>
#include <stdexcept>

#include "tests/support/process.hpp"

namespace herald::test::delivery {

std::string sandbox_channels(const ProviderSandbox& sandbox, const ChannelOptions& o) {
  const std::string common =
      "retries: " + std::to_string(o.retries) + ", timeout: " + o.timeout + ", ";
  return std::string("channels:\n") +
         "  sms: { provider: twilio, " + common + o.twilio_extra + "base_url: \"" +
         sandbox.base_url("twilio") + "\", account_sid: " + kTwilioSid +
         ", auth_token: " + kTwilioToken + ", from: \"" + kSmsFrom + "\" }\n" +
         "  email: { provider: sendgrid, " + common + o.sendgrid_extra + "base_url: \"" +
         sandbox.base_url("sendgrid") + "\", api_key: \"" + kSendgridKey + "\", from: \"" +
         kEmailFrom + "\" }\n" +
         "  whatsapp: { provider: whatsapp_cloud, " + common + "base_url: \"" +
         sandbox.base_url("whatsapp") + "\", phone_number_id: \"" + kWhatsappPhoneId +
         "\", access_token: " + kWhatsappToken + ", app_secret: " + kWhatsappAppSecret +
         ", verify_token: " + kWhatsappVerifyToken + " }\n" +
         "  wechat: { provider: wechat_oa, " + common + "base_url: \"" +
         sandbox.base_url("wechat") + "\", app_id: " + kWechatAppId +
         ", app_secret: " + kWechatSecret + ", token: " + kWechatServerToken + " }\n" +
         "  social: { provider: messenger, " + common + "base_url: \"" +
         sandbox.base_url("messenger") + "\", page_access_token: " + kMessengerToken +
         ", app_secret: " + kMessengerAppSecret + ", verify_token: " + kMessengerVerifyToken +
         " }\n";
}

void write_templates(const TempDir& dir) {
  dir.write("notice.yaml", R"(template: notice
email:
  subject: "Your code, {{ customer.first_name | default: 'friend' }}"
  text: "Hi {{ customer.first_name }}, your email code is {{ data.code }}"
sms:
  body: "Hi {{ customer.first_name }}, your code is {{ data.code }}"
whatsapp:
  text: "WA {{ data.code }}"
  template:
    name: notice_v1
    language: en
    params: ["{{ data.code }}"]
wechat:
  text: "WeChat {{ data.code }}"
  template:
    id: "TPL_NOTICE"
    url: "https://shop.example/c"
    data:
      keyword1: "{{ data.code }}"
social:
  text: "Messenger {{ data.code }}"
)");
  dir.write("email_only.yaml", R"(template: email_only
email:
  subject: "Just email"
  text: "Only by email, {{ customer.first_name }}"
)");
}

std::string delivery_config(const ProviderSandbox& sandbox, const TempDir& templates,
                            const ChannelOptions& options, const std::string& extra,
                            const std::string& workflows_dir) {
  std::string workflows = workflows_dir;
  if (workflows.empty()) {
    workflows = templates.file("no-workflows");
    std::filesystem::create_directories(workflows);
  }
  return test_config("workflows_dir: " + workflows + "\ntemplates_dir: " + templates.path() +
                     "\npublic_url: http://127.0.0.1:{port}\n" +
                     sandbox_channels(sandbox, options) + extra);
}

HttpResponse admin(const HeraldProcess& herald, const std::string& method, const std::string& path,
                   const std::string& body) {
  return http(herald.port(), method, path, body,
              {{"Authorization", std::string("Bearer ") + kAdminKey}});
}

Json admin_json(const HeraldProcess& herald, const std::string& path) {
  auto r = admin(herald, "GET", path);
  if (r.status != 200) return nullptr;
  return Json::parse(r.body, nullptr, false);
}

void identify(const HeraldProcess& herald, const std::string& id, const Json& traits) {
  Json body{{"userId", id}, {"traits", traits}};
  auto r = http(herald.port(), "POST", "/v1/identify", body.dump(),
                {{"Authorization", std::string("Bearer ") + kWriteKey}});
  if (r.status != 200) throw std::runtime_error("identify answered " + r.body);
  if (!eventually([&] { return admin(herald, "GET", "/v1/customers/" + id).status == 200; },
                  std::chrono::seconds(10)))
    throw std::runtime_error("customer " + id + " was not processed");
}

void set_consent(const HeraldProcess& herald, const std::string& id, const std::string& channel,
                 const std::string& status, const std::string& source) {
  Json body{{"status", status}, {"source", source}};
  auto r = admin(herald, "PUT", "/v1/customers/" + id + "/consent/" + channel, body.dump());
  if (r.status != 200) throw std::runtime_error("consent answered " + r.body);
}

HttpResponse post_message(const HeraldProcess& herald, const Json& body) {
  return admin(herald, "POST", "/v1/messages", body.dump());
}

std::string send_notice(const HeraldProcess& herald, const std::string& customer,
                        const std::vector<std::string>& channels, const std::string& code,
                        bool transactional, const std::string& idempotency_key) {
  Json body{{"customer_id", customer},
            {"template", "notice"},
            {"channels", channels},
            {"data", {{"code", code}}},
            {"transactional", transactional}};
  if (!idempotency_key.empty()) body["idempotency_key"] = idempotency_key;
  auto r = post_message(herald, body);
  if (r.status != 202)
    throw std::runtime_error("POST /v1/messages answered " + std::to_string(r.status) + " " + r.body);
  return Json::parse(r.body).at("id").get<std::string>();
}

Json message(const HeraldProcess& herald, const std::string& id) {
  return admin_json(herald, "/v1/messages/" + id);
}

Json wait_status(const HeraldProcess& herald, const std::string& id,
                 const std::vector<std::string>& statuses, std::chrono::milliseconds timeout) {
  Json found;
  bool ok = eventually(
      [&] {
        found = message(herald, id);
        if (!found.is_object()) return false;
        for (const auto& s : statuses)
          if (found.value("status", std::string()) == s) return true;
        return false;
      },
      timeout);
  return ok ? found : Json();
}

std::vector<std::string> statuses_of(const Json& timeline) {
  std::vector<std::string> out;
  if (timeline.is_array())
    for (const auto& e : timeline) out.push_back(e.value("status", std::string()));
  return out;
}

int64_t parse_time_ms(const std::string& text) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
    throw std::runtime_error("not an RFC 3339 time with ms: " + text);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(::timegm(&tm)) * 1000 + ms;
}

Json accepted_requests(const ProviderSandbox& sandbox, const std::string& provider) {
  Json out = Json::array();
  for (const auto& r : sandbox.requests(provider)) {
    if (!r["status"].is_number()) continue;
    int status = r["status"].get<int>();
    if (status < 200 || status >= 300) continue;
    if (provider == "wechat" && r.value("path", std::string()).find("/cgi-bin/token") != std::string::npos)
      continue;
    out.push_back(r);
  }
  return out;
}

std::string form_field(const Json& request, const std::string& name) {
  const auto& form = request["form"];
  if (!form.is_object() || !form.contains(name) || !form[name].is_array() || form[name].empty())
    return {};
  return form[name][0].get<std::string>();
}

}  // namespace herald::test::delivery
