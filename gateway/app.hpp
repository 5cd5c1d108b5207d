#pragma once
// The gateway process: workers (one io_context thread each, with a Redis
// connection), the HTTP server and its routes, the managed Redis of the embedded
// default, and the signals that drain and stop it all.

#include <memory>

#include "config/config.hpp"

namespace herald::gateway {

class App {
 public:
  explicit App(config::Config config);
  ~App();

  /// Serves until SIGTERM or SIGINT, then drains; returns the process exit code.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::gateway
