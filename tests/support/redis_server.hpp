#pragma once
// A real redis-server on a free port in a temporary directory, for one test.

#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace herald::test {

class RedisServer {
 public:
  /// Extra arguments go to redis-server (e.g. {"--requirepass", "secret"}).
  explicit RedisServer(std::vector<std::string> extra = {});
  ~RedisServer();

  void start();
  /// A clean shutdown (SIGTERM).
  void stop();
  /// kill -9.
  void kill();
  bool running() const { return process_ != nullptr; }

  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_.path(); }

  /// Runs redis-cli against the server and returns its output, trimmed.
  std::string cli(const std::vector<std::string>& args) const;

 private:
  TempDir dir_;
  int port_;
  std::vector<std::string> extra_;
  std::unique_ptr<Process> process_;
};

}  // namespace herald::test
