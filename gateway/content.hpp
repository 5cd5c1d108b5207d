#pragma once
// What marketers write: the templates of templates_dir and the workflows and segments
// of workflows_dir, loaded and checked at start-up; and the routes that preview a
// template and validate a workflow.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "templates/template_set.hpp"
#include "workflows/dsl/finding.hpp"
#include "workflows/dsl/segments.hpp"
#include "workflows/dsl/workflow.hpp"
#include "workflows/template_catalog_set.hpp"

namespace herald::gateway {

class Router;

struct Content {
  std::shared_ptr<const workflows::TemplateSetCatalog> catalog;  // the templates
  std::vector<std::shared_ptr<const workflows::Workflow>> workflows;
  std::vector<std::string> segments;                             // segment names
  std::shared_ptr<const workflows::Segments> segment_set;        // segments.yaml, parsed
  std::vector<std::string> warnings;
};

/// The content in effect. A reload swaps it whole; a request keeps the snapshot it took.
/// Thread safe.
class ContentSource {
 public:
  explicit ContentSource(std::shared_ptr<const Content> initial) : content_(std::move(initial)) {}
  std::shared_ptr<const Content> get() const {
    std::lock_guard lock(mutex_);
    return content_;
  }
  void set(std::shared_ptr<const Content> next) {
    std::lock_guard lock(mutex_);
    content_ = std::move(next);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Content> content_;
};
using ContentSourcePtr = std::shared_ptr<ContentSource>;

/// What a reload (POST /v1/workflows/reload, SIGHUP) did.
/// Why workflows are refused with redis.cluster: true.
inline constexpr const char* kClusterWorkflows =
    "workflows do not run on a Redis Cluster yet (redis.cluster: true): their runs' "
    "messages, webhooks and conversations are not kept in the customer's slot";

struct ReloadReport {
  std::shared_ptr<const Content> content;  // the content to put in effect
  std::vector<std::string> loaded;         // workflow ids taken from their (valid) files
  std::vector<workflows::Finding> errors;  // findings of the files that were refused
};

/// Re-reads workflows_dir and templates_dir against `current`: file by file, a valid
/// workflow file replaces the workflows it held before; a file with errors is reported
/// and what it held before stays (a new file with errors adds nothing); a removed file's
/// workflows start no new runs. templates_dir is taken whole or not at all (one broken
/// template keeps every template as it was), and so is segments.yaml. Never throws for
/// the content's own mistakes.
ReloadReport reload_content(const config::Config& config, const Content& current);

/// The template limits of the config (templates.*, the SMS max_segments, the default zone).
templates::Limits template_limits(const config::Config& config);

/// Loads and checks everything; on any error throws std::runtime_error whose message
/// lists every finding as `FILE:LINE:COLUMN: error: MESSAGE` lines. A folder that does
/// not exist holds nothing (an empty config is valid wherever Herald starts); it is
/// reported in `warnings`.
Content load_content(const config::Config& config);

/// POST /v1/templates/{name}/preview and POST /v1/workflows/validate (admin key).
void add_content_routes(Router& router, ContentSourcePtr content);

}  // namespace herald::gateway
