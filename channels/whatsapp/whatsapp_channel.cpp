#include <utility>

#include "channels/whatsapp/whatsapp_channel.hpp"

#include "channels/http_client.hpp"
#include "channels/provider/provider_http.hpp"

namespace herald::channels::whatsapp {
namespace asio = boost::asio;
using Outcome = SendResult::Outcome;
using Json = nlohmann::json;

WhatsappSettings parse_settings(const YAML::Node& section, const std::string& config_file) {
  check_provider_keys(section, "whatsapp_cloud",
                      {"base_url", "phone_number_id", "access_token", "app_secret", "verify_token"},
                      config_file);
  provider::Section s(section, "whatsapp_cloud", config_file);
  WhatsappSettings settings;
  settings.common = parse_provider_settings(section, config_file);
  settings.base_url = s.url("base_url", settings.base_url);
  settings.phone_number_id = s.required("phone_number_id");
  settings.access_token = s.required("access_token");
  settings.app_secret = s.required("app_secret");
  settings.verify_token = s.required("verify_token");
  return settings;
}

WhatsappChannel::WhatsappChannel(WhatsappSettings settings) : settings_(std::move(settings)) {
  url_ = settings_.base_url + "/" + provider::percent_encode(settings_.phone_number_id) + "/messages";
}

namespace {

/// The WhatsApp id: the E.164 number without its "+".
std::string wa_id(const std::string& to) { return !to.empty() && to[0] == '+' ? to.substr(1) : to; }

Json text_body(const std::string& to, const std::string& text) {
  Json body = Json::object();
  body["messaging_product"] = "whatsapp";
  body["recipient_type"] = "individual";
  body["to"] = wa_id(to);
  body["type"] = "text";
  body["text"] = Json::object();
  body["text"]["preview_url"] = false;
  body["text"]["body"] = text;
  return body;
}

Json template_body(const std::string& to, const nlohmann::ordered_json& tpl) {
  Json body = Json::object();
  body["messaging_product"] = "whatsapp";
  body["recipient_type"] = "individual";
  body["to"] = wa_id(to);
  body["type"] = "template";
  Json t = Json::object();
  t["name"] = tpl.value("name", "");
  t["language"] = Json::object();
  t["language"]["code"] = tpl.value("language", "en");
  if (tpl.contains("params") && tpl["params"].is_array() && !tpl["params"].empty()) {
    Json parameters = Json::array();
    for (const auto& p : tpl["params"]) {
      Json parameter = Json::object();
      parameter["type"] = "text";
      parameter["text"] = p.is_string() ? p.get<std::string>() : p.dump();
      parameters.push_back(std::move(parameter));
    }
    Json component = Json::object();
    component["type"] = "body";
    component["parameters"] = std::move(parameters);
    t["components"] = Json::array();
    t["components"].push_back(std::move(component));
  }
  body["template"] = std::move(t);
  return body;
}

HttpRequest build(const WhatsappSettings& settings, const std::string& url, const Json& body) {
  HttpRequest request;
  request.method = "POST";
  request.url = url;
  request.timeout = settings.common.timeout;
  request.headers.emplace_back("Authorization", "Bearer " + settings.access_token);
  request.headers.emplace_back("Content-Type", "application/json");
  request.body = body.dump();
  return request;
}

SendResult classify(const HttpResponse& response) {
  auto json = provider::parse_json(response.body);
  if (response.status >= 200 && response.status < 300) {
    if (json.is_object() && json.contains("messages") && json["messages"].is_array() &&
        !json["messages"].empty())
      return provider::accepted(provider::text_of(json["messages"][0], "id"));
    return provider::failure(Outcome::kRetryable, "bad_answer", "2xx without a message id");
  }
  const Json error = json.is_object() && json.contains("error") ? json["error"] : Json::object();
  auto code = provider::text_of(error, "code");
  auto text = provider::text_of(error, "message");
  if (code == "131047")
    return provider::failure(Outcome::kWindowClosed, code, "outside the 24 h customer-care window");
  if (code == "130429" || code == "131056" || code == "4" || code == "80007") {
    auto r = provider::failure(Outcome::kRetryable, code, text.empty() ? "throttled" : text);
    r.retry_after = provider::retry_after(response);
    return r;
  }
  if (auto common = provider::classify_common(response)) {
    if (!code.empty()) common->error_code = code;
    return *common;
  }
  return provider::failure(Outcome::kPermanent,
                           code.empty() ? "http_" + std::to_string(response.status) : code,
                           text.empty() ? "rejected by whatsapp" : text);
}

}  // namespace

asio::awaitable<SendResult> WhatsappChannel::send(const OutboundMessage& message,
                                                  SendContext& context) {
  const auto& content = message.content;
  bool has_text = content.contains("text") && content["text"].is_string();
  bool has_template = content.contains("template") && content["template"].is_object();
  if (!has_text && !has_template)
    co_return provider::failure(Outcome::kPermanent, "empty_content", "no text and no template");
  bool open = provider::window_open(message, std::chrono::hours(24));
  bool as_text = has_text && (open || !has_template);
  Json body = as_text ? text_body(message.to, content["text"].get<std::string>())
                      : template_body(message.to, content["template"]);
  auto request = build(settings_, url_, body);
  auto response = co_await context.http->request(std::move(request));
  auto result = classify(response);
  if (result.outcome == Outcome::kWindowClosed && as_text && has_template) {
    // The window closed after all: once more as the approved template.
    auto retry = build(settings_, url_, template_body(message.to, content["template"]));
    response = co_await context.http->request(std::move(retry));
    result = classify(response);
  }
  co_return result;
}

std::unique_ptr<Channel> make_whatsapp(const AdapterContext&, const YAML::Node& section,
                                       const std::string& config_file) {
  return std::make_unique<WhatsappChannel>(parse_settings(section, config_file));
}

}  // namespace herald::channels::whatsapp
