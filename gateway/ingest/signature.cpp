#include "gateway/ingest/signature.hpp"

#include <charconv>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gateway/ingest/api_error.hpp"

namespace herald::ingest {
namespace {

[[noreturn]] void bad_signature(std::string message) {
  throw ApiError(401, "bad_signature", std::move(message));
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Hex to raw bytes; nullopt for odd lengths or non-hex characters.
std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string bytes(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int high = hex_value(hex[2 * i]);
    const int low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes[i] = char(high * 16 + low);
  }
  return bytes;
}

std::string_view header_value(const nlohmann::ordered_json& headers, const std::string& name) {
  if (!headers.is_object()) return {};
  const auto found = headers.find(name);
  if (found == headers.end() || !found->is_string()) return {};
  return trim(found->get_ref<const std::string&>());
}

bool any_secret_matches(const SignatureConfig& config, std::string_view message,
                        std::string_view expected_raw) {
  bool matched = false;
  // Every secret is tried, so the time taken does not tell which one matched.
  for (const auto& secret : config.secrets) {
    matched = constant_time_equal(hmac_sha256(secret, message), expected_raw) || matched;
  }
  return matched;
}

struct StripeHeader {
  long long timestamp = 0;
  std::vector<std::string> signatures;  // raw bytes
};

std::optional<StripeHeader> parse_stripe_header(std::string_view value) {
  StripeHeader header;
  bool has_time = false;
  while (!value.empty()) {
    const auto comma = value.find(',');
    const std::string_view item = trim(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    const auto equals = item.find('=');
    if (equals == std::string_view::npos) continue;
    const std::string_view key = item.substr(0, equals);
    const std::string_view text = item.substr(equals + 1);
    if (key == "t") {
      const auto [end, error] =
          std::from_chars(text.data(), text.data() + text.size(), header.timestamp);
      if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
      has_time = true;
    } else if (key == "v1") {
      // A malformed v1 is skipped: another one may still match.
      if (auto raw = from_hex(text)) header.signatures.push_back(std::move(*raw));
    }
  }
  if (!has_time) return std::nullopt;
  return header;
}

}  // namespace

std::optional<SignatureScheme> parse_signature_scheme(std::string_view name) {
  if (name == "shopify") return SignatureScheme::kShopify;
  if (name == "hmac-sha256") return SignatureScheme::kStripe;
  if (name == "hmac-sha256-hex") return SignatureScheme::kHmacSha256Hex;
  return std::nullopt;
}

std::string_view to_string(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kShopify:
      return "shopify";
    case SignatureScheme::kStripe:
      return "hmac-sha256";
    case SignatureScheme::kHmacSha256Hex:
      return "hmac-sha256-hex";
  }
  return "";
}

std::string_view default_signature_header(SignatureScheme scheme) {
  switch (scheme) {
    case SignatureScheme::kShopify:
      return "x-shopify-hmac-sha256";
    case SignatureScheme::kStripe:
      return "stripe-signature";
    case SignatureScheme::kHmacSha256Hex:
      return "";
  }
  return "";
}

std::string hmac_sha256(std::string_view key, std::string_view message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), key.data(), int(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest,
           &length) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    hex.push_back(kHex[static_cast<unsigned char>(c) >> 4]);
    hex.push_back(kHex[static_cast<unsigned char>(c) & 0xF]);
  }
  return hex;
}

std::string to_base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int length =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), int(bytes.size()));
  out.resize(std::size_t(length));
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void verify_signature(const SignatureConfig& config, const nlohmann::ordered_json& headers,
                      std::string_view body, std::chrono::system_clock::time_point now) {
  const std::string_view value = header_value(headers, config.header);
  if (value.empty()) bad_signature("missing signature header " + config.header);

  switch (config.scheme) {
    case SignatureScheme::kShopify: {
      // Compared as base64 text: Shopify sends the canonical, padded encoding.
      bool matched = false;
      for (const auto& secret : config.secrets) {
        matched = constant_time_equal(to_base64(hmac_sha256(secret, body)), value) || matched;
      }
      if (!matched) bad_signature("signature does not match");
      return;
    }
    case SignatureScheme::kHmacSha256Hex: {
      std::string_view hex = value;
      if (hex.substr(0, 7) == "sha256=") hex.remove_prefix(7);  // Meta's and GitHub's prefix
      const auto raw = from_hex(hex);
      if (!raw || !any_secret_matches(config, body, *raw)) {
        bad_signature("signature does not match");
      }
      return;
    }
    case SignatureScheme::kStripe: {
      const auto header = parse_stripe_header(value);
      if (!header || header->signatures.empty()) bad_signature("malformed signature header");
      std::string signed_payload = std::to_string(header->timestamp);
      signed_payload.push_back('.');
      signed_payload.append(body);
      bool matched = false;
      for (const auto& signature : header->signatures) {
        matched = any_secret_matches(config, signed_payload, signature) || matched;
      }
      if (!matched) bad_signature("signature does not match");
      // Checked after the signature, so an attacker learns nothing from the timestamp alone.
      const long long now_seconds =
          std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
      const long long t = header->timestamp;
      // Unsigned, so that no timestamp can overflow the difference.
      const unsigned long long distance =
          t > now_seconds ? (unsigned long long)t - (unsigned long long)now_seconds
                          : (unsigned long long)now_seconds - (unsigned long long)t;
      if (config.tolerance.count() > 0 && distance > (unsigned long long)config.tolerance.count()) {
        throw ApiError(401, "stale_signature", "signature timestamp is outside the tolerance");
      }
      return;
    }
  }
}

std::string sign_request(SignatureScheme scheme, std::string_view secret, std::string_view body,
                         std::chrono::system_clock::time_point now) {
  switch (scheme) {
    case SignatureScheme::kShopify:
      return to_base64(hmac_sha256(secret, body));
    case SignatureScheme::kHmacSha256Hex:
      return to_hex(hmac_sha256(secret, body));
    case SignatureScheme::kStripe: {
      const std::string t = std::to_string(
          std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
      return "t=" + t + ",v1=" + to_hex(hmac_sha256(secret, t + "." + std::string(body)));
    }
  }
  return {};
}

}  // namespace herald::ingest
