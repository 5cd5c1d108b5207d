#pragma once
// The `messenger` provider (social): the Messenger Send API, JSON with the page access
// token in the query (spec/providers.md).
//
// Inside the 24 h window (the customer wrote within 24 h) a message goes as RESPONSE.
// Outside it, as MESSAGE_TAG with `message_tag` when one is configured (an addition of
// ours, e.g. ACCOUNT_UPDATE, for the uses Meta allows), else as UPDATE, which Messenger
// refuses with code 10 / subcode 2018278: the message fails as window_closed.
//
// Config: base_url (https://graph.facebook.com/v21.0), page_access_token, app_secret and
// verify_token (both for the webhooks at /hooks/messenger), message_tag.

#include <memory>
#include <string>

#include "channels/channel.hpp"
#include "channels/registry.hpp"

namespace herald::channels::messenger {

struct MessengerSettings {
  ProviderSettings common;
  std::string base_url = "https://graph.facebook.com/v21.0";
  std::string page_access_token;
  std::string app_secret;
  std::string verify_token;
  std::string message_tag;
};

MessengerSettings parse_settings(const YAML::Node& section, const std::string& config_file);

class MessengerChannel final : public Channel {
 public:
  static constexpr std::string_view kProvider = "messenger";
  static constexpr std::size_t kMaxText = 2000;
  explicit MessengerChannel(MessengerSettings settings);

  std::string_view provider() const override { return kProvider; }
  boost::asio::awaitable<SendResult> send(const OutboundMessage& message,
                                          SendContext& context) override;
  const MessengerSettings& settings() const { return settings_; }

 private:
  MessengerSettings settings_;
  std::string url_;
};

std::unique_ptr<Channel> make_messenger(const AdapterContext& context, const YAML::Node& section,
                                        const std::string& config_file);

}  // namespace herald::channels::messenger
