#include "gateway/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

namespace herald::gateway {

Authenticator::Authenticator(const config::AuthConfig& auth) {
  for (const auto& k : auth.write_keys) write_keys_.push_back(digest(k));
  for (const auto& k : auth.admin_keys) admin_keys_.push_back(digest(k));
  for (const auto& a : auth.agents) agents_.emplace_back(digest(a.token), a.name);
}

Authenticator::Digest Authenticator::digest(std::string_view key) {
  Digest d{};
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), d.data());
  return d;
}

bool Authenticator::contains(const std::vector<Digest>& keys, const Digest& d) {
  int found = 0;
  for (const auto& k : keys) found |= CRYPTO_memcmp(k.data(), d.data(), d.size()) == 0;
  return found != 0;
}

bool Authenticator::is_write_key(std::string_view key) const {
  return contains(write_keys_, digest(key));
}

bool Authenticator::is_admin_key(std::string_view key) const {
  return contains(admin_keys_, digest(key));
}

std::optional<std::string> Authenticator::agent_for(std::string_view token) const {
  auto d = digest(token);
  const std::string* name = nullptr;
  for (const auto& [k, n] : agents_)
    if (CRYPTO_memcmp(k.data(), d.data(), d.size()) == 0) name = &n;
  if (!name) return std::nullopt;
  return *name;
}

std::optional<std::string> Authenticator::presented_key(std::string_view authorization) {
  auto starts_with_ci = [&](std::string_view prefix) {
    if (authorization.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(authorization[i])) != prefix[i]) return false;
    return true;
  };
  auto trim = [](std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  };
  if (starts_with_ci("bearer ")) {
    auto key = trim(authorization.substr(7));
    if (key.empty()) return std::nullopt;
    return std::string(key);
  }
  if (starts_with_ci("basic ")) {
    auto encoded = trim(authorization.substr(6));
    if (encoded.empty() || encoded.size() > 4096 || encoded.size() % 4 != 0) return std::nullopt;
    std::string decoded(encoded.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                            reinterpret_cast<const unsigned char*>(encoded.data()),
                            static_cast<int>(encoded.size()));
    if (n < 0) return std::nullopt;
    // EVP_DecodeBlock counts padding as zero bytes.
    std::size_t pad = 0;
    for (auto it = encoded.rbegin(); it != encoded.rend() && *it == '='; ++it) ++pad;
    decoded.resize(static_cast<std::size_t>(n) - pad);
    auto colon = decoded.find(':');
    auto user = decoded.substr(0, colon);  // Segment: the key is the user, the password empty
    if (user.empty()) return std::nullopt;
    return user;
  }
  return std::nullopt;
}

void Authenticator::authorize(Request& request, Access access) const {
  if (access == Access::kPublic) return;
  auto header = request.header("authorization");
  auto key = presented_key(header);
  if (!key) {
    if (access == Access::kWrite && header.empty()) return;  // writeKey may be in the body
    throw ApiError(401, "unauthorized", "missing or malformed credentials");
  }
  auto d = digest(*key);
  bool admin = contains(admin_keys_, d);
  bool write = contains(write_keys_, d);
  std::optional<std::string> agent;
  for (const auto& [k, n] : agents_)
    if (CRYPTO_memcmp(k.data(), d.data(), d.size()) == 0) agent = n;
  if (!admin && !write && !agent) throw ApiError(401, "unauthorized", "unknown credentials");

  auto grant = [&](Principal p) { request.principal = p; };
  switch (access) {
    case Access::kWrite:
      if (write) return grant(Principal::kWriteKey);
      if (admin) return grant(Principal::kAdmin);
      break;
    case Access::kAdmin:
      if (admin) return grant(Principal::kAdmin);
      break;
    case Access::kAgent:
      if (agent) {
        request.agent = *agent;
        return grant(Principal::kAgent);
      }
      break;
    case Access::kAdminOrAgent:
      if (agent) {
        request.agent = *agent;
        return grant(Principal::kAgent);
      }
      if (admin) return grant(Principal::kAdmin);
      break;
    case Access::kPublic:
      return;
  }
  throw ApiError(403, "forbidden", "these credentials do not give access to this resource");
}

}  // namespace herald::gateway
