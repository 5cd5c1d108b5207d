#include "gateway/redis/redis_reply.hpp"

#include <charconv>

namespace herald::redis {

std::optional<int64_t> Reply::as_integer() const {
  if (type == Type::kInteger) return integer;
  if (type == Type::kString || type == Type::kStatus) {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(str.data(), str.data() + str.size(), v);
    if (ec == std::errc() && end == str.data() + str.size()) return v;
  }
  return std::nullopt;
}

Unavailable::Unavailable(const std::string& why)
    : gateway::ApiError(503, "unavailable", "Redis is unavailable: " + why) {}

}  // namespace herald::redis
