#include "gateway/redis/redis_url.hpp"

#include <charconv>
#include <stdexcept>

#include "gateway/http_types.hpp"

namespace herald::redis {
namespace {

int to_int(std::string_view text, int min, int max, const char* what) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
      value > max)
    throw std::invalid_argument(std::string("redis.url: bad ") + what + " \"" + std::string(text) +
                                "\"");
  return value;
}

std::string decoded(std::string_view text) {
  auto out = gateway::url_decode(text, false);
  if (!out) throw std::invalid_argument("redis.url: bad percent-escape");
  return *out;
}

}  // namespace

std::string RedisUrl::redacted() const {
  std::string auth = password.empty() ? "" : (username + ":***@");
  if (unix_socket) return "unix://" + path + (db ? "?db=" + std::to_string(db) : "");
  return std::string(tls ? "rediss://" : "redis://") + auth + host + ":" + std::to_string(port) +
         (db ? "/" + std::to_string(db) : "");
}

RedisUrl parse_url(const std::string& url) {
  RedisUrl out;
  std::string_view rest(url);
  if (rest.rfind("unix://", 0) == 0) {
    out.unix_socket = true;
    rest.remove_prefix(7);
    auto q = rest.find('?');
    out.path = decoded(rest.substr(0, q));
    if (out.path.empty() || out.path[0] != '/')
      throw std::invalid_argument("redis.url: unix:// needs an absolute socket path");
    if (q != std::string_view::npos) {
      auto query = rest.substr(q + 1);
      while (!query.empty()) {
        auto amp = query.find('&');
        auto part = query.substr(0, amp);
        auto eq = part.find('=');
        auto key = part.substr(0, eq);
        auto value = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
        if (key == "db") out.db = to_int(value, 0, 100000, "db");
        else if (key == "password") out.password = decoded(value);
        else if (key == "username" || key == "user") out.username = decoded(value);
        else throw std::invalid_argument("redis.url: unknown parameter \"" + std::string(key) + "\"");
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
      }
    }
    return out;
  }
  if (rest.rfind("redis://", 0) == 0) {
    rest.remove_prefix(8);
  } else if (rest.rfind("rediss://", 0) == 0) {
    out.tls = true;
    rest.remove_prefix(9);
  } else {
    throw std::invalid_argument("redis.url: expected redis://, rediss:// or unix://");
  }
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    auto db = rest.substr(slash + 1);
    if (!db.empty()) out.db = to_int(db, 0, 100000, "db");
  }
  auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    auto userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      out.password = decoded(userinfo);  // redis://password@host, as some clients allow
    } else {
      out.username = decoded(userinfo.substr(0, colon));
      out.password = decoded(userinfo.substr(colon + 1));
    }
  }
  std::string_view host = authority;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("redis.url: bad IPv6 host");
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw std::invalid_argument("redis.url: bad host");
      out.port = to_int(after.substr(1), 1, 65535, "port");
    }
  } else {
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      out.port = to_int(authority.substr(colon + 1), 1, 65535, "port");
    }
  }
  if (host.empty()) throw std::invalid_argument("redis.url: missing host");
  out.host = std::string(host);
  return out;
}

}  // namespace herald::redis
