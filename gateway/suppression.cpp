#include <utility>

#include "gateway/suppression.hpp"

#include <chrono>

#include <nlohmann/json.hpp>

#include "gateway/customer_state.hpp"
#include "gateway/ingest/timestamp.hpp"
#include "gateway/keys.hpp"
#include "gateway/redis/redis_client.hpp"

namespace herald::gateway::suppression {
namespace asio = boost::asio;

std::vector<std::vector<std::string>> add_commands(const std::vector<std::string>& hashes,
                                                   std::string_view reason,
                                                   std::string_view source) {
  std::vector<std::vector<std::string>> out;
  if (hashes.empty()) return out;
  nlohmann::ordered_json why = nlohmann::ordered_json::object();
  why["reason"] = reason;
  why["source"] = source;
  why["at"] = ingest::format_rfc3339(
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()));
  const auto text = why.dump();
  std::vector<std::string> add{"SADD", keys::kSuppressed};
  add.insert(add.end(), hashes.begin(), hashes.end());
  out.push_back(std::move(add));
  for (const auto& h : hashes) out.push_back({"HSETNX", kReasons, h, text});
  return out;
}

asio::awaitable<void> add_address(redis::Client& redis, std::string channel, std::string address,
                                  std::string reason, std::string source) {
  std::vector<std::string> hashes{hashed_identifier(channel, address)};
  auto commands = add_commands(hashes, reason, source);
  auto replies = co_await redis.pipeline(commands);
  for (const auto& r : replies)
    if (r.is_error()) throw redis::CommandError(r.str);
}

asio::awaitable<void> lift_erased(redis::Client& redis, std::vector<std::string> hashes) {
  if (hashes.empty()) co_return;
  std::vector<std::string> read{"HMGET", kReasons};
  read.insert(read.end(), hashes.begin(), hashes.end());
  auto reasons = co_await redis.command(read);
  if (reasons.is_error()) throw redis::CommandError(reasons.str);
  std::vector<std::string> lifted;
  for (std::size_t i = 0; i < hashes.size() && i < reasons.elements.size(); ++i) {
    if (reasons.elements[i].is_nil()) continue;
    auto why = nlohmann::json::parse(reasons.elements[i].str, nullptr, false);
    if (why.is_object() && why.value("reason", "") == "erased") lifted.push_back(hashes[i]);
  }
  if (lifted.empty()) co_return;
  std::vector<std::vector<std::string>> lift{{"SREM", keys::kSuppressed}, {"HDEL", kReasons}};
  for (auto& command : lift) command.insert(command.end(), lifted.begin(), lifted.end());
  auto replies = co_await redis.pipeline(lift);
  for (const auto& r : replies)
    if (r.is_error()) throw redis::CommandError(r.str);
}

}  // namespace herald::gateway::suppression
