#pragma once
// One-click unsubscribe tokens (RFC 8058): PUBLIC_URL/u/TOKEN identifies the customer and
// the channel opaquely, signed so that nobody can forge one for somebody else.
//
// TOKEN = base64url(CHANNEL "\n" CUSTOMER_ID) "." base64url(first 16 bytes of
// HMAC-SHA256(secret, the same bytes)), base64url without padding and only in its canonical
// form (a string whose unused trailing bits are set is another, invalid, token). Verified
// in constant time.

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "config/config.hpp"

namespace herald::gateway {

std::string unsubscribe_token(std::string_view secret, std::string_view customer_id,
                              std::string_view channel);

struct UnsubscribeTarget {
  std::string customer_id;
  std::string channel;
};

/// The customer and channel of a genuine token; none for anything else.
std::optional<UnsubscribeTarget> verify_unsubscribe_token(std::string_view secret,
                                                          std::string_view token);

/// PUBLIC_URL/u/TOKEN for the customer on the channel, with config.auth.unsubscribe_secret
/// (filled at start-up); empty when public_url is.
std::string unsubscribe_url(const config::Config& config, std::string_view customer_id,
                            std::string_view channel);

/// The secret from auth.unsubscribe_secret, else read from (or generated once into)
/// DATA_DIR/unsubscribe.secret. Throws std::runtime_error when it can do neither.
std::string load_unsubscribe_secret(const std::string& configured, const std::string& data_dir);

}  // namespace herald::gateway
