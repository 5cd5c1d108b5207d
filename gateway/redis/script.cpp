#include <utility>

#include "gateway/redis/script.hpp"

#include <openssl/sha.h>

namespace herald::redis {

Script::Script(std::string source) : source_(std::move(source)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(source_.data()), source_.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char b : digest) sha_ += kHex[b >> 4], sha_ += kHex[b & 15];
}

std::vector<std::string> Script::command(const std::vector<std::string>& keys,
                                         const std::vector<std::string>& args) const {
  std::vector<std::string> cmd;
  cmd.reserve(3 + keys.size() + args.size());
  cmd.push_back("EVALSHA");
  cmd.push_back(sha_);
  cmd.push_back(std::to_string(keys.size()));
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

boost::asio::awaitable<Reply> Script::run(Client& client, const std::vector<std::string>& keys,
                                          const std::vector<std::string>& args) const {
  auto cmd = command(keys, args);
  auto reply = co_await client.command(cmd);
  if (reply.is_error() && reply.str.rfind("NOSCRIPT", 0) == 0) {
    cmd[0] = "EVAL";
    cmd[1] = source_;
    reply = co_await client.command(cmd);
  }
  co_return reply;
}

}  // namespace herald::redis
