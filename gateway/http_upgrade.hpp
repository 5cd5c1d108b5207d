#pragma once
// A connection handed over by the HTTP server for a protocol upgrade (http_server.hpp):
// the socket, the parsed upgrade request, and the hook the server calls on shutdown.
// Asio and Beast inside: include it only where the connection is used.

#include <functional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace herald::gateway {

struct UpgradedConnection {
  boost::asio::ip::tcp::socket& socket;
  const boost::beast::http::request<boost::beast::http::string_body>& request;
  /// Set by the handler; called on the connection's thread when the server drains.
  std::function<void()> on_shutdown;
};

}  // namespace herald::gateway
