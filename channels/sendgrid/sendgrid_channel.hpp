#pragma once
// The `sendgrid` provider (email): SendGrid's v3 Mail Send, JSON with a bearer API key
// (spec/providers.md). The message id SendGrid returns (X-Message-Id) is the provider
// id its event webhook refers to; Herald's own id travels in custom_args.
//
// Config: base_url (https://api.sendgrid.com), api_key, from (an address, or
// "Name <address>"), reply_to and unsubscribe_mailto (optional), webhook_public_key
// (optional: the signed event webhook's verification key; without it POST /hooks/sendgrid
// is refused).

#include <memory>
#include <string>

#include "channels/channel.hpp"
#include "channels/registry.hpp"

namespace herald::channels::sendgrid {

struct SendgridSettings {
  ProviderSettings common;
  std::string base_url = "https://api.sendgrid.com";
  std::string api_key;
  std::string from_name;
  std::string from_email;
  std::string reply_to;
  std::string unsubscribe_mailto;
  std::string webhook_public_key;
};

SendgridSettings parse_settings(const YAML::Node& section, const std::string& config_file);

class SendgridChannel final : public Channel {
 public:
  static constexpr std::string_view kProvider = "sendgrid";
  explicit SendgridChannel(SendgridSettings settings);

  std::string_view provider() const override { return kProvider; }
  boost::asio::awaitable<SendResult> send(const OutboundMessage& message,
                                          SendContext& context) override;
  const SendgridSettings& settings() const { return settings_; }

 private:
  SendgridSettings settings_;
};

std::unique_ptr<Channel> make_sendgrid(const AdapterContext& context, const YAML::Node& section,
                                       const std::string& config_file);

}  // namespace herald::channels::sendgrid
