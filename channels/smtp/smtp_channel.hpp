#pragma once
// The `smtp` provider: each email as one RFC 5322 message over SMTP, through the
// worker's HttpClient (libcurl multi on Asio), so a send never blocks its thread and
// connections stay open between messages.
//
// Config (spec/config.md, "Channels and providers"), besides rate, timeout and retries:
//   url                 required; smtp://host:port (STARTTLS) or smtps://host:port (TLS
//                       from the start); a path names the EHLO domain (default: the
//                       local host name)
//   username, password  both or neither; AUTH when set
//   starttls            true (default): STARTTLS is required, never a clear-text
//                       fallback. false only with smtp:// (a clear-text local relay),
//                       and then credentials are refused
//   from                required: `addr` or `Name <addr>`; also the envelope sender
//   reply_to            optional: `addr` or `Name <addr>`
//   unsubscribe_mailto  optional address, added to List-Unsubscribe of marketing mail
//   ca_file             optional PEM bundle to trust (private CAs, tests); relative
//                       paths are resolved against data_dir
//
// The message: From, To, Subject (RFC 2047 when not ASCII), Date, Message-ID
// `<HERALD_ID@FROM_DOMAIN>` (the same on a resend), Reply-To, List-Unsubscribe and
// List-Unsubscribe-Post (RFC 8058) when the message has an unsubscribe_url,
// X-Herald-Message-Id, and a quoted-printable UTF-8 body: multipart/alternative of
// text and html, or text alone.
//
// Outcomes: accepted → kAccepted with provider_message_id = the Message-ID (angle
// brackets included); 4xx replies, timeouts, connection failures → kRetryable; 5xx
// replies → kPermanent with error_code `smtp_<code>`; AUTH refused or TLS failed →
// kPermanent (`smtp_login_denied`, `smtp_tls_failed`): a config problem. error_message
// never holds the address or the body.
//
// Threading: immutable after construction; send may run on several threads at once,
// each with its own SendContext::http (required: a null one is a wiring bug and throws).

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "channels/channel.hpp"
#include "channels/http_client.hpp"
#include "channels/registry.hpp"
#include "channels/smtp/mime.hpp"

namespace herald::channels::smtp {

struct SmtpSettings {
  ProviderSettings common;
  std::string url;
  std::string username, password;
  bool starttls = true;
  std::string ca_file;  // absolute, or empty
  Mailbox from;
  std::optional<Mailbox> reply_to;
  std::string unsubscribe_mailto;
};

/// Parses and validates an smtp section. Throws config::ConfigError at the key or value.
SmtpSettings parse_settings(const YAML::Node& section, const AdapterContext& context,
                            const std::string& config_file);

class SmtpChannel final : public Channel {
 public:
  static constexpr std::string_view kProvider = "smtp";

  explicit SmtpChannel(SmtpSettings settings);

  std::string_view provider() const override { return kProvider; }
  boost::asio::awaitable<SendResult> send(const OutboundMessage& message,
                                          SendContext& context) override;

  const SmtpSettings& settings() const { return settings_; }

  /// The message and envelope for `message` as sent at `at`, or the permanent failure
  /// that keeps it from being sent (an invalid address, content that is not an email).
  struct Prepared {
    SmtpRequest request;
    std::string message_id;
    std::optional<SendResult> failure;
  };
  Prepared prepare(const OutboundMessage& message, std::chrono::system_clock::time_point at) const;

 private:
  SmtpSettings settings_;
};

/// How an SMTP exchange ended, as a SendResult.
SendResult classify(const SmtpResponse& response, const std::string& message_id);

/// The registry's factory for `provider: smtp`.
std::unique_ptr<Channel> make_smtp(const AdapterContext& context, const YAML::Node& section,
                                   const std::string& config_file);

}  // namespace herald::channels::smtp
