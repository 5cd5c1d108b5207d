#pragma once
// The workflow engine: starts runs on their triggers and walks their steps.
//
// Runs live in the customer's profile (field r, one active run per workflow: id, version,
// path, step, state, wake_at, entered_at, event; shared_id when its id may be an earlier
// run's), entry history in field h; both are saved by the EventProcessor with
// the customer. A `wait` (and `wait_until`) is a durable timer "wf|RUN_ID" (payload: the
// workflow id) that comes back through fire(). Everything else a step does (message
// records, stats) is appended to the caller's transaction, so it commits with the run's
// new position.
//
// Triggers. No trigger scans the customer base: each is maintained per customer by
// decide() (every event, after its changes) and by fire() (every timer of the customer):
// - event: a track event of that name whose `where` holds.
// - date: a timer "trg|WF" at the next anniversary of the date trait at `at` local time
//   (trait `timezone`, else policies.default_timezone), `offset` added in local time; 29
//   February falls on 28 February in other years; daylight-saving rules of local_time.hpp.
//   Moved when the trait or the time zone changes, set for the next year when it fires,
//   cancelled when the trait goes. A customer is scheduled on their first event or timer
//   after the workflow is loaded.
// - inactive: a timer "trg|WF" at the last such event's timestamp + `for`, moved by every
//   later one; it fires once per silence.
// - churn_risk: a timer "trg|WF" at last_order_at + g·ln(1/(1−X)) (ingest::
//   churn_crossing_time), moved by every order; at firing the crossing is checked again.
//   It fires once per crossing: the crossing instant fired is kept (h._churn.WF).
// - segment: membership of every segment of segments.yaml is evaluated on every decide()
//   and fire() of a customer (h._seg holds the customer's segments); entering one starts
//   the runs of `segment: { enters: NAME }` workflows (entry rules apply: a member does
//   not re-enter while it stays a member; after leaving it may, unless `once`). Segments
//   whose condition reads the time (`now`, days_since, churn_risk) are re-evaluated by a
//   timer "seg" at the next instant the membership changes, found by probing the
//   condition at now + 1 min · 2^k (k < 21, about two years) and bisecting to the
//   millisecond: a condition that turns and turns back between two probes is missed
//   until the customer's next event.
// - schedule: a timer "cron|WF" on the pseudo-customer "\x1ecron" (one timer in Redis,
//   fired once by the owner of its partition) at each cron tick, read in
//   policies.default_timezone. It schedules, per partition p, a broadcast timer
//   "bcast|WF|TICK" (payload: SSCAN cursor) on a pseudo-customer of that partition; each
//   firing reads one SSCAN batch of the segment's set of partition p in a Lua script
//   that schedules a timer "sched|WF|TICK" for each member (due at once) and the next
//   batch. The member's run starts when its timer fires: in the customer's order, once
//   (h.WF.tick keeps the last tick started). The first decide() or fire() of a process
//   (and of each replace()) schedules the cron timers that do not exist yet.
//
// Bookkeeping in the profile's field h (workflow ids hold only a-z, 0-9 and '-'):
//   h.WF       {last: the latest run's entry (ms), count, goal: the goal's attribution
//              record, max: the latest entry when a late event's run entered last}
//   h._timers  {TIMER_ID: due ms} of the trigger timers set ("trg|WF", "seg")
//   h._seg     [NAME, ...] the segments the customer is a member of
//   h._churn   {WF: the crossing instant (ms) that fired}
//   h._tick    {WF: the last schedule tick (ms) that started a run}
// A customer id holding \x1f (which no timer can name) gets no trigger timers and joins
// no segment set.
//
// Key layout written here:
//   herald:msg:{P}:MSGID         (MSGID naming the customer's partition P: messages.hpp)
//                                hash: o (id, customer_id, template, workflow, run, step
//                                and created_at, packed), channel, provider, status,
//                                content, reason, timeline, converted_by (JSON: workflow,
//                                run, event, at) once a goal is attributed to it
//   keys::customer_messages      list of {id, channel, workflow, run}, newest first
//   herald:deliveries            stream (id, customer) of queued messages
//   herald:wfstats:{WORKFLOW}    hash: entered, completed, exited, exited:REASON,
//                                exited:exit_when, converted, VARIANT:entered,
//                                VARIANT:converted, skipped_active, skipped_once,
//                                skipped_cooldown, unsupported,
//                                STEP:sent|failed|suppressed (STEP: the step's id,
//                                else its path)
//   herald:seg:{pN}:NAME         set: the members of segment NAME whose events go to
//                                partition N (the partition's hash tag, as its timers:
//                                a broadcast batch touches one slot of a Redis Cluster)
//   timers (gateway/timers.hpp)  "wf|RUN", "trg|WF", "seg", "sched|WF|TICK" on customers;
//                                "cron|WF" and "bcast|WF|TICK" on pseudo-customers
// A message id is derived from the run id and the step's path, and a message is recorded
// (with its list entry, delivery and stat) only if its hash does not exist yet: a step
// processed again after a crash never sends twice.
//
// Thread safety: decide() and fire() may be called from several worker threads at once,
// and replace() from any thread meanwhile.

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
#include "gateway/messages.hpp"
#include "gateway/timers.hpp"
#include "templates/template_set.hpp"
#include "workflows/dsl/segments.hpp"
#include "workflows/dsl/workflow.hpp"

namespace herald::gateway::engine {

using WorkflowPtr = std::shared_ptr<const workflows::Workflow>;

/// The delivery stream read by the delivery worker.
inline const std::string& kDeliveries = messages::kDeliveries;
inline std::string message_key(std::string_view customer_id, std::string_view message_id) {
  return messages::key(customer_id, message_id);
}
inline std::string stats_key(std::string_view workflow_id) {
  return "herald:wfstats:{" + std::string(workflow_id) + "}";
}
/// The members of a segment whose events go to partition `p`.
inline std::string segment_key(unsigned p, std::string_view segment) {
  return "herald:seg:" + keys::partition_tag(p) + ":" + std::string(segment);
}
using SegmentsPtr = std::shared_ptr<const workflows::Segments>;

/// What erasing a customer removes besides its profile: its segment memberships and its
/// timers (runs and triggers). `customer` is the state before erasure.
Commands erasure_commands(const std::string& customer_id, const CustomerState& customer,
                          unsigned partitions);

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
  /// `segments`: the parsed segments.yaml (null: none).
  Engine(std::vector<WorkflowPtr> workflows, templates::TemplateSet templates,
         const config::Config& config, const Clock& clock, SegmentsPtr segments = nullptr);
  ~Engine() override;

  /// Swaps in new workflows and templates (and segments, when given), from any thread,
  /// while decide() and fire() go on: each call works on the snapshot it started with.
  /// New runs and triggers use the new versions; runs in flight keep finding the version
  /// they started with (every version loaded since start stays known). A workflow left
  /// out stops starting runs; its trigger timers are cancelled when they are next met.
  void replace(std::vector<WorkflowPtr> workflows, templates::TemplateSet templates);
  void replace(std::vector<WorkflowPtr> workflows, templates::TemplateSet templates,
               SegmentsPtr segments);

  /// The cron timers of `schedule` workflows that do not exist yet (idempotent), for the
  /// process to write once Redis answers: an idle system starts its broadcasts too. The
  /// first decide() or fire() writes them otherwise.
  Commands startup_commands();

  void decide(const std::string& customer_id, CustomerState& customer, const ingest::Event& event,
              Commands& tx) override;
  void fire(const Timer& timer, CustomerState& customer, Commands& tx) override;
  /// False for a track event that no workflow triggers on or listens to, while no
  /// workflow is timed and no segment is defined: decide() then does nothing with the
  /// customer's traits, runs and entries. Should the workflows change before decide(),
  /// decide() asks for the whole state (CustomerState::complete()); the processor, which
  /// read only part of it, then fails the pass and reads it again whole.
  bool needs_state(const ingest::Event& event) const override;

  struct Walk;      // one step walk of one run (engine.cpp)
  struct Snapshot;  // the workflows, templates and segments in effect (engine.cpp)

 private:
  using SnapshotPtr = std::shared_ptr<const Snapshot>;
  SnapshotPtr snapshot() const;
  void install(std::vector<WorkflowPtr> workflows, templates::TemplateSet templates,
               SegmentsPtr segments);

  /// Applies the entry rules, then starts a run. False when a rule refused it.
  /// `views`, when given, are the customer's and the event's views (customer_view,
  /// event_view) as they stand; a run that starts takes them (they are moved from), a
  /// refusal leaves them as they were.
  bool enter(const Snapshot& s, const std::string& customer_id, CustomerState& customer,
             const workflows::Workflow& workflow, const ingest::Event& event, Commands& tx,
             const std::pair<nlohmann::ordered_json*, nlohmann::ordered_json*>& views = {});
  void start_run(const Snapshot& s, const std::string& customer_id, CustomerState& customer,
                 const workflows::Workflow& workflow, const ingest::Event& event, Commands& tx,
                 const std::pair<nlohmann::ordered_json*, nlohmann::ordered_json*>& views = {});
  /// Goals, exit_when and wait_for of the customer's runs for one event.
  void update_runs(const Snapshot& s, const std::string& customer_id, CustomerState& customer,
                   const ingest::Event& event, Commands& tx);
  /// Segment membership and the trigger timers of one customer, after a change.
  void maintain(const Snapshot& s, const std::string& customer_id, CustomerState& customer,
                const ingest::Event* event, Commands& tx);
  void maintain_segments(const Snapshot& s, const std::string& customer_id,
                         CustomerState& customer, int64_t now_ms, Commands& tx);
  void fire_run(const Snapshot& s, const Timer& timer, CustomerState& customer, Commands& tx);
  /// Walks a run from where it stands (after a wait, or a webhook step's outcome).
  void resume(const Snapshot& s, const std::string& customer_id, CustomerState& customer,
              const workflows::Workflow& workflow, const std::string& workflow_id,
              const nlohmann::ordered_json& run, Commands& tx);
  void fire_trigger(const Snapshot& s, const Timer& timer, CustomerState& customer,
                    Commands& tx);
  void fire_cron(const Snapshot& s, const Timer& timer, Commands& tx);
  void fire_broadcast(const Snapshot& s, const Timer& timer, Commands& tx);
  void fire_scheduled(const Snapshot& s, const Timer& timer, CustomerState& customer,
                      Commands& tx);
  /// The cron timers of schedule workflows, once per process and snapshot.
  void bootstrap(const Snapshot& s, Commands& tx);
  void walk(Walk& w);
  void send(Walk& w, const workflows::Step& step, const workflows::SendStep& send);
  void warn_unsupported(const workflows::Workflow& workflow, const workflows::Step& step);
  /// A version of a workflow, in the current snapshot (every version loaded since start).
  const workflows::Workflow* find(const std::string& id, const std::string& version) const;

  config::Config config_;
  /// The templates given at construction, for their limits() only (from the config: the
  /// same in every snapshot). Rendering goes through the walk's snapshot.
  templates::TemplateSet templates_;
  const Clock& clock_;
  std::vector<std::string> broadcasters_;  // a pseudo-customer id per partition
  mutable std::mutex snapshot_mutex_;
  SnapshotPtr snapshot_;
  std::mutex warned_mutex_;
  std::set<std::string> warned_;  // workflows whose unsupported steps were logged
};

}  // namespace herald::gateway::engine
