#include "workflows/dsl/yaml_source.hpp"

#include <algorithm>
#include <charconv>

#include "workflows/expr/suggest.hpp"

namespace herald::workflows {
namespace {

bool is_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

std::string lower_ascii(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

}  // namespace

std::string scalar_text(const YAML::Node& node) {
  return node.IsScalar() ? node.Scalar() : "";
}

std::string node_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    default:
      return "nothing";
  }
}

YamlSource::YamlSource(std::string file, std::string_view text, std::vector<Finding>& findings)
    : file_(std::move(file)), text_(text), findings_(findings) {}

std::optional<YAML::Node> YamlSource::load() {
  try {
    YAML::Node root = YAML::Load(std::string(text_));
    return root;
  } catch (const YAML::Exception& e) {
    error(position(e.mark), "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
}

SourcePosition YamlSource::position(const YAML::Mark& mark) const {
  if (mark.line < 0) return {1, 1};
  if (mark.pos < 0 || static_cast<std::size_t>(mark.pos) > text_.size())
    return {mark.line + 1, mark.column + 1};
  // yaml-cpp counts columns in bytes; count characters, as editors do.
  auto pos = static_cast<std::size_t>(mark.pos);
  std::size_t start = text_.rfind('\n', pos == 0 ? 0 : pos - 1);
  start = start == std::string_view::npos || pos == 0 ? 0 : start + 1;
  int column = 1;
  for (std::size_t i = start; i < pos; ++i) column += !is_continuation(text_[i]);
  return {mark.line + 1, column};
}

SourcePosition YamlSource::position(const YAML::Node& node) const {
  return position(node.Mark());
}

SourcePosition YamlSource::position(const YamlEntry& entry) const {
  return entry.value.IsNull() ? position(entry.key) : position(entry.value);
}

SourcePosition YamlSource::scalar_position(const YAML::Node& scalar, std::size_t offset) const {
  auto mark = scalar.Mark();
  if (mark.pos < 0 || static_cast<std::size_t>(mark.pos) >= text_.size()) return position(scalar);
  std::size_t i = static_cast<std::size_t>(mark.pos);
  SourcePosition at = position(scalar);
  auto skip_indentation = [&] {
    while (i < text_.size() && (text_[i] == ' ' || text_[i] == '\t')) {
      ++i;
      ++at.column;
    }
  };
  auto new_line = [&] {
    ++i;
    ++at.line;
    at.column = 1;
  };
  char style = text_[i];
  std::size_t decoded = 0;
  if (style == '|' || style == '>') {
    // Block scalar: content starts on the next line, after the indentation.
    while (i < text_.size() && text_[i] != '\n') ++i;
    if (i >= text_.size()) return position(scalar);
    new_line();
    std::size_t indent = 0;
    while (i + indent < text_.size() && text_[i + indent] == ' ') ++indent;
    while (i < text_.size()) {
      std::size_t skipped = 0;
      while (skipped < indent && i < text_.size() && text_[i] == ' ') {
        ++i;
        ++skipped;
        ++at.column;
      }
      while (i < text_.size() && text_[i] != '\n') {
        if (decoded == offset) return at;
        if (!is_continuation(text_[i])) ++at.column;
        ++i;
        ++decoded;
      }
      if (decoded == offset || i >= text_.size()) return at;
      ++decoded;  // the line break
      new_line();
    }
    return at;
  }
  bool quoted = style == '\'' || style == '"';
  if (quoted) {
    ++i;
    ++at.column;
  }
  while (i < text_.size() && decoded < offset) {
    char c = text_[i];
    if (quoted && c == style) {
      if (style == '\'' && i + 1 < text_.size() && text_[i + 1] == '\'') {
        i += 2;
        at.column += 2;
        ++decoded;
        continue;
      }
      break;
    }
    if (style == '"' && c == '\\' && i + 1 < text_.size()) {
      char e = text_[i + 1];
      std::size_t width = e == 'x' ? 4 : e == 'u' ? 6 : e == 'U' ? 10 : 2;
      i += width;
      at.column += static_cast<int>(width);
      ++decoded;
      continue;
    }
    if (c == '\n') {
      // Folded: a line break and the next line's indentation read as one space.
      new_line();
      skip_indentation();
      ++decoded;
      continue;
    }
    if (!is_continuation(c)) ++at.column;
    ++i;
    ++decoded;
  }
  return at;
}

void YamlSource::report(SourcePosition at, Severity severity, std::string message) {
  findings_.push_back(Finding{file_, at.line, at.column, severity, std::move(message)});
}

std::vector<YamlEntry> YamlSource::entries(const YAML::Node& map,
                                           const std::vector<std::string>& allowed,
                                           std::string_view where) {
  std::vector<YamlEntry> out;
  if (!map.IsMap()) return out;
  for (auto it = map.begin(); it != map.end(); ++it) {
    YamlEntry entry{it->first, it->second, scalar_text(it->first)};
    if (!it->first.IsScalar()) {
      error(entry.key, "a key must be a plain name");
      continue;
    }
    bool duplicate = false;
    for (const auto& seen : out) {
      if (seen.name == entry.name) {
        auto first = position(seen.key);
        error(entry.key, "duplicate key '" + entry.name + "' (first at line " +
                             std::to_string(first.line) + ")");
        duplicate = true;
      }
    }
    if (duplicate) continue;
    if (std::find(allowed.begin(), allowed.end(), entry.name) == allowed.end()) {
      error(entry.key, "unknown key '" + entry.name + "' in " + std::string(where) +
                           expr::did_you_mean(entry.name, allowed));
      continue;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

std::optional<std::string> YamlSource::string(const YamlEntry& entry) {
  if (!entry.value.IsScalar()) {
    error(entry, "'" + entry.name + "' must be a string, not " + node_kind(entry.value));
    return std::nullopt;
  }
  return entry.value.Scalar();
}

std::optional<bool> YamlSource::boolean(const YamlEntry& entry) {
  std::string text = lower_ascii(scalar_text(entry.value));
  if (entry.value.IsScalar() && (text == "true" || text == "false")) return text == "true";
  error(entry, "'" + entry.name + "' must be true or false, not " + node_kind(entry.value));
  return std::nullopt;
}

std::optional<double> YamlSource::number(const YamlEntry& entry) {
  std::string text = scalar_text(entry.value);
  double value = 0;
  if (entry.value.IsScalar() && !text.empty()) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc() && end == text.data() + text.size()) return value;
  }
  error(entry, "'" + entry.name + "' must be a number, not " + node_kind(entry.value));
  return std::nullopt;
}

std::optional<std::chrono::seconds> YamlSource::duration(const YamlEntry& entry,
                                                         bool allow_negative) {
  std::string text = scalar_text(entry.value);
  auto parsed = entry.value.IsScalar() ? expr::parse_duration(text) : std::nullopt;
  if (!parsed) {
    error(entry, "bad duration " + node_kind(entry.value) + " for '" + entry.name +
                     "': expected a number and a unit s, m, h, d or w, like 30s, 15m, 1h, 2d, 1w");
    return std::nullopt;
  }
  if (parsed->count() < 0 && !allow_negative) {
    error(entry, "'" + entry.name + "' must not be negative");
    return std::nullopt;
  }
  return std::chrono::duration_cast<std::chrono::seconds>(*parsed);
}

std::optional<std::pair<int, int>> YamlSource::time_of_day(const YamlEntry& entry) {
  std::string t = scalar_text(entry.value);
  auto digit = [&](std::size_t i) { return t[i] >= '0' && t[i] <= '9'; };
  if (entry.value.IsScalar() && t.size() == 5 && digit(0) && digit(1) && t[2] == ':' && digit(3) &&
      digit(4)) {
    int hour = (t[0] - '0') * 10 + (t[1] - '0');
    int minute = (t[3] - '0') * 10 + (t[4] - '0');
    if (hour < 24 && minute < 60) return std::pair{hour, minute};
  }
  error(entry, "bad time of day " + node_kind(entry.value) + " for '" + entry.name +
                   "': expected \"HH:MM\" (24-hour)");
  return std::nullopt;
}

std::optional<expr::Expression> YamlSource::expression(const YamlEntry& entry,
                                                       const expr::Schema& schema, bool condition) {
  if (!entry.value.IsScalar()) {
    error(entry, "'" + entry.name + "' must be an expression, not " + node_kind(entry.value) +
                     (entry.value.IsNull() ? "" : " (quote it)"));
    return std::nullopt;
  }
  return expression(entry.value, schema, condition);
}

std::optional<expr::Expression> YamlSource::expression(const YAML::Node& node,
                                                       const expr::Schema& schema, bool condition) {
  if (!node.IsScalar()) {
    error(node, "expected an expression, not " + node_kind(node));
    return std::nullopt;
  }
  try {
    auto compiled = expr::Expression::compile(node.Scalar(), schema);
    for (const auto& d : compiled.diagnostics())
      report(scalar_position(node, d.offset),
             d.severity == expr::Severity::kError ? Severity::kError : Severity::kWarning,
             d.message);
    auto type = compiled.static_type();
    if (condition && type != expr::Type::kBool && type != expr::Type::kUnknown &&
        type != expr::Type::kNull)
      error(scalar_position(node, 0),
            std::string("the condition is ") + (type == expr::Type::kObject ? "an " : "a ") +
                std::string(expr::type_name(type)) + ", not true or false");
    return compiled;
  } catch (const expr::SyntaxError& e) {
    error(scalar_position(node, e.offset), e.message);
    return std::nullopt;
  }
}

bool YamlSource::require_map(const YamlEntry& entry, std::string_view what) {
  if (entry.value.IsMap()) return true;
  error(entry, "'" + entry.name + "' must be a mapping of " + std::string(what) + ", not " +
                   node_kind(entry.value));
  return false;
}

bool YamlSource::require_sequence(const YamlEntry& entry, std::string_view what) {
  if (entry.value.IsSequence()) return true;
  error(entry, "'" + entry.name + "' must be a list of " + std::string(what) + ", not " +
                   node_kind(entry.value));
  return false;
}

}  // namespace herald::workflows
