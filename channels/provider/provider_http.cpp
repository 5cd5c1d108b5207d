#include "channels/provider/provider_http.hpp"

#include <openssl/evp.h>

#include <ctime>

#include "channels/webhooks.hpp"
#include "config/config.hpp"

namespace herald::channels::provider {

Section::Section(const YAML::Node& section, std::string provider, std::string file)
    : section_(section), provider_(std::move(provider)), file_(std::move(file)) {}

void Section::fail(std::string_view key, const std::string& message) const {
  YAML::Node at = section_.IsMap() && section_[std::string(key)] ? section_[std::string(key)]
                                                                  : section_;
  throw config::ConfigError(config::location_of(at, file_), message);
}

std::string Section::optional(std::string_view key, std::string fallback) const {
  if (!section_.IsMap()) return fallback;
  const YAML::Node node = section_[std::string(key)];
  if (!node || node.IsNull()) return fallback;
  if (!node.IsScalar()) fail(key, std::string(key) + ": expected a string");
  return node.Scalar();
}

std::string Section::required(std::string_view key) const {
  auto value = optional(key);
  if (value.empty())
    fail(key, std::string(key) + ": required by the " + provider_ + " provider");
  return value;
}

std::string Section::url(std::string_view key, std::string fallback) const {
  auto value = optional(key, std::move(fallback));
  if (value.rfind("http://", 0) != 0 && value.rfind("https://", 0) != 0)
    fail(key, std::string(key) + ": expected an http:// or https:// URL, got \"" + value + "\"");
  while (!value.empty() && value.back() == '/') value.pop_back();
  return value;
}

unsigned Section::integer(std::string_view key, unsigned fallback, unsigned max) const {
  auto text = optional(key);
  if (text.empty()) return fallback;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9' || value > max) {
      value = max + 1;
      break;
    }
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > max)
    fail(key, std::string(key) + ": expected an integer from 1 to " + std::to_string(max) +
                  ", got \"" + text + "\"");
  return value;
}

std::string percent_encode(std::string_view text) { return webhooks::url_encode(text); }

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += '&';
    out += percent_encode(name);
    out += '=';
    out += percent_encode(value);
  }
  return out;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::chrono::milliseconds> retry_after(const HttpResponse& response) {
  auto value = response.header("retry-after");
  if (value.empty()) return std::nullopt;
  bool digits = value.find_first_not_of("0123456789") == std::string::npos;
  if (digits && value.size() < 9) return std::chrono::seconds(std::stol(value));
  std::tm tm{};
  if (strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
    auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        at - std::chrono::system_clock::now());
    return std::max(wait, std::chrono::milliseconds(0));
  }
  return std::nullopt;
}

SendResult accepted(std::string provider_message_id) {
  SendResult r;
  r.outcome = SendResult::Outcome::kAccepted;
  r.provider_message_id = std::move(provider_message_id);
  return r;
}

SendResult failure(SendResult::Outcome outcome, std::string code, std::string message) {
  SendResult r;
  r.outcome = outcome;
  r.error_code = std::move(code);
  r.error_message = std::move(message);
  return r;
}

std::optional<SendResult> classify_common(const HttpResponse& response) {
  using Outcome = SendResult::Outcome;
  if (response.status == 0)
    return failure(Outcome::kRetryable, response.timed_out ? "timeout" : "connection",
                   response.error);
  if (response.status == 429 || response.status >= 500) {
    auto r = failure(Outcome::kRetryable, "http_" + std::to_string(response.status),
                     response.status == 429 ? "throttled by the provider" : "provider error");
    r.retry_after = retry_after(response);
    return r;
  }
  return std::nullopt;
}

nlohmann::json parse_json(std::string_view body) {
  return nlohmann::json::parse(body, nullptr, false);
}

std::string text_of(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  if (it == object.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number()) return it->dump();
  return {};
}

bool window_open(const OutboundMessage& message, std::chrono::hours window) {
  return message.last_inbound &&
         std::chrono::system_clock::now() - *message.last_inbound < window;
}

}  // namespace herald::channels::provider
