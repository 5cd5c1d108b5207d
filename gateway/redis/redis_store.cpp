#include <utility>

#include "gateway/redis/redis_store.hpp"

#include "gateway/redis/redis_client.hpp"

namespace herald::redis {
namespace asio = boost::asio;

asio::awaitable<std::optional<std::string>> RedisStore::get(std::string key) {
  auto reply = co_await redis_.command("GET", key);
  if (reply.is_error()) throw CommandError(reply.str);
  if (reply.is_nil()) co_return std::nullopt;
  co_return reply.str;
}

asio::awaitable<void> RedisStore::put(std::string key, std::string value,
                                      std::chrono::milliseconds ttl) {
  auto reply = co_await redis_.command("SET", key, value, "PX", std::to_string(ttl.count()));
  if (reply.is_error()) throw CommandError(reply.str);
}

asio::awaitable<bool> RedisStore::put_if_absent(std::string key, std::string value,
                                                std::chrono::milliseconds ttl) {
  auto reply = co_await redis_.command("SET", key, value, "NX", "PX", std::to_string(ttl.count()));
  if (reply.is_error()) throw CommandError(reply.str);
  co_return !reply.is_nil();
}

asio::awaitable<void> RedisStore::erase(std::string key) {
  auto reply = co_await redis_.command("DEL", key);
  if (reply.is_error()) throw CommandError(reply.str);
}

}  // namespace herald::redis
