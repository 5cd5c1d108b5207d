#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "templates/limits.hpp"
#include "templates/template_error.hpp"

namespace herald::templates {

/// What a channel section renders to (the preview API's JSON):
///   email     {"subject", "html"?, "text"}   (text generated from html when absent)
///   sms       {"body", "segments", "encoding"}   ("GSM-7" or "UCS-2")
///   whatsapp  {"text"?, "template"?: {"name", "language", "params": [...]}}
///   wechat    {"text"?, "template"?: {"id", "url"?, "data": {KEY: VALUE}}}
///   social    {"text"}
using RenderedContent = nlohmann::ordered_json;

/// The channels a template can have a section for, in this order.
const std::vector<std::string>& channel_names();

/// Every template of a folder, parsed and compiled once: `NAME.yaml` is the
/// default, `NAME.LOCALE.yaml` (fr, fr-CA, ...) a translation. Immutable after
/// load; render() is safe to call from many threads at once. Cheap to copy.
class TemplateSet {
 public:
  TemplateSet();

  /// Loads every *.yaml / *.yml of `dir`. Throws TemplateLoadError carrying
  /// every error of every file (file, line, column, message).
  static TemplateSet load(const std::filesystem::path& dir, Limits limits = {});

  /// Loads one template given by the path of one of its files, with its
  /// locale siblings from the same folder. Throws TemplateLoadError.
  static TemplateSet load_template_file(const std::filesystem::path& file, Limits limits = {});

  /// The errors load() would throw for `path` (a folder or one file); empty
  /// when everything compiles. For `herald lint`.
  static std::vector<LoadError> check(const std::filesystem::path& path);

  bool has(std::string_view name) const;
  std::vector<std::string> names() const;
  /// Channels the default variant has a section for ("email", "sms", ...);
  /// empty for an unknown template. A locale variant falls back to the
  /// default's section for a channel it lacks.
  std::vector<std::string> channels(std::string_view name) const;
  bool has_channel(std::string_view name, std::string_view channel) const;

  /// Renders the `channel` section of `name` for `locale` (fr-CA, else fr,
  /// else the default; empty: the context's customer.locale). Reads nothing
  /// but `context`. Throws TemplateError: kNotFound / kNoSection for an
  /// unknown template or section, kIterationLimit / kOutputLimit past the
  /// limits, kSmsSegments for an SMS longer than max_sms_segments.
  RenderedContent render(std::string_view name, std::string_view channel, std::string_view locale,
                         const nlohmann::ordered_json& context) const;

  const Limits& limits() const;

  struct Impl;

 private:
  explicit TemplateSet(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace herald::templates
