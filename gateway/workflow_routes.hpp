#pragma once
// The workflows API of api.md: GET /v1/workflows (the loaded workflows with their
// version and active runs) and GET /v1/workflows/{id}/stats (the counters the engine, the
// delivery worker and the status webhooks keep in herald:wfstats:{ID}, see
// gateway/engine/engine.hpp), both with the admin key.
//
// Stats shape:
//   {"workflow", "version", "entered", "completed", "exited", "converted", "active",
//    "exited_by_reason": {REASON: n}, "skipped": {"active", "once", "cooldown"},
//    "steps": {STEP: {"sent", "delivered", "failed", "suppressed", "escalated",
//                     "suppressed_by_reason": {REASON: n}, "deferred_by_reason": {REASON: n}}},
//    "variants": {NAME: {"entered", "converted"}}}
// `active` (like each item's active_runs) is entered − completed − exited.

#include <functional>
#include <memory>

#include "config/config.hpp"
#include "gateway/content.hpp"

namespace herald::gateway {

class Router;

/// Re-reads the content and puts it in effect (engine included); thread safe.
using Reloader = std::function<ReloadReport()>;

/// GET /v1/workflows, GET /v1/workflows/{id}/stats and POST /v1/workflows/reload
/// (→ {"loaded": [ids], "errors": [{"file", "line", "column", "message"}]}, 200 even when
/// some files are refused: what they held before keeps running).
/// POST /v1/workflows/{id}/simulate: gateway/simulate.hpp.
void add_workflow_routes(Router& router, std::shared_ptr<const config::Config> config,
                         ContentSourcePtr content, Reloader reload);

}  // namespace herald::gateway
