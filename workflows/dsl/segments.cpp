#include "workflows/dsl/segments.hpp"

#include <algorithm>

namespace herald::workflows {

const Segment* Segments::find(std::string_view name) const {
  for (const auto& s : segments)
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<std::string> Segments::names() const {
  std::vector<std::string> out;
  for (const auto& s : segments) out.push_back(s.name);
  return out;
}

SegmentsResult parse_segments(std::string_view text, const std::string& file) {
  SegmentsResult result;
  YamlSource source(file, text, result.findings);
  auto root = source.load();
  Segments segments;
  if (root && !root->IsMap()) {
    source.error(SourcePosition{1, 1}, "segments.yaml is a mapping with 'segments'");
  } else if (root) {
    auto keys = source.entries(*root, {"segments"}, "segments.yaml");
    if (keys.empty()) {
      source.error(SourcePosition{1, 1}, "missing 'segments'");
    } else if (keys[0].value.IsNull()) {
      // `segments:` with nothing: no segments.
    } else if (source.require_map(keys[0], "segment names and conditions")) {
      std::vector<std::string> any_key;
      for (auto it = keys[0].value.begin(); it != keys[0].value.end(); ++it)
        any_key.push_back(scalar_text(it->first));
      for (const auto& entry : source.entries(keys[0].value, any_key, "segments")) {
        bool valid_name =
            !entry.name.empty() && std::all_of(entry.name.begin(), entry.name.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '_' || c == '-';
            });
        if (!valid_name) {
          source.error(entry.key, "segment name '" + entry.name +
                                      "' may only hold letters, digits, '_' and '-'");
          continue;
        }
        result.names.push_back(entry.name);
        auto condition = source.expression(entry, expr::Schema::segment(), true);
        if (!condition) continue;
        segments.segments.push_back(
            Segment{entry.name, std::move(*condition), source.position(entry.key)});
      }
    }
  }
  if (!has_errors(result.findings))
    result.segments = std::make_shared<const Segments>(std::move(segments));
  sort_findings(result.findings);
  return result;
}

}  // namespace herald::workflows
