#pragma once
// The built `herald` binary, started from a test config on a free port.

#include <memory>
#include <string>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace herald::test {

constexpr const char* kWriteKey = "test-write-key";
constexpr const char* kAdminKey = "test-admin-key";
constexpr const char* kAgentToken = "test-agent-token";

/// A config for tests: `{port}`, `{dir}` and `{redis}` are filled in by HeraldProcess.
/// `extra` holds further top-level sections (each key once). Unless `extra` has a
/// `policies:` section, quiet hours are turned off (channels: []).
std::string test_config(const std::string& extra = {}, const std::string& server_extra = {});

class HeraldProcess {
 public:
  /// `redis_url` empty: the managed redis of the embedded default.
  explicit HeraldProcess(std::string redis_url, std::string config = test_config(),
                         std::vector<std::string> env = {});
  ~HeraldProcess();

  /// Starts the binary and waits until /healthz answers.
  void start();
  /// Sends SIGTERM and returns the exit status (nullopt if it did not stop in time).
  std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  void kill();
  bool running() { return process_ && process_->running(); }

  int port() const { return port_; }
  const TempDir& dir() const { return dir_; }
  std::string log() const { return process_ ? process_->output() : dir_.read("herald.log"); }
  Process& process() { return *process_; }

  HttpResponse get(const std::string& path, const std::string& bearer = {}) const;
  HttpResponse post(const std::string& path, const std::string& body,
                    const std::string& bearer = {}) const;
  /// Waits until /readyz answers `status`.
  bool wait_ready(int status = 200, std::chrono::milliseconds timeout = std::chrono::seconds(20));

 private:
  TempDir dir_;
  int port_;
  std::string redis_url_;
  std::vector<std::string> env_;
  std::unique_ptr<Process> process_;
};

/// Runs the herald binary with `args` to completion; returns {exit status, output}.
std::pair<int, std::string> run_herald(const std::vector<std::string>& args,
                                       const std::string& cwd = {});

}  // namespace herald::test
