#pragma once
// The redis.url forms of the config: redis://[[user]:password@]host:port[/db],
// rediss://… (TLS), unix:///path[?db=N&password=P].

#include <string>

namespace herald::redis {

struct RedisUrl {
  bool unix_socket = false;
  bool tls = false;
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string path;  // unix socket
  std::string username;
  std::string password;
  int db = 0;

  /// The URL without the password, for logs.
  std::string redacted() const;
};

/// Throws std::invalid_argument with a message naming what is wrong.
RedisUrl parse_url(const std::string& url);

}  // namespace herald::redis
