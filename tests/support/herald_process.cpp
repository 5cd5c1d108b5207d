#include "tests/support/herald_process.hpp"

#include <signal.h>

#include <stdexcept>

namespace herald::test {
namespace {

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
    text.replace(pos, from.size(), to);
  return text;
}

}  // namespace

std::string test_config(const std::string& extra, const std::string& server_extra) {
  return "server:\n"
         "  listen: 127.0.0.1:{port}\n"
         "  threads: 2\n" +
         server_extra +
         "redis:\n"
         "  url: \"{redis}\"\n"
         "data_dir: {dir}/var\n"
         "auth:\n"
         "  write_keys: [" + std::string(kWriteKey) + "]\n"
         "  admin_keys: [" + std::string(kAdminKey) + "]\n"
         "  agents:\n"
         "    - { name: alice, token: " + std::string(kAgentToken) + " }\n"
         "    - { name: bob, token: bob-token }\n"
         "log:\n"
         "  level: debug\n" +
         // Quiet hours are off unless a test sets its own policies: the default window
         // (21:00 to 08:00 UTC) would otherwise defer SMS depending on when tests run.
         (extra.rfind("policies:", 0) == 0 || extra.find("\npolicies:") != std::string::npos
              ? std::string()
              : std::string("policies:\n  quiet_hours: { channels: [] }\n")) +
         extra;
}

HeraldProcess::HeraldProcess(std::string redis_url, std::string config, std::vector<std::string> env)
    : port_(free_port()), redis_url_(std::move(redis_url)), env_(std::move(env)) {
  config = replace_all(config, "{port}", std::to_string(port_));
  config = replace_all(config, "{dir}", dir_.path());
  config = replace_all(config, "{redis}", redis_url_);
  dir_.write("herald.yaml", config);
  start();
}

HeraldProcess::~HeraldProcess() { kill(); }

void HeraldProcess::start() {
  process_ = std::make_unique<Process>(
      std::vector<std::string>{HERALD_BINARY, "serve", "--config", dir_.file("herald.yaml")},
      dir_.file("herald.log"), dir_.path(), env_);
  bool up = eventually(
      [&] {
        if (!process_->running()) return true;
        try {
          return http(port_, "GET", "/healthz").status == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      std::chrono::seconds(20));
  if (!up || !process_->running())
    throw std::runtime_error("herald did not start:\n" + process_->output());
}

std::optional<int> HeraldProcess::stop(std::chrono::milliseconds timeout) {
  if (!process_) return std::nullopt;
  process_->signal(SIGTERM);
  return process_->wait(timeout);
}

void HeraldProcess::kill() {
  if (process_ && process_->running()) {
    process_->signal(SIGKILL);
    process_->wait(std::chrono::seconds(10));
  }
}

HttpResponse HeraldProcess::get(const std::string& path, const std::string& bearer) const {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!bearer.empty()) headers.emplace_back("Authorization", "Bearer " + bearer);
  return http(port_, "GET", path, {}, headers);
}

HttpResponse HeraldProcess::post(const std::string& path, const std::string& body,
                                 const std::string& bearer) const {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!bearer.empty()) headers.emplace_back("Authorization", "Bearer " + bearer);
  return http(port_, "POST", path, body, headers);
}

bool HeraldProcess::wait_ready(int status, std::chrono::milliseconds timeout) {
  return eventually(
      [&] {
        try {
          return get("/readyz").status == status;
        } catch (const std::exception&) {
          return false;
        }
      },
      timeout);
}

std::pair<int, std::string> run_herald(const std::vector<std::string>& args,
                                       const std::string& cwd) {
  TempDir out;
  std::vector<std::string> argv{HERALD_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  Process p(argv, out.file("out.txt"), cwd);
  auto status = p.wait(std::chrono::seconds(60));
  if (!status) throw std::runtime_error("herald did not finish");
  return {*status, p.output()};
}

}  // namespace herald::test
