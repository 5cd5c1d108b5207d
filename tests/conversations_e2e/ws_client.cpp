#include <utility>

#include "tests/conversations_e2e/ws_client.hpp"

#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

namespace conversations_e2e {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

struct WsClient::Impl {
  asio::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  std::thread reader;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<Json> frames;
  std::size_t count = 0;
  bool ended = false;
  int close_code = 0;

  void read_loop() {
    beast::flat_buffer buffer;
    for (;;) {
      boost::system::error_code ec;
      ws.read(buffer, ec);
      if (ec) {
        std::lock_guard lock(mutex);
        ended = true;
        if (ec == websocket::error::closed) close_code = ws.reason().code;
        cv.notify_all();
        return;
      }
      auto frame = Json::parse(beast::buffers_to_string(buffer.data()), nullptr, false);
      buffer.consume(buffer.size());
      std::lock_guard lock(mutex);
      frames.push_back(std::move(frame));
      ++count;
      cv.notify_all();
    }
  }
};

WsClient::WsClient(int port, const std::string& target,
                   const std::vector<std::pair<std::string, std::string>>& headers,
                   int receive_buffer, bool read)
    : impl_(std::make_unique<Impl>()) {
  auto& socket = beast::get_lowest_layer(impl_->ws);
  socket.open(tcp::v4());
  if (receive_buffer > 0) socket.set_option(asio::socket_base::receive_buffer_size(receive_buffer));
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
  impl_->ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (const auto& [name, value] : headers) req.set(name, value);
  }));
  websocket::response_type response;
  boost::system::error_code ec;
  impl_->ws.handshake(response, "127.0.0.1:" + std::to_string(port), target, ec);
  if (ec)
    throw std::runtime_error("upgrade refused: " + std::to_string(response.result_int()) + " " +
                             ec.message());
  if (read) start_reading();
}

void WsClient::start_reading() {
  if (!impl_->reader.joinable()) impl_->reader = std::thread([this] { impl_->read_loop(); });
}

WsClient::~WsClient() {
  boost::system::error_code ignored;
  beast::get_lowest_layer(impl_->ws).shutdown(tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(impl_->ws).close(ignored);
  if (impl_->reader.joinable()) impl_->reader.join();
}

std::optional<Json> WsClient::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  impl_->cv.wait_for(lock, timeout, [&] { return !impl_->frames.empty() || impl_->ended; });
  if (impl_->frames.empty()) return std::nullopt;
  auto frame = std::move(impl_->frames.front());
  impl_->frames.pop_front();
  return frame;
}

std::optional<Json> WsClient::wait_for(const std::function<bool(const Json&)>& match,
                                       std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto frame = next(left);
    if (!frame) return std::nullopt;
    if (match(*frame)) return frame;
  }
}

std::optional<int> WsClient::wait_closed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  if (!impl_->cv.wait_for(lock, timeout, [&] { return impl_->ended; })) return std::nullopt;
  return impl_->close_code;
}

bool WsClient::closed() {
  std::lock_guard lock(impl_->mutex);
  return impl_->ended;
}

std::size_t WsClient::received() {
  std::lock_guard lock(impl_->mutex);
  return impl_->count;
}

std::function<bool(const Json&)> event(const std::string& type, const std::string& id) {
  return [type, id](const Json& f) {
    return f.is_object() && f.value("type", "") == type && f["conversation"].is_object() &&
           f["conversation"].value("id", "") == id;
  };
}

std::function<bool(const Json&)> event_of(const std::string& type, const std::string& customer) {
  return [type, customer](const Json& f) {
    return f.is_object() && f.value("type", "") == type && f["conversation"].is_object() &&
           f["conversation"].value("customer_id", "") == customer;
  };
}

}  // namespace conversations_e2e
