#include "templates/yaml_scalar.hpp"

#include <algorithm>

#include "templates/liquid/value.hpp"

namespace herald::templates {

LineIndex::LineIndex(std::string_view text) : text_(text) {
  line_starts_.push_back(0);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') line_starts_.push_back(i + 1);
  }
}

SourcePos LineIndex::at(std::size_t offset) const {
  offset = std::min(offset, text_.size());
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  auto line = static_cast<std::size_t>(it - line_starts_.begin());
  std::size_t start = line_starts_[line - 1];
  return {static_cast<int>(line),
          static_cast<int>(utf8_length(text_.substr(start, offset - start))) + 1};
}

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

class Walker {
 public:
  Walker(std::string_view text, std::size_t value_size, std::vector<std::size_t>& out)
      : text_(text), size_(value_size), out_(out) {}

  bool full() const { return out_.size() >= size_; }
  void emit(std::size_t at, std::size_t bytes = 1) {
    for (std::size_t k = 0; k < bytes && !full(); ++k) out_.push_back(at);
  }

  // Flow scalars: plain, 'single' or "double" quoted, starting at `i`.
  void flow(std::size_t i, char quote) {
    if (quote) ++i;
    std::size_t last_content = out_.size();
    while (i < text_.size() && !full()) {
      char c = text_[i];
      if (quote && c == quote) {
        if (quote == '\'' && i + 1 < text_.size() && text_[i + 1] == '\'') {
          emit(i);
          i += 2;
          last_content = out_.size();
          continue;
        }
        return;
      }
      if (quote == '"' && c == '\\' && i + 1 < text_.size()) {
        char e = text_[i + 1];
        if (e == '\n' || e == '\r') {
          i = skip_line_break(i + 1);
          while (i < text_.size() && is_blank(text_[i])) ++i;
          continue;
        }
        std::size_t len = e == 'x' ? 4 : e == 'u' ? 6 : e == 'U' ? 10 : 2;
        std::size_t bytes = 1;
        if (len > 2) {
          char32_t cp = static_cast<char32_t>(
              std::strtoul(std::string(text_.substr(i + 2, len - 2)).c_str(), nullptr, 16));
          std::string encoded;
          append_utf8(cp, encoded);
          bytes = encoded.size();
        }
        emit(i, bytes);
        i += len;
        last_content = out_.size();
        continue;
      }
      if (c == '\n' || c == '\r') {
        // Folding: trailing blanks go, a single break is a space, each empty line a '\n'.
        if (out_.size() > last_content) out_.resize(last_content);
        std::size_t at = i;
        i = skip_line_break(i);
        int empty_lines = 0;
        while (true) {
          std::size_t j = i;
          while (j < text_.size() && is_blank(text_[j])) ++j;
          if (j < text_.size() && (text_[j] == '\n' || text_[j] == '\r')) {
            ++empty_lines;
            i = skip_line_break(j);
            continue;
          }
          i = j;
          break;
        }
        if (empty_lines == 0) {
          emit(at);
        } else {
          for (int k = 0; k < empty_lines; ++k) emit(at);
        }
        last_content = out_.size();
        continue;
      }
      emit(i);
      if (!is_blank(c)) last_content = out_.size();
      ++i;
    }
  }

  // Block scalars: `|` or `>` with optional indicators, starting at the indicator.
  void block(std::size_t i) {
    // Folded (>) and literal (|) content have the same length: a folded line
    // break becomes one space where a literal one stays a '\n'.
    ++i;
    std::size_t explicit_indent = 0;
    while (i < text_.size() && text_[i] != '\n') {
      if (text_[i] >= '1' && text_[i] <= '9')
        explicit_indent = static_cast<std::size_t>(text_[i] - '0');
      if (text_[i] == '#') break;
      ++i;
    }
    while (i < text_.size() && text_[i] != '\n') ++i;
    if (i < text_.size()) ++i;
    std::size_t indent = explicit_indent;
    while (i < text_.size() && !full()) {
      std::size_t line_end = text_.find('\n', i);
      if (line_end == std::string_view::npos) line_end = text_.size();
      std::size_t content = i;
      while (content < line_end && text_[content] == ' ') ++content;
      bool empty = content >= line_end || text_.substr(content, line_end - content) == "\r";
      if (indent == 0 && !empty) indent = content - i;
      std::size_t start = std::min(i + indent, line_end);
      if (!empty) {
        for (std::size_t k = start; k < line_end && !full(); ++k) emit(k);
      }
      emit(line_end);  // the line break (or the space it folds into)
      i = line_end + 1;
    }
  }

 private:
  std::size_t skip_line_break(std::size_t i) const {
    if (i < text_.size() && text_[i] == '\r') ++i;
    if (i < text_.size() && text_[i] == '\n') ++i;
    return i;
  }

  std::string_view text_;
  std::size_t size_;
  std::vector<std::size_t>& out_;
};

}  // namespace

ScalarPositions::ScalarPositions(const LineIndex& index, std::size_t node_offset,
                                 std::string_view value)
    : index_(index) {
  std::string_view text = index.text();
  std::size_t i = std::min(node_offset, text.size());
  // Skip a tag (!!str) or an anchor (&a) before the scalar itself.
  while (i < text.size() && (text[i] == '!' || text[i] == '&')) {
    while (i < text.size() && !is_blank(text[i]) && text[i] != '\n') ++i;
    while (i < text.size() && is_blank(text[i])) ++i;
  }
  offsets_.reserve(value.size() + 1);
  Walker walker(text, value.size(), offsets_);
  if (i < text.size()) {
    char c = text[i];
    if (c == '|' || c == '>') {
      walker.block(i);
    } else {
      walker.flow(i, c == '"' || c == '\'' ? c : '\0');
    }
  }
  std::size_t last = offsets_.empty() ? i : offsets_.back();
  while (offsets_.size() < value.size()) offsets_.push_back(last);
  offsets_.push_back(value.empty() ? i : last + 1);
}

SourcePos ScalarPositions::at(std::size_t value_offset) const {
  return index_.at(offsets_[std::min(value_offset, offsets_.size() - 1)]);
}

}  // namespace herald::templates
