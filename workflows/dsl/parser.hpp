#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "workflows/dsl/finding.hpp"
#include "workflows/dsl/template_catalog.hpp"
#include "workflows/dsl/workflow.hpp"

namespace herald::workflows {

struct ParseOptions {
  /// Known templates and their channel sections; nullptr: template names and sections
  /// are not checked.
  const TemplateCatalog* templates = nullptr;
  /// Names defined in segments.yaml; nullptr: segment names are not checked.
  const std::vector<std::string>* segments = nullptr;
};

struct ParseResult {
  /// Set only when there is no error (warnings allowed).
  std::shared_ptr<const Workflow> workflow;
  /// Every finding of the file, sorted by position.
  std::vector<Finding> findings;
};

/// Parses one workflow file's YAML. Never throws for bad input: everything wrong is a
/// finding with `file`, line and column. Thread-safe (no shared state).
ParseResult parse_workflow(std::string_view text, const std::string& file,
                           const ParseOptions& options = {});

}  // namespace herald::workflows
