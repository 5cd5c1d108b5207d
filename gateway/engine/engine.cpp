#include "gateway/engine/engine.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <stdexcept>

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
  auto j = OJson::parse(text.empty() ? "{}" : text, nullptr, false);
  return j.is_object() ? j : OJson::object();
}

void incr(Commands& tx, const std::string& workflow, const std::string& field) {
  tx.push_back({"HINCRBY", stats_key(workflow), field, "1"});
}

}  // namespace

OJson customer_view(const std::string& id, const CustomerState& c, const config::Config& config,
                    int64_t now_ms) {
  OJson view = c.traits.is_object() ? c.traits : OJson::object();
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
  return {{"name", event.event},
          {"properties", parse_object(event.properties)},
          {"timestamp", ingest::format_rfc3339(event.timestamp)}};
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

Engine::Engine(std::vector<WorkflowPtr> workflows, templates::TemplateSet templates,
               const config::Config& config, const Clock& clock)
    : templates_(std::move(templates)), config_(config), clock_(clock) {
  for (auto& w : workflows) {
    if (!w) continue;
    by_id_[w->id][workflow_version(*w)] = w;
    auto same = std::find_if(current_.begin(), current_.end(),
                             [&](const WorkflowPtr& c) { return c->id == w->id; });
    if (same != current_.end())
      *same = w;
    else
      current_.push_back(w);
  }
}

const workflows::Workflow* Engine::find(const std::string& id, const std::string& version) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return nullptr;
  auto v = it->second.find(version);
  return v == it->second.end() ? nullptr : v->second.get();
}

void Engine::decide(const std::string& customer_id, CustomerState& customer,
                    const ingest::Event& event, Commands& tx) {
  if (event.type != ingest::EventType::kTrack) return;
  const auto now_ms = clock_.now_ms();
  // Runs already there see the event first: goals, exit_when, wait_for. A run this
  // event starts does not.
  if (!customer.runs.empty() || !customer.entries.empty())
    update_runs(customer_id, customer, event, tx);
  OJson customer_json;
  OJson event_json;
  bool built = false;
  for (const auto& workflow : current_) {
    if (!workflow->enabled) continue;
    const auto* trigger = std::get_if<wf::EventTrigger>(&workflow->trigger);
    if (!trigger || trigger->event != event.event) continue;
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
    if (customer.runs.contains(workflow->id)) {
      incr(tx, workflow->id, "skipped_active");
      continue;
    }
    if (auto h = customer.entries.find(workflow->id); h != customer.entries.end()) {
      if (workflow->entry.once) {
        incr(tx, workflow->id, "skipped_once");
        continue;
      }
      if (workflow->entry.cooldown) {
        auto last = h->value("last", int64_t{0});
        auto cooldown_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(*workflow->entry.cooldown)
                .count();
        if (ms_of(event.timestamp) - last < cooldown_ms) {
          incr(tx, workflow->id, "skipped_cooldown");
          continue;
        }
      }
    }
    start_run(customer_id, customer, *workflow, event, tx);
    customer_json = customer_view(customer_id, customer, config_, now_ms);  // after updates
  }
}

void Engine::update_runs(const std::string& customer_id, CustomerState& customer,
                         const ingest::Event& event, Commands& tx) {
  const auto now_ms = clock_.now_ms();
  const auto event_ms = ms_of(event.timestamp);
  OJson customer_json = customer_view(customer_id, customer, config_, now_ms);
  const OJson event_json = event_view(event);
  auto context_for = [&](const OJson& run_json) {
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
    const auto* workflow = find(id, goal.value("version", ""));
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
    const auto* workflow = find(id, found->value("version", ""));
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
    auto& run = *found;
    run.erase("awaiting");
    run["state"] = "running";
    run["wake_at"] = nullptr;
    run["event"] = event_json;  // the awaited event is `event` from here on
    path.push_back(0);
    path.push_back(0);
    run["path"] = path;
    Walk w{customer_id, customer, *workflow, tx, now_ms, customer_json, event_json, run_json};
    walk(w);
    customer_json = customer_view(customer_id, customer, config_, now_ms);  // after updates
  }
}

void Engine::start_run(const std::string& customer_id, CustomerState& customer,
                       const workflows::Workflow& workflow, const ingest::Event& event,
                       Commands& tx) {
  // The entry time is the event's: processing the same event again yields the same run id.
  const auto entered_ms = ms_of(event.timestamp);
  const auto run_id =
      hex(fnv1a(customer_id + '\x1f' + workflow.id + '\x1f' + std::to_string(entered_ms)));
  OJson run{{"id", run_id},
            {"version", workflow_version(workflow)},
            {"path", OJson::array({0})},
            {"step", ""},
            {"state", "running"},
            {"wake_at", nullptr},
            {"entered_at", rfc3339_ms(entered_ms)},
            {"event", event_view(event)}};
  customer.runs[workflow.id] = std::move(run);
  auto& history = customer.entries[workflow.id];
  if (!history.is_object()) history = OJson::object();
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

  const auto now_ms = clock_.now_ms();
  Walk w{
      customer_id,
      customer,
      workflow,
      tx,
      now_ms,
      customer_view(customer_id, customer, config_, now_ms),
      event_view(event),
      OJson{
          {"workflow", workflow.id}, {"variant", nullptr}, {"entered_at", rfc3339_ms(entered_ms)}}};
  walk(w);
}

void Engine::fire(const Timer& timer, CustomerState& customer, Commands& tx) {
  if (timer.id.rfind(kTimerPrefix, 0) != 0) return;
  const auto& workflow_id = timer.payload;
  auto found = customer.runs.find(workflow_id);
  if (found == customer.runs.end() || !found->is_object()) return;  // ended meanwhile
  auto& run = *found;
  if (run.value("id", "") != timer.id.substr(kTimerPrefix.size()) ||
      run.value("state", "") != "waiting")
    return;  // a stale timer of an earlier run
  const auto* workflow = find(workflow_id, run.value("version", ""));
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
  const auto now_ms = clock_.now_ms();
  OJson event_json = run.value("event", OJson::object());
  OJson run_json{{"workflow", workflow_id},
                 {"variant", run.value("variant", OJson())},
                 {"entered_at", run.value("entered_at", "")}};
  Walk w{timer.customer_id,
         customer,
         *workflow,
         tx,
         now_ms,
         customer_view(timer.customer_id, customer, config_, now_ms),
         std::move(event_json),
         std::move(run_json)};
  walk(w);
}

void Engine::walk(Walk& w) {
  auto finish = [&](const std::string& outcome, const std::string& reason) {
    w.customer.runs.erase(w.workflow.id);
    incr(w.tx, w.workflow.id, outcome);
    if (!reason.empty()) incr(w.tx, w.workflow.id, outcome + ":" + reason);
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
      auto& run = w.run();
      run["state"] = "waiting";
      run["wake_at"] = rfc3339_ms(due);
      auto timer_id = std::string(kTimerPrefix) + w.run_id();
      Commands schedule;
      try {
        schedule =
            schedule_timer(w.customer_id, timer_id, due, w.workflow.id, config_.redis.partitions);
      } catch (const std::invalid_argument&) {  // a customer id no timer can name
        logger()->error("workflow {}: run {} cannot wait: unusable customer id; run ended",
                        w.workflow.id, w.run_id());
        return finish("exited", "timer_refused");
      }
      for (auto& c : schedule) w.tx.push_back(std::move(c));
      return;
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
      auto& run = w.run();
      run["state"] = "waiting";
      run["awaiting"] = wait_for->event;
      run["wake_at"] = rfc3339_ms(due);
      auto timer_id = std::string(kTimerPrefix) + w.run_id();
      Commands schedule;
      try {
        schedule =
            schedule_timer(w.customer_id, timer_id, due, w.workflow.id, config_.redis.partitions);
      } catch (const std::invalid_argument&) {
        logger()->error("workflow {}: run {} cannot wait: unusable customer id; run ended",
                        w.workflow.id, w.run_id());
        return finish("exited", "timer_refused");
      }
      for (auto& c : schedule) w.tx.push_back(std::move(c));
      return;
    }
    // wait_until, webhook, escalate: not in this slice.
    warn_unsupported(w.workflow, step);
    incr(w.tx, w.workflow.id, "unsupported");
    advance();
  }
}

void Engine::send(Walk& w, const workflows::Step& step, const workflows::SendStep& message) {
  const auto run_id = w.run_id();
  const auto message_id = "m" + hex(fnv1a(run_id + '|' + step.path));
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
    OJson context{{"customer", w.customer_json},
                  {"event", w.event_json},
                  {"run", w.run_json},
                  {"now", rfc3339_ms(w.now_ms)}};
    try {
      context["data"] = render_data(message.data, context, templates_.limits());
    } catch (const std::exception& e) {
      status = "failed";
      reason = std::string("template_error: ") + e.what();
    }
    for (const auto& candidate : eligible) {
      if (status == "failed") break;
      try {
        context["unsubscribe_url"] = unsubscribe_url(config_, w.customer_id, candidate);
        auto rendered = templates_.render(message.template_name, candidate, "", context);
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
  const auto at = rfc3339_ms(w.now_ms);
  OJson entry{{"status", status}, {"at", at}};
  if (!reason.empty()) entry["detail"] = reason;
  OJson timeline = OJson::array({entry});
  OJson record{{"id", message_id},
               {"customer_id", w.customer_id},
               {"channel", channel ? OJson(*channel) : OJson()},
               {"provider", channel ? provider_of(*channel) : ""},
               {"template", message.template_name},
               {"workflow", w.workflow.id},
               {"run", run_id},
               {"status", status},
               {"timeline", timeline}};
  const std::string stat = step.name + ":" + (status == "queued" ? std::string("sent") : status);
  std::vector<std::string> cmd{"EVAL",
                               messages::kRecordMessage,
                               "5",
                               message_key(w.customer_id, message_id),
                               keys::customer_messages(w.customer_id),
                               kDeliveries,
                               stats_key(w.workflow.id),
                               messages::index_key(message_id),
                               record.dump(),
                               message_id,
                               w.customer_id,
                               stat,
                               status == "queued" ? "1" : "0",
                               "id",
                               message_id,
                               "customer_id",
                               w.customer_id,
                               "channel",
                               channel.value_or(""),
                               "provider",
                               channel ? provider_of(*channel) : std::string(),
                               "template",
                               message.template_name,
                               "workflow",
                               w.workflow.id,
                               "run",
                               run_id,
                               "step",
                               step.name,
                               "status",
                               status,
                               "content",
                               content.dump(),
                               "reason",
                               reason,
                               "created_at",
                               at,
                               "timeline",
                               timeline.dump(),
                               "fallback",
                               fallback.dump(),
                               "attempts",
                               "0"};
  w.tx.push_back(std::move(cmd));
}

void Engine::warn_unsupported(const workflows::Workflow& workflow, const workflows::Step& step) {
  std::lock_guard lock(warned_mutex_);
  if (!warned_.insert(workflow.id).second) return;
  logger()->warn("workflow {}: step {} ({}) is not supported yet and is skipped", workflow.id,
                 step.name, step.kind());
}

}  // namespace herald::gateway::engine
