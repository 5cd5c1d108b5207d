#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "workflows/dsl/finding.hpp"
#include "workflows/dsl/yaml_source.hpp"
#include "workflows/expr/expression.hpp"

namespace herald::workflows {

/// A named segment of segments.yaml: a condition over `customer` and `now`.
struct Segment {
  std::string name;
  expr::Expression condition;
  SourcePosition position;
};

struct Segments {
  std::vector<Segment> segments;

  const Segment* find(std::string_view name) const;
  std::vector<std::string> names() const;
};

struct SegmentsResult {
  /// Set only when there is no error.
  std::shared_ptr<const Segments> segments;
  /// Every finding, sorted by position.
  std::vector<Finding> findings;
  /// The names of every segment that is well-formed, even when others are not, so that
  /// workflows referring to them can still be checked.
  std::vector<std::string> names;
};

/// Parses `segments: {NAME: EXPR, ...}`. Names hold letters, digits, `_` and `-`.
SegmentsResult parse_segments(std::string_view text, const std::string& file);

}  // namespace herald::workflows
