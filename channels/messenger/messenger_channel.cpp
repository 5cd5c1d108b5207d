#include <utility>

#include "channels/messenger/messenger_channel.hpp"

#include "channels/http_client.hpp"
#include "channels/provider/provider_http.hpp"

namespace herald::channels::messenger {
namespace asio = boost::asio;
using Outcome = SendResult::Outcome;
using Json = nlohmann::json;

MessengerSettings parse_settings(const YAML::Node& section, const std::string& config_file) {
  check_provider_keys(section, "messenger",
                      {"base_url", "page_access_token", "app_secret", "verify_token", "message_tag"},
                      config_file);
  provider::Section s(section, "messenger", config_file);
  MessengerSettings settings;
  settings.common = parse_provider_settings(section, config_file);
  settings.base_url = s.url("base_url", settings.base_url);
  settings.page_access_token = s.required("page_access_token");
  settings.app_secret = s.required("app_secret");
  settings.verify_token = s.required("verify_token");
  settings.message_tag = s.optional("message_tag");
  return settings;
}

MessengerChannel::MessengerChannel(MessengerSettings settings) : settings_(std::move(settings)) {
  url_ = settings_.base_url + "/me/messages?access_token=" +
         provider::percent_encode(settings_.page_access_token);
}

namespace {

/// Characters, not bytes: Messenger's limit counts characters.
std::size_t utf8_length(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

SendResult classify(const HttpResponse& response) {
  auto json = provider::parse_json(response.body);
  if (response.status >= 200 && response.status < 300) {
    auto id = provider::text_of(json, "message_id");
    if (id.empty()) return provider::failure(Outcome::kRetryable, "bad_answer", "2xx without a message_id");
    return provider::accepted(id);
  }
  const Json error = json.is_object() && json.contains("error") ? json["error"] : Json::object();
  auto code = provider::text_of(error, "code");
  auto subcode = provider::text_of(error, "error_subcode");
  auto text = provider::text_of(error, "message");
  if (code == "10" && subcode == "2018278")
    return provider::failure(Outcome::kWindowClosed, "10/2018278",
                             "outside the 24 h messaging window");
  if (code == "4" || code == "613" || code == "2" || code == "1200") {
    auto r = provider::failure(Outcome::kRetryable, code, text.empty() ? "throttled" : text);
    r.retry_after = provider::retry_after(response);
    return r;
  }
  if (auto common = provider::classify_common(response)) {
    if (!code.empty()) common->error_code = code;
    return *common;
  }
  if (!subcode.empty()) code += "/" + subcode;
  return provider::failure(Outcome::kPermanent,
                           code.empty() ? "http_" + std::to_string(response.status) : code,
                           text.empty() ? "rejected by messenger" : text);
}

}  // namespace

asio::awaitable<SendResult> MessengerChannel::send(const OutboundMessage& message,
                                                   SendContext& context) {
  const auto& content = message.content;
  std::string text = content.contains("text") && content["text"].is_string()
                         ? content["text"].get<std::string>()
                         : std::string();
  if (text.empty()) co_return provider::failure(Outcome::kPermanent, "empty_content", "no text");
  if (utf8_length(text) > kMaxText)
    co_return provider::failure(Outcome::kPermanent, "text_too_long",
                                "above Messenger's 2000 characters");
  Json body = Json::object();
  body["recipient"] = Json::object();
  body["recipient"]["id"] = message.to;
  bool open = provider::window_open(message, std::chrono::hours(24));
  if (open) {
    body["messaging_type"] = "RESPONSE";
  } else if (!settings_.message_tag.empty()) {
    body["messaging_type"] = "MESSAGE_TAG";
    body["tag"] = settings_.message_tag;
  } else {
    body["messaging_type"] = "UPDATE";
  }
  body["message"] = Json::object();
  body["message"]["text"] = text;
  HttpRequest request;
  request.method = "POST";
  request.url = url_;
  request.timeout = settings_.common.timeout;
  request.headers.emplace_back("Content-Type", "application/json");
  request.body = body.dump();
  auto response = co_await context.http->request(std::move(request));
  co_return classify(response);
}

std::unique_ptr<Channel> make_messenger(const AdapterContext&, const YAML::Node& section,
                                        const std::string& config_file) {
  return std::make_unique<MessengerChannel>(parse_settings(section, config_file));
}

}  // namespace herald::channels::messenger
