#include "gateway/unsubscribe.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace herald::gateway {

namespace {

constexpr std::size_t kMacBytes = 16;

std::string b64url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    unsigned v = at(i) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    unsigned v = (at(i) << 16) | (at(i + 1) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> b64url_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = value(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  // Only the canonical encoding: the unused low bits of the last character must be zero,
  // or several strings would carry one token (an altered link would still work).
  if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

/// HMAC-SHA256 of `payload`, truncated to kMacBytes. Each thread keeps a context keyed
/// with the last secret it used: setting the key up (hashing it into the inner and outer
/// states) costs more than the MAC of a short payload.
std::string mac(std::string_view secret, std::string_view payload) {
  struct Keyed {
    EVP_MAC* algorithm = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* ctx = algorithm ? EVP_MAC_CTX_new(algorithm) : nullptr;
    std::string secret;
    bool keyed = false;
    ~Keyed() {
      EVP_MAC_CTX_free(ctx);
      EVP_MAC_free(algorithm);
    }
  };
  thread_local Keyed k;
  unsigned char digest[EVP_MAX_MD_SIZE];
  std::size_t length = 0;
  bool ok = k.ctx != nullptr;
  if (ok && (!k.keyed || k.secret != secret)) {
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest_name, 0),
                           OSSL_PARAM_construct_end()};
    k.keyed = EVP_MAC_init(k.ctx, reinterpret_cast<const unsigned char*>(secret.data()),
                           secret.size(), params) == 1;
    k.secret = secret;
    ok = k.keyed;
  } else if (ok) {
    ok = EVP_MAC_init(k.ctx, nullptr, 0, nullptr) == 1;  // the same key again
  }
  ok = ok && EVP_MAC_update(k.ctx, reinterpret_cast<const unsigned char*>(payload.data()),
                            payload.size()) == 1 &&
       EVP_MAC_final(k.ctx, digest, &length, sizeof digest) == 1 && length >= kMacBytes;
  if (!ok) {
    k.keyed = false;
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<char*>(digest), kMacBytes);
}

}  // namespace

std::string unsubscribe_token(std::string_view secret, std::string_view customer_id,
                              std::string_view channel) {
  std::string payload = std::string(channel) + "\n" + std::string(customer_id);
  return b64url(payload) + "." + b64url(mac(secret, payload));
}

std::optional<UnsubscribeTarget> verify_unsubscribe_token(std::string_view secret,
                                                          std::string_view token) {
  if (token.size() > 4096) return std::nullopt;
  auto dot = token.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto payload = b64url_decode(token.substr(0, dot));
  auto given = b64url_decode(token.substr(dot + 1));
  if (!payload || !given || given->size() != kMacBytes) return std::nullopt;
  auto expected = mac(secret, *payload);
  if (CRYPTO_memcmp(expected.data(), given->data(), kMacBytes) != 0) return std::nullopt;
  auto newline = payload->find('\n');
  if (newline == std::string::npos) return std::nullopt;
  return UnsubscribeTarget{payload->substr(newline + 1), payload->substr(0, newline)};
}

std::string unsubscribe_url(const config::Config& config, std::string_view customer_id,
                            std::string_view channel) {
  std::string base = config.public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (base.empty()) return {};
  return base + "/u/" + unsubscribe_token(config.auth.unsubscribe_secret, customer_id, channel);
}

std::string load_unsubscribe_secret(const std::string& configured, const std::string& data_dir) {
  if (!configured.empty()) return configured;
  auto path = std::filesystem::path(data_dir) / "unsubscribe.secret";
  {
    std::ifstream in(path);
    std::string secret;
    if (in && std::getline(in, secret) && secret.size() >= 32) return secret;
  }
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes for the unsubscribe secret");
  std::string secret = b64url(std::string_view(reinterpret_cast<char*>(bytes), sizeof bytes));
  std::filesystem::create_directories(data_dir);
  auto temp = path;
  temp += ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << secret << "\n";
    if (!out) throw std::runtime_error("cannot write " + temp.string());
  }
  std::filesystem::permissions(temp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::filesystem::rename(temp, path);
  return secret;
}

}  // namespace herald::gateway
