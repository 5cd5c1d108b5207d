#include <utility>

#include "gateway/http_server.hpp"

#include <atomic>
#include <chrono>
#include <list>
#include <mutex>
#include <random>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "gateway/auth.hpp"
#include "gateway/http_upgrade.hpp"
#include "gateway/log.hpp"
#include "gateway/metrics.hpp"
#include "gateway/router.hpp"

namespace herald::gateway {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kHeaderLimit = 16 * 1024;

/// How often each worker looks for connections past their deadline. Timeouts are
/// enforced by this sweep rather than a timer per operation, which costs nothing per request.
constexpr auto kSweepInterval = std::chrono::milliseconds(50);

struct Connection {
  tcp::socket* socket = nullptr;
  bool idle = true;  // waiting for the first byte of the next request
  Clock::time_point deadline = Clock::time_point::max();
  UpgradedConnection* upgraded = nullptr;  // handed to an upgrade handler
};

struct Listener {
  asio::io_context* ioc = nullptr;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> sweeper;
  bool stopped = false;
  std::list<Connection> connections;  // touched only on this listener's thread
};

const char* reason_phrase(int status) {
  auto text = http::obsolete_reason(static_cast<http::status>(status));
  return text.empty() ? "Unknown" : text.data();
}

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  return true;
}

}  // namespace

struct HttpServer::Impl {
  Impl(const config::ServerConfig& c, const Router& r, const Authenticator& a)
      : config(c), router(r), auth(a), log(herald::log::get("http")) {
    std::random_device rd;
    char prefix[9];
    std::snprintf(prefix, sizeof prefix, "%08x", rd());
    id_prefix = prefix;
  }

  config::ServerConfig config;
  const Router& router;
  const Authenticator& auth;
  std::shared_ptr<spdlog::logger> log;
  std::vector<std::unique_ptr<Listener>> listeners;
  std::vector<UpgradeRoute> upgrades;
  uint16_t port = 0;
  std::string id_prefix;
  std::atomic<uint64_t> next_id{0};
  std::atomic<bool> draining{false};
  std::atomic<std::size_t> open_connections{0};
  std::mutex drained_mutex;
  std::function<void()> on_drained;

  metrics::Gauge& connections_gauge = metrics::registry().gauge(
      "herald_http_connections", "Open HTTP connections");

  std::string new_request_id() {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s-%llx", id_prefix.c_str(),
                  static_cast<unsigned long long>(next_id.fetch_add(1, std::memory_order_relaxed)));
    return buf;
  }

  void connection_closed() {
    connections_gauge.add(-1);
    if (open_connections.fetch_sub(1) == 1 && draining) fire_drained();
  }

  void fire_drained() {
    std::function<void()> callback;
    {
      std::lock_guard lock(drained_mutex);
      callback = std::move(on_drained);
      on_drained = nullptr;
    }
    if (callback) callback();
  }

  asio::awaitable<void> accept_loop(Listener& listener) {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await listener.acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || draining) co_return;
        log->warn("accept failed: {}", ec.message());
        asio::steady_timer pause(*listener.ioc, std::chrono::milliseconds(50));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      if (draining) continue;  // the socket closes as it goes out of scope
      socket.set_option(tcp::no_delay(true), ec);
      open_connections.fetch_add(1);
      connections_gauge.add(1);
      asio::co_spawn(*listener.ioc, session(listener, std::move(socket)), asio::detached);
    }
  }

  /// Closes the connections of this worker whose deadline has passed.
  asio::awaitable<void> sweep_loop(Listener& listener) {
    for (;;) {
      listener.sweeper->expires_after(kSweepInterval);
      boost::system::error_code ec;
      co_await listener.sweeper->async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (listener.stopped) co_return;
      auto now = Clock::now();
      for (auto& c : listener.connections) {
        if (c.deadline <= now) {
          c.deadline = Clock::time_point::max();
          c.socket->close(ec);  // the pending read or write ends with operation_aborted
        }
      }
    }
  }

  asio::awaitable<void> session(Listener& listener, tcp::socket socket) {
    auto self_entry = listener.connections.insert(listener.connections.end(), Connection{&socket});
    std::string remote;
    {
      boost::system::error_code ec;
      auto ep = socket.remote_endpoint(ec);
      if (!ec) remote = ep.address().to_string() + ":" + std::to_string(ep.port());
    }
    try {
      co_await serve(socket, *self_entry, remote);
    } catch (const std::exception& e) {
      log->error("connection {} ended with an error: {}", remote, e.what());
    }
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    socket.close(ignored);
    listener.connections.erase(self_entry);
    connection_closed();
  }

  /// Serialises the status line and headers; the body follows in a second buffer.
  static void write_head(std::string& head, int status, unsigned version, const Response& response,
                         const std::string& request_id, std::size_t body_size, bool keep_alive) {
    head.clear();
    head += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    head += std::to_string(status);
    head += ' ';
    head += reason_phrase(status);
    head += "\r\nContent-Type: ";
    head += response.content_type;
    if (!request_id.empty()) {
      head += "\r\nX-Request-Id: ";
      head += request_id;
    }
    for (const auto& [name, value] : response.headers) {
      head += "\r\n";
      head += name;
      head += ": ";
      head += value;
    }
    head += "\r\nContent-Length: ";
    head += std::to_string(body_size);
    if (!keep_alive) head += "\r\nConnection: close";
    else if (version == 10) head += "\r\nConnection: keep-alive";
    head += "\r\n\r\n";
  }

  asio::awaitable<void> write_error_and_close(tcp::socket& socket, Connection& self, int status,
                                              std::string_view code, std::string_view message) {
    auto response = error_response(status, code, message);
    std::string head;
    write_head(head, status, 11, response, {}, response.body.size(), false);
    self.deadline = Clock::now() + config.request_timeout;
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(response.body)};
    boost::system::error_code ec;
    co_await asio::async_write(socket, buffers, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    // Lingering close: the client may still be sending the body we refused. Closing with
    // unread data would reset the connection and could destroy the answer before the
    // client reads it, so read and drop what comes for up to a second first.
    socket.shutdown(tcp::socket::shutdown_send, ec);
    self.deadline = Clock::now() + std::chrono::seconds(1);
    std::array<char, 16384> sink;
    std::size_t drained = 0;
    while (!ec && drained < (8u << 20)) {
      drained += co_await socket.async_read_some(asio::buffer(sink),
                                                 asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  asio::awaitable<void> serve(tcp::socket& socket, Connection& self, std::string remote) {
    beast::flat_buffer buffer;
    std::string head;
    for (;;) {
      boost::system::error_code ec;
      if (draining) co_return;
      if (buffer.size() == 0) {
        self.idle = true;
        self.deadline = Clock::now() + config.idle_timeout;
        auto n = co_await socket.async_read_some(buffer.prepare(8192),
                                                 asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;  // closed, idle timeout, or shutdown
        buffer.commit(n);
      }
      self.idle = false;
      auto first_byte = Clock::now();

      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(config.max_body_bytes);
      self.deadline = first_byte + config.header_timeout;
      co_await http::async_read_header(socket, buffer, parser,
                                       asio::redirect_error(asio::use_awaitable, ec));
      if (!ec && !parser.is_done()) {
        if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          co_await asio::async_write(socket, asio::buffer(kContinue.data(), kContinue.size()),
                                     asio::redirect_error(asio::use_awaitable, ec));
        }
        if (!ec) {
          self.deadline = first_byte + config.request_timeout;
          co_await http::async_read(socket, buffer, parser,
                                    asio::redirect_error(asio::use_awaitable, ec));
        }
      }
      if (ec == http::error::body_limit) {
        router.count_unmatched(413);
        co_await write_error_and_close(
            socket, self, 413, "payload_too_large",
            "the body exceeds server.max_body_bytes (" + std::to_string(config.max_body_bytes) +
                " bytes)");
        co_return;
      }
      if (ec == http::error::header_limit) {
        router.count_unmatched(431);
        co_await write_error_and_close(socket, self, 431, "headers_too_large",
                                       "the request headers exceed 16 KiB");
        co_return;
      }
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor ||
          ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::error::connection_reset || ec == http::error::partial_message)
        co_return;
      if (ec) {
        router.count_unmatched(400);
        co_await write_error_and_close(socket, self, 400, "bad_request",
                                       "malformed HTTP request: " + ec.message());
        co_return;
      }

      auto& native = parser.get();
      auto started = Clock::now();
      self.deadline = Clock::time_point::max();  // handlers bound their own waits
      Request request;
      request.native = &native;
      request.method = std::string(native.method_string());
      request.target = std::string(native.target());
      request.remote = remote;
      auto incoming_id = native["X-Request-Id"];
      request.request_id = valid_request_id({incoming_id.data(), incoming_id.size()})
                               ? std::string(incoming_id)
                               : new_request_id();
      Response response;
      const Route* route = nullptr;
      auto query_at = request.target.find('?');
      auto path = url_decode(std::string_view(request.target).substr(0, query_at), false);
      if (!path || path->empty() || (*path)[0] != '/') {
        response = error_response(400, "bad_request", "malformed request target");
      } else {
        request.path = std::move(*path);
        request.body = std::move(native.body());
        const UpgradeRoute* upgrade_route = find_upgrade(request.path);
        if (!upgrade_route) {
          route = co_await dispatch(request, response);
        } else if (co_await upgrade(socket, self, *upgrade_route, request, native, response)) {
          co_return;  // the handler had the connection; it closes now
        }
      }

      bool keep_alive = native.keep_alive() && !draining;
      write_head(head, response.status, native.version(), response, request.request_id,
                 response.body.size(), keep_alive);
      if (request.method == "HEAD") response.body.clear();

      double seconds = std::chrono::duration<double>(Clock::now() - started).count();
      if (route) {
        route->count(response.status);
        route->latency->observe(seconds);
      } else {
        router.count_unmatched(response.status);
        router.unmatched().latency->observe(seconds);
      }
      // At warn, the route's pattern rather than the path: paths carry customer ids,
      // which may be emails or phone numbers.
      if (response.status >= 500)
        log->warn("req={} {} {} -> {} ({:.1f} ms)", request.request_id, request.method,
                  route ? route->pattern : std::string("(unmatched)"), response.status,
                  seconds * 1e3);
      else
        log->debug("req={} {} {} -> {} ({:.1f} ms)", request.request_id, request.method,
                   request.path, response.status, seconds * 1e3);

      self.deadline = Clock::now() + config.request_timeout;
      std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(response.body)};
      co_await asio::async_write(socket, buffers, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !keep_alive) co_return;
    }
  }

  const UpgradeRoute* find_upgrade(const std::string& path) const {
    for (const auto& u : upgrades)
      if (u.path == path) return &u;
    return nullptr;
  }

  /// Authorizes an upgrade and hands the connection over. false (with `response` set)
  /// when refused; true once the handler is done with the connection.
  asio::awaitable<bool> upgrade(tcp::socket& socket, Connection& self, const UpgradeRoute& route,
                                Request& request, const http::request<http::string_body>& native,
                                Response& response) {
    try {
      route.authorize(request);
    } catch (const ApiError& e) {
      response = e.to_response();
      co_return false;
    }
    if (request.method != "GET") {
      response = error_response(405, "method_not_allowed",
                                request.method + " is not allowed on " + request.path +
                                    " (allowed: GET)");
      response.headers.emplace_back("Allow", "GET");
      co_return false;
    }
    if (!beast::websocket::is_upgrade(native)) {
      response = error_response(426, "upgrade_required",
                                request.path + " is a WebSocket: send an Upgrade request");
      response.headers.emplace_back("Upgrade", "websocket");
      co_return false;
    }
    UpgradedConnection connection{socket, native, {}};
    self.upgraded = &connection;
    self.idle = false;
    self.deadline = Clock::time_point::max();
    std::string failure;
    try {
      co_await route.handler(request, connection);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty()) log->warn("{} ended with an error: {}", route.path, failure);
    self.upgraded = nullptr;
    co_return true;
  }

  /// Runs the route's handler; maps every failure to the contract's error shape here.
  asio::awaitable<const Route*> dispatch(Request& request, Response& response) {
    auto match = router.match(request.method, request.path);
    if (match.kind == Router::Match::Kind::kNotFound) {
      response = error_response(404, "not_found", "no resource at " + request.path);
      co_return nullptr;
    }
    if (match.kind == Router::Match::Kind::kMethodNotAllowed) {
      response = error_response(405, "method_not_allowed",
                                request.method + " is not allowed on " + request.path +
                                    " (allowed: " + match.allow + ")");
      response.headers.emplace_back("Allow", match.allow);
      co_return nullptr;
    }
    const Route* route = match.route;
    request.params = std::move(match.params);
    try {
      auth.authorize(request, route->access);
      response = co_await route->handler(request);
    } catch (const ApiError& e) {
      response = e.to_response();
    } catch (const std::exception& e) {
      log->error("req={} {} {} failed: {}", request.request_id, request.method, route->pattern,
                 e.what());
      response = error_response(500, "internal",
                                "internal error (request " + request.request_id + ")");
    }
    co_return route;
  }
};

HttpServer::HttpServer(const config::ServerConfig& config, const Router& router,
                       const Authenticator& auth)
    : impl_(std::make_unique<Impl>(config, router, auth)) {}

HttpServer::~HttpServer() = default;

void HttpServer::start(const std::vector<asio::io_context*>& contexts) {
  auto address = asio::ip::make_address(impl_->config.listen_host);
  uint16_t port = impl_->config.listen_port;
  for (auto* ioc : contexts) {
    auto listener = std::make_unique<Listener>();
    listener->ioc = ioc;
    listener->acceptor = std::make_unique<tcp::acceptor>(*ioc);
    tcp::endpoint endpoint(address, port);
    listener->acceptor->open(endpoint.protocol());
    listener->acceptor->set_option(asio::socket_base::reuse_address(true));
    int one = 1;
    ::setsockopt(listener->acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    listener->acceptor->bind(endpoint);
    listener->acceptor->listen(asio::socket_base::max_listen_connections);
    port = listener->acceptor->local_endpoint().port();  // the port 0 chose, for the others
    impl_->listeners.push_back(std::move(listener));
  }
  impl_->port = port;
  for (auto& l : impl_->listeners) {
    l->sweeper = std::make_unique<asio::steady_timer>(*l->ioc);
    asio::co_spawn(*l->ioc, impl_->accept_loop(*l), asio::detached);
    asio::co_spawn(*l->ioc, impl_->sweep_loop(*l), asio::detached);
  }
}

void HttpServer::add_upgrade(UpgradeRoute route) { impl_->upgrades.push_back(std::move(route)); }

uint16_t HttpServer::port() const { return impl_->port; }

std::size_t HttpServer::connections() const { return impl_->open_connections.load(); }

void HttpServer::shutdown(std::function<void()> on_drained) {
  {
    std::lock_guard lock(impl_->drained_mutex);
    impl_->on_drained = std::move(on_drained);
  }
  impl_->draining = true;
  for (auto& l : impl_->listeners) {
    asio::post(*l->ioc, [listener = l.get()] {
      boost::system::error_code ignored;
      listener->acceptor->close(ignored);
      for (auto& c : listener->connections) {
        if (c.upgraded && c.upgraded->on_shutdown)
          c.upgraded->on_shutdown();
        else if (c.idle)
          c.socket->close(ignored);
      }
    });
  }
  if (impl_->open_connections.load() == 0) impl_->fire_drained();
}

}  // namespace herald::gateway
