#include <utility>

#include "channels/twilio/twilio_channel.hpp"

#include "channels/http_client.hpp"
#include "channels/provider/provider_http.hpp"

namespace herald::channels::twilio {
namespace asio = boost::asio;
using Outcome = SendResult::Outcome;

TwilioSettings parse_settings(const YAML::Node& section, const AdapterContext& context,
                              const std::string& config_file) {
  check_provider_keys(section, "twilio",
                      {"base_url", "account_sid", "auth_token", "from", "messaging_service_sid",
                       "max_segments"},
                      config_file);
  provider::Section s(section, "twilio", config_file);
  TwilioSettings settings;
  settings.common = parse_provider_settings(section, config_file);
  settings.base_url = s.url("base_url", settings.base_url);
  settings.account_sid = s.required("account_sid");
  settings.auth_token = s.required("auth_token");
  settings.from = s.optional("from");
  settings.messaging_service_sid = s.optional("messaging_service_sid");
  if (settings.from.empty() == settings.messaging_service_sid.empty())
    s.fail("from", "twilio needs exactly one of from and messaging_service_sid");
  settings.max_segments = s.integer("max_segments", 4, 100);
  if (!context.public_url.empty()) settings.status_callback = context.public_url + "/hooks/twilio";
  return settings;
}

TwilioChannel::TwilioChannel(TwilioSettings settings) : settings_(std::move(settings)) {
  authorization_ =
      "Basic " + provider::base64(settings_.account_sid + ":" + settings_.auth_token);
  url_ = settings_.base_url + "/2010-04-01/Accounts/" + provider::percent_encode(settings_.account_sid) +
         "/Messages.json";
}

namespace {

HttpRequest build(const TwilioSettings& settings, const std::string& url,
                  const std::string& authorization, const OutboundMessage& message,
                  const std::string& body) {
  std::vector<std::pair<std::string, std::string>> form;
  form.emplace_back("To", message.to);
  if (!settings.messaging_service_sid.empty())
    form.emplace_back("MessagingServiceSid", settings.messaging_service_sid);
  else
    form.emplace_back("From", settings.from);
  form.emplace_back("Body", body);
  if (!settings.status_callback.empty()) form.emplace_back("StatusCallback", settings.status_callback);
  HttpRequest request;
  request.method = "POST";
  request.url = url;
  request.timeout = settings.common.timeout;
  request.headers.emplace_back("Authorization", authorization);
  request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  request.headers.emplace_back("Accept", "application/json");
  request.body = provider::form_encode(form);
  return request;
}

SendResult classify(const HttpResponse& response) {
  auto json = provider::parse_json(response.body);
  if (response.status >= 200 && response.status < 300) {
    auto sid = provider::text_of(json, "sid");
    if (sid.empty()) return provider::failure(Outcome::kRetryable, "bad_answer", "2xx without a sid");
    return provider::accepted(sid);
  }
  auto code = provider::text_of(json, "code");
  auto text = provider::text_of(json, "message");
  if (code == "21610")
    return provider::failure(Outcome::kOptedOut, code, "the recipient opted out (STOP)");
  if (auto common = provider::classify_common(response)) {
    if (!code.empty()) common->error_code = code;
    return *common;
  }
  if (code == "20429") {  // too many concurrent requests, never processed
    auto r = provider::failure(Outcome::kRetryable, code, "throttled by twilio");
    r.retry_after = provider::retry_after(response);
    return r;
  }
  return provider::failure(Outcome::kPermanent, code.empty() ? "http_" + std::to_string(response.status) : code,
                           text.empty() ? "rejected by twilio" : text);
}

}  // namespace

asio::awaitable<SendResult> TwilioChannel::send(const OutboundMessage& message,
                                                SendContext& context) {
  const auto& content = message.content;
  std::string body = content.contains("body") && content["body"].is_string()
                         ? content["body"].get<std::string>()
                         : std::string();
  unsigned segments = content.contains("segments") && content["segments"].is_number_unsigned()
                          ? content["segments"].get<unsigned>()
                          : 1;
  if (body.empty()) co_return provider::failure(Outcome::kPermanent, "empty_body", "the SMS body is empty");
  if (segments > settings_.max_segments)
    co_return provider::failure(Outcome::kPermanent, "too_many_segments",
                                std::to_string(segments) + " segments, above max_segments " +
                                    std::to_string(settings_.max_segments));
  auto request = build(settings_, url_, authorization_, message, body);
  auto response = co_await context.http->request(std::move(request));
  co_return classify(response);
}

std::unique_ptr<Channel> make_twilio(const AdapterContext& context, const YAML::Node& section,
                                     const std::string& config_file) {
  return std::make_unique<TwilioChannel>(parse_settings(section, context, config_file));
}

}  // namespace herald::channels::twilio
