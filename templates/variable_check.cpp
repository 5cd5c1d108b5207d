#include "templates/variable_check.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "templates/template_file.hpp"

namespace herald::templates {
namespace fs = std::filesystem;

namespace {

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Whether `path` (dotted keys from the root) leads to a value in the context.
bool defined(const Json& context, const std::string& path) {
  const Json* at = &context;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto dot = path.find('.', start);
    auto key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!at->is_object()) return false;
    auto it = at->find(key);
    if (it == at->end()) return false;
    at = &*it;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return true;
}

}  // namespace

std::vector<Json> load_samples(const fs::path& templates_dir, std::vector<LoadError>& errors) {
  std::vector<Json> samples;
  auto dir = templates_dir / "samples";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return samples;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto j = Json::parse(read_all(f), nullptr, false);
    if (j.is_discarded() || !j.is_object())
      errors.push_back({f.string(), 1, 1, "a sample context must be a JSON object"});
    else
      samples.push_back(std::move(j));
  }
  return samples;
}

std::vector<LoadError> undefined_variables(const fs::path& file, const std::vector<Json>& samples) {
  std::vector<LoadError> findings;
  auto filename = file.filename().string();
  auto first_dot = filename.find('.');
  auto last_dot = filename.rfind('.');
  std::string name = filename.substr(0, first_dot);
  std::string locale =
      first_dot == last_dot ? std::string() : filename.substr(first_dot + 1, last_dot - first_dot - 1);
  std::vector<LoadError> errors;
  auto compiled = compile_template_file(file.string(), read_all(file), name, locale, errors);
  if (!compiled) return findings;  // its errors are reported by the template linter
  if (samples.empty()) {
    findings.push_back({file.string(), 1, 1,
                        "no sample contexts in " + (file.parent_path() / "samples").string() +
                            " to check the template's variables against"});
    return findings;
  }
  static const std::set<std::string> kProvided{"now", "unsubscribe_url", "run"};
  std::set<std::pair<std::string, std::pair<int, int>>> seen;
  auto check = [&](const LiquidTemplate& liquid) {
    for (auto use : liquid.variables()) {
      // `size`, `first` and `last` are Liquid's own properties of lists and strings.
      for (const char* builtin : {".size", ".first", ".last"}) {
        auto at = use.path.find(builtin);
        while (at != std::string::npos) {
          auto end = at + std::strlen(builtin);
          if (end == use.path.size() || use.path[end] == '.') {
            use.path.resize(at);
            break;
          }
          at = use.path.find(builtin, end);
        }
      }
      auto root = use.path.substr(0, use.path.find('.'));
      if (kProvided.count(root)) continue;
      bool ok = std::any_of(samples.begin(), samples.end(),
                            [&](const Json& s) { return defined(s, use.path); });
      if (ok || !seen.insert({use.path, {use.pos.line, use.pos.column}}).second) continue;
      findings.push_back({file.string(), use.pos.line, use.pos.column,
                          "no sample context defines " + use.path});
    }
  };
  for (const auto& section : compiled->sections) {
    if (!section) continue;
    for (const auto& field : section->fields) check(field.liquid);
    if (section->message_url) check(section->message_url->liquid);
    for (const auto& field : section->message_values) check(field.liquid);
  }
  return findings;
}

}  // namespace herald::templates
