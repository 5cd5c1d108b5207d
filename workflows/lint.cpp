#include "workflows/lint.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "workflows/dsl/parser.hpp"
#include "workflows/dsl/segments.hpp"
#include "workflows/dsl/yaml_source.hpp"

namespace herald::workflows {
namespace {

namespace fs = std::filesystem;

enum class FileKind { kWorkflow, kSegments, kTemplate, kUnknown };

struct Classified {
  FileKind kind = FileKind::kUnknown;
  std::string workflow_id;  // the `workflow:` scalar, when present
  SourcePosition id_position;
};

Classified classify(const LintInput& input) {
  Classified c;
  bool named_segments = fs::path(input.file).filename() == "segments.yaml";
  try {
    YAML::Node root = YAML::Load(input.text);
    if (root.IsMap()) {
      for (auto it = root.begin(); it != root.end(); ++it) {
        std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
        if (key == "workflow") {
          c.kind = FileKind::kWorkflow;
          if (it->second.IsScalar()) {
            std::vector<Finding> unused;
            c.workflow_id = it->second.Scalar();
            c.id_position = YamlSource(input.file, input.text, unused).position(it->second);
          }
          return c;
        }
        if (key == "segments") c.kind = FileKind::kSegments;
        if (key == "template" && c.kind == FileKind::kUnknown) c.kind = FileKind::kTemplate;
      }
    }
  } catch (const YAML::Exception&) {
    // Reported by the parser chosen below.
  }
  if (c.kind == FileKind::kUnknown)
    c.kind = named_segments ? FileKind::kSegments : FileKind::kWorkflow;
  return c;
}

bool read_file(const fs::path& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  out = buffer.str();
  return true;
}

std::string display(const fs::path& p) {
  return p.lexically_normal().generic_string();
}

}  // namespace

std::vector<Finding> lint_inputs(const std::vector<LintInput>& inputs, const LintOptions& options) {
  std::vector<Finding> findings;
  std::vector<Classified> kinds;
  std::vector<std::string> segment_names;
  for (const auto& input : inputs) {
    kinds.push_back(classify(input));
    if (kinds.back().kind != FileKind::kSegments) continue;
    auto result = parse_segments(input.text, input.file);
    segment_names.insert(segment_names.end(), result.names.begin(), result.names.end());
    findings.insert(findings.end(), result.findings.begin(), result.findings.end());
  }
  ParseOptions parse_options{options.templates, &segment_names};
  std::map<std::string, std::pair<std::string, SourcePosition>> ids;  // id -> first file
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto& input = inputs[i];
    switch (kinds[i].kind) {
      case FileKind::kSegments:
        break;
      case FileKind::kTemplate:
        if (options.lint_template) {
          auto more = options.lint_template(input.file, input.text, options.strict);
          findings.insert(findings.end(), more.begin(), more.end());
        }
        break;
      case FileKind::kWorkflow:
      case FileKind::kUnknown: {
        auto result = parse_workflow(input.text, input.file, parse_options);
        findings.insert(findings.end(), result.findings.begin(), result.findings.end());
        const auto& id = kinds[i].workflow_id;
        if (id.empty()) break;
        auto [it, inserted] = ids.try_emplace(id, input.file, kinds[i].id_position);
        if (!inserted) {
          const auto& [first_file, first_at] = it->second;
          findings.push_back(Finding{input.file, kinds[i].id_position.line,
                                     kinds[i].id_position.column, Severity::kError,
                                     "duplicate workflow id '" + id + "' (also in " + first_file +
                                         ":" + std::to_string(first_at.line) + ")"});
        }
        break;
      }
    }
  }
  sort_findings(findings);
  return findings;
}

std::vector<Finding> lint_paths(const LintOptions& options) {
  std::vector<Finding> missing;
  std::vector<fs::path> files;
  for (const auto& given : options.paths) {
    fs::path path(given);
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(path, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec) && it->path().extension() == ".yaml")
          found.push_back(it->path());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(path, ec)) {
      files.push_back(path);
    } else {
      missing.push_back(Finding{given, 1, 1, Severity::kError, "no such file or directory"});
    }
  }
  // Each file once, in the order given.
  std::vector<LintInput> inputs;
  std::set<std::string> seen;
  auto add = [&](const fs::path& path, bool must_read) {
    std::error_code ec;
    auto canonical = fs::weakly_canonical(path, ec).string();
    if (!seen.insert(canonical).second) return true;
    LintInput input{display(path), {}};
    if (!read_file(path, input.text)) {
      if (must_read)
        missing.push_back(Finding{input.file, 1, 1, Severity::kError, "cannot read the file"});
      return false;
    }
    inputs.push_back(std::move(input));
    return true;
  };
  for (const auto& f : files) add(f, true);
  // A workflow given alone still sees the segments defined beside it.
  std::vector<fs::path> beside;
  for (const auto& f : files) {
    auto candidate = f.parent_path() / "segments.yaml";
    std::error_code ec;
    if (f.filename() != "segments.yaml" && fs::exists(candidate, ec)) beside.push_back(candidate);
  }
  for (const auto& f : beside) add(f, false);
  auto findings = lint_inputs(inputs, options);
  findings.insert(findings.end(), missing.begin(), missing.end());
  sort_findings(findings);
  return findings;
}

int run_lint(const LintOptions& options) {
  std::ostream& out = options.out != nullptr ? *options.out : std::cout;
  auto findings = lint_paths(options);
  bool failed = false;
  for (const auto& f : findings) {
    out << format_finding(f) << '\n';
    failed = failed || f.severity == Severity::kError || options.strict;
  }
  out.flush();
  return failed ? 1 : 0;
}

ValidationResponse validate_workflow(std::string_view yaml, const ValidateOptions& options) {
  LintInput input{"workflow.yaml", std::string(yaml)};
  std::vector<Finding> findings;
  if (classify(input).kind == FileKind::kSegments) {
    findings = parse_segments(yaml, input.file).findings;
  } else {
    ParseOptions parse_options{options.templates, options.segments};
    findings = parse_workflow(yaml, input.file, parse_options).findings;
  }
  auto list = [&](Severity severity) {
    expr::Json items = expr::Json::array();
    for (const auto& f : findings)
      if (f.severity == severity)
        items.push_back({{"line", f.line}, {"column", f.column}, {"message", f.message}});
    return items;
  };
  ValidationResponse response;
  bool valid = !has_errors(findings);
  response.status = valid ? 200 : 422;
  response.body = {{"valid", valid}};
  if (!valid) response.body["errors"] = list(Severity::kError);
  auto warnings = list(Severity::kWarning);
  if (!warnings.empty()) response.body["warnings"] = std::move(warnings);
  return response;
}

}  // namespace herald::workflows
