#pragma once
// The HTTP/1.1 server: one acceptor per worker io_context (SO_REUSEPORT), one
// coroutine per connection, keep-alive and pipelining, header/request/idle timeouts,
// the body limit, and a graceful shutdown that finishes requests in flight.

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "config/config.hpp"

namespace boost::asio {
class io_context;
}

namespace herald::gateway {

class Router;
class Authenticator;

class HttpServer {
 public:
  HttpServer(const config::ServerConfig& config, const Router& router, const Authenticator& auth);
  ~HttpServer();

  /// Binds server.listen on every context and starts accepting. Throws on bind errors.
  void start(const std::vector<boost::asio::io_context*>& contexts);
  /// The bound port (useful with port 0).
  uint16_t port() const;

  /// Stops accepting and closes idle keep-alive connections; requests in flight finish
  /// and their connections close after the response. Thread-safe. `on_drained` runs
  /// (on some worker thread) once no connection is left.
  void shutdown(std::function<void()> on_drained);

  std::size_t connections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::gateway
