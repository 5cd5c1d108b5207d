#pragma once
// What a channel adapter is: one provider (outbox, smtp, twilio, ...) sending rendered
// messages on one channel. Implementations live in sub-folders beside this header and
// are found by the `provider:` name through channels/registry.hpp.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>  // boost 1.74's awaitable.hpp uses std::exchange without it

#include <yaml-cpp/yaml.h>
#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

namespace herald::channels {

class HttpClient;

/// One rendered message, ready for a provider.
struct OutboundMessage {
  std::string id;       // Herald's message id; also the idempotency key towards providers
  std::string channel;  // email, sms, whatsapp, wechat, social
  std::string to;       // the address: e-mail, E.164 number, WhatsApp id, OpenID, PSID
  /// The rendered section: {subject, html, text} for email, {body, segments, encoding}
  /// for sms, {text} or {template: {...}} for whatsapp and wechat, {text} for social.
  nlohmann::ordered_json content;
  bool transactional = false;
  std::string customer_id;
  std::string template_name;
  std::string workflow;  // empty outside a workflow
  std::string run;
  /// When the customer last wrote to us on this channel (opens the customer-care window
  /// of WhatsApp, WeChat and Messenger); none when they never did.
  std::optional<std::chrono::system_clock::time_point> last_inbound;
  /// Email only: the one-click unsubscribe URL (PUBLIC_URL/u/TOKEN) of a marketing
  /// message; empty for transactional messages.
  std::string unsubscribe_url;
};

/// How a provider answered, classified per spec/providers.md.
struct SendResult {
  enum class Outcome {
    kAccepted,      // the provider took it: status `sent`, with provider_message_id
    kRetryable,     // throttled, busy, timed out, 5xx: try again after back-off
    kPermanent,     // invalid address, bad credentials, rejected content: `failed`
    kOptedOut,      // the recipient opted out at the provider (Twilio 21610): record it
    kWindowClosed,  // outside the customer-care window (131047, 45015, 2018278)
    kBounced,       // the address takes no mail (SMTP 550, 551, 553 to RCPT): a hard bounce
  };
  Outcome outcome = Outcome::kAccepted;
  std::string provider_message_id;
  std::string error_code;     // the provider's code, as text ("21211", "130429", "http_503")
  std::string error_message;  // never carries the message body or the address
  std::optional<std::chrono::milliseconds> retry_after;  // when the provider said so
};

/// A small key-value store shared by every gateway instance (Redis in production), for
/// state a provider wants shared: WeChat's access token, which a new fetch invalidates.
class SharedStore {
 public:
  virtual ~SharedStore() = default;
  virtual boost::asio::awaitable<std::optional<std::string>> get(std::string key) = 0;
  virtual boost::asio::awaitable<void> put(std::string key, std::string value,
                                           std::chrono::milliseconds ttl) = 0;
  /// Sets `key` only when absent (a short lock); true when this caller got it.
  virtual boost::asio::awaitable<bool> put_if_absent(std::string key, std::string value,
                                                     std::chrono::milliseconds ttl) = 0;
  virtual boost::asio::awaitable<void> erase(std::string key) = 0;
};

/// What a send may use besides the message; owned by the calling worker.
struct SendContext {
  HttpClient* http = nullptr;     // the calling io_context's client
  SharedStore* shared = nullptr;  // null where no adapter needs it (unit tests)
};

/// A provider adapter. Built once at start-up from its config section, immutable after.
///
/// - `send` is called on an io_context (worker) thread, possibly from several threads
///   at once; it never blocks that thread (no file I/O, no synchronous network call)
///   and completes on the awaiting coroutine's executor.
/// - It reports provider errors as a classified SendResult rather than throwing; it
///   throws only on a bug. It does not retry: the caller owns retries and back-off.
class Channel {
 public:
  virtual ~Channel() = default;

  /// The provider name, as written after `provider:` in the config.
  virtual std::string_view provider() const = 0;

  virtual boost::asio::awaitable<SendResult> send(const OutboundMessage& message,
                                                  SendContext& context) = 0;
};

/// The settings every provider takes (spec/config.md, "Channels and providers").
struct ProviderSettings {
  std::optional<double> rate;  // messages per second across all instances; none: unlimited
  std::chrono::milliseconds timeout{10000};
  unsigned retries = 5;
};

/// The keys every provider section may hold besides its own.
inline constexpr std::string_view kCommonProviderKeys[] = {"provider", "rate", "timeout",
                                                           "retries"};

/// Reads `rate`, `timeout` and `retries` from a provider section (null: the defaults).
/// Throws config::ConfigError at the offending value's line and column.
ProviderSettings parse_provider_settings(const YAML::Node& section, const std::string& file);

/// Rejects any key of `section` other than `own_keys` and kCommonProviderKeys with a
/// config::ConfigError at the key's line and column; also rejects a section that is
/// not a mapping. A null section (the channel not written in the file) passes.
void check_provider_keys(const YAML::Node& section, std::string_view provider,
                         std::initializer_list<std::string_view> own_keys, const std::string& file);

}  // namespace herald::channels
