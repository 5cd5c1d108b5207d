#include "gateway/engine/engine.hpp"
#include "gateway/engine/webhook_step.hpp"
#include "gateway/engine/escalate_step.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <limits>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "gateway/engine/local_time.hpp"
#include "gateway/policies.hpp"

#include "gateway/ingest/json_dom.hpp"
#include "gateway/ingest/order_stats.hpp"
#include "gateway/ingest/timestamp.hpp"
#include "gateway/ingest/traits.hpp"
#include "gateway/log.hpp"
#include "gateway/messages.hpp"
#include "gateway/unsubscribe.hpp"
#include "gateway/metrics.hpp"
#include "templates/liquid/liquid_template.hpp"

namespace herald::gateway::engine {
namespace {

namespace wf = herald::workflows;

constexpr std::string_view kTimerPrefix = "wf|";
constexpr std::string_view kTriggerPrefix = "trg|";     // date, inactive, churn_risk
constexpr std::string_view kSegmentTimer = "seg";        // time-based segment membership
constexpr std::string_view kCronPrefix = "cron|";        // on kCronCustomer
constexpr std::string_view kBroadcastPrefix = "bcast|";  // on a partition's broadcaster
constexpr std::string_view kScheduledPrefix = "sched|";  // a member's run of a broadcast
// Pseudo-customers of the global timers: \x1e keeps them apart from real customer ids.
const std::string kCronCustomer = "\x1e" "cron";
constexpr const char* kBroadcasterPrefix = "\x1e" "bcast";
constexpr int kBroadcastBatch = 200;  // SSCAN COUNT of one broadcast firing
// Bookkeeping keys in the entry history (never workflow ids: those hold no '_').
constexpr const char* kTimersKey = "_timers";
constexpr const char* kSegmentsKey = "_seg";
constexpr const char* kChurnKey = "_churn";
constexpr const char* kTicksKey = "_tick";

// One batch of a broadcast: a timer for each member of a segment's set of one partition
// (due at once), and the next batch's timer while the scan is not over. The timers'
// buckets are timers::bucket_of() (FNV over "CUSTOMER\x1fTIMER" with the offset basis of
// keys::fnv1a, computed in four 16-bit limbs: Lua numbers are doubles).
// KEYS: the segment's set, the timer index, the timer count, the broadcast timer's
// bucket (all of partition p). ARGV: cursor, batch size, member timer id, member timer
// payload, due (ms), buckets per partition, bucket key prefix, next-batch member prefix,
// the broadcast timer's bucket number.
constexpr const char* kBroadcastBatchScript = R"lua(
local function bucket_of(s, n)
  local l0, l1, l2, l3 = 0x0383, 0x739d, 0x0fb0, 0x1465  -- 1469598103934665603
  for i = 1, #s do
    l0 = bit.bxor(l0, string.byte(s, i))
    local r0 = l0 * 0x1b3
    local r1 = l1 * 0x1b3
    local r2 = l2 * 0x1b3 + l0 * 0x100
    local r3 = l3 * 0x1b3 + l1 * 0x100
    local c = math.floor(r0 / 65536)
    l0 = r0 % 65536
    r1 = r1 + c
    c = math.floor(r1 / 65536)
    l1 = r1 % 65536
    r2 = r2 + c
    c = math.floor(r2 / 65536)
    l2 = r2 % 65536
    l3 = (r3 + c) % 65536
  end
  return ((((l3 % n) * 65536 + l2) % n * 65536 + l1) % n * 65536 + l0) % n
end
local function add(bucket_key, bucket, member, due)
  if redis.call('ZADD', bucket_key, due, member) == 1 then redis.call('INCR', KEYS[3]) end
  local s = redis.call('ZSCORE', KEYS[2], bucket)
  if not s or tonumber(s) > tonumber(due) then redis.call('ZADD', KEYS[2], due, bucket) end
end
local r = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local n = tonumber(ARGV[6])
for _, m in ipairs(r[2]) do
  local b = string.format('%d', bucket_of(m .. '\31' .. ARGV[3], n))
  add(ARGV[7] .. b, b, m .. '\31' .. ARGV[3] .. '\31' .. ARGV[4], ARGV[5])
end
if r[1] ~= '0' then add(KEYS[4], ARGV[9], ARGV[8] .. r[1], ARGV[5]) end
return #r[2]
)lua";

// Marks a message as converted, only if it exists. KEYS: message hash. ARGV: value.
constexpr const char* kMarkConverted = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'converted_by', ARGV[1])
return 1
)lua";

using keys::fnv1a;

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

/// FNV-1a with a final avalanche (fmix64): every bit of the input reaches the low bits.
uint64_t stable_hash(std::string_view text) {
  uint64_t h = fnv1a(text);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb93fe53e67d5ull;
  h ^= h >> 33;
  return h;
}

std::string rfc3339_ms(int64_t ms) {
  return ingest::format_rfc3339(ingest::Timestamp(std::chrono::milliseconds(ms)));
}

int64_t ms_of(ingest::Timestamp t) {
  return t.time_since_epoch().count();
}

OJson parse_object(const std::string& text) {
  if (text.empty() || text == "{}") return OJson::object();
  auto j = ingest::parse_stored_json(text);
  return j.is_object() ? j : OJson::object();
}

void incr(Commands& tx, const std::string& workflow, const std::string& field) {
  tx.push_back({"HINCRBY", stats_key(workflow), field, "1"});
}

}  // namespace

OJson customer_view(const std::string& id, const CustomerState& c, const config::Config& config,
                    int64_t now_ms) {
  OJson view = c.traits.is_object() ? c.traits : OJson::object();
  // An object is a vector of (const key, value) pairs, which it copies, not moves, when it
  // grows: room for the fields added below is made first.
  view.get_ref<OJson::object_t&>().reserve(view.size() + 5);
  view["id"] = id;
  view["stats"] =
      ingest::stats_to_json(c.stats, ingest::Timestamp(std::chrono::milliseconds(now_ms)),
                            config.stats.default_order_gap);
  // A channel without a recorded choice shows its policies.consent default in effect:
  // opt_out ("yes until they opt out") reads as opted_in, opt_in ("only after they opt
  // in") as opted_out.
  OJson consent = OJson::object();
  for (const auto& [channel, fallback] : config.policies.consent)
    consent[channel] = fallback == config::ConsentDefault::kOptOut ? "opted_in" : "opted_out";
  if (c.consent.is_object())
    for (auto it = c.consent.begin(); it != c.consent.end(); ++it) {
      const auto& v = it.value();
      consent[it.key()] = v.is_object() ? v.value("status", OJson()) : v;
    }
  view["consent"] = std::move(consent);
  if (!c.created_at.empty()) view["created_at"] = c.created_at;
  if (!c.updated_at.empty()) view["updated_at"] = c.updated_at;
  return view;
}

namespace {

OJson event_view(const ingest::Event& event) {
  // Built field by field: an initializer list would copy the parsed properties.
  OJson view = OJson::object();
  view.get_ref<OJson::object_t&>().reserve(3);
  view["name"] = event.event;
  view["properties"] = parse_object(event.properties);
  view["timestamp"] = ingest::format_rfc3339(event.timestamp);
  return view;
}

expr::TimePoint expr_time(int64_t ms) {
  return expr::TimePoint(std::chrono::milliseconds(ms));
}

/// A send's `data`: string leaves are Liquid templates. Throws TemplateError.
OJson render_data(const OJson& data, const OJson& context, const templates::Limits& limits) {
  if (data.is_string()) {
    std::vector<templates::LoadError> errors;
    templates::LiquidTemplate::Options options;
    options.file = "data";
    auto compiled = templates::LiquidTemplate::compile(data.get<std::string>(), options, errors);
    if (!compiled) {
      const auto& e = errors.front();
      throw templates::TemplateError(templates::TemplateError::Kind::kRender, e.file, e.line,
                                     e.column, e.message);
    }
    return compiled->render(context, limits);
  }
  if (data.is_object()) {
    OJson out = OJson::object();
    for (auto it = data.begin(); it != data.end(); ++it)
      out[it.key()] = render_data(it.value(), context, limits);
    return out;
  }
  if (data.is_array()) {
    OJson out = OJson::array();
    for (const auto& item : data) out.push_back(render_data(item, context, limits));
    return out;
  }
  return data;
}

/// A run-time error of a `where`, `if` or `update` expression: counted and logged.
void expression_failed(const std::string& workflow, const std::string& where,
                       const expr::EvalError& error) {
  static auto& failures = metrics::registry().counter(
      "herald_workflow_expression_errors_total",
      "Workflow expressions that failed at run time (a failed condition is false)");
  failures.inc();
  herald::log::get("engine")->debug("workflow {} {}: expression failed: {}", workflow, where,
                                    expr::error_kind_name(error.kind));
}

/// The steps of branch `b` of a step that has branches; nullptr if it has none.
const wf::Steps* branch_of(const wf::Step& step, std::size_t b) {
  if (const auto* s = std::get_if<wf::IfStep>(&step.action))
    return b == 0 ? &s->then_steps : b == 1 ? &s->else_steps : nullptr;
  if (const auto* s = std::get_if<wf::WaitForStep>(&step.action))
    return b == 0 ? &s->on_event : b == 1 ? &s->on_timeout : nullptr;
  if (const auto* s = std::get_if<wf::SplitStep>(&step.action))
    return b < s->variants.size() ? &s->variants[b].steps : nullptr;
  return nullptr;
}

/// The list a position [i, branch, j, branch, k, ...] points into; nullptr if invalid.
const wf::Steps* list_at(const wf::Steps& root, const std::vector<std::size_t>& path) {
  if (path.empty() || path.size() % 2 == 0) return nullptr;
  const wf::Steps* list = &root;
  for (std::size_t k = 0; k + 1 < path.size(); k += 2) {
    if (path[k] >= list->size()) return nullptr;
    list = branch_of((*list)[path[k]], path[k + 1]);
    if (!list) return nullptr;
  }
  return list;
}

std::shared_ptr<spdlog::logger> logger() {
  static auto log = herald::log::get("engine");
  return log;
}

}  // namespace

std::string workflow_version(const workflows::Workflow& workflow) {
  return hex(workflow.source_hash);
}

/// One walk through the steps of one run, from its stored position until it waits or ends.
struct Engine::Walk {
  const std::string& customer_id;
  CustomerState& customer;
  const wf::Workflow& workflow;
  Commands& tx;
  int64_t now_ms;
  OJson customer_json;  // refreshed after `update`
  OJson event_json;
  OJson run_json;  // `run` of expressions and templates
  const Snapshot* snap = nullptr;  // templates to render with (null: the constructor's)
  // The run has just started under an id no earlier run had: nothing of it is in Redis
  // yet, so its first timer is written without looking for one of the same name.
  bool fresh = false;

  OJson& run() { return customer.runs[workflow.id]; }
  std::string run_id() { return run().value("id", ""); }

  expr::Context context() const {
    expr::Context c;
    c.set(expr::Root::kCustomer, &customer_json)
        .set(expr::Root::kEvent, &event_json)
        .set(expr::Root::kRun, &run_json)
        .set_now(expr_time(now_ms));
    return c;
  }
};

namespace {

/// The goal record (in the entry history) of the walking run; nullptr if none.
OJson* goal_record(Engine::Walk& w) {
  auto h = w.customer.entries.find(w.workflow.id);
  if (h == w.customer.entries.end() || !h->is_object()) return nullptr;
  auto g = h->find("goal");
  if (g == h->end() || !g->is_object() || g->value("run", "") != w.run_id()) return nullptr;
  return &*g;
}

bool matches(const std::optional<expr::Expression>& where, const expr::Context& context,
             const std::string& workflow, const std::string& what) {
  if (!where) return true;
  expr::EvalError error;
  bool ok = where->test(context, &error);
  if (error) expression_failed(workflow, what, error);
  return ok;
}

}  // namespace

std::optional<std::size_t> choose_variant(const workflows::SplitStep& split,
                                          std::string_view customer_id,
                                          std::string_view workflow_id) {
  double total = 0;
  for (const auto& v : split.variants) total += std::max(0.0, v.weight);
  if (!(total > 0)) return std::nullopt;
  std::string key(customer_id);
  key += '\x1f';
  key += workflow_id;
  // A uniform point in [0, total) from the top 53 bits of the hash.
  double x = static_cast<double>(stable_hash(key) >> 11) / 9007199254740992.0 * total;
  double cumulative = 0;
  std::optional<std::size_t> last;
  for (std::size_t i = 0; i < split.variants.size(); ++i) {
    double weight = std::max(0.0, split.variants[i].weight);
    if (weight <= 0) continue;
    cumulative += weight;
    last = i;
    if (x < cumulative) return i;
  }
  return last;  // rounding at the top end
}

struct Engine::Snapshot {
  std::vector<WorkflowPtr> current;                                 // starting new runs
  std::map<std::string, std::map<std::string, WorkflowPtr>> by_id;  // id -> version -> wf
  templates::TemplateSet templates;
  SegmentsPtr segments;
  bool has_schedules = false;
  mutable std::atomic<bool> bootstrapped{false};  // cron timers scheduled (bootstrap())
  // Indexes of `current`, so that an event costs the workflows it concerns, not all:
  // the enabled event-triggered workflows by event name (in `current`'s order), and the
  // enabled workflows whose trigger is kept as a timer (date, inactive, churn_risk).
  std::unordered_map<std::string, std::vector<const wf::Workflow*>> on_event;
  std::vector<const wf::Workflow*> timed;
  // The event names that a run of any loaded version listens to (goal, exit_when,
  // wait_for): an event named otherwise leaves the customer's runs as they are.
  std::unordered_set<std::string> listened;

  const wf::Workflow* find(const std::string& id, const std::string& version) const {
    auto it = by_id.find(id);
    if (it == by_id.end()) return nullptr;
    auto v = it->second.find(version);
    return v == it->second.end() ? nullptr : v->second.get();
  }
};

namespace {

void listen(const wf::Steps& steps, std::unordered_set<std::string>& names) {
  for (const auto& step : steps) {
    if (const auto* wait_for = std::get_if<wf::WaitForStep>(&step.action)) {
      names.insert(wait_for->event);
      listen(wait_for->on_event, names);
      listen(wait_for->on_timeout, names);
    } else if (const auto* branch = std::get_if<wf::IfStep>(&step.action)) {
      listen(branch->then_steps, names);
      listen(branch->else_steps, names);
    } else if (const auto* split = std::get_if<wf::SplitStep>(&step.action)) {
      for (const auto& variant : split->variants) listen(variant.steps, names);
    }
  }
}

void listen(const wf::Workflow& w, std::unordered_set<std::string>& names) {
  if (w.goal) names.insert(w.goal->event);
  for (const auto& condition : w.exit_when) names.insert(condition.event);
  listen(w.steps, names);
}

}  // namespace

Engine::Engine(std::vector<WorkflowPtr> workflows, templates::TemplateSet templates,
               const config::Config& config, const Clock& clock, SegmentsPtr segments)
    : config_(config), templates_(templates), clock_(clock) {
  // A pseudo-customer per partition carries that partition's broadcast timers.
  const auto partitions = std::max(1u, config_.redis.partitions);
  broadcasters_.resize(partitions);
  std::size_t found = 0;
  for (uint64_t k = 0; found < partitions; ++k) {
    auto id = kBroadcasterPrefix + std::to_string(k);
    auto& slot = broadcasters_[keys::partition_of(id, partitions)];
    if (slot.empty()) {
      slot = std::move(id);
      ++found;
    }
  }
  install(std::move(workflows), std::move(templates), std::move(segments));
}

Engine::~Engine() = default;

void Engine::replace(std::vector<WorkflowPtr> workflows, templates::TemplateSet templates) {
  install(std::move(workflows), std::move(templates), snapshot()->segments);
}

void Engine::replace(std::vector<WorkflowPtr> workflows, templates::TemplateSet templates,
                     SegmentsPtr segments) {
  install(std::move(workflows), std::move(templates), std::move(segments));
}

void Engine::install(std::vector<WorkflowPtr> workflows, templates::TemplateSet templates,
                     SegmentsPtr segments) {
  std::lock_guard lock(snapshot_mutex_);
  auto next = std::make_shared<Snapshot>();
  if (snapshot_) next->by_id = snapshot_->by_id;  // runs in flight keep their versions
  next->templates = std::move(templates);
  next->segments = std::move(segments);
  for (auto& w : workflows) {
    if (!w) continue;
    next->by_id[w->id][workflow_version(*w)] = w;
    auto same = std::find_if(next->current.begin(), next->current.end(),
                             [&](const WorkflowPtr& c) { return c->id == w->id; });
    if (same != next->current.end())
      *same = w;
    else
      next->current.push_back(w);
  }
  for (const auto& [id, versions] : next->by_id)
    for (const auto& [version, w] : versions) listen(*w, next->listened);
  for (const auto& w : next->current) {
    next->has_schedules = next->has_schedules || std::holds_alternative<wf::ScheduleTrigger>(w->trigger);
    if (!w->enabled) continue;
    if (const auto* e = std::get_if<wf::EventTrigger>(&w->trigger))
      next->on_event[e->event].push_back(w.get());
    else if (std::holds_alternative<wf::DateTrigger>(w->trigger) ||
             std::holds_alternative<wf::InactiveTrigger>(w->trigger) ||
             std::holds_alternative<wf::ChurnRiskTrigger>(w->trigger))
      next->timed.push_back(w.get());
  }
  snapshot_ = std::move(next);
}

Engine::SnapshotPtr Engine::snapshot() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

const workflows::Workflow* Engine::find(const std::string& id, const std::string& version) const {
  // Versions are never dropped: the pointer stays valid with the latest snapshot.
  return snapshot()->find(id, version);
}

namespace {

/// Engine::needs_state under snapshot `s`.
bool needs_state_in(const Engine::Snapshot& s, const ingest::Event& event) {
  if (!s.timed.empty() || (s.segments && !s.segments->segments.empty())) return true;
  if (event.type != ingest::EventType::kTrack) return true;
  return s.listened.count(event.event) || s.on_event.count(event.event);
}

}  // namespace

bool Engine::needs_state(const ingest::Event& event) const {
  return needs_state_in(*snapshot(), event);
}

void Engine::decide(const std::string& customer_id, CustomerState& customer,
                    const ingest::Event& event, Commands& tx) {
  const auto snap = snapshot();
  const auto& s = *snap;
  // The workflows may have changed since the processor asked needs_state().
  if (customer.partial && needs_state_in(s, event)) customer.complete();
  bootstrap(s, tx);
  if (event.type == ingest::EventType::kTrack) {
    const auto now_ms = clock_.now_ms();
    // Runs already there see the event first: goals, exit_when, wait_for. A run this
    // event starts does not.
    if ((!customer.runs.empty() || !customer.entries.empty()) && s.listened.count(event.event))
      update_runs(s, customer_id, customer, event, tx);
    OJson customer_json;
    OJson event_json;
    bool built = false;
    auto concerned = s.on_event.find(event.event);
    static const std::vector<const wf::Workflow*> none;
    for (const auto* workflow : concerned == s.on_event.end() ? none : concerned->second) {
      const auto* trigger = std::get_if<wf::EventTrigger>(&workflow->trigger);
      if (!built) {
        customer_json = customer_view(customer_id, customer, config_, now_ms);
        event_json = event_view(event);
        built = true;
      }
      if (trigger->where) {
        expr::Context context;
        context.set(expr::Root::kCustomer, &customer_json)
            .set(expr::Root::kEvent, &event_json)
            .set_now(expr_time(now_ms));
        expr::EvalError error;
        if (!trigger->where->test(context, &error)) {
          if (error) expression_failed(workflow->id, "trigger", error);
          continue;
        }
      }
      // A run that starts takes the views; its steps may also have updated the traits:
      // the next workflow sees them anew.
      if (enter(s, customer_id, customer, *workflow, event, tx, {&customer_json, &event_json}))
        built = false;
    }
  }
  maintain(s, customer_id, customer, &event, tx);
}

bool Engine::enter(const Snapshot& s, const std::string& customer_id, CustomerState& customer,
                   const workflows::Workflow& workflow, const ingest::Event& event, Commands& tx,
                   const std::pair<OJson*, OJson*>& views) {
  if (customer.runs.contains(workflow.id)) {
    incr(tx, workflow.id, "skipped_active");
    return false;
  }
  if (auto h = customer.entries.find(workflow.id); h != customer.entries.end()) {
    if (workflow.entry.once) {
      incr(tx, workflow.id, "skipped_once");
      return false;
    }
    if (workflow.entry.cooldown) {
      auto last = h->value("last", int64_t{0});
      auto cooldown_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(*workflow.entry.cooldown).count();
      if (ms_of(event.timestamp) - last < cooldown_ms) {
        incr(tx, workflow.id, "skipped_cooldown");
        return false;
      }
    }
  }
  start_run(s, customer_id, customer, workflow, event, tx, views);
  return true;
}

void Engine::update_runs(const Snapshot& s, const std::string& customer_id,
                         CustomerState& customer, const ingest::Event& event, Commands& tx) {
  const auto now_ms = clock_.now_ms();
  const auto event_ms = ms_of(event.timestamp);
  // The customer's and the event's views are built when a condition first needs them.
  OJson customer_json;
  OJson event_json;
  bool viewed = false;
  auto view = [&] {
    if (viewed) return;
    customer_json = customer_view(customer_id, customer, config_, now_ms);
    event_json = event_view(event);
    viewed = true;
  };
  auto context_for = [&](const OJson& run_json) {
    view();
    expr::Context c;
    c.set(expr::Root::kCustomer, &customer_json)
        .set(expr::Root::kEvent, &event_json)
        .set(expr::Root::kRun, &run_json)
        .set_now(expr_time(now_ms));
    return c;
  };

  // Goals: counted once per run within `within` of its entry, even after it has ended.
  std::vector<std::string> ids;
  for (auto it = customer.entries.begin(); it != customer.entries.end(); ++it)
    ids.push_back(it.key());
  for (const auto& id : ids) {
    auto& history = customer.entries[id];
    if (!history.is_object() || !history.contains("goal")) continue;
    auto& goal = history["goal"];
    if (!goal.is_object() || goal.value("converted", false)) continue;
    const auto* workflow = s.find(id, goal.value("version", ""));
    if (!workflow || !workflow->goal) {
      history.erase("goal");
      continue;
    }
    const auto& spec = *workflow->goal;
    const auto entered = goal.value("entered", int64_t{0});
    const auto run_id = goal.value("run", "");
    auto active = customer.runs.find(id);
    bool run_active =
        active != customer.runs.end() && active->is_object() && active->value("id", "") == run_id;
    if (spec.within) {
      auto within_ms = std::chrono::duration_cast<std::chrono::milliseconds>(*spec.within).count();
      if (event_ms - entered > within_ms) {
        history.erase("goal");  // the window has passed
        continue;
      }
    } else if (!run_active) {  // no `within`: only while the run is active
      history.erase("goal");
      continue;
    }
    if (spec.event != event.event || event_ms < entered) continue;
    OJson run_json{{"workflow", id},
                   {"variant", goal.value("variant", OJson())},
                   {"entered_at", rfc3339_ms(entered)}};
    if (!matches(spec.where, context_for(run_json), id, "goal")) continue;
    goal["converted"] = true;
    incr(tx, id, "converted");
    if (goal["variant"].is_string())
      incr(tx, id, goal["variant"].get<std::string>() + ":converted");
    if (goal["message"].is_string()) {
      OJson by{{"workflow", id},
               {"run", run_id},
               {"event", event.event},
               {"at", ingest::format_rfc3339(event.timestamp)}};
      if (!event.message_id.empty()) by["message_id"] = event.message_id;
      tx.push_back({"EVAL", kMarkConverted, "1",
                    message_key(customer_id, goal["message"].get<std::string>()), by.dump()});
    }
  }

  // exit_when, then wait_for.
  ids.clear();
  for (auto it = customer.runs.begin(); it != customer.runs.end(); ++it) ids.push_back(it.key());
  for (const auto& id : ids) {
    auto found = customer.runs.find(id);
    if (found == customer.runs.end() || !found->is_object()) continue;
    const auto* workflow = s.find(id, found->value("version", ""));
    if (!workflow) continue;  // ended by its timer (version_unavailable)
    OJson run_json{{"workflow", id},
                   {"variant", found->value("variant", OJson())},
                   {"entered_at", found->value("entered_at", "")}};
    const auto waiting = found->value("state", "") == "waiting";
    const auto timer_id = std::string(kTimerPrefix) + found->value("id", "");
    bool exit = false;
    for (const auto& condition : workflow->exit_when) {
      if (condition.event != event.event) continue;
      if (matches(condition.where, context_for(run_json), id, "exit_when")) {
        exit = true;
        break;
      }
    }
    if (exit) {
      if (waiting)
        for (auto& c : cancel_timer(customer_id, timer_id, config_.redis.partitions))
          tx.push_back(std::move(c));
      customer.runs.erase(id);
      incr(tx, id, "exited");
      incr(tx, id, "exited:exit_when");
      continue;
    }
    if (!waiting || found->value("awaiting", "") != event.event) continue;
    auto path = (*found)["path"].get<std::vector<std::size_t>>();
    const auto* list = list_at(workflow->steps, path);
    const auto* wait_for = list && path.back() < list->size()
                               ? std::get_if<wf::WaitForStep>(&(*list)[path.back()].action)
                               : nullptr;
    if (!wait_for) continue;
    if (!matches(wait_for->where, context_for(run_json), id, (*list)[path.back()].name)) continue;
    // The awaited event arrived: cancel the timeout and go into on_event.
    for (auto& c : cancel_timer(customer_id, timer_id, config_.redis.partitions))
      tx.push_back(std::move(c));
    view();
    auto& run = *found;
    run.erase("awaiting");
    run["state"] = "running";
    run["wake_at"] = nullptr;
    run["event"] = event_json;  // the awaited event is `event` from here on
    path.push_back(0);
    path.push_back(0);
    run["path"] = path;
    Walk w{customer_id, customer, *workflow, tx, now_ms, customer_json, event_json, run_json};
    w.snap = &s;
    walk(w);
    customer_json = customer_view(customer_id, customer, config_, now_ms);  // after updates
  }
}

void Engine::start_run(const Snapshot& s, const std::string& customer_id,
                       CustomerState& customer, const workflows::Workflow& workflow,
                       const ingest::Event& event, Commands& tx,
                       const std::pair<OJson*, OJson*>& views) {
  const auto now_ms = clock_.now_ms();
  OJson event_json = views.second ? std::move(*views.second) : event_view(event);
  // The entry time is the event's: processing the same event again yields the same run id.
  const auto entered_ms = ms_of(event.timestamp);
  const auto run_id =
      hex(fnv1a(customer_id + '\x1f' + workflow.id + '\x1f' + std::to_string(entered_ms)));
  // Field by field: an initializer list would copy the event once more.
  OJson run = OJson::object();
  run.get_ref<OJson::object_t&>().reserve(9);
  run["id"] = run_id;
  run["version"] = workflow_version(workflow);
  run["path"] = OJson::array({0});
  run["step"] = "";
  run["state"] = "running";
  run["wake_at"] = nullptr;
  run["entered_at"] = rfc3339_ms(entered_ms);
  run["event"] = event_json;
  auto& history = customer.entries[workflow.id];
  if (!history.is_object()) history = OJson::object();
  // The run id is new unless an earlier run of this workflow entered at this time or
  // later: entries come in time order, so "max" (the latest entry, kept only while a
  // late event's entry is the last one) is rarely written. A run that may share an
  // earlier run's id records its messages with the script that skips an existing one.
  const auto none = std::numeric_limits<int64_t>::min();
  const auto latest = std::max(history.value("last", none), history.value("max", none));
  const bool new_id = entered_ms > latest;
  if (!new_id) run["shared_id"] = true;
  customer.runs[workflow.id] = std::move(run);
  if (latest > entered_ms) history["max"] = latest;
  else history.erase("max");
  history["last"] = entered_ms;
  history["count"] = history.value("count", int64_t{0}) + 1;
  // The goal window outlives the run: a conversion counts within `within` of the entry
  // even after the run has ended (a control variant ends at once). One record per
  // workflow: a new run's entry replaces the previous run's.
  if (workflow.goal)
    history["goal"] = OJson{{"run", run_id},         {"version", workflow_version(workflow)},
                            {"entered", entered_ms}, {"variant", nullptr},
                            {"message", nullptr},    {"converted", false}};
  else
    history.erase("goal");
  incr(tx, workflow.id, "entered");

  Walk w{
      customer_id,
      customer,
      workflow,
      tx,
      now_ms,
      views.first ? std::move(*views.first) : customer_view(customer_id, customer, config_, now_ms),
      std::move(event_json),
      OJson{
          {"workflow", workflow.id}, {"variant", nullptr}, {"entered_at", rfc3339_ms(entered_ms)}}};
  w.snap = &s;
  w.fresh = new_id;
  walk(w);
}

void Engine::fire_run(const Snapshot& s, const Timer& timer, CustomerState& customer,
                      Commands& tx) {
  if (auto outcome = webhook::outcome_of(timer)) {
    // A webhook step's call ended: continue after the step, or end the run.
    auto found = customer.runs.find(outcome->workflow_id);
    if (found == customer.runs.end() || !found->is_object()) return;  // ended meanwhile
    auto& run = *found;
    if (run.value("webhook", "") != outcome->request_id || run.value("state", "") != "waiting")
      return;  // not waiting for this call (any more)
    const auto step_name = run.value("step", "");
    const auto* workflow = s.find(outcome->workflow_id, run.value("version", ""));
    auto path = run["path"].get<std::vector<std::size_t>>();
    if (!workflow || path.empty() || !outcome->ok) {
      customer.runs.erase(outcome->workflow_id);
      incr(tx, outcome->workflow_id, "exited");
      incr(tx, outcome->workflow_id, workflow ? "exited:webhook_failed" : "exited:version_unavailable");
      if (workflow) incr(tx, outcome->workflow_id, step_name + ":failed");
      return;
    }
    incr(tx, outcome->workflow_id, step_name + ":sent");
    run.erase("webhook");
    run["state"] = "running";
    ++path.back();
    run["path"] = path;
    resume(s, timer.customer_id, customer, *workflow, outcome->workflow_id, run, tx);
    return;
  }
  if (timer.id.rfind(kTimerPrefix, 0) != 0) return;
  const auto& workflow_id = timer.payload;
  auto found = customer.runs.find(workflow_id);
  if (found == customer.runs.end() || !found->is_object()) return;  // ended meanwhile
  auto& run = *found;
  if (run.value("id", "") != timer.id.substr(kTimerPrefix.size()) ||
      run.value("state", "") != "waiting")
    return;  // a stale timer of an earlier run
  const auto* workflow = s.find(workflow_id, run.value("version", ""));
  if (!workflow) {
    logger()->warn("workflow {}: version {} of a waiting run is no longer loaded; run ended",
                   workflow_id, run.value("version", ""));
    customer.runs.erase(workflow_id);
    incr(tx, workflow_id, "exited");
    incr(tx, workflow_id, "exited:version_unavailable");
    return;
  }
  run["state"] = "running";
  run["wake_at"] = nullptr;
  if (run.contains("awaiting")) {  // a wait_for timed out: into on_timeout
    run.erase("awaiting");
    auto path = run["path"].get<std::vector<std::size_t>>();
    path.push_back(1);
    path.push_back(0);
    run["path"] = path;
  }
  resume(s, timer.customer_id, customer, *workflow, workflow_id, run, tx);
}

void Engine::resume(const Snapshot& s, const std::string& customer_id, CustomerState& customer,
                    const workflows::Workflow& workflow, const std::string& workflow_id,
                    const OJson& run, Commands& tx) {
  const auto now_ms = clock_.now_ms();
  OJson run_json{{"workflow", workflow_id},
                 {"variant", run.value("variant", OJson())},
                 {"entered_at", run.value("entered_at", "")}};
  Walk w{customer_id,
         customer,
         workflow,
         tx,
         now_ms,
         customer_view(customer_id, customer, config_, now_ms),
         run.value("event", OJson::object()),
         std::move(run_json)};
  w.snap = &s;
  walk(w);
}

void Engine::walk(Walk& w) {
  auto finish = [&](const std::string& outcome, const std::string& reason) {
    w.customer.runs.erase(w.workflow.id);
    incr(w.tx, w.workflow.id, outcome);
    if (!reason.empty()) incr(w.tx, w.workflow.id, outcome + ":" + reason);
  };
  // The run waits for its timer "wf|RUN" at `due`; a customer id no timer can name ends it.
  auto sleep_until = [&](int64_t due) {
    auto& run = w.run();
    run["state"] = "waiting";
    run["wake_at"] = rfc3339_ms(due);
    Commands schedule;
    try {
      const auto timer_id = std::string(kTimerPrefix) + w.run_id();
      schedule = w.fresh ? schedule_new_timer(w.customer_id, timer_id, due, w.workflow.id,
                                              config_.redis.partitions)
                         : schedule_timer(w.customer_id, timer_id, due, w.workflow.id,
                                          config_.redis.partitions);
      w.fresh = false;
    } catch (const std::invalid_argument&) {
      logger()->error("workflow {}: run {} cannot wait: unusable customer id; run ended",
                      w.workflow.id, w.run_id());
      return finish("exited", "timer_refused");
    }
    for (auto& c : schedule) w.tx.push_back(std::move(c));
  };
  for (;;) {
    auto path = w.run()["path"].get<std::vector<std::size_t>>();
    // Resolve the list the position points into: [i, branch, j, branch, k, ...].
    const wf::Steps* list = list_at(w.workflow.steps, path);
    if (!list) {
      logger()->error("workflow {}: run {} has an invalid position; run ended", w.workflow.id,
                      w.run_id());
      return finish("exited", "invalid_position");
    }
    auto advance = [&] {
      ++path.back();
      w.run()["path"] = path;
    };
    if (path.back() >= list->size()) {
      if (path.size() == 1) return finish("completed", "");
      path.pop_back();
      path.pop_back();
      advance();
      continue;
    }
    const auto& step = (*list)[path.back()];
    w.run()["step"] = step.name;
    const auto& action = step.action;
    if (const auto* wait = std::get_if<wf::WaitStep>(&action)) {
      auto due =
          w.now_ms + std::chrono::duration_cast<std::chrono::milliseconds>(wait->duration).count();
      advance();
      return sleep_until(due);
    }
    if (const auto* branch = std::get_if<wf::IfStep>(&action)) {
      expr::EvalError error;
      bool taken = branch->condition.test(w.context(), &error);
      if (error) expression_failed(w.workflow.id, step.name, error);
      path.push_back(taken ? 0 : 1);
      path.push_back(0);
      w.run()["path"] = path;
      continue;
    }
    if (const auto* update = std::get_if<wf::UpdateStep>(&action)) {
      OJson changes = OJson::object();
      {
        auto context = w.context();
        for (const auto& u : update->set) {
          expr::EvalError error;
          changes[u.trait] = u.value.evaluate(context, &error).to_json();
          if (error) expression_failed(w.workflow.id, step.name, error);
        }
      }
      merge_traits(w.customer.traits, changes);
      w.customer.traits_changed = true;
      w.customer_json = customer_view(w.customer_id, w.customer, config_, w.now_ms);
      advance();
      continue;
    }
    if (const auto* exit = std::get_if<wf::ExitStep>(&action)) {
      return finish("exited", exit->reason);
    }
    if (const auto* message = std::get_if<wf::SendStep>(&action)) {
      send(w, step, *message);
      advance();
      continue;
    }
    if (const auto* split = std::get_if<wf::SplitStep>(&action)) {
      auto chosen = choose_variant(*split, w.customer_id, w.workflow.id);
      if (!chosen) {  // no variant with a positive weight
        advance();
        continue;
      }
      const auto& name = split->variants[*chosen].name;
      w.run()["variant"] = name;
      w.run_json["variant"] = name;
      if (auto* goal = goal_record(w)) (*goal)["variant"] = name;
      incr(w.tx, w.workflow.id, name + ":entered");
      path.push_back(*chosen);
      path.push_back(0);
      w.run()["path"] = path;
      continue;
    }
    if (const auto* wait_for = std::get_if<wf::WaitForStep>(&action)) {
      // The position stays on the wait_for: an event enters on_event, the timer on_timeout.
      auto due = w.now_ms +
                 std::chrono::duration_cast<std::chrono::milliseconds>(wait_for->timeout).count();
      w.run()["awaiting"] = wait_for->event;
      return sleep_until(due);
    }
    if (const auto* until = std::get_if<wf::WaitUntilStep>(&action)) {
      // The next such local time of the customer (local_time.hpp: daylight-saving rules).
      const auto* zone = zone_or(policies::timezone_of(w.customer.traits, config_.policies),
                                 config_.policies.default_timezone);
      auto due = next_local_time(until->at, until->days, zone, w.now_ms);
      advance();
      if (!due) continue;  // no listed day (cannot happen: days are weekdays)
      return sleep_until(*due);
    }
    if (const auto* hook = std::get_if<wf::WebhookStep>(&action)) {
      // The webhook worker makes the call; the run waits here for its outcome, which
      // comes back through fire() (webhook_step.hpp).
      const auto run_id = w.run_id();
      auto request = webhook::start({w.customer_id, w.workflow.id, run_id, step, *hook,
                                     w.customer_json, w.event_json, w.run_json, w.now_ms,
                                     (w.snap ? w.snap->templates : templates_).limits()},
                                    w.tx);
      if (!request) {
        incr(w.tx, w.workflow.id, step.name + ":failed");
        return finish("exited", "webhook_failed");
      }
      auto& run = w.run();
      run["state"] = "waiting";
      run["webhook"] = *request;
      return;
    }
    if (const auto* escalate = std::get_if<wf::EscalateStep>(&action)) {
      // Opens (or escalates) the customer's conversation for agents (escalate_step.hpp).
      const auto run_id = w.run_id();
      const bool added = escalate::add({w.customer_id, w.workflow.id, run_id, step, *escalate,
                                        w.customer.traits, w.customer_json, w.event_json,
                                        w.run_json, w.now_ms, templates_.limits()},
                                       w.tx);
      incr(w.tx, w.workflow.id, step.name + (added ? ":escalated" : ":failed"));
      advance();
      continue;
    }
    // Every step kind is handled above; one added to the DSL later is skipped and counted.
    warn_unsupported(w.workflow, step);
    incr(w.tx, w.workflow.id, "unsupported");
    advance();
  }
}

void Engine::send(Walk& w, const workflows::Step& step, const workflows::SendStep& message) {
  const auto& templates = w.snap ? w.snap->templates : templates_;
  const auto run_id = w.run_id();
  // The id names the customer's partition: GET /v1/messages/{id} finds the message
  // without an index entry to write.
  const auto message_id =
      messages::partitioned_id("m" + hex(fnv1a(run_id + '|' + step.path)), w.customer_id);
  const auto addresses = ingest::channel_addresses(w.customer.traits);
  // The listed channels the customer can receive, in order: an address, and consent
  // (recorded, else the channel's policies.consent default, as customer.consent shows
  // it). The first is sent; the others, rendered now, are its fallbacks.
  auto provider_of = [this](const std::string& c) {
    auto it = config_.channels.find(c);
    return it == config_.channels.end() ? std::string("outbox") : it->second.provider;
  };
  std::vector<std::string> eligible;
  std::string refusal = "no_address";
  const auto& consent = w.customer_json["consent"];
  for (const auto& candidate : message.channels) {
    auto has = std::any_of(addresses.begin(), addresses.end(),
                           [&](const ingest::ChannelAddress& a) { return a.channel == candidate; });
    if (!has) continue;
    if (consent.value(candidate, std::string()) != "opted_in") {
      refusal = "consent";
      continue;
    }
    eligible.push_back(candidate);
  }
  std::optional<std::string> channel;
  std::string status = "queued";
  std::string reason;
  OJson content;
  OJson fallback = OJson::array();
  if (eligible.empty()) {
    status = "suppressed";
    reason = refusal;
  } else {
    // The walk's views are lent to the templates' context, not copied, and given back
    // however rendering ends.
    OJson context = OJson::object();
    context.get_ref<OJson::object_t&>().reserve(6);  // growing would copy what is lent
    context["customer"] = std::move(w.customer_json);
    context["event"] = std::move(w.event_json);
    context["run"] = std::move(w.run_json);
    context["now"] = rfc3339_ms(w.now_ms);
    struct GiveBack {
      Walk& w;
      OJson& context;
      ~GiveBack() {
        w.customer_json = std::move(context["customer"]);
        w.event_json = std::move(context["event"]);
        w.run_json = std::move(context["run"]);
      }
    } give_back{w, context};
    try {
      context["data"] = render_data(message.data, context, templates.limits());
    } catch (const std::exception& e) {
      status = "failed";
      reason = std::string("template_error: ") + e.what();
    }
    for (const auto& candidate : eligible) {
      if (status == "failed") break;
      try {
        context["unsubscribe_url"] = unsubscribe_url(config_, w.customer_id, candidate);
        auto rendered = templates.render(message.template_name, candidate, "", context);
        if (!channel) {
          channel = candidate;
          content = std::move(rendered);
        } else {
          fallback.push_back(OJson{{"channel", candidate},
                                   {"provider", provider_of(candidate)},
                                   {"content", std::move(rendered)}});
        }
      } catch (const std::exception& e) {  // TemplateError
        if (!channel) {
          status = "failed";
          reason = std::string("template_error: ") + e.what();
          channel = candidate;
        }
        logger()->warn("workflow {} step {}: template {} failed on {}: {}", w.workflow.id,
                       step.name, message.template_name, candidate, e.what());
      }
    }
  }
  if (auto* goal = goal_record(w)) (*goal)["message"] = message_id;
  messages::NewMessage m;
  m.id = message_id;
  m.customer_id = w.customer_id;
  m.channel = channel.value_or("");
  m.provider = channel ? provider_of(*channel) : std::string();
  m.template_name = message.template_name;
  m.workflow = w.workflow.id;
  m.run = run_id;
  m.step = step.name;
  m.status = status;
  m.reason = reason;
  m.at = rfc3339_ms(w.now_ms);
  m.content = ingest::dump_json(content);
  m.fallback = ingest::dump_json(fallback);
  m.stats_key = stats_key(w.workflow.id);
  m.stats_field = step.name + ":" + (status == "queued" ? std::string("sent") : status);
  // A run's message ids are new with its run id (a step is walked once a run).
  if (w.run().value("shared_id", false)) {
    w.tx.push_back(messages::record_command(m));
  } else {
    for (auto& command : messages::record_new_commands(m)) w.tx.push_back(std::move(command));
  }
}

void Engine::warn_unsupported(const workflows::Workflow& workflow, const workflows::Step& step) {
  std::lock_guard lock(warned_mutex_);
  if (!warned_.insert(workflow.id).second) return;
  logger()->warn("workflow {}: step {} ({}) is not supported yet and is skipped", workflow.id,
                 step.name, step.kind());
}

// ---- triggers ---------------------------------------------------------------------------

namespace {

std::string trigger_timer(const std::string& workflow_id) {
  return std::string(kTriggerPrefix) + workflow_id;
}

/// A run's entering event for a trigger that is not an event: named after the trigger.
ingest::Event trigger_event(const std::string& customer_id, std::string name, int64_t at_ms,
                            const OJson& properties) {
  ingest::Event e;
  e.type = ingest::EventType::kTrack;
  e.user_id = customer_id;
  e.event = std::move(name);
  e.properties = properties.dump();
  e.traits = "{}";
  e.context = "{}";
  e.integrations = "{}";
  e.timestamp = ingest::Timestamp(std::chrono::milliseconds(at_ms));
  e.received_at = e.timestamp;
  return e;
}

/// The bookkeeping object `key` of the entry history, created when missing.
OJson& book(CustomerState& customer, const char* key, OJson empty = OJson::object()) {
  auto& v = customer.entries[key];
  if (v.is_null() || v.type() != empty.type()) v = std::move(empty);
  return v;
}

void unbook_if_empty(CustomerState& customer, const char* key) {
  auto it = customer.entries.find(key);
  if (it != customer.entries.end() && it->empty()) customer.entries.erase(it);
}

std::optional<int64_t> booked(const CustomerState& customer, const char* key,
                              const std::string& field) {
  auto it = customer.entries.find(key);
  if (it == customer.entries.end() || !it->is_object()) return std::nullopt;
  auto f = it->find(field);
  if (f == it->end() || !f->is_number_integer()) return std::nullopt;
  return f->get<int64_t>();
}

/// Whether a segment's condition reads the time, so that membership may change with no
/// change of the customer.
bool time_based(const wf::Segment& segment) {
  const auto& text = segment.condition.text();
  return text.find("now") != std::string::npos || text.find("days_since") != std::string::npos ||
         text.find("churn_risk") != std::string::npos;
}

/// Splits "a|b|c" after a prefix into its '|'-separated parts.
std::vector<std::string> parts_after(const std::string& id, std::string_view prefix) {
  std::vector<std::string> out;
  std::string_view rest(id);
  rest.remove_prefix(prefix.size());
  for (;;) {
    auto bar = rest.find('|');
    out.emplace_back(rest.substr(0, bar));
    if (bar == std::string_view::npos) break;
    rest.remove_prefix(bar + 1);
  }
  return out;
}

int64_t to_int(const std::string& text) {
  try {
    return std::stoll(text);
  } catch (const std::exception&) {
    return 0;
  }
}

void append(Commands& tx, Commands more) {
  for (auto& c : more) tx.push_back(std::move(c));
}

}  // namespace

void Engine::fire(const Timer& timer, CustomerState& customer, Commands& tx) {
  const auto snap = snapshot();
  const auto& s = *snap;
  customer.complete();
  bootstrap(s, tx);
  const auto& id = timer.id;
  if (id.rfind(kCronPrefix, 0) == 0) return fire_cron(s, timer, tx);
  if (id.rfind(kBroadcastPrefix, 0) == 0) return fire_broadcast(s, timer, tx);
  const bool run_timer = id.rfind(kTriggerPrefix, 0) != 0 && id != kSegmentTimer &&
                         id.rfind(kScheduledPrefix, 0) != 0;
  // An erased customer: nothing is left to start or maintain (a run's timer finds no run).
  if (!customer.exists() && !run_timer) return;
  if (id.rfind(kTriggerPrefix, 0) == 0) {
    fire_trigger(s, timer, customer, tx);
  } else if (id == kSegmentTimer) {
    auto timers = customer.entries.find(kTimersKey);
    if (timers != customer.entries.end() && timers->is_object())
      timers->erase(std::string(kSegmentTimer));  // it has fired; maintain() sets the next
  } else if (id.rfind(kScheduledPrefix, 0) == 0) {
    fire_scheduled(s, timer, customer, tx);
  } else {
    fire_run(s, timer, customer, tx);
  }
  if (customer.exists()) maintain(s, timer.customer_id, customer, nullptr, tx);
}

Commands Engine::startup_commands() {
  Commands tx;
  bootstrap(*snapshot(), tx);
  return tx;
}

void Engine::bootstrap(const Snapshot& s, Commands& tx) {
  if (!s.has_schedules || s.bootstrapped.load(std::memory_order_relaxed)) return;
  if (s.bootstrapped.exchange(true)) return;
  const auto now_ms = clock_.now_ms();
  const auto* zone = zone_or(config_.policies.default_timezone, "UTC");
  for (const auto& w : s.current) {
    const auto* trigger = std::get_if<wf::ScheduleTrigger>(&w->trigger);
    if (!trigger || !w->enabled) continue;
    auto next = next_cron_tick(trigger->cron, zone, now_ms);
    if (!next) continue;
    append(tx, schedule_timer_if_absent(kCronCustomer, std::string(kCronPrefix) + w->id, *next,
                                        w->id, config_.redis.partitions));
  }
}

void Engine::fire_cron(const Snapshot& s, const Timer& timer, Commands& tx) {
  const auto workflow_id = timer.id.substr(kCronPrefix.size());
  auto it = std::find_if(s.current.begin(), s.current.end(),
                         [&](const WorkflowPtr& w) { return w->id == workflow_id; });
  if (it == s.current.end() || !(*it)->enabled) return;  // unloaded: the ticks stop
  const auto* trigger = std::get_if<wf::ScheduleTrigger>(&(*it)->trigger);
  if (!trigger) return;
  const auto now_ms = clock_.now_ms();
  const auto tick = std::to_string(timer.due_ms);
  // One broadcast per partition, each on a pseudo-customer of that partition: its owner
  // reads the partition's members batch by batch.
  for (const auto& broadcaster : broadcasters_)
    append(tx, schedule_timer(broadcaster, std::string(kBroadcastPrefix) + workflow_id + "|" + tick,
                              now_ms, "0", config_.redis.partitions));
  const auto* zone = zone_or(config_.policies.default_timezone, "UTC");
  // Ticks missed while nothing ran are not made up: the next one after now.
  if (auto next = next_cron_tick(trigger->cron, zone, std::max(now_ms, timer.due_ms)))
    append(tx, schedule_timer(kCronCustomer, timer.id, *next, workflow_id,
                              config_.redis.partitions));
  logger()->info("workflow {}: schedule tick {}: broadcast to segment {} started", workflow_id,
                 rfc3339_ms(timer.due_ms), trigger->segment);
}

void Engine::fire_broadcast(const Snapshot& s, const Timer& timer, Commands& tx) {
  auto parts = parts_after(timer.id, kBroadcastPrefix);  // WF, TICK
  if (parts.size() != 2) return;
  const auto& workflow_id = parts[0];
  auto it = std::find_if(s.current.begin(), s.current.end(),
                         [&](const WorkflowPtr& w) { return w->id == workflow_id; });
  if (it == s.current.end() || !(*it)->enabled) return;
  const auto* trigger = std::get_if<wf::ScheduleTrigger>(&(*it)->trigger);
  if (!trigger) return;
  const auto partitions = config_.redis.partitions;
  const auto p = keys::partition_of(timer.customer_id, partitions);
  const auto member_timer = std::string(kScheduledPrefix) + workflow_id + "|" + parts[1];
  const auto bucket = timers::bucket_of(timer.customer_id, timer.id, partitions);
  auto next_batch = timers::encode_member(timer.customer_id, timer.id, "");
  tx.push_back({"EVAL", kBroadcastBatchScript, "4", segment_key(p, trigger->segment),
                keys::timer_index(p), keys::timer_count(p), keys::timer_bucket(p, bucket),
                timer.payload.empty() ? std::string("0") : timer.payload,
                std::to_string(kBroadcastBatch), member_timer, workflow_id,
                std::to_string(clock_.now_ms()),
                std::to_string(timers::buckets_per_partition(partitions)),
                keys::timer_bucket(p, 0).substr(0, keys::timer_bucket(p, 0).size() - 1),
                std::move(next_batch), std::to_string(bucket)});
}

void Engine::fire_scheduled(const Snapshot& s, const Timer& timer, CustomerState& customer,
                            Commands& tx) {
  auto parts = parts_after(timer.id, kScheduledPrefix);  // WF, TICK
  if (parts.size() != 2) return;
  const auto& workflow_id = parts[0];
  auto it = std::find_if(s.current.begin(), s.current.end(),
                         [&](const WorkflowPtr& w) { return w->id == workflow_id; });
  if (it == s.current.end() || !(*it)->enabled) return;
  const auto* trigger = std::get_if<wf::ScheduleTrigger>(&(*it)->trigger);
  if (!trigger) return;
  // Still a member (membership as last maintained), and this tick not started yet (a
  // scan may return a member twice).
  auto members = customer.entries.find(kSegmentsKey);
  if (members == customer.entries.end() || !members->is_array() ||
      std::find(members->begin(), members->end(), OJson(trigger->segment)) == members->end())
    return;
  const auto tick = to_int(parts[1]);
  if (booked(customer, kTicksKey, workflow_id) == tick) return;
  book(customer, kTicksKey)[workflow_id] = tick;
  enter(s, timer.customer_id, customer, **it,
        trigger_event(timer.customer_id, "schedule", tick,
                      OJson{{"segment", trigger->segment}, {"tick", rfc3339_ms(tick)}}),
        tx);
}

void Engine::fire_trigger(const Snapshot& s, const Timer& timer, CustomerState& customer,
                          Commands& tx) {
  const auto workflow_id = timer.id.substr(kTriggerPrefix.size());
  if (auto timers = customer.entries.find(kTimersKey);
      timers != customer.entries.end() && timers->is_object())
    timers->erase(timer.id);  // it has fired; maintain() sets the next one
  auto it = std::find_if(s.current.begin(), s.current.end(),
                         [&](const WorkflowPtr& w) { return w->id == workflow_id; });
  if (it == s.current.end() || !(*it)->enabled) return;
  const auto& workflow = **it;
  const auto now_ms = clock_.now_ms();
  if (const auto* date = std::get_if<wf::DateTrigger>(&workflow.trigger)) {
    auto value = customer.traits.find(date->trait);
    if (value == customer.traits.end() || !value->is_string() ||
        !parse_month_day(value->get<std::string>()))
      return;
    enter(s, timer.customer_id, customer, workflow,
          trigger_event(timer.customer_id, "date", timer.due_ms,
                        OJson{{"trait", date->trait}, {"date", *value}}),
          tx);
  } else if (const auto* inactive = std::get_if<wf::InactiveTrigger>(&workflow.trigger)) {
    enter(s, timer.customer_id, customer, workflow,
          trigger_event(timer.customer_id, "inactive", timer.due_ms,
                        OJson{{"event", inactive->event}}),
          tx);
  } else if (const auto* churn = std::get_if<wf::ChurnRiskTrigger>(&workflow.trigger)) {
    // The risk really crossed: the crossing of the current stats has come (an order
    // since the timer was set moves it on; maintain() moves the timer).
    auto crossing = ingest::churn_crossing_time(customer.stats, churn->above,
                                                config_.stats.default_order_gap);
    if (!crossing || ms_of(*crossing) > now_ms) return;
    const auto at = ms_of(*crossing);
    if (booked(customer, kChurnKey, workflow_id) == at) return;
    book(customer, kChurnKey)[workflow_id] = at;
    auto risk = ingest::churn_risk(customer.stats,
                                   ingest::Timestamp(std::chrono::milliseconds(now_ms)),
                                   config_.stats.default_order_gap);
    enter(s, timer.customer_id, customer, workflow,
          trigger_event(timer.customer_id, "churn_risk", at,
                        OJson{{"above", churn->above}, {"churn_risk", risk.value_or(0.0)}}),
          tx);
  }
}

void Engine::maintain(const Snapshot& s, const std::string& customer_id, CustomerState& customer,
                      const ingest::Event* event, Commands& tx) {
  if (customer_id.find('\x1f') != std::string::npos) return;  // no timer or set can name it
  const auto now_ms = clock_.now_ms();
  const auto partitions = config_.redis.partitions;
  const int64_t at_ms = event ? ms_of(event->timestamp) : now_ms;
  maintain_segments(s, customer_id, customer, at_ms, tx);

  std::map<std::string, std::pair<int64_t, std::string>> want;  // timer -> (due, workflow)
  const date::time_zone* zone = nullptr;
  for (const auto* workflow : s.timed) {
    const auto timer_id = trigger_timer(workflow->id);
    const auto existing = booked(customer, kTimersKey, timer_id);
    std::optional<int64_t> due;
    if (const auto* date = std::get_if<wf::DateTrigger>(&workflow->trigger)) {
      auto value = customer.traits.find(date->trait);
      if (value == customer.traits.end() || !value->is_string()) continue;
      auto md = parse_month_day(value->get<std::string>());
      if (!md) continue;
      if (!zone)
        zone = zone_or(policies::timezone_of(customer.traits, config_.policies),
                       config_.policies.default_timezone);
      // A timer due and not fired yet stays due; otherwise the next one after now.
      auto from = existing && *existing <= now_ms ? *existing : now_ms + 1;
      due = next_anniversary(*md, date->at, date->offset, zone, from);
    } else if (const auto* inactive = std::get_if<wf::InactiveTrigger>(&workflow->trigger)) {
      due = existing;
      if (event && event->type == ingest::EventType::kTrack && event->event == inactive->event) {
        auto candidate =
            ms_of(event->timestamp) +
            std::chrono::duration_cast<std::chrono::milliseconds>(inactive->after).count();
        if (!due || candidate > *due) due = candidate;  // an older event does not move it back
      }
    } else if (const auto* churn = std::get_if<wf::ChurnRiskTrigger>(&workflow->trigger)) {
      auto crossing = ingest::churn_crossing_time(customer.stats, churn->above,
                                                  config_.stats.default_order_gap);
      if (crossing && booked(customer, kChurnKey, workflow->id) != ms_of(*crossing))
        due = ms_of(*crossing);
    } else {
      continue;
    }
    if (due) want[timer_id] = {*due, workflow->id};
  }

  if (want.empty() && !customer.entries.contains(kTimersKey)) return;
  auto& timers = book(customer, kTimersKey);
  for (const auto& [timer_id, target] : want) {
    auto existing = timers.find(timer_id);
    if (existing != timers.end() && existing->is_number_integer() &&
        existing->get<int64_t>() == target.first)
      continue;
    append(tx, schedule_timer(customer_id, timer_id, target.first, target.second, partitions));
    timers[timer_id] = target.first;
  }
  std::vector<std::string> gone;
  for (auto it = timers.begin(); it != timers.end(); ++it)
    if (it.key().rfind(kTriggerPrefix, 0) == 0 && !want.count(it.key())) gone.push_back(it.key());
  for (const auto& timer_id : gone) {
    append(tx, cancel_timer(customer_id, timer_id, partitions));
    timers.erase(timer_id);
  }
  unbook_if_empty(customer, kTimersKey);
}

void Engine::maintain_segments(const Snapshot& s, const std::string& customer_id,
                               CustomerState& customer, int64_t at_ms, Commands& tx) {
  const auto now_ms = clock_.now_ms();
  const auto partitions = config_.redis.partitions;
  const auto p = keys::partition_of(customer_id, partitions);
  std::set<std::string> before;
  if (auto it = customer.entries.find(kSegmentsKey);
      it != customer.entries.end() && it->is_array())
    for (const auto& name : *it)
      if (name.is_string()) before.insert(name.get<std::string>());
  static const std::vector<wf::Segment> kNone;
  const auto& segments = s.segments ? s.segments->segments : kNone;
  if (segments.empty() && before.empty() && !booked(customer, kTimersKey, std::string(kSegmentTimer)))
    return;

  OJson view = customer_view(customer_id, customer, config_, now_ms);
  auto member_at = [&](const wf::Segment& segment, int64_t t, expr::EvalError* error = nullptr) {
    // Of the customer's view only stats.churn_risk depends on the time.
    const bool restat =
        t != now_ms && segment.condition.text().find("churn_risk") != std::string::npos;
    if (restat)
      view["stats"] = ingest::stats_to_json(customer.stats,
                                            ingest::Timestamp(std::chrono::milliseconds(t)),
                                            config_.stats.default_order_gap);
    expr::Context context;
    context.set(expr::Root::kCustomer, &view).set_now(expr_time(t));
    bool in = segment.condition.test(context, error);
    if (restat)
      view["stats"] = ingest::stats_to_json(customer.stats,
                                            ingest::Timestamp(std::chrono::milliseconds(now_ms)),
                                            config_.stats.default_order_gap);
    return in;
  };

  std::set<std::string> after;
  std::vector<std::string> entered;
  std::optional<int64_t> next_change;
  for (const auto& segment : segments) {
    expr::EvalError error;
    const bool in = member_at(segment, now_ms, &error);
    if (error) expression_failed("segment " + segment.name, "condition", error);
    if (in) after.insert(segment.name);
    if (in && !before.count(segment.name)) {
      tx.push_back({"SADD", segment_key(p, segment.name), customer_id});
      entered.push_back(segment.name);
    } else if (!in && before.count(segment.name)) {
      tx.push_back({"SREM", segment_key(p, segment.name), customer_id});
    }
    if (!time_based(segment)) continue;
    // The next instant membership changes: probes at now + 1 min · 2^k, then bisection.
    int64_t lo = now_ms;
    for (int k = 0; k < 21; ++k) {
      int64_t hi = now_ms + (int64_t{60'000} << k);
      if (next_change && hi > *next_change) break;  // an earlier change is known already
      if (member_at(segment, hi) == in) {
        lo = hi;
        continue;
      }
      while (hi - lo > 1) {
        auto mid = lo + (hi - lo) / 2;
        if (member_at(segment, mid) == in)
          lo = mid;
        else
          hi = mid;
      }
      next_change = next_change ? std::min(*next_change, hi) : hi;
      break;
    }
  }
  for (const auto& name : before)  // segments no longer defined
    if (!after.count(name) &&
        std::none_of(segments.begin(), segments.end(),
                     [&](const wf::Segment& seg) { return seg.name == name; }))
      tx.push_back({"SREM", segment_key(p, name), customer_id});
  if (after.empty()) {
    customer.entries.erase(kSegmentsKey);
  } else {
    OJson list = OJson::array();
    for (const auto& name : after) list.push_back(name);
    customer.entries[kSegmentsKey] = std::move(list);
  }

  // The re-evaluation timer of time-based segments.
  const std::string seg_timer(kSegmentTimer);
  auto existing = booked(customer, kTimersKey, seg_timer);
  if (next_change && existing != next_change) {
    append(tx, schedule_timer(customer_id, seg_timer, *next_change, "", partitions));
    book(customer, kTimersKey)[seg_timer] = *next_change;
  } else if (!next_change && existing) {
    append(tx, cancel_timer(customer_id, seg_timer, partitions));
    book(customer, kTimersKey).erase(seg_timer);
    unbook_if_empty(customer, kTimersKey);
  }

  // Entering a segment starts its `segment` workflows.
  for (const auto& name : entered)
    for (const auto& workflow : s.current) {
      if (!workflow->enabled) continue;
      const auto* trigger = std::get_if<wf::SegmentTrigger>(&workflow->trigger);
      if (!trigger || trigger->segment != name) continue;
      enter(s, customer_id, customer, *workflow,
            trigger_event(customer_id, "segment", at_ms, OJson{{"segment", name}}), tx);
    }
}

Commands erasure_commands(const std::string& customer_id, const CustomerState& customer,
                          unsigned partitions) {
  Commands out;
  if (customer_id.find('\x1f') != std::string::npos) return out;
  const auto p = keys::partition_of(customer_id, partitions);
  if (auto it = customer.entries.find(kSegmentsKey);
      it != customer.entries.end() && it->is_array())
    for (const auto& name : *it)
      if (name.is_string()) out.push_back({"SREM", segment_key(p, name.get<std::string>()), customer_id});
  if (auto it = customer.entries.find(kTimersKey); it != customer.entries.end() && it->is_object())
    for (auto t = it->begin(); t != it->end(); ++t)
      append(out, cancel_timer(customer_id, t.key(), partitions));
  for (auto r = customer.runs.begin(); r != customer.runs.end(); ++r)
    if (r->is_object() && r->contains("id") && (*r)["id"].is_string())
      append(out, cancel_timer(customer_id, std::string(kTimerPrefix) + (*r)["id"].get<std::string>(),
                               partitions));
  return out;
}

}  // namespace herald::gateway::engine
