#include "tests/support/redis_server.hpp"

#include <signal.h>

#include <stdexcept>

namespace herald::test {

RedisServer::RedisServer(std::vector<std::string> extra)
    : port_(free_port()), extra_(std::move(extra)) {
  start();
}

RedisServer::~RedisServer() { kill(); }

void RedisServer::start() {
  std::vector<std::string> argv{"redis-server", "--port",       std::to_string(port_),
                                "--bind",       "127.0.0.1",    "--dir",
                                dir_.path(),    "--appendonly", "yes",
                                "--appendfsync", "everysec",    "--save",
                                "",             "--daemonize",  "no"};
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  process_ = std::make_unique<Process>(argv, dir_.file("redis.log"));
  bool up = eventually([&] {
    auto out = cli({"PING"});
    return out == "PONG" || out.find("NOAUTH") != std::string::npos;
  });
  if (!up) throw std::runtime_error("redis-server did not start: " + process_->output());
}

void RedisServer::stop() {
  if (!process_) return;
  process_->signal(SIGTERM);
  process_->wait(std::chrono::seconds(10));
  process_.reset();
}

void RedisServer::kill() {
  if (!process_) return;
  process_->signal(SIGKILL);
  process_->wait(std::chrono::seconds(10));
  process_.reset();
}

std::string RedisServer::cli(const std::vector<std::string>& args) const {
  std::string cmd = "redis-cli -h 127.0.0.1 -p " + std::to_string(port_);
  for (const auto& a : extra_)
    if (a == "--requirepass") cmd += " --no-auth-warning";
  for (std::size_t i = 0; i + 1 < extra_.size(); ++i)
    if (extra_[i] == "--requirepass") cmd += " -a '" + extra_[i + 1] + "'";
  for (const auto& a : args) {  // each in single quotes, a quote within as '\''
    cmd += " '";
    for (char c : a) cmd += c == '\'' ? std::string("'\\''") : std::string(1, c);
    cmd += '\'';
  }
  return shell_output(cmd);
}

}  // namespace herald::test
