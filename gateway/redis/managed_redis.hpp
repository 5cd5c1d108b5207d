#pragma once
// The embedded default: with an empty redis.url, Herald runs its own redis-server
// (append-only, data in data_dir/redis, reached through a unix socket), restarts it
// if it dies, and stops it on shutdown. The child also dies with Herald (PDEATHSIG).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace herald::redis {

class ManagedRedis {
 public:
  /// `data_dir` is Herald's data_dir; the server keeps its files in data_dir/redis.
  explicit ManagedRedis(std::string data_dir);
  ~ManagedRedis();

  /// Starts redis-server and waits until it accepts connections. Throws std::runtime_error.
  void start(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  /// Stops the server (SIGTERM, then SIGKILL after a grace period) and the supervisor.
  void stop();

  /// `unix:///…/redis.sock`
  std::string url() const;
  int pid() const { return pid_.load(); }

 private:
  int spawn();
  void supervise();

  std::string dir_;
  std::string socket_;
  int lock_fd_ = -1;
  std::atomic<int> pid_{-1};
  std::atomic<bool> stopping_{false};
  std::thread supervisor_;
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace herald::redis
