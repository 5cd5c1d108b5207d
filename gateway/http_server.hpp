#pragma once
// The HTTP/1.1 server: one acceptor per worker io_context (SO_REUSEPORT), one
// coroutine per connection, keep-alive and pipelining, header/request/idle timeouts,
// the body limit, and a graceful shutdown that finishes requests in flight.
//
// Upgrades: a path registered with add_upgrade() is not routed; a GET asking for a
// WebSocket upgrade there is authorized by the registration's `authorize` (an ApiError
// refuses it with its status, in the JSON error shape, and the connection stays usable),
// then the connection is handed to its handler, which owns it until it returns; the
// connection closes then. Anything else on that path gets 426 `upgrade_required`.
// On shutdown, the server calls the connection's on_shutdown (on its thread) instead of
// closing it, for a graceful close of its own.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "config/config.hpp"

namespace boost::asio {
class io_context;
}

namespace herald::gateway {

class Router;
class Authenticator;
struct Request;
struct UpgradedConnection;  // gateway/http_upgrade.hpp

struct UpgradeRoute {
  std::string path;
  /// Sets the request's principal, or throws ApiError to refuse.
  std::function<void(Request&)> authorize;
  std::function<boost::asio::awaitable<void>(Request&, UpgradedConnection&)> handler;
};

class HttpServer {
 public:
  HttpServer(const config::ServerConfig& config, const Router& router, const Authenticator& auth);
  ~HttpServer();

  /// Registers an upgrade path; before start().
  void add_upgrade(UpgradeRoute route);

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
