#include "workflows/template_catalog_set.hpp"

#include <filesystem>

#include "templates/liquid/liquid_template.hpp"
#include "templates/variable_check.hpp"

namespace herald::workflows {

std::optional<TemplateCatalog::InlineError> TemplateSetCatalog::check_inline(
    std::string_view text) const {
  std::vector<templates::LoadError> errors;
  templates::LiquidTemplate::Options options;
  if (templates::LiquidTemplate::compile(text, options, errors) || errors.empty())
    return std::nullopt;
  // Back from line and column (in characters) to a byte offset of `text`.
  const auto& e = errors.front();
  std::size_t offset = 0;
  for (int line = 1; line < e.line && offset < text.size(); ++offset)
    if (text[offset] == '\n') ++line;
  for (int column = 1; column < e.column && offset < text.size(); ++offset)
    if ((static_cast<unsigned char>(text[offset]) & 0xC0) != 0x80) ++column;
  return InlineError{offset, e.message};
}

TemplateLinter template_linter() {
  return [](const std::string& file, std::string_view, bool strict) {
    std::vector<Finding> findings;
    for (const auto& e : templates::TemplateSet::check(file))
      findings.push_back(Finding{e.file, e.line, e.column, Severity::kError, e.message});
    if (strict && findings.empty()) {
      // Variables no sample context defines (templates.md): warnings, which --strict fails.
      std::vector<templates::LoadError> sample_errors;
      auto samples = templates::load_samples(std::filesystem::path(file).parent_path(), sample_errors);
      for (const auto& e : sample_errors)
        findings.push_back(Finding{e.file, e.line, e.column, Severity::kError, e.message});
      for (const auto& e : templates::undefined_variables(file, samples))
        findings.push_back(Finding{e.file, e.line, e.column, Severity::kWarning, e.message});
    }
    return findings;
  };
}

}  // namespace herald::workflows
