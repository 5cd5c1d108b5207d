#pragma once

// One template file compiled: its sections, each field a compiled Liquid
// template. Internal to the module; the API is template_set.hpp.

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "templates/liquid/liquid_template.hpp"

namespace herald::templates {

enum class Channel { kEmail, kSms, kWhatsapp, kWechat, kSocial };
constexpr std::size_t kChannelCount = 5;
constexpr std::array<std::string_view, kChannelCount> kChannelNames = {"email", "sms", "whatsapp",
                                                                       "wechat", "social"};
std::optional<Channel> channel_from_name(std::string_view name);

struct Field {
  std::string key;  // "subject", "body", a WeChat data key, ...
  LiquidTemplate liquid;
  SourcePos pos;  // of the value in the file
};

struct Section {
  Channel channel = Channel::kEmail;
  std::vector<Field> fields;  // email subject/html/text, sms body, text
  // The `template:` message of whatsapp (name, language, params) and wechat
  // (id, url, data).
  bool has_template_message = false;
  std::string message_name;           // whatsapp name, wechat id
  std::string message_language;       // whatsapp
  std::optional<Field> message_url;   // wechat
  std::vector<Field> message_values;  // whatsapp params, wechat data

  const Field* field(std::string_view key) const;
};

struct TemplateFile {
  std::string path;
  std::string name;
  std::string locale;  // normalised ("fr-ca"); empty for the default
  std::array<std::optional<Section>, kChannelCount> sections;
};

/// Parses and compiles `text` (the contents of `path`); appends every problem
/// found to `errors` and returns nullopt if there was any.
std::optional<TemplateFile> compile_template_file(const std::string& path, std::string_view text,
                                                  const std::string& name,
                                                  const std::string& locale,
                                                  std::vector<LoadError>& errors);

}  // namespace herald::templates
