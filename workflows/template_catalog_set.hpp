#pragma once
// The workflow loader's view of the loaded templates (TemplateCatalog over a
// TemplateSet), and the template linter that `herald lint` hands template files to.

#include "templates/template_set.hpp"
#include "workflows/dsl/template_catalog.hpp"
#include "workflows/lint.hpp"

namespace herald::workflows {

class TemplateSetCatalog final : public TemplateCatalog {
 public:
  explicit TemplateSetCatalog(templates::TemplateSet set) : set_(std::move(set)) {}
  bool has(std::string_view name) const override { return set_.has(name); }
  std::vector<std::string> channels(std::string_view name) const override {
    return set_.channels(name);
  }
  std::vector<std::string> names() const override { return set_.names(); }
  std::optional<InlineError> check_inline(std::string_view text) const override;

  const templates::TemplateSet& set() const { return set_; }

 private:
  templates::TemplateSet set_;
};

/// Lints a template file with the templates module's own loader.
TemplateLinter template_linter();

}  // namespace herald::workflows
