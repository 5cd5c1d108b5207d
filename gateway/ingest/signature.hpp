#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace herald::ingest {

/// How a signed source proves its requests (config `sources.NAME.signature.scheme`).
enum class SignatureScheme {
  kShopify,        // "shopify": base64 HMAC-SHA256 of the raw body in X-Shopify-Hmac-Sha256
  kStripe,         // "hmac-sha256": "t=UNIX,v1=HEX[,v1=HEX]" over "UNIX.BODY", with a tolerance
  kHmacSha256Hex,  // "hmac-sha256-hex": hex HMAC-SHA256 of the raw body in the configured header
};

std::optional<SignatureScheme> parse_signature_scheme(std::string_view name);
std::string_view to_string(SignatureScheme scheme);

struct SignatureConfig {
  SignatureScheme scheme = SignatureScheme::kHmacSha256Hex;
  std::vector<std::string> secrets;     // any of them may sign (rotation); never empty
  std::string header;                   // lower-case header name
  std::chrono::seconds tolerance{300};  // kStripe only; zero disables the check
};

/// The default header of a scheme ("x-shopify-hmac-sha256", "stripe-signature"), or empty when
/// the scheme has none and the config must name it.
std::string_view default_signature_header(SignatureScheme scheme);

/// Checks a request's signature. `headers` is a JSON object of lower-cased header names to string
/// values. Throws ApiError 401 `bad_signature` (missing, malformed or wrong signature) or, when a
/// correct signature carries a time more than `tolerance` from `now`, 401 `stale_signature`.
/// Comparisons are constant-time.
void verify_signature(const SignatureConfig& config, const nlohmann::ordered_json& headers,
                      std::string_view body, std::chrono::system_clock::time_point now);

/// HMAC-SHA256(key, message), raw 32 bytes.
std::string hmac_sha256(std::string_view key, std::string_view message);
std::string to_hex(std::string_view bytes);     // lower case
std::string to_base64(std::string_view bytes);  // standard alphabet, padded
/// Constant-time equality for equal lengths; false at once when the lengths differ.
bool constant_time_equal(std::string_view a, std::string_view b);

/// The value of a header for signing a request the way a sender of that scheme does (for tests
/// and for tools that replay webhooks): base64 for shopify, "t=…,v1=…" for hmac-sha256, hex for
/// hmac-sha256-hex.
std::string sign_request(SignatureScheme scheme, std::string_view secret, std::string_view body,
                         std::chrono::system_clock::time_point now);

}  // namespace herald::ingest
