#pragma once
// The `webhook` step (workflows.md "Steps"): call an external system; 2xx continues,
// other answers are retried, then fail the step.
//
// The engine decides synchronously and only writes into the caller's MULTI/EXEC, so a
// webhook step is split in three:
//   1. start(): the engine renders the request (url, header values and body are inline
//      Liquid, compiled once and cached; context: customer, event, run, now), records it
//      once in a hash and queues it on the herald:webhooks stream, in the run's own
//      transaction. The run waits on the step (state "waiting", field "webhook": the
//      request id) and its position stays on the step.
//   2. The webhook worker (gateway/webhook_worker.hpp) performs the call, with retries.
//   3. The worker hands the outcome back as a timer "wh|REQUEST_ID|ok" (or "|failed"),
//      due at once, payload the workflow id. Timers are fired by the owner of the
//      customer's partition in one order with the customer's events, exactly once
//      (gateway/timers.hpp); the engine then continues after the step (2xx: STEP:sent)
//      or ends the run (exited, exited:webhook_failed, STEP:failed). An outcome for a
//      run that no longer waits on that request (it ended meanwhile, or the same outcome
//      was handed back twice) is ignored. The outcome never shows as a customer event.
//
// Ids: the request id is derived from the run id and the step's path, so the step
// processed again can never record a second request. The call carries the header
// `Idempotency-Key: REQUEST_ID`, the same on every attempt and after a crash: the call is
// made at least once (a crash after the receiver answered and before the outcome was
// recorded repeats it), and a receiver that honours the key sees it once.
//
// Keys:
//   herald:wh:{CUSTOMER}:ID  hash: id, customer_id, workflow, run, step, method, url,
//                            headers (JSON array of [name, value]), body, status
//                            (pending, succeeded, failed, cancelled), attempts,
//                            last_status (HTTP status, 0: no answer), detail, created_at,
//                            finished_at; kept 7 days once finished
//   herald:webhooks          stream (id, customer) of requests to perform, group "webhook"
// Recording a request touches the customer's hash and the global stream in one script,
// as recording a message does with herald:deliveries.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/customer_state.hpp"
#include "gateway/keys.hpp"
#include "gateway/timers.hpp"
#include "templates/limits.hpp"
#include "workflows/dsl/workflow.hpp"

namespace herald::gateway::engine::webhook {

inline const std::string kStream = "herald:webhooks";
inline const std::string kGroup = "webhook";
inline constexpr std::string_view kTimerPrefix = "wh|";
/// How long a finished request's record is kept.
inline constexpr long kKeepSeconds = 7 * 24 * 3600;

inline std::string request_key(std::string_view customer_id, std::string_view request_id) {
  return "herald:wh:" + keys::tag(customer_id) + ":" + std::string(request_id);
}

/// The request of a run's step: "h" and 16 hex digits.
std::string request_id(std::string_view run_id, std::string_view step_path);

/// A rendered request, as recorded and sent.
struct Request {
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Type included
  std::string body;                                          // empty: none
};

/// Renders a step's request. Without a Content-Type header in the step, a mapping or list
/// body is sent as application/json, a text body as application/json when it is JSON once
/// rendered, else as text/plain. `context`: customer, event, run and now. Throws
/// templates::TemplateError for a template that fails, std::invalid_argument for a url
/// that is not http(s) once rendered.
Request render(const workflows::WebhookStep& step, const OJson& context,
               const templates::Limits& limits);

/// What the engine needs to start a webhook step.
struct Start {
  const std::string& customer_id;
  const std::string& workflow_id;
  const std::string& run_id;
  const workflows::Step& step;
  const workflows::WebhookStep& hook;
  const OJson& customer;  // the `customer` view
  const OJson& event;
  const OJson& run;
  int64_t now_ms;
  const templates::Limits& limits;
};

/// Renders the request and appends its recording to `tx`. Returns the request id, or
/// nullopt when it cannot be rendered (the step fails; the reason is logged).
std::optional<std::string> start(const Start& s, Commands& tx);

/// The outcome of a call, as handed back to the engine.
struct Outcome {
  std::string request_id;
  std::string workflow_id;
  bool ok = false;
};

/// The outcome carried by a timer; nullopt when it is not a webhook outcome.
std::optional<Outcome> outcome_of(const Timer& timer);

/// The commands that hand an outcome back (a timer due at `now_ms`).
Commands outcome_commands(std::string_view customer_id, const Outcome& outcome, int64_t now_ms,
                          unsigned partitions);

/// Records the end of a request, only while it is pending. KEYS: request hash.
/// ARGV: status, last_status, detail, finished_at, seconds to keep. Returns 1 when applied.
inline constexpr const char* kFinish = R"lua(
if redis.call('HGET', KEYS[1], 'status') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'last_status', ARGV[2], 'detail', ARGV[3],
           'finished_at', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
)lua";

}  // namespace herald::gateway::engine::webhook
