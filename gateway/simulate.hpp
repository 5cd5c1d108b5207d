#pragma once
// Simulation of one workflow for one customer (POST /v1/workflows/{id}/simulate and
// `herald simulate`): the real engine decides, on a simulated clock, with nothing sent and
// nothing stored. The engine's writes (which would go to Redis) are read instead: timers
// it schedules are kept and fired here in time order, messages it records become `send`
// entries with their rendered content, and the send-time policies (quiet hours, frequency
// caps) are applied to them as the delivery worker would.
//
// Request: {"customer": {"id"?, "traits": {...}, "consent"?: {CHANNEL: STATUS}},
//           "events": [{"event", "properties"?, "after"?: DURATION}]}
// An addition: "start" (RFC 3339), the simulated start; default now.
// `after` is counted from the previous event (the first: from the start). The simulation
// runs until nothing is left to fire, or a year after the last event (yearly triggers
// would otherwise never end), or 1,000 timeline entries.
//
// Timeline entries: {"at": "+1h30m", "step": KIND, ...} with KIND one of
//   event      {"event"}: an event of the request, as it arrives
//   entered    {"workflow", "version"}             skipped {"reason"}
//   wait       {"name", "until"}                   webhook {"name", "method", "url", "body"}
//                                                  (assumed to answer 2xx)
//   send       {"name", "channel", "template", "rendered"}
//   suppressed {"name", "channel"?, "reason"}      deferred {"name", "reason", "until"}
//   failed     {"name", "reason"}                  escalated {"name"}
//   converted  {}    exited {"reason"}    completed {}
//
// Not simulated: `schedule` broadcasts (they need the segment's other members), the
// suppression list and a provider's own refusals. Throws ApiError 400 for a bad request.

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.hpp"

namespace herald::gateway {

struct Content;

/// The timeline of `workflow_id` (which must be in `content`) for the request's customer
/// and events; `start_ms` is the simulated start (unix ms).
nlohmann::ordered_json simulate(const config::Config& config, const Content& content,
                                const std::string& workflow_id,
                                const nlohmann::ordered_json& request, int64_t start_ms);

/// `herald simulate WORKFLOW --customer FILE --events FILE`: WORKFLOW is a workflow id of
/// workflows_dir or a path to a .yaml file; the customer file holds the request's
/// `customer` object (or a whole request), the events file its `events` array (or an
/// object with one). Prints the simulate API's JSON. Exit codes: 0, 1 (content or request
/// errors, on standard error), 2 (a file that cannot be read).
int run_simulate(const config::Config& config, const std::string& workflow,
                 const std::string& customer_file, const std::string& events_file);

}  // namespace herald::gateway
