#pragma once

#include <string>
#include <vector>

namespace herald::workflows {

enum class Severity { kError, kWarning };

/// One lint or load finding. Lines and columns count from 1.
struct Finding {
  std::string file;
  int line = 1;
  int column = 1;
  Severity severity = Severity::kError;
  std::string message;

  friend bool operator==(const Finding&, const Finding&) = default;
};

/// `FILE:LINE:COLUMN: error|warning: MESSAGE`, the line format of `herald lint`.
std::string format_finding(const Finding& finding);

bool has_errors(const std::vector<Finding>& findings);

/// Orders by file, line, column (stable for equal positions).
void sort_findings(std::vector<Finding>& findings);

}  // namespace herald::workflows
