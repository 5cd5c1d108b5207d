#include "channels/registry.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "channels/messenger/messenger_channel.hpp"
#include "channels/outbox/outbox_channel.hpp"
#include "channels/sendgrid/sendgrid_channel.hpp"
#include "channels/smtp/smtp_channel.hpp"
#include "channels/twilio/twilio_channel.hpp"
#include "channels/wechat/wechat_channel.hpp"
#include "channels/whatsapp/whatsapp_channel.hpp"

namespace herald::channels {

namespace {

[[noreturn]] void fail(const YAML::Node& node, const std::string& file,
                       const std::string& message) {
  throw config::ConfigError(config::location_of(node, file), message);
}

std::string scalar(const YAML::Node& node, const std::string& file, std::string_view key,
                   std::string_view expected) {
  if (!node.IsScalar()) fail(node, file, std::string(key) + ": expected " + std::string(expected));
  return node.Scalar();
}

}  // namespace

ProviderSettings parse_provider_settings(const YAML::Node& section, const std::string& file) {
  ProviderSettings settings;
  if (!section.IsMap()) return settings;

  if (const YAML::Node node = section["rate"]; node && !node.IsNull()) {
    auto text = scalar(node, file, "rate", "messages per second, a number above 0");
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) ||
        value <= 0 || value > 1e6)
      fail(node, file,
           "rate: expected messages per second, a number above 0 and at most 1000000, got \"" +
               text + "\"");
    settings.rate = value;
  }

  if (const YAML::Node node = section["timeout"]) {
    auto text = scalar(node, file, "timeout", "a duration such as 10s");
    auto value = config::parse_duration(text);
    if (!value || value->count() <= 0 || *value > std::chrono::minutes(10))
      fail(node, file,
           "timeout: expected a duration above 0 and at most 10m, such as 10s or 500ms, got \"" +
               text + "\"");
    settings.timeout = *value;
  }

  if (const YAML::Node node = section["retries"]) {
    auto text = scalar(node, file, "retries", "an integer from 0 to 100");
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value > 100)
      fail(node, file, "retries: expected an integer from 0 to 100, got \"" + text + "\"");
    settings.retries = value;
  }
  return settings;
}

void check_provider_keys(const YAML::Node& section, std::string_view provider,
                         std::initializer_list<std::string_view> own_keys,
                         const std::string& file) {
  if (section.IsNull()) return;
  if (!section.IsMap()) fail(section, file, "expected a mapping");
  std::vector<std::string_view> allowed(own_keys);
  allowed.insert(allowed.end(), std::begin(kCommonProviderKeys), std::end(kCommonProviderKeys));
  for (auto it = section.begin(); it != section.end(); ++it) {
    auto key = it->first.IsScalar() ? it->first.Scalar() : std::string("?");
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string list;
    for (auto k : allowed) list += (list.empty() ? "" : ", ") + std::string(k);
    fail(it->first, file,
         "unknown key \"" + key + "\" (" + std::string(provider) + " takes: " + list + ")");
  }
}

void Registry::add(std::string name, AdapterFactory factory, std::vector<std::string> channels) {
  if (factories_.count(name))
    throw std::invalid_argument("channel adapter \"" + name + "\" registered twice");
  factories_.emplace(std::move(name), Entry{std::move(factory), std::move(channels)});
}

bool Registry::contains(std::string_view name) const {
  return factories_.count(name) > 0;
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : factories_) out.push_back(name);
  return out;
}

std::unique_ptr<Channel> Registry::make(const std::string& channel,
                                        const config::ChannelConfig& config,
                                        const AdapterContext& context,
                                        const std::string& config_file) const {
  const YAML::Node& section = config.section;
  auto it = factories_.find(config.provider);
  if (it == factories_.end()) {
    const YAML::Node provider = section.IsMap() ? section["provider"] : YAML::Node();
    std::string known;
    for (const auto& [name, _] : factories_) known += (known.empty() ? "" : ", ") + name;
    fail(provider ? provider : section, config_file,
         "channels." + channel + ".provider: unknown provider \"" + config.provider +
             "\" (known: " + known + ")");
  }
  const auto& allowed = it->second.channels;
  if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), channel) == allowed.end()) {
    const YAML::Node provider = section.IsMap() ? section["provider"] : YAML::Node();
    std::string list;
    for (const auto& c : allowed) list += (list.empty() ? "" : ", ") + c;
    fail(provider ? provider : section, config_file,
         "channels." + channel + ".provider: \"" + config.provider + "\" serves " + list +
             ", not " + channel);
  }
  try {
    return it->second.factory(context, section, config_file);
  } catch (const config::ConfigError& e) {
    throw config::ConfigError(e.where(), "channels." + channel + ": " + e.reason());
  }
}

void register_builtin_adapters(Registry& registry) {
  using V = std::vector<std::string>;
  registry.add(std::string(outbox::OutboxChannel::kProvider), outbox::make_outbox);
  registry.add(std::string(sendgrid::SendgridChannel::kProvider), sendgrid::make_sendgrid,
               V{"email"});
  registry.add(std::string(smtp::SmtpChannel::kProvider), smtp::make_smtp, V{"email"});
  registry.add(std::string(twilio::TwilioChannel::kProvider), twilio::make_twilio, V{"sms"});
  registry.add(std::string(whatsapp::WhatsappChannel::kProvider), whatsapp::make_whatsapp,
               V{"whatsapp"});
  registry.add(std::string(wechat::WechatChannel::kProvider), wechat::make_wechat, V{"wechat"});
  registry.add(std::string(messenger::MessengerChannel::kProvider), messenger::make_messenger,
               V{"social"});
}

const Registry& default_registry() {
  static const Registry registry = [] {
    Registry r;
    register_builtin_adapters(r);
    return r;
  }();
  return registry;
}

}  // namespace herald::channels
