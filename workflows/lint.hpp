#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "workflows/dsl/finding.hpp"
#include "workflows/dsl/template_catalog.hpp"
#include "workflows/expr/value.hpp"

namespace herald::workflows {

/// Lints one template file; supplied by the templates module when wiring the CLI.
using TemplateLinter = std::function<std::vector<Finding>(const std::string& file,
                                                          std::string_view text, bool strict)>;

struct LintOptions {
  /// Files, or folders searched recursively for `*.yaml`. The CLI passes the configured
  /// workflows_dir and templates_dir when the user gives none.
  std::vector<std::string> paths;
  /// Warnings count as errors for the exit code (they are still printed as warnings).
  bool strict = false;
  /// Known templates; nullptr: template names and channel sections are not checked.
  const TemplateCatalog* templates = nullptr;
  /// Files whose top-level key is `template` go here; unset: they are skipped.
  TemplateLinter lint_template;
  /// Where run_lint prints; nullptr: standard output.
  std::ostream* out = nullptr;
};

/// A file already in memory.
struct LintInput {
  std::string file;
  std::string text;
};

/// Lints in-memory files together: each is a workflow (top-level `workflow`), a segments
/// file (`segments`) or a template (`template`). Segment names come from every segments
/// file among the inputs; workflow ids must be unique across them. Sorted by file, line.
std::vector<Finding> lint_inputs(const std::vector<LintInput>& inputs, const LintOptions& options);

/// Reads options.paths (a missing path is an error finding) and lints them; a segments.yaml
/// beside a workflow file is read for its segment names even when not given.
std::vector<Finding> lint_paths(const LintOptions& options);

/// `herald lint [--strict] [PATHS...]`: prints `FILE:LINE:COLUMN: error|warning: MESSAGE`
/// for each finding and returns the exit code: 1 on any error (or any warning with
/// strict), else 0.
int run_lint(const LintOptions& options);

struct ValidateOptions {
  const TemplateCatalog* templates = nullptr;
  /// Defined segment names; nullptr: not checked.
  const std::vector<std::string>* segments = nullptr;
};

struct ValidationResponse {
  int status = 200;  ///< 200 valid, 422 invalid
  expr::Json body;   ///< {"valid": true} or {"valid": false, "errors": [{line, column, message}]}
};

/// POST /v1/workflows/validate: the body is one workflow's YAML text (a segments file is
/// accepted too). Warnings, when any, are listed under "warnings" in the same shape.
ValidationResponse validate_workflow(std::string_view yaml, const ValidateOptions& options = {});

}  // namespace herald::workflows
