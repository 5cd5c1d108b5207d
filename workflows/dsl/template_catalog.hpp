#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::workflows {

/// What the workflow loader needs to know of the templates: which exist and which
/// channel sections each has. Implemented over the templates module's loaded templates
/// (and by fakes in tests). Must stay valid and unchanged while a parse uses it.
class TemplateCatalog {
 public:
  struct InlineError {
    std::size_t offset = 0;  // into the checked text
    std::string message;
  };

  virtual ~TemplateCatalog() = default;

  virtual bool has(std::string_view name) const = 0;
  /// The channel sections of a template (`email`, `sms`, …); empty when unknown.
  virtual std::vector<std::string> channels(std::string_view name) const = 0;
  /// Every template name, for did-you-mean suggestions.
  virtual std::vector<std::string> names() const { return {}; }
  /// Checks an inline Liquid template (a step's `data` strings, webhook url, headers and
  /// body, escalate note). The default accepts everything.
  virtual std::optional<InlineError> check_inline(std::string_view text) const {
    return std::nullopt;
  }
};

}  // namespace herald::workflows
