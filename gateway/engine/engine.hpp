#pragma once
// The workflow engine: starts runs on event triggers and walks their steps.
//
// Runs live in the customer's profile (field r, one active run per workflow, see
// run_record.hpp), entry history in field h; both are saved by the EventProcessor with
// the customer. A `wait` is a durable timer "wf|RUN_ID" (payload: the workflow id) that
// comes back through fire(). Everything else a step does (message records, stats) is
// appended to the caller's transaction, so it commits with the run's new position.
//
// Key layout written here:
//   herald:msg:{CUSTOMER}:MSGID  hash: id, customer_id, channel, provider, template,
//                                workflow, run, step, status, content, reason, timeline,
//                                converted_by (JSON: workflow, run, event, at) once a goal
//                                is attributed to it
//   keys::customer_messages      list of message JSON, newest first
//   herald:deliveries            stream (id, customer) of queued messages
//   herald:wfstats:{WORKFLOW}    hash: entered, completed, exited, exited:REASON,
//                                exited:exit_when, converted, VARIANT:entered,
//                                VARIANT:converted, skipped_active, skipped_once,
//                                skipped_cooldown, unsupported,
//                                STEP:sent|failed|suppressed (STEP: the step's id,
//                                else its path)
// A message id is derived from the run id and the step's path, and a message is recorded
// (with its list entry, delivery and stat) only if its hash does not exist yet: a step
// processed again after a crash never sends twice.
//
// Thread safety: decide() and fire() may be called from several worker threads at once.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "gateway/event_sink.hpp"
#include "gateway/keys.hpp"
#include "gateway/timers.hpp"
#include "templates/template_set.hpp"
#include "workflows/dsl/workflow.hpp"

namespace herald::gateway::engine {

using WorkflowPtr = std::shared_ptr<const workflows::Workflow>;

/// The delivery stream read by the delivery worker.
inline const std::string kDeliveries = "herald:deliveries";
inline std::string message_key(std::string_view customer_id, std::string_view message_id) {
  return "herald:msg:" + keys::tag(customer_id) + ":" + std::string(message_id);
}
inline std::string stats_key(std::string_view workflow_id) {
  return "herald:wfstats:{" + std::string(workflow_id) + "}";
}

/// `customer` as expressions and templates see it: traits, id, stats, consent (recorded,
/// else the policies.consent default in effect).
OJson customer_view(const std::string& id, const CustomerState& c, const config::Config& config,
                    int64_t now_ms);

/// The version of a workflow as shown by the API: the hex FNV-1a of its file's text.
std::string workflow_version(const workflows::Workflow& workflow);

/// The variant of a split a customer lands in: a stable hash of customer and workflow
/// ids over the weights. nullopt when no variant has a positive weight.
std::optional<std::size_t> choose_variant(const workflows::SplitStep& split,
                                          std::string_view customer_id,
                                          std::string_view workflow_id);

class Engine final : public EventSink {
 public:
  /// `workflows` may hold several versions of one id: the last one listed starts new
  /// runs, the others let runs in flight finish on the version they started with.
  Engine(std::vector<WorkflowPtr> workflows, templates::TemplateSet templates,
         const config::Config& config, const Clock& clock);

  void decide(const std::string& customer_id, CustomerState& customer, const ingest::Event& event,
              Commands& tx) override;
  void fire(const Timer& timer, CustomerState& customer, Commands& tx) override;

  struct Walk;  // one step walk of one run (engine.cpp)

 private:
  void start_run(const std::string& customer_id, CustomerState& customer,
                 const workflows::Workflow& workflow, const ingest::Event& event, Commands& tx);
  /// Goals, exit_when and wait_for of the customer's runs for one event.
  void update_runs(const std::string& customer_id, CustomerState& customer,
                   const ingest::Event& event, Commands& tx);
  void walk(Walk& w);
  void send(Walk& w, const workflows::Step& step, const workflows::SendStep& send);
  void warn_unsupported(const workflows::Workflow& workflow, const workflows::Step& step);
  const workflows::Workflow* find(const std::string& id, const std::string& version) const;

  std::vector<WorkflowPtr> current_;                                 // starting new runs
  std::map<std::string, std::map<std::string, WorkflowPtr>> by_id_;  // id -> version -> wf
  templates::TemplateSet templates_;
  config::Config config_;
  const Clock& clock_;
  std::mutex warned_mutex_;
  std::set<std::string> warned_;  // workflows whose unsupported steps were logged
};

}  // namespace herald::gateway::engine
