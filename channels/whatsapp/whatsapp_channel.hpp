#pragma once
// The `whatsapp_cloud` provider (whatsapp): the WhatsApp Cloud API's messages endpoint,
// JSON with a bearer token (spec/providers.md).
//
// Inside the 24 h customer-care window (the customer wrote within 24 h) the template's
// `text` goes as free text; outside it, its approved `template`. A text answered with
// 131047 (window closed) is sent once more as the template when there is one.
//
// Config: base_url (https://graph.facebook.com/v21.0), phone_number_id, access_token,
// app_secret and verify_token (both for the webhooks at /hooks/whatsapp).

#include <memory>
#include <string>

#include "channels/channel.hpp"
#include "channels/registry.hpp"

namespace herald::channels::whatsapp {

struct WhatsappSettings {
  ProviderSettings common;
  std::string base_url = "https://graph.facebook.com/v21.0";
  std::string phone_number_id;
  std::string access_token;
  std::string app_secret;
  std::string verify_token;
};

WhatsappSettings parse_settings(const YAML::Node& section, const std::string& config_file);

class WhatsappChannel final : public Channel {
 public:
  static constexpr std::string_view kProvider = "whatsapp_cloud";
  explicit WhatsappChannel(WhatsappSettings settings);

  std::string_view provider() const override { return kProvider; }
  boost::asio::awaitable<SendResult> send(const OutboundMessage& message,
                                          SendContext& context) override;
  const WhatsappSettings& settings() const { return settings_; }

 private:
  WhatsappSettings settings_;
  std::string url_;
};

std::unique_ptr<Channel> make_whatsapp(const AdapterContext& context, const YAML::Node& section,
                                       const std::string& config_file);

}  // namespace herald::channels::whatsapp
