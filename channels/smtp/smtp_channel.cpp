#include "channels/smtp/smtp_channel.hpp"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <utility>

namespace herald::channels::smtp {

namespace {

[[noreturn]] void fail(const YAML::Node& node, const std::string& file,
                       const std::string& message) {
  throw config::ConfigError(config::location_of(node, file), message);
}

/// A string setting, or nullopt when absent or null.
std::optional<std::string> text_setting(const YAML::Node& section, const char* key,
                                        const std::string& file) {
  if (!section.IsMap()) return std::nullopt;
  const YAML::Node node = section[key];
  if (!node || node.IsNull()) return std::nullopt;
  if (!node.IsScalar()) fail(node, file, std::string(key) + ": expected a string");
  return node.Scalar();
}

YAML::Node node_of(const YAML::Node& section, const char* key) {
  return section.IsMap() ? section[key] : YAML::Node();
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// Checks `url` (smtp:// or smtps://, a host, no user info); returns it with the scheme
/// in lower case, and whether it is smtps.
std::pair<std::string, bool> check_url(const YAML::Node& node, const std::string& url,
                                       const std::string& file) {
  auto scheme_end = url.find("://");
  auto scheme = lower(url.substr(0, scheme_end == std::string::npos ? 0 : scheme_end));
  if (scheme != "smtp" && scheme != "smtps")
    fail(node, file,
         "url: expected smtp://host:port or smtps://host:port" +
             (url.find('@') == std::string::npos ? ", got \"" + url + "\"" : std::string()));
  auto rest = url.substr(scheme_end + 3);
  auto authority = rest.substr(0, rest.find('/'));
  if (authority.empty() || authority.front() == ':')
    fail(node, file, "url: no host in \"" + url + "\"");
  for (unsigned char c : url)
    if (c <= 0x20 || c == 0x7f) fail(node, file, "url: spaces or control characters in the URL");
  if (authority.find('@') != std::string::npos)
    fail(node, file, "url: write the credentials in username and password, not in the URL");
  return {scheme + url.substr(scheme_end), scheme == "smtps"};
}

Mailbox mailbox_setting(const YAML::Node& section, const char* key, const std::string& file) {
  auto value = *text_setting(section, key, file);
  auto mailbox = parse_mailbox(value);
  if (!mailbox)
    fail(node_of(section, key), file,
         std::string(key) + ": expected an address such as news@shop.example or " +
             "\"Shop <news@shop.example>\", got \"" + value + "\"");
  return *mailbox;
}

std::string domain_of(const std::string& address) {
  return address.substr(address.rfind('@') + 1);
}

SendResult failure(SendResult::Outcome outcome, std::string code, std::string message) {
  SendResult r;
  r.outcome = outcome;
  r.error_code = std::move(code);
  r.error_message = std::move(message);
  return r;
}

/// The awaiting part of a send: everything it uses is owned by its frame.
boost::asio::awaitable<SendResult> transmit(HttpClient* http, SmtpChannel::Prepared prepared) {
  if (prepared.failure) co_return std::move(*prepared.failure);
  auto response = co_await http->smtp(std::move(prepared.request));
  co_return classify(response, prepared.message_id);
}

}  // namespace

SmtpSettings parse_settings(const YAML::Node& section, const AdapterContext& context,
                            const std::string& config_file) {
  check_provider_keys(section, SmtpChannel::kProvider,
                      {"url", "username", "password", "starttls", "from", "reply_to",
                       "unsubscribe_mailto", "ca_file"},
                      config_file);
  SmtpSettings settings;
  settings.common = parse_provider_settings(section, config_file);
  const auto& file = config_file;

  auto url = text_setting(section, "url", file);
  if (!url)
    fail(node_of(section, "url") ? node_of(section, "url") : section, file,
         "url: required (smtp://host:587 or smtps://host:465)");
  auto [checked_url, smtps] = check_url(node_of(section, "url"), *url, file);
  settings.url = std::move(checked_url);

  if (const YAML::Node node = node_of(section, "starttls"); node && !node.IsNull()) {
    bool value = true;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value))
      fail(node, file, "starttls: expected true or false");
    settings.starttls = value;
    if (!value && smtps)
      fail(node, file,
           "starttls: false applies only to a clear-text smtp:// relay; "
           "smtps:// is always TLS");
  }

  auto username = text_setting(section, "username", file);
  auto password = text_setting(section, "password", file);
  if (username && username->empty()) username.reset();
  if (password && password->empty()) password.reset();
  if (username && !password) fail(node_of(section, "username"), file, "username: needs a password");
  if (password && !username) fail(node_of(section, "password"), file, "password: needs a username");
  if (username && !settings.starttls)
    fail(node_of(section, "username"), file,
         "username: refused with starttls: false, because the credentials would cross the "
         "network in clear text");
  if (username) settings.username = *username, settings.password = *password;

  if (!text_setting(section, "from", file))
    fail(node_of(section, "from") ? node_of(section, "from") : section, file,
         "from: required (the sender address, such as \"Shop <news@shop.example>\")");
  settings.from = mailbox_setting(section, "from", file);
  if (text_setting(section, "reply_to", file))
    settings.reply_to = mailbox_setting(section, "reply_to", file);
  if (auto mailto = text_setting(section, "unsubscribe_mailto", file)) {
    if (!valid_address(*mailto))
      fail(node_of(section, "unsubscribe_mailto"), file,
           "unsubscribe_mailto: expected an address such as unsubscribe@shop.example, got \"" +
               *mailto + "\"");
    settings.unsubscribe_mailto = *mailto;
  }

  if (auto ca = text_setting(section, "ca_file", file)) {
    const YAML::Node node = node_of(section, "ca_file");
    if (!settings.starttls && !smtps)
      fail(node, file, "ca_file: unused without TLS (starttls: false)");
    std::filesystem::path path = *ca;
    if (path.is_relative()) path = context.data_dir / path;
    std::ifstream probe(path);
    if (ca->empty() || !std::filesystem::is_regular_file(path) || !probe)
      fail(node, file, "ca_file: cannot read \"" + path.string() + "\"");
    settings.ca_file = std::filesystem::absolute(path).lexically_normal().string();
  }
  return settings;
}

SmtpChannel::SmtpChannel(SmtpSettings settings) : settings_(std::move(settings)) {}

SmtpChannel::Prepared SmtpChannel::prepare(const OutboundMessage& message,
                                           std::chrono::system_clock::time_point at) const {
  Prepared p;
  auto content_failure = [&](const char* why) {
    p.failure = failure(SendResult::Outcome::kPermanent, "invalid_content", why);
    return std::move(p);
  };
  if (!valid_address(message.to)) {
    p.failure = failure(SendResult::Outcome::kPermanent, "invalid_address",
                        "the recipient is not a valid e-mail address");
    return p;
  }
  const auto& c = message.content;
  if (!c.is_object()) return content_failure("the email content is not an object");
  auto field = [&](const char* key, std::string& out) {
    auto it = c.find(key);
    if (it == c.end() || it->is_null()) return true;
    if (!it->is_string()) return false;
    out = it->get<std::string>();
    return true;
  };
  MessageParts parts;
  if (!field("subject", parts.subject) || !field("text", parts.text) || !field("html", parts.html))
    return content_failure("subject, text and html must be strings");
  if (parts.text.empty() && parts.html.empty())
    return content_failure("the email has neither text nor html");

  p.message_id = message_id(message.id, domain_of(settings_.from.address));
  parts.from = settings_.from;
  parts.reply_to = settings_.reply_to;
  parts.to = message.to;
  parts.herald_id = message.id;
  parts.message_id = p.message_id;
  parts.unsubscribe_url = message.unsubscribe_url;
  parts.unsubscribe_mailto = settings_.unsubscribe_mailto;
  parts.date = at;

  auto& r = p.request;
  r.url = settings_.url;
  r.username = settings_.username;
  r.password = settings_.password;
  r.require_tls = settings_.starttls;
  r.ca_file = settings_.ca_file;
  r.mail_from = settings_.from.address;
  r.rcpt.push_back(message.to);
  r.payload = compose(parts);
  r.timeout = settings_.common.timeout;
  return p;
}

// A plain function: the message is read here, before the caller's first suspension, so
// it need not outlive the call; the coroutine owns what it awaits with.
boost::asio::awaitable<SendResult> SmtpChannel::send(const OutboundMessage& message,
                                                     SendContext& context) {
  if (!context.http) throw std::logic_error("smtp: SendContext::http is not set");
  return transmit(context.http, prepare(message, std::chrono::system_clock::now()));
}

SendResult classify(const SmtpResponse& response, const std::string& message_id) {
  using Outcome = SendResult::Outcome;
  if (response.accepted()) {
    SendResult r;
    r.outcome = Outcome::kAccepted;
    r.provider_message_id = message_id;
    return r;
  }
  if (response.login_denied)
    return failure(
        Outcome::kPermanent, "smtp_login_denied",
        "the SMTP server refused the username and password" +
            (response.code ? " (" + std::to_string(response.code) + ")" : std::string()));
  if (response.tls_failed)
    return failure(Outcome::kPermanent, "smtp_tls_failed",
                   "TLS with the SMTP server failed: " + response.error);
  if (response.timed_out)
    return failure(Outcome::kRetryable, "smtp_timeout", "the SMTP server did not answer in time");
  if (response.connect_failed)
    return failure(Outcome::kRetryable, "smtp_connect_failed",
                   "cannot connect to the SMTP server: " + response.error);
  auto code = "smtp_" + std::to_string(response.code);
  // libcurl's text for a refused command names the command and the code only, never
  // the address; ours says the same.
  // A recipient refused as unknown or not allowed is a hard bounce; other 5xx (policy,
  // content, a full mailbox) are permanent for this message only.
  const bool at_rcpt = response.error.find("RCPT") != std::string::npos;
  if (at_rcpt && (response.code == 550 || response.code == 551 || response.code == 553))
    return failure(Outcome::kBounced, code,
                   "the SMTP server refused the recipient with " + std::to_string(response.code));
  if (response.code >= 500 && response.code < 600)
    return failure(Outcome::kPermanent, code,
                   "the SMTP server refused the message with " + std::to_string(response.code));
  if (response.code >= 400 && response.code < 500)
    return failure(Outcome::kRetryable, code,
                   "the SMTP server deferred the message with " + std::to_string(response.code));
  return failure(Outcome::kRetryable, "smtp_error", "the SMTP exchange failed: " + response.error);
}

std::unique_ptr<Channel> make_smtp(const AdapterContext& context, const YAML::Node& section,
                                   const std::string& config_file) {
  return std::make_unique<SmtpChannel>(parse_settings(section, context, config_file));
}

}  // namespace herald::channels::smtp
