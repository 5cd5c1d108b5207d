#pragma once
// What marketers write: the templates of templates_dir and the workflows and segments
// of workflows_dir, loaded and checked at start-up; and the routes that preview a
// template and validate a workflow.

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "templates/template_set.hpp"
#include "workflows/dsl/workflow.hpp"
#include "workflows/template_catalog_set.hpp"

namespace herald::gateway {

class Router;

struct Content {
  std::shared_ptr<const workflows::TemplateSetCatalog> catalog;  // the templates
  std::vector<std::shared_ptr<const workflows::Workflow>> workflows;
  std::vector<std::string> segments;                             // segment names
  std::vector<std::string> warnings;
};

/// The template limits of the config (templates.*, the SMS max_segments, the default zone).
templates::Limits template_limits(const config::Config& config);

/// Loads and checks everything; on any error throws std::runtime_error whose message
/// lists every finding as `FILE:LINE:COLUMN: error: MESSAGE` lines. A folder that does
/// not exist holds nothing (an empty config is valid wherever Herald starts); it is
/// reported in `warnings`.
Content load_content(const config::Config& config);

/// POST /v1/templates/{name}/preview and POST /v1/workflows/validate (admin key).
void add_content_routes(Router& router, std::shared_ptr<const Content> content);

}  // namespace herald::gateway
