#pragma once
// What the HTTP provider adapters share: reading their config sections, encoding
// requests, and classifying the answers every provider gives alike (no answer, 429,
// 5xx, Retry-After).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "channels/channel.hpp"
#include "channels/http_client.hpp"

namespace herald::channels::provider {

/// Reads the string keys of one provider section, with errors at the key's line and column.
class Section {
 public:
  Section(const YAML::Node& section, std::string provider, std::string file);

  /// A required non-empty string.
  std::string required(std::string_view key) const;
  /// An optional string (empty when absent or null).
  std::string optional(std::string_view key, std::string fallback = {}) const;
  /// An optional http(s) URL without a trailing slash.
  std::string url(std::string_view key, std::string fallback) const;
  /// An optional positive integer.
  unsigned integer(std::string_view key, unsigned fallback, unsigned max) const;
  /// A ConfigError at `key` (or at the section when the key is absent).
  [[noreturn]] void fail(std::string_view key, const std::string& message) const;

  const YAML::Node& node() const { return section_; }

 private:
  YAML::Node section_;
  std::string provider_;
  std::string file_;
};

/// application/x-www-form-urlencoded.
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);
/// Percent-encodes everything but RFC 3986's unreserved characters (webhooks::url_encode).
std::string percent_encode(std::string_view text);
std::string base64(std::string_view bytes);

/// Retry-After in seconds or as an HTTP date; none when absent or unreadable.
std::optional<std::chrono::milliseconds> retry_after(const HttpResponse& response);

/// The classification every provider shares: no answer (timeout, refused, reset) and
/// HTTP 429 and 5xx are retryable. None when the answer needs the provider's own rules.
std::optional<SendResult> classify_common(const HttpResponse& response);

SendResult accepted(std::string provider_message_id);
SendResult failure(SendResult::Outcome outcome, std::string code, std::string message);

/// The body as JSON, or a discarded value when it is not JSON.
nlohmann::json parse_json(std::string_view body);

/// A JSON member as text (strings as they are, numbers printed), or empty.
std::string text_of(const nlohmann::json& object, std::string_view key);

/// Whether the customer-care window is open: the customer wrote within `window`.
bool window_open(const OutboundMessage& message, std::chrono::hours window);

}  // namespace herald::channels::provider
