#include <utility>

#include "gateway/content.hpp"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "gateway/router.hpp"
#include "workflows/dsl/parser.hpp"
#include "workflows/dsl/segments.hpp"
#include "workflows/lint.hpp"

namespace herald::gateway {
namespace asio = boost::asio;
namespace fs = std::filesystem;

templates::Limits template_limits(const config::Config& config) {
  templates::Limits limits;
  limits.max_iterations = config.templates.max_iterations;
  limits.max_output_bytes = config.templates.max_output_bytes;
  limits.default_timezone = config.policies.default_timezone;
  if (auto it = config.channels.find("sms"); it != config.channels.end()) {
    if (auto max = it->second.section["max_segments"]) {
      try {
        limits.max_sms_segments = max.as<std::size_t>();
      } catch (const std::exception&) {
        throw config::ConfigError(config::location_of(max, config.file),
                                  "channels.sms.max_segments: expected a positive integer");
      }
    }
  }
  return limits;
}

namespace {

std::string read_file(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The workflow files of a folder (segments.yaml aside), sorted.
std::vector<fs::path> workflow_files(const std::string& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().extension() == ".yaml" &&
        entry.path().filename() != "segments.yaml")
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

Content load_content(const config::Config& config) {
  Content content;
  std::string report;

  templates::TemplateSet set;
  try {
    if (fs::is_directory(config.templates_dir))
      set = templates::TemplateSet::load(config.templates_dir, template_limits(config));
    else
      content.warnings.push_back("templates_dir " + config.templates_dir +
                                 " does not exist: no templates loaded");
  } catch (const templates::TemplateLoadError& e) {
    for (const auto& error : e.errors()) report += error.to_string() + "\n";
  }
  auto catalog = std::make_shared<workflows::TemplateSetCatalog>(set);

  if (fs::is_directory(config.workflows_dir)) {
    workflows::LintOptions lint;
    lint.paths = {config.workflows_dir};
    lint.templates = report.empty() ? catalog.get() : nullptr;
    for (const auto& finding : workflows::lint_paths(lint))
      if (finding.severity == workflows::Severity::kError)
        report += workflows::format_finding(finding) + "\n";
    auto segments_file = fs::path(config.workflows_dir) / "segments.yaml";
    if (fs::exists(segments_file)) {
      auto parsed = workflows::parse_segments(read_file(segments_file), segments_file.string());
      content.segments = parsed.names;
      content.segment_set = parsed.segments;
    }
  } else {
    content.warnings.push_back("workflows_dir " + config.workflows_dir +
                               " does not exist: no workflows loaded");
  }
  if (!report.empty()) throw std::runtime_error(report);
  // The checked files, parsed for the engine (segments.yaml and templates are not workflows).
  if (fs::is_directory(config.workflows_dir)) {
    workflows::ParseOptions options;
    options.templates = catalog.get();
    options.segments = &content.segments;
    for (const auto& file : workflow_files(config.workflows_dir)) {
      auto parsed = workflows::parse_workflow(read_file(file), file.string(), options);
      if (parsed.workflow) content.workflows.push_back(std::move(parsed.workflow));
    }
  }
  if (config.redis.cluster && !content.workflows.empty())
    throw std::runtime_error(content.workflows.front()->file + ": " + kClusterWorkflows);
  if (!content.segment_set) content.segment_set = std::make_shared<const workflows::Segments>();
  content.catalog = std::move(catalog);
  return content;
}

ReloadReport reload_content(const config::Config& config, const Content& current) {
  ReloadReport report;
  auto next = std::make_shared<Content>(current);
  next->warnings.clear();

  // Templates: the whole folder, or nothing.
  if (fs::is_directory(config.templates_dir)) {
    try {
      next->catalog = std::make_shared<workflows::TemplateSetCatalog>(
          templates::TemplateSet::load(config.templates_dir, template_limits(config)));
    } catch (const templates::TemplateLoadError& e) {
      for (const auto& error : e.errors())
        report.errors.push_back({error.file, std::max(error.line, 1), std::max(error.column, 1),
                                 workflows::Severity::kError, error.message});
    }
  }

  // Every workflow file and segments.yaml, linted together (ids unique across files).
  const auto files = workflow_files(config.workflows_dir);
  std::vector<workflows::LintInput> inputs;
  for (const auto& file : files) inputs.push_back({file.string(), read_file(file)});
  const auto segments_file = fs::path(config.workflows_dir) / "segments.yaml";
  const bool has_segments = fs::exists(segments_file);
  if (has_segments) inputs.push_back({segments_file.string(), read_file(segments_file)});
  workflows::LintOptions lint;
  lint.templates = next->catalog.get();
  std::set<std::string> refused;
  for (auto& finding : workflows::lint_inputs(inputs, lint)) {
    if (finding.severity != workflows::Severity::kError) continue;
    refused.insert(finding.file);
    report.errors.push_back(std::move(finding));
  }

  if (has_segments && !refused.count(segments_file.string())) {
    auto parsed = workflows::parse_segments(inputs.back().text, segments_file.string());
    if (parsed.segments) {
      next->segments = parsed.names;
      next->segment_set = parsed.segments;
    }
  } else if (!has_segments) {
    next->segments.clear();
    next->segment_set = std::make_shared<const workflows::Segments>();
  }

  workflows::ParseOptions options;
  options.templates = next->catalog.get();
  options.segments = &next->segments;
  std::vector<std::shared_ptr<const workflows::Workflow>> workflows;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& file = inputs[i].file;
    if (refused.count(file)) {
      // What the file held before keeps running.
      for (const auto& w : current.workflows)
        if (w->file == file) workflows.push_back(w);
      continue;
    }
    auto parsed = workflows::parse_workflow(inputs[i].text, file, options);
    if (!parsed.workflow) continue;
    report.loaded.push_back(parsed.workflow->id);
    workflows.push_back(std::move(parsed.workflow));
  }
  if (config.redis.cluster && !workflows.empty()) {
    // Workflow runs write message, webhook and conversation records that are not yet
    // kept in their customer's slot: on a Redis Cluster they are refused, file by file.
    std::set<std::string> files_with_workflows;
    for (const auto& w : workflows) files_with_workflows.insert(w->file);
    for (const auto& file : files_with_workflows)
      report.errors.push_back({file, 1, 1, workflows::Severity::kError, kClusterWorkflows});
    report.loaded.clear();
    workflows.clear();
  }
  next->workflows = std::move(workflows);
  report.content = std::move(next);
  return report;
}

namespace {

Response preview(const Content& content, const Request& request) {
  auto body = Json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    throw ApiError(400, "invalid_json", "the body must be a JSON object");
  auto channel = body.value("channel", Json());
  if (!channel.is_string())
    throw ApiError(400, "invalid_request", "channel: required, one of email, sms, whatsapp, wechat, social",
                   "channel");
  const auto& channels = config::kChannels;
  if (std::find(channels.begin(), channels.end(), channel.get<std::string>()) == channels.end())
    throw ApiError(400, "invalid_request", "channel: unknown channel", "channel");
  auto locale = body.value("locale", Json());
  if (!locale.is_null() && !locale.is_string())
    throw ApiError(400, "invalid_request", "locale: expected a string", "locale");
  auto context = body.value("context", Json::object());
  if (!context.is_object())
    throw ApiError(400, "invalid_request", "context: expected an object", "context");

  const auto& name = request.params.at("name");
  const auto& set = content.catalog->set();
  if (!set.has(name)) throw ApiError(404, "not_found", "no template named " + name);
  try {
    auto rendered = set.render(name, channel.get<std::string>(),
                               locale.is_string() ? locale.get<std::string>() : std::string(),
                               context);
    return Response::json(200, rendered);
  } catch (const templates::TemplateError& e) {
    Json error{{"code", "template_error"}, {"message", e.message()}};
    if (e.kind() == templates::TemplateError::Kind::kNoSection) error["code"] = "no_section";
    if (e.line() > 0) {
      error["file"] = fs::path(e.file()).filename().string();
      error["line"] = e.line();
      error["column"] = e.column();
    }
    return Response::json(422, Json{{"error", std::move(error)}});
  }
}

}  // namespace

void add_content_routes(Router& router, ContentSourcePtr source) {
  router.add("POST", "/v1/templates/{name}/preview", Access::kAdmin,
             [source](Request& request) -> asio::awaitable<Response> {
               auto content = source->get();
               co_return preview(*content, request);
             });
  router.add("POST", "/v1/workflows/validate", Access::kAdmin,
             [source](Request& request) -> asio::awaitable<Response> {
               auto content = source->get();
               workflows::ValidateOptions options;
               options.templates = content->catalog.get();
               options.segments = &content->segments;
               auto result = workflows::validate_workflow(request.body, options);
               co_return Response::json(result.status, result.body);
             });
}

}  // namespace herald::gateway
