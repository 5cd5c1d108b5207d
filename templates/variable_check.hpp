#pragma once
// `herald lint --strict` for templates: the variables a template reads that no sample
// context defines (templates.md). Sample contexts are JSON files shaped like the context
// of `herald render` ({"customer", "event", "data"}), kept in a `samples/` folder beside
// the templates.

#include <filesystem>
#include <vector>

#include "templates/liquid/value.hpp"
#include "templates/template_error.hpp"

namespace herald::templates {

/// The sample contexts of a templates folder (`DIR/samples/*.json`); unreadable or
/// non-object files are reported in `errors`.
std::vector<Json> load_samples(const std::filesystem::path& templates_dir,
                               std::vector<LoadError>& errors);

/// One finding per variable of `file` that no sample defines. `now`, `unsubscribe_url`
/// and `run` are Herald's own and always defined. No samples at all is one finding.
std::vector<LoadError> undefined_variables(const std::filesystem::path& file,
                                           const std::vector<Json>& samples);

}  // namespace herald::templates
