#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace herald::test {

/// A child process with its output captured to a file. Killed on destruction.
class Process {
 public:
  Process(std::vector<std::string> argv, std::string output_file, std::string cwd = {},
          std::vector<std::string> env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  int pid() const { return pid_; }
  void signal(int sig) const;
  /// The exit status (exit code, or 128 + signal), or nullopt if still running at the deadline.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running();
  std::string output() const;

 private:
  int pid_ = -1;
  std::optional<int> status_;
  std::string output_file_;
};

/// Processes whose command line contains `needle` (read from /proc; no shell involved).
std::vector<int> pids_matching(const std::string& needle);

/// Runs a shell command line and returns what it printed (stdout and stderr), trimmed.
std::string shell_output(const std::string& command);

/// Polls `condition` until it holds or the timeout passes.
template <typename F>
bool eventually(F condition, std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace herald::test

#include <thread>
template <typename F>
bool herald::test::eventually(F condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}
