#include <utility>

#include "channels/sendgrid/sendgrid_channel.hpp"

#include <algorithm>
#include <chrono>

#include "channels/http_client.hpp"
#include "channels/provider/provider_http.hpp"
#include "channels/webhooks.hpp"

namespace herald::channels::sendgrid {
namespace asio = boost::asio;
using Outcome = SendResult::Outcome;
using Json = nlohmann::json;

SendgridSettings parse_settings(const YAML::Node& section, const std::string& config_file) {
  check_provider_keys(section, "sendgrid",
                      {"base_url", "api_key", "from", "reply_to", "unsubscribe_mailto",
                       "webhook_public_key"},
                      config_file);
  provider::Section s(section, "sendgrid", config_file);
  SendgridSettings settings;
  settings.common = parse_provider_settings(section, config_file);
  settings.base_url = s.url("base_url", settings.base_url);
  settings.api_key = s.required("api_key");
  auto from = s.required("from");
  auto open = from.find('<');
  if (open != std::string::npos && from.back() == '>') {
    settings.from_email = from.substr(open + 1, from.size() - open - 2);
    settings.from_name = from.substr(0, open);
    while (!settings.from_name.empty() && settings.from_name.back() == ' ') settings.from_name.pop_back();
    if (settings.from_name.size() >= 2 && settings.from_name.front() == '"' && settings.from_name.back() == '"')
      settings.from_name = settings.from_name.substr(1, settings.from_name.size() - 2);
  } else {
    settings.from_email = from;
  }
  if (settings.from_email.find('@') == std::string::npos)
    s.fail("from", "from: expected an e-mail address, got \"" + from + "\"");
  settings.reply_to = s.optional("reply_to");
  settings.unsubscribe_mailto = s.optional("unsubscribe_mailto");
  settings.webhook_public_key = s.optional("webhook_public_key");
  if (!settings.webhook_public_key.empty() && !webhooks::sendgrid_key_valid(settings.webhook_public_key))
    s.fail("webhook_public_key",
           "webhook_public_key: expected the event webhook's verification key (base64 of an EC "
           "public key, as SendGrid shows it)");
  return settings;
}

SendgridChannel::SendgridChannel(SendgridSettings settings) : settings_(std::move(settings)) {}

namespace {

Json build_body(const SendgridSettings& settings, const OutboundMessage& message) {
  const auto& content = message.content;
  auto field = [&](const char* name) {
    return content.contains(name) && content[name].is_string() ? content[name].get<std::string>()
                                                               : std::string();
  };
  Json to = Json::object();
  to["email"] = message.to;
  Json personalization = Json::object();
  personalization["to"] = Json::array();
  personalization["to"].push_back(std::move(to));
  Json body = Json::object();
  body["personalizations"] = Json::array();
  body["personalizations"].push_back(std::move(personalization));
  body["from"] = Json::object();
  body["from"]["email"] = settings.from_email;
  if (!settings.from_name.empty()) body["from"]["name"] = settings.from_name;
  if (!settings.reply_to.empty()) {
    body["reply_to"] = Json::object();
    body["reply_to"]["email"] = settings.reply_to;
  }
  body["subject"] = field("subject");
  body["content"] = Json::array();
  auto text = field("text");
  auto html = field("html");
  if (!text.empty()) {
    Json part = Json::object();
    part["type"] = "text/plain";
    part["value"] = text;
    body["content"].push_back(std::move(part));
  }
  if (!html.empty()) {
    Json part = Json::object();
    part["type"] = "text/html";
    part["value"] = html;
    body["content"].push_back(std::move(part));
  }
  body["custom_args"] = Json::object();
  body["custom_args"]["herald_message_id"] = message.id;
  if (!message.unsubscribe_url.empty()) {
    std::string list = "<" + message.unsubscribe_url + ">";
    if (!settings.unsubscribe_mailto.empty())
      list += ", <mailto:" + settings.unsubscribe_mailto + "?subject=unsubscribe>";
    body["headers"] = Json::object();
    body["headers"]["List-Unsubscribe"] = list;
    body["headers"]["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click";
  }
  return body;
}

SendResult classify(const HttpResponse& response) {
  if (response.status >= 200 && response.status < 300) {
    auto id = response.header("x-message-id");
    return provider::accepted(id);
  }
  if (auto common = provider::classify_common(response)) {
    // SendGrid's rate limit answers name the end of the window in X-RateLimit-Reset (unix
    // seconds) rather than in Retry-After.
    if (response.status == 429 && !common->retry_after) {
      auto reset = response.header("x-ratelimit-reset");
      if (!reset.empty() && reset.size() < 12 &&
          reset.find_first_not_of("0123456789") == std::string::npos) {
        auto at = std::chrono::system_clock::time_point(std::chrono::seconds(std::stoll(reset)));
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
            at - std::chrono::system_clock::now());
        common->retry_after = std::max(wait, std::chrono::milliseconds(0));
      }
    }
    return *common;
  }
  auto json = provider::parse_json(response.body);
  std::string text;
  if (json.is_object() && json.contains("errors") && json["errors"].is_array() &&
      !json["errors"].empty())
    text = provider::text_of(json["errors"][0], "message");
  return provider::failure(Outcome::kPermanent, "http_" + std::to_string(response.status),
                           text.empty() ? "rejected by sendgrid" : text);
}

}  // namespace

asio::awaitable<SendResult> SendgridChannel::send(const OutboundMessage& message,
                                                  SendContext& context) {
  HttpRequest request;
  request.method = "POST";
  request.url = settings_.base_url + "/v3/mail/send";
  request.timeout = settings_.common.timeout;
  request.headers.emplace_back("Authorization", "Bearer " + settings_.api_key);
  request.headers.emplace_back("Content-Type", "application/json");
  request.body = build_body(settings_, message).dump();
  auto response = co_await context.http->request(std::move(request));
  co_return classify(response);
}

std::unique_ptr<Channel> make_sendgrid(const AdapterContext&, const YAML::Node& section,
                                       const std::string& config_file) {
  return std::make_unique<SendgridChannel>(parse_settings(section, config_file));
}

}  // namespace herald::channels::sendgrid
