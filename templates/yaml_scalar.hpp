#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "templates/liquid/ast.hpp"

namespace herald::templates {

/// Line and column (from 1, in characters) of byte offsets in a file's text.
class LineIndex {
 public:
  explicit LineIndex(std::string_view text);
  SourcePos at(std::size_t offset) const;
  std::string_view text() const { return text_; }

 private:
  std::string_view text_;
  std::vector<std::size_t> line_starts_;
};

/// Where each byte of a YAML scalar's value sits in the file, so an error at
/// offset N of the value (say, in its Liquid) is reported at its real line and
/// column. Handles plain, single- and double-quoted (escapes, folding) and
/// block (`|`, `>`) scalars; `node_offset` is yaml-cpp's Mark().pos.
class ScalarPositions {
 public:
  ScalarPositions(const LineIndex& index, std::size_t node_offset, std::string_view value);
  SourcePos at(std::size_t value_offset) const;

 private:
  const LineIndex& index_;
  std::vector<std::size_t> offsets_;  // file offset of each value byte, then one past the last
};

}  // namespace herald::templates
