#pragma once

// Reading YAML with positions: every helper reports what is wrong at the line and column
// of the offending node, and keeps going so that one pass collects every finding.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workflows/dsl/finding.hpp"
#include "workflows/expr/expression.hpp"

namespace herald::workflows {

struct SourcePosition {
  int line = 1;  // from 1
  int column = 1;
};

/// A key and its value in a YAML mapping. The value of `key:` with nothing after it is a
/// null node whose own mark is unreliable; positions of values fall back to the key.
struct YamlEntry {
  YAML::Node key;
  YAML::Node value;
  std::string name;
};

class YamlSource {
 public:
  YamlSource(std::string file, std::string_view text, std::vector<Finding>& findings);

  /// The document's root, or nullopt after reporting a YAML syntax error.
  std::optional<YAML::Node> load();

  const std::string& file() const { return file_; }
  SourcePosition position(const YAML::Mark& mark) const;
  SourcePosition position(const YAML::Node& node) const;
  SourcePosition position(const YamlEntry& entry) const;  // of the value, else of the key
  /// The position of byte `offset` of a scalar's decoded value, following YAML's quoting,
  /// escapes, block scalars and line folding back to the source.
  SourcePosition scalar_position(const YAML::Node& scalar, std::size_t offset) const;

  void report(SourcePosition at, Severity severity, std::string message);
  void error(SourcePosition at, std::string message) {
    report(at, Severity::kError, std::move(message));
  }
  void warning(SourcePosition at, std::string message) {
    report(at, Severity::kWarning, std::move(message));
  }
  void error(const YAML::Node& node, std::string message) {
    error(position(node), std::move(message));
  }
  void error(const YamlEntry& entry, std::string message) {
    error(position(entry), std::move(message));
  }

  /// The entries of a mapping; reports duplicate keys, and keys not in `allowed` with a
  /// did-you-mean (`where` names the mapping in messages: "in send").
  std::vector<YamlEntry> entries(const YAML::Node& map, const std::vector<std::string>& allowed,
                                 std::string_view where);

  // Typed reads of scalar values; each reports a mismatch and returns nullopt.
  std::optional<std::string> string(const YamlEntry& entry);
  std::optional<bool> boolean(const YamlEntry& entry);
  std::optional<double> number(const YamlEntry& entry);
  /// `30s`, `15m`, `1h`, `2d`, `1w` (and combinations such as `1h30m`).
  std::optional<std::chrono::seconds> duration(const YamlEntry& entry, bool allow_negative = false);
  /// `HH:MM`, 24-hour.
  std::optional<std::pair<int, int>> time_of_day(const YamlEntry& entry);
  /// Compiles an expression, mapping syntax errors and type findings into the file. With
  /// `condition`, a result type known not to be boolean is an error.
  std::optional<expr::Expression> expression(const YamlEntry& entry, const expr::Schema& schema,
                                             bool condition);
  /// Like expression() for a scalar node without an entry (list items).
  std::optional<expr::Expression> expression(const YAML::Node& node, const expr::Schema& schema,
                                             bool condition);

  bool require_map(const YamlEntry& entry, std::string_view what);
  bool require_sequence(const YamlEntry& entry, std::string_view what);

 private:
  std::string file_;
  std::string_view text_;
  std::vector<Finding>& findings_;
};

/// The scalar's text, or "" for non-scalars.
std::string scalar_text(const YAML::Node& node);
/// A short description of a node's kind for messages: "a mapping", "a list", "nothing".
std::string node_kind(const YAML::Node& node);

}  // namespace herald::workflows
