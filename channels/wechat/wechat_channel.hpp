#pragma once
// The `wechat_oa` provider (wechat): a WeChat Official Account's customer-service and
// template messages (spec/providers.md).
//
// The access token is fetched once and shared by every gateway instance through the
// SendContext's SharedStore (Redis): a fetch invalidates the previous token and counts
// against a daily quota, so one instance fetches (under a short lock) and the others
// read it. It is refreshed 5 minutes before it expires, and at once when WeChat answers
// 40001, 42001 or 40014.
//
// Inside the 48 h window (the customer interacted within 48 h) the template's `text`
// goes as a customer-service message; outside it, its `template` as a template message.
// A text answered with 45015 is sent once more as the template when there is one.
//
// Config: base_url (https://api.weixin.qq.com), app_id, app_secret, token (the server
// token that signs the pushes to /hooks/wechat).

#include <memory>
#include <string>

#include "channels/channel.hpp"
#include "channels/registry.hpp"

namespace herald::channels::wechat {

struct WechatSettings {
  ProviderSettings common;
  std::string base_url = "https://api.weixin.qq.com";
  std::string app_id;
  std::string app_secret;
  std::string token;
};

WechatSettings parse_settings(const YAML::Node& section, const std::string& config_file);

class WechatChannel final : public Channel {
 public:
  static constexpr std::string_view kProvider = "wechat_oa";
  explicit WechatChannel(WechatSettings settings);

  std::string_view provider() const override { return kProvider; }
  boost::asio::awaitable<SendResult> send(const OutboundMessage& message,
                                          SendContext& context) override;
  const WechatSettings& settings() const { return settings_; }

  /// The shared store's key for this account's token.
  std::string token_key() const { return "herald:wechat:token:" + settings_.app_id; }

 private:
  /// The current token: shared, or fetched (one instance at a time). Empty with
  /// `error` set when none can be had.
  boost::asio::awaitable<std::string> access_token(SendContext& context, std::string stale,
                                                   SendResult& error);

  WechatSettings settings_;
};

std::unique_ptr<Channel> make_wechat(const AdapterContext& context, const YAML::Node& section,
                                     const std::string& config_file);

}  // namespace herald::channels::wechat
