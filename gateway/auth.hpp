#pragma once
// Credentials of api.md: write keys, admin keys and agent tokens, compared in
// constant time (digests of equal length, every key checked) and never logged.

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "gateway/http_types.hpp"
#include "gateway/router.hpp"

namespace herald::gateway {

class Authenticator {
 public:
  explicit Authenticator(const config::AuthConfig& auth);

  /// Sets the request's principal or throws ApiError 401 `unauthorized` / 403 `forbidden`.
  /// For kWrite routes with no Authorization header, the handler checks the body's
  /// writeKey with is_write_key().
  void authorize(Request& request, Access access) const;

  bool is_write_key(std::string_view key) const;
  bool is_admin_key(std::string_view key) const;
  /// The agent's name for a token.
  std::optional<std::string> agent_for(std::string_view token) const;

  /// The key sent in `Authorization` (Bearer, or Basic user name); nullopt when absent or malformed.
  static std::optional<std::string> presented_key(std::string_view authorization);

 private:
  using Digest = std::array<unsigned char, 32>;
  static Digest digest(std::string_view key);
  static bool contains(const std::vector<Digest>& keys, const Digest& d);

  std::vector<Digest> write_keys_;
  std::vector<Digest> admin_keys_;
  std::vector<std::pair<Digest, std::string>> agents_;
};

}  // namespace herald::gateway
