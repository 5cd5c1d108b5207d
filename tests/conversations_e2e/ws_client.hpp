#pragma once
// A WebSocket client for the conversation stream tests (Beast, synchronous): frames are
// read by a thread of its own into a queue, so a test waits for them with a timeout.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace conversations_e2e {

using Json = nlohmann::json;

class WsClient {
 public:
  /// Connects and upgrades; throws std::runtime_error when refused. `receive_buffer` > 0
  /// shrinks the socket's receive buffer (a slow consumer), and `read` false never reads.
  WsClient(int port, const std::string& target,
           const std::vector<std::pair<std::string, std::string>>& headers = {},
           int receive_buffer = 0, bool read = true);
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  /// The next frame (parsed), or nullopt after `timeout` or once closed.
  std::optional<Json> next(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Skips frames until one satisfies `match`; nullopt after `timeout`.
  std::optional<Json> wait_for(const std::function<bool(const Json&)>& match,
                               std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Starts reading (for a client made with read = false).
  void start_reading();
  /// Waits until the connection has ended; the close code (0: no close frame, dropped).
  std::optional<int> wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool closed();
  /// Frames received so far.
  std::size_t received();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// A frame of type `type` about conversation `id`.
std::function<bool(const Json&)> event(const std::string& type, const std::string& id);
/// A frame of type `type` about a conversation of `customer`.
std::function<bool(const Json&)> event_of(const std::string& type, const std::string& customer);

}  // namespace conversations_e2e
