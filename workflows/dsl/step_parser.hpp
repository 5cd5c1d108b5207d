#pragma once

// Steps of a workflow; internal to herald_workflow_dsl.

#include <string>
#include <utility>
#include <vector>

#include "workflows/dsl/parser.hpp"
#include "workflows/dsl/yaml_source.hpp"

namespace herald::workflows {

class StepParser {
 public:
  StepParser(YamlSource& source, const ParseOptions& options)
      : source_(source), options_(options) {}

  /// A list of steps under `entry` (already known to be a list or reported), named from
  /// `path` (`steps`, `steps[2].then`).
  Steps parse_list(const YamlEntry& entry, const std::string& path);

 private:
  std::optional<Step> parse_step(const YAML::Node& node, const std::string& path);
  std::optional<StepAction> parse_action(const YamlEntry& action, const std::vector<YamlEntry>& all,
                                         const std::string& path);
  std::optional<StepAction> parse_send(const YamlEntry& entry);
  std::optional<StepAction> parse_wait_until(const YamlEntry& entry);
  std::optional<StepAction> parse_wait_for(const YamlEntry& entry,
                                           const std::vector<YamlEntry>& all,
                                           const std::string& path);
  std::optional<StepAction> parse_if(const YamlEntry& entry, const std::vector<YamlEntry>& all,
                                     const std::string& path);
  std::optional<StepAction> parse_split(const YamlEntry& entry, const std::string& path);
  std::optional<StepAction> parse_update(const YamlEntry& entry);
  std::optional<StepAction> parse_webhook(const YamlEntry& entry);
  std::optional<StepAction> parse_escalate(const YamlEntry& entry);

  /// YAML to TemplateData; string leaves are checked as inline templates.
  TemplateData template_data(const YAML::Node& node);
  void check_inline_template(const YAML::Node& scalar);
  void check_channel(const YAML::Node& node, const std::string& template_name, bool template_known,
                     std::vector<std::string>& channels);
  Steps branch(const std::vector<YamlEntry>& all, const char* key, const std::string& path);

  YamlSource& source_;
  const ParseOptions& options_;
  std::vector<std::pair<std::string, SourcePosition>> ids_;
};

/// Whether running this list always ends the run (an exit on every path).
bool always_exits(const Steps& steps);

}  // namespace herald::workflows
