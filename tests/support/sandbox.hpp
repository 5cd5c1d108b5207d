#pragma once
// Fakes of the messaging providers, for tests:
//  - ProviderSandbox runs tests/sandbox/provider_sandbox.py, which imitates Twilio, the WhatsApp
//    Cloud API, Messenger, SendGrid v3 and the WeChat Official Account API on one local port
//    (one path prefix per provider), records every request, injects scripted faults, and signs
//    and sends provider webhooks.
//  - SmtpSink runs tests/sandbox/smtp_sink.py (aiosmtpd), optionally requiring STARTTLS with a
//    self-signed certificate made at start and/or AUTH, and keeps every message it receives.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace herald::test {

// The credentials the sandbox accepts (kept in sync with provider_sandbox.py).
constexpr const char* kTwilioSid = "ACtest00000000000000000000000000000";
constexpr const char* kTwilioToken = "twilio-auth-token";  // also the webhook signing key
constexpr const char* kWhatsappToken = "wa-access-token";
constexpr const char* kWhatsappPhoneId = "1555000111";
constexpr const char* kWhatsappAppSecret = "wa-app-secret";      // webhook signatures
constexpr const char* kWhatsappVerifyToken = "wa-verify-token";  // hub.verify_token
constexpr const char* kMessengerToken = "page-access-token";
constexpr const char* kMessengerPageId = "1099000111";
constexpr const char* kMessengerAppSecret = "fb-app-secret";
constexpr const char* kMessengerVerifyToken = "fb-verify-token";
/// The verification key of SendGrid's signed event webhook (the sandbox signs with its pair).
constexpr const char* kSendgridWebhookPublicKey =
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9DAgQaXyPmpYIQ0R/6HmoQCnbMfOXRpP"
    "bqx0SMIRphJ3bs75fQBpFh3bcRJY24kOpR5J/BliZVg+Abk+SGNyPw==";
constexpr const char* kSendgridKey = "SG.sandbox-key";
constexpr const char* kWechatAppId = "wx-sandbox-app";
constexpr const char* kWechatSecret = "wechat-app-secret";
constexpr const char* kWechatServerToken = "wechat-server-token";  // webhook signatures

/// The Python interpreter for the sandbox scripts: $HERALD_TEST_PYTHON, else Debian's
/// /usr/bin/python3 (where python3-aiosmtpd lives), else `python3` from PATH.
std::string sandbox_python();

class ProviderSandbox {
 public:
  /// Starts the sandbox and waits until it listens (throws if it does not within 15 s).
  ProviderSandbox();
  ~ProviderSandbox();
  ProviderSandbox(const ProviderSandbox&) = delete;
  ProviderSandbox& operator=(const ProviderSandbox&) = delete;

  int port() const { return port_; }
  /// "http://127.0.0.1:PORT/<provider>": the base_url to configure for that provider.
  std::string base_url(const std::string& provider) const;

  /// The recorded requests (all providers when `provider` is empty), in arrival order: a JSON
  /// array of {"seq","time","provider","method","path","query","headers","body","form","json",
  /// "status","fault"} (status null when the connection was closed without an answer).
  nlohmann::json requests(const std::string& provider = {}) const;
  /// Forgets the recorded requests and the request counters.
  void clear();
  /// Appends scripted faults (an array, or one object) for the provider's send endpoint.
  void add_faults(const std::string& provider, const nlohmann::json& faults);
  /// A fault applied to every send request of the provider (after the scripted ones) until
  /// cleared; null clears it.
  void set_always(const std::string& provider, const nlohmann::json& fault);
  /// Removes every scripted and "always" fault.
  void clear_faults();
  /// Everything back to the start state, WeChat tokens included.
  void reset();
  /// {"wechat_tokens_issued", "wechat_access_token", "requests": {provider: n}, "pending_faults"}.
  nlohmann::json stats() const;
  /// Builds, signs and sends a provider webhook (see provider_sandbox.py); returns
  /// {"status","headers","body","request"} with Herald's answer. Throws when the sandbox could
  /// not deliver it.
  nlohmann::json webhook(const nlohmann::json& spec) const;

  /// A raw call to the control API (or anything else on the sandbox's port).
  HttpResponse call(const std::string& method, const std::string& path,
                    const std::string& body = {}) const;
  /// The sandbox's own log.
  std::string log() const;

 private:
  nlohmann::json control(const std::string& method, const std::string& path,
                         const std::string& body = {}) const;

  TempDir dir_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

struct SmtpSinkOptions {
  /// Offer and require STARTTLS, with a self-signed certificate for 127.0.0.1/localhost.
  bool starttls = false;
  /// Require AUTH (LOGIN or PLAIN) with these credentials when `user` is not empty.
  std::string user;
  std::string password;
  /// "SUBSTRING:CODE": RCPT TO for an address containing SUBSTRING is answered CODE.
  std::vector<std::string> rejects;
};

struct SmtpMessage {
  std::string raw;            // the DATA bytes as received (CRLF line ends, dot-unstuffed)
  nlohmann::json envelope;    // the sink's JSON: mail_from, rcpt_tos, connection_id, tls, ...
  std::string mail_from;
  std::vector<std::string> rcpt_tos;
  std::string connection_id;  // "peer#n": equal for messages carried by one connection
  bool tls = false;
  bool authenticated = false;
};

class SmtpSink {
 public:
  explicit SmtpSink(SmtpSinkOptions options = {});
  ~SmtpSink();
  SmtpSink(const SmtpSink&) = delete;
  SmtpSink& operator=(const SmtpSink&) = delete;

  int port() const { return port_; }
  /// "smtp://127.0.0.1:PORT".
  std::string url() const;
  /// The self-signed certificate (PEM) to trust; empty without STARTTLS.
  const std::string& cert_file() const { return cert_file_; }
  const std::string& key_file() const { return key_file_; }
  /// Where the messages are written (NNNNNN.eml + NNNNNN.json).
  std::string mail_dir() const { return dir_.file("mail"); }

  /// Every message received so far, in order.
  std::vector<SmtpMessage> messages() const;
  /// Waits until at least `n` messages arrived.
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  std::string log() const;

 private:
  TempDir dir_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
  std::string cert_file_;
  std::string key_file_;
};

}  // namespace herald::test
