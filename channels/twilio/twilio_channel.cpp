#include <utility>

#include "channels/twilio/twilio_channel.hpp"

#include <algorithm>
#include <vector>

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

// GSM 03.38 basic character set beyond ASCII letters and digits, and the extension table
// (two septets each): the same count as templates/sms_segments.cpp, which renders `segments`.
constexpr char32_t kGsmBasic[] = {
    U'@',  U'£', U'$', U'¥', U'è', U'é', U'ù', U'ì', U'ò', U'Ç', U'\n', U'Ø', U'ø',
    U'\r', U'Å', U'å', U'Δ', U'_', U'Φ', U'Γ', U'Λ', U'Ω', U'Π', U'Ψ',  U'Σ', U'Θ',
    U'Ξ',  U'Æ', U'æ', U'ß', U'É', U' ', U'!', U'"', U'#', U'¤', U'%',  U'&', U'\'',
    U'(',  U')', U'*', U'+', U',', U'-', U'.', U'/', U':', U';', U'<',  U'=', U'>',
    U'?',  U'¡', U'Ä', U'Ö', U'Ñ', U'Ü', U'§', U'¿', U'ä', U'ö', U'ñ',  U'ü', U'à'};
constexpr char32_t kGsmExtension[] = {U'\f', U'^', U'{', U'}', U'\\', U'[', U'~', U']', U'|', U'€'};

/// Septets of `c` in GSM-7: 1, 2 (extension table), or 0 when it has none.
int gsm_septets(char32_t c) {
  if ((c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z') || (c >= U'0' && c <= U'9')) return 1;
  for (char32_t b : kGsmBasic)
    if (b == c) return 1;
  for (char32_t e : kGsmExtension)
    if (e == c) return 2;
  return 0;
}

/// The code points of UTF-8 text (an invalid byte counts as U+FFFD).
std::vector<char32_t> code_points(const std::string& text) {
  std::vector<char32_t> out;
  for (std::size_t i = 0; i < text.size();) {
    auto b = static_cast<unsigned char>(text[i]);
    int extra = b < 0x80 ? 0 : (b >> 5) == 6 ? 1 : (b >> 4) == 14 ? 2 : (b >> 3) == 30 ? 3 : -1;
    if (extra < 0 || i + static_cast<std::size_t>(extra) >= text.size()) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    char32_t c = extra == 0 ? b : b & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k) c = (c << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    out.push_back(c);
    i += static_cast<std::size_t>(extra) + 1;
  }
  return out;
}

/// The segments an SMS body takes: one of 160 septets (GSM-7) or 70 UTF-16 units (UCS-2),
/// else parts of 153 / 67 that never split a character.
unsigned count_segments(const std::string& body) {
  auto chars = code_points(body);
  bool gsm = true;
  for (char32_t c : chars) gsm = gsm && gsm_septets(c) > 0;
  auto size = [&](char32_t c) -> std::size_t {
    return gsm ? static_cast<std::size_t>(gsm_septets(c)) : (c > 0xFFFF ? 2 : 1);
  };
  std::size_t units = 0;
  for (char32_t c : chars) units += size(c);
  if (units == 0) return 0;
  if (units <= (gsm ? 160u : 70u)) return 1;
  const std::size_t part = gsm ? 153 : 67;
  unsigned parts = 1;
  std::size_t used = 0;
  for (char32_t c : chars) {
    if (used + size(c) > part) {
      ++parts;
      used = 0;
    }
    used += size(c);
  }
  return parts;
}

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
  // The body's own count; the rendered `segments` when it says more (any JSON integer:
  // a signed one is as good as an unsigned one).
  unsigned segments = count_segments(body);
  if (content.contains("segments") && content["segments"].is_number_integer() &&
      content["segments"].get<long long>() > static_cast<long long>(segments))
    segments = static_cast<unsigned>(std::min<long long>(content["segments"].get<long long>(), 100000));
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
