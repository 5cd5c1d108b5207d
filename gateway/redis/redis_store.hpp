#pragma once
// The store provider adapters share across gateway instances (WeChat's access token),
// kept in Redis.

#include "channels/channel.hpp"

namespace herald::redis {

class Client;

class RedisStore final : public channels::SharedStore {
 public:
  explicit RedisStore(Client& redis) : redis_(redis) {}

  boost::asio::awaitable<std::optional<std::string>> get(std::string key) override;
  boost::asio::awaitable<void> put(std::string key, std::string value,
                                   std::chrono::milliseconds ttl) override;
  boost::asio::awaitable<bool> put_if_absent(std::string key, std::string value,
                                             std::chrono::milliseconds ttl) override;
  boost::asio::awaitable<void> erase(std::string key) override;

 private:
  Client& redis_;
};

}  // namespace herald::redis
