#pragma once
// The `twilio` provider (sms): Programmable Messaging's Messages resource, form-encoded,
// HTTP Basic with the account SID and auth token (spec/providers.md).
//
// Config: base_url (https://api.twilio.com), account_sid, auth_token, from or
// messaging_service_sid, max_segments (4: longer messages are refused before sending;
// the body's segments are counted here too, GSM-7 or UCS-2 as spec/templates.md says).
// Status callbacks are requested at PUBLIC_URL/hooks/twilio.

#include <memory>
#include <string>

#include "channels/channel.hpp"
#include "channels/registry.hpp"

namespace herald::channels::twilio {

struct TwilioSettings {
  ProviderSettings common;
  std::string base_url = "https://api.twilio.com";
  std::string account_sid;
  std::string auth_token;
  std::string from;
  std::string messaging_service_sid;
  unsigned max_segments = 4;
  std::string status_callback;  // empty: none requested
};

TwilioSettings parse_settings(const YAML::Node& section, const AdapterContext& context,
                              const std::string& config_file);

class TwilioChannel final : public Channel {
 public:
  static constexpr std::string_view kProvider = "twilio";
  explicit TwilioChannel(TwilioSettings settings);

  std::string_view provider() const override { return kProvider; }
  boost::asio::awaitable<SendResult> send(const OutboundMessage& message,
                                          SendContext& context) override;
  const TwilioSettings& settings() const { return settings_; }

 private:
  TwilioSettings settings_;
  std::string authorization_;
  std::string url_;
};

std::unique_ptr<Channel> make_twilio(const AdapterContext& context, const YAML::Node& section,
                                     const std::string& config_file);

}  // namespace herald::channels::twilio
