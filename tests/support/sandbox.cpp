#include "tests/support/sandbox.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace herald::test {
namespace {

const std::string kScriptDir = std::string(HERALD_SOURCE_DIR) + "/tests/sandbox";

/// Starts `argv` with its output in `log`, and waits until it has written its port to
/// `port_file` (atomically, so a non-empty file is a whole number).
std::unique_ptr<Process> start_with_port_file(const std::vector<std::string>& argv,
                                              const std::string& log, const std::string& port_file,
                                              int& port, const std::string& what) {
  auto process = std::make_unique<Process>(argv, log);
  bool up = eventually(
      [&] {
        if (!process->running()) return true;
        std::ifstream in(port_file);
        int p = 0;
        if (in >> p && p > 0) {
          port = p;
          return true;
        }
        return false;
      },
      std::chrono::seconds(15));
  if (!up || port == 0 || !process->running())
    throw std::runtime_error(what + " did not start:\n" + process->output());
  return process;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::string sandbox_python() {
  if (const char* p = std::getenv("HERALD_TEST_PYTHON"); p && *p) return p;
  if (::access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  return "python3";
}

// ---------------------------------------------------------------------------- ProviderSandbox

ProviderSandbox::ProviderSandbox() {
  process_ = start_with_port_file(
      {sandbox_python(), kScriptDir + "/provider_sandbox.py", "--port-file", dir_.file("port")},
      dir_.file("sandbox.log"), dir_.file("port"), port_, "provider_sandbox.py");
}

ProviderSandbox::~ProviderSandbox() {
  if (process_ && process_->running()) {
    process_->signal(SIGKILL);
    process_->wait(std::chrono::seconds(10));
  }
}

std::string ProviderSandbox::base_url(const std::string& provider) const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/" + provider;
}

HttpResponse ProviderSandbox::call(const std::string& method, const std::string& path,
                                   const std::string& body) const {
  return http(port_, method, path, body);
}

nlohmann::json ProviderSandbox::control(const std::string& method, const std::string& path,
                                        const std::string& body) const {
  auto r = call(method, path, body);
  if (r.status != 200)
    throw std::runtime_error("sandbox " + method + " " + path + " answered " +
                             std::to_string(r.status) + ": " + r.body);
  return nlohmann::json::parse(r.body);
}

nlohmann::json ProviderSandbox::requests(const std::string& provider) const {
  std::string path = "/_sandbox/requests";
  if (!provider.empty()) path += "?provider=" + provider;
  return control("GET", path).at("items");
}

void ProviderSandbox::clear() { control("DELETE", "/_sandbox/requests"); }

void ProviderSandbox::add_faults(const std::string& provider, const nlohmann::json& faults) {
  nlohmann::json body{{"provider", provider},
                      {"faults", faults.is_array() ? faults : nlohmann::json::array({faults})}};
  control("POST", "/_sandbox/faults", body.dump());
}

void ProviderSandbox::set_always(const std::string& provider, const nlohmann::json& fault) {
  nlohmann::json body{{"provider", provider}, {"always", fault}};
  control("POST", "/_sandbox/faults", body.dump());
}

void ProviderSandbox::clear_faults() { control("DELETE", "/_sandbox/faults"); }

void ProviderSandbox::reset() { control("POST", "/_sandbox/reset"); }

nlohmann::json ProviderSandbox::stats() const { return control("GET", "/_sandbox/stats"); }

nlohmann::json ProviderSandbox::webhook(const nlohmann::json& spec) const {
  return control("POST", "/_sandbox/webhook", spec.dump());
}

std::string ProviderSandbox::log() const { return process_ ? process_->output() : std::string(); }

// ---------------------------------------------------------------------------- SmtpSink

SmtpSink::SmtpSink(SmtpSinkOptions options) {
  std::filesystem::create_directories(dir_.file("mail"));
  std::vector<std::string> argv{sandbox_python(), kScriptDir + "/smtp_sink.py", "--port-file",
                                dir_.file("port"), "--dir", dir_.file("mail")};
  if (options.starttls) {
    cert_file_ = dir_.file("cert.pem");
    key_file_ = dir_.file("key.pem");
    Process openssl({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key_file_, "-out",
                     cert_file_, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                     "subjectAltName=IP:127.0.0.1,DNS:localhost"},
                    dir_.file("openssl.log"));
    auto status = openssl.wait(std::chrono::seconds(30));
    if (status != 0 || !std::filesystem::exists(cert_file_))
      throw std::runtime_error("openssl could not make a certificate:\n" + openssl.output());
    argv.insert(argv.end(), {"--starttls", cert_file_, key_file_});
  }
  if (!options.user.empty())
    argv.insert(argv.end(), {"--require-auth", options.user + ":" + options.password});
  for (const auto& r : options.rejects) argv.insert(argv.end(), {"--reject", r});
  process_ = start_with_port_file(argv, dir_.file("smtp.log"), dir_.file("port"), port_,
                                  "smtp_sink.py");
}

SmtpSink::~SmtpSink() {
  if (process_ && process_->running()) {
    process_->signal(SIGKILL);
    process_->wait(std::chrono::seconds(10));
  }
}

std::string SmtpSink::url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }

std::vector<SmtpMessage> SmtpSink::messages() const {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(mail_dir(), ec))
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::vector<SmtpMessage> out;
  for (const auto& json_file : files) {
    SmtpMessage m;
    m.envelope = nlohmann::json::parse(read_file(json_file));
    auto eml = json_file;
    eml.replace_extension(".eml");
    m.raw = read_file(eml);  // written before the .json
    m.mail_from = m.envelope.value("mail_from", std::string());
    m.rcpt_tos = m.envelope.value("rcpt_tos", std::vector<std::string>{});
    m.connection_id = m.envelope.value("connection_id", std::string());
    m.tls = m.envelope.value("tls", false);
    m.authenticated = m.envelope.value("authenticated", false);
    out.push_back(std::move(m));
  }
  return out;
}

bool SmtpSink::wait_for(std::size_t n, std::chrono::milliseconds timeout) const {
  return eventually(
      [&] {
        std::size_t count = 0;
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(mail_dir(), ec))
          if (entry.path().extension() == ".json") ++count;
        return count >= n;
      },
      timeout);
}

std::string SmtpSink::log() const { return process_ ? process_->output() : std::string(); }

}  // namespace herald::test
