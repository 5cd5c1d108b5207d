#pragma once
// A Lua script run by its SHA1 (EVALSHA), loaded on first use or after a Redis restart.

#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "gateway/redis/redis_client.hpp"

namespace herald::redis {

class Script {
 public:
  explicit Script(std::string source);
  /// Runs the script; a NOSCRIPT answer falls back to EVAL, which also caches it.
  boost::asio::awaitable<Reply> run(Client& client, const std::vector<std::string>& keys,
                                    const std::vector<std::string>& args) const;
  /// The EVALSHA command, for pipelines.
  std::vector<std::string> command(const std::vector<std::string>& keys,
                                   const std::vector<std::string>& args) const;
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::string sha_;
};

}  // namespace herald::redis
