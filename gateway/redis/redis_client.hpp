#pragma once
// An asynchronous Redis connection: hiredis driven by Asio on one io_context.
// In cluster mode, one connection per master node, each command sent to the node that
// serves its key's slot (a MULTI/EXEC block by its first key), following MOVED and ASK.
//
// Thread safety: a Client belongs to the io_context it was made with; call it only
// from that context's thread. Commands from many coroutines are pipelined on the one
// connection. The client reconnects with back-off. A command that finds it down starts
// an attempt at once (or 100 ms after the last one began, if that is sooner than the
// back-off's) and waits for it, up to a second; it throws Unavailable when that attempt
// fails, and commands in flight when the connection drops throw it too. So Redis back from an outage serves the next command, not the one
// after the back-off (up to 2 s) runs out.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "gateway/redis/redis_reply.hpp"
#include "gateway/redis/redis_url.hpp"

namespace boost::asio {
class io_context;
}

namespace herald::redis {

class Client {
 public:
  /// `cluster`: `url` names any node of a Redis Cluster (redis.cluster).
  Client(boost::asio::io_context& ioc, RedisUrl url, bool cluster = false);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Starts connecting; keeps the connection up until stop().
  void start();
  /// Closes the connection; commands in flight fail with Unavailable.
  void stop();

  /// Safe to call from any thread.
  bool connected() const;
  /// Why the connection is down (empty while connected).
  std::string last_error() const;

  boost::asio::awaitable<Reply> command(const std::vector<std::string>& args);
  /// command("SET", key, value): each argument is anything a std::string can be made from.
  /// (A variadic template rather than an initializer_list: g++ 12 rejects braced lists of
  /// string literals inside coroutines.)
  template <typename... Args>
  boost::asio::awaitable<Reply> command(const char* name, const Args&... args) {
    std::vector<std::string> argv;
    argv.reserve(1 + sizeof...(args));
    argv.emplace_back(name);
    (argv.emplace_back(args), ...);
    auto reply = co_await command(argv);
    co_return reply;
  }
  /// Sends the commands back to back and returns their replies in order.
  boost::asio::awaitable<std::vector<Reply>> pipeline(
      const std::vector<std::vector<std::string>>& commands);

  struct Impl;
  struct Cluster;

 private:
  std::shared_ptr<Impl> impl_;        // one connection
  std::shared_ptr<Cluster> cluster_;  // or the nodes of a cluster
};

}  // namespace herald::redis
