#include <algorithm>

#include "workflows/dsl/parser.hpp"
#include "workflows/dsl/step_parser.hpp"
#include "workflows/expr/suggest.hpp"

namespace herald::workflows {
namespace {

const std::vector<std::string> kTopKeys = {"workflow", "name",      "enabled", "trigger",
                                           "entry",    "exit_when", "goal",    "escalate_replies",
                                           "steps"};
const std::vector<std::string> kTriggerKinds = {"event",      "date",    "inactive",
                                                "churn_risk", "segment", "schedule"};
const std::vector<std::string> kTriggerKeys = {
    "event", "where", "date", "at", "offset", "inactive", "churn_risk", "segment", "schedule"};
const std::vector<std::string> kEntryKeys = {"once", "cooldown"};
const std::vector<std::string> kExitWhenKeys = {"event", "where"};
const std::vector<std::string> kGoalKeys = {"event", "where", "within"};

const YamlEntry* find(const std::vector<YamlEntry>& entries, std::string_view name) {
  for (const auto& e : entries)
    if (e.name == name) return &e;
  return nullptr;
}

std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

bool valid_workflow_id(const std::string& id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool valid_trait(std::string_view t) {
  return !t.empty() && std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  }) && !(t[0] >= '0' && t[0] <= '9');
}

class WorkflowReader {
 public:
  WorkflowReader(YamlSource& source, const ParseOptions& options)
      : source_(source), options_(options), steps_(source, options) {}

  std::optional<Workflow> read(const YAML::Node& root) {
    if (!root.IsMap()) {
      source_.error(root, "a workflow file is a mapping with 'workflow', 'trigger' and 'steps'");
      return std::nullopt;
    }
    auto keys = source_.entries(root, kTopKeys, "a workflow");
    Workflow wf;
    bool ok = true;
    auto required = [&](const char* key) {
      const auto* e = find(keys, key);
      if (e == nullptr) {
        source_.error(SourcePosition{1, 1}, std::string("missing '") + key + "'");
        ok = false;
      }
      return e;
    };
    if (const auto* id = required("workflow")) {
      auto text = source_.string(*id);
      if (text && !valid_workflow_id(*text)) {
        source_.error(*id, "workflow id '" + *text + "' may only hold a-z, 0-9 and '-'");
        text.reset();
      }
      ok = ok && text.has_value();
      if (text) wf.id = *text;
    }
    wf.name = wf.id;
    if (const auto* name = find(keys, "name")) {
      auto text = source_.string(*name);
      if (text) wf.name = *text;
    }
    if (const auto* enabled = find(keys, "enabled")) {
      auto b = source_.boolean(*enabled);
      ok = ok && b.has_value();
      if (b) wf.enabled = *b;
    }
    if (const auto* esc = find(keys, "escalate_replies")) {
      auto b = source_.boolean(*esc);
      ok = ok && b.has_value();
      if (b) wf.escalate_replies = *b;
    }
    if (const auto* trigger = required("trigger")) {
      auto t = read_trigger(*trigger);
      ok = ok && t.has_value();
      if (t) wf.trigger = std::move(*t);
    }
    if (const auto* entry = find(keys, "entry")) ok = read_entry(*entry, wf.entry) && ok;
    if (const auto* exit_when = find(keys, "exit_when"))
      ok = read_exit_when(*exit_when, wf.exit_when) && ok;
    if (const auto* goal = find(keys, "goal")) {
      wf.goal = read_goal(*goal);
      ok = ok && wf.goal.has_value();
    }
    if (const auto* steps = required("steps")) {
      wf.steps = steps_.parse_list(*steps, "steps");
      if (steps->value.IsSequence() && steps->value.size() == 0)
        source_.warning(source_.position(*steps), "the workflow has no steps");
    }
    if (!ok) return std::nullopt;
    return wf;
  }

 private:
  void check_segment(const YamlEntry& entry, const std::string& name) {
    if (options_.segments == nullptr) return;
    const auto& known = *options_.segments;
    if (std::find(known.begin(), known.end(), name) != known.end()) return;
    source_.error(entry,
                  "unknown segment '" + name + "'" +
                      (known.empty() ? std::string(" (no segments are defined in segments.yaml)")
                                     : expr::did_you_mean(name, known)));
  }

  std::optional<std::string> required_string(const std::vector<YamlEntry>& keys, const char* key,
                                             const YamlEntry& parent) {
    const auto* e = find(keys, key);
    if (e == nullptr) {
      source_.error(parent.key, parent.name + " needs '" + key + "'");
      return std::nullopt;
    }
    auto text = source_.string(*e);
    if (text && text->empty()) {
      source_.error(*e, std::string("'") + key + "' must not be empty");
      return std::nullopt;
    }
    return text;
  }

  std::optional<Trigger> read_trigger(const YamlEntry& entry) {
    if (!source_.require_map(entry, "one trigger")) return std::nullopt;
    auto keys = source_.entries(entry.value, kTriggerKeys, "trigger");
    std::vector<const YamlEntry*> kinds;
    for (const auto& e : keys)
      if (std::find(kTriggerKinds.begin(), kTriggerKinds.end(), e.name) != kTriggerKinds.end())
        kinds.push_back(&e);
    if (kinds.empty()) {
      source_.error(
          entry.key,
          "the trigger needs one of event, date, inactive, churn_risk, segment or schedule");
      return std::nullopt;
    }
    bool ok = true;
    for (std::size_t i = 1; i < kinds.size(); ++i) {
      source_.error(kinds[i]->key, "a workflow has exactly one trigger: found both '" +
                                       kinds[0]->name + "' and '" + kinds[i]->name + "'");
      ok = false;
    }
    const std::string& kind = kinds[0]->name;
    for (const auto& e : keys) {
      if (e.name == "where" && kind != "event") {
        source_.error(e.key, "'where' belongs to an 'event' trigger");
        ok = false;
      }
      if ((e.name == "at" || e.name == "offset") && kind != "date") {
        source_.error(e.key, "'" + e.name + "' belongs to a 'date' trigger");
        ok = false;
      }
    }
    const YamlEntry& main = *kinds[0];
    std::optional<Trigger> trigger;
    if (kind == "event")
      trigger = read_event_trigger(main, keys);
    else if (kind == "date")
      trigger = read_date_trigger(main, keys, entry);
    else if (kind == "inactive")
      trigger = read_inactive_trigger(main);
    else if (kind == "churn_risk")
      trigger = read_churn_trigger(main);
    else if (kind == "segment")
      trigger = read_segment_trigger(main);
    else
      trigger = read_schedule_trigger(main);
    if (!ok) return std::nullopt;
    return trigger;
  }

  std::optional<Trigger> read_event_trigger(const YamlEntry& main,
                                            const std::vector<YamlEntry>& keys) {
    EventTrigger t;
    auto name = source_.string(main);
    if (name && name->empty()) source_.error(main, "the event name must not be empty");
    bool ok = name && !name->empty();
    if (name) t.event = *name;
    if (const auto* where = find(keys, "where")) {
      t.where = source_.expression(*where, expr::Schema::trigger(), true);
      ok = ok && t.where.has_value();
    }
    if (!ok) return std::nullopt;
    return t;
  }

  std::optional<Trigger> read_date_trigger(const YamlEntry& main,
                                           const std::vector<YamlEntry>& keys,
                                           const YamlEntry& trigger) {
    DateTrigger t;
    bool ok = true;
    auto path = source_.string(main);
    if (path && (path->rfind("customer.", 0) != 0 || !valid_trait(path->substr(9)))) {
      source_.error(main, "'date' names a date trait as customer.TRAIT, like customer.birthday");
      path.reset();
    }
    ok = path.has_value();
    if (path) t.trait = path->substr(9);
    if (const auto* at = find(keys, "at")) {
      auto tod = source_.time_of_day(*at);
      ok = ok && tod.has_value();
      if (tod) t.at = TimeOfDay{tod->first, tod->second};
    } else {
      source_.error(trigger.key,
                    "a 'date' trigger needs 'at' (\"HH:MM\", the customer's local time)");
      ok = false;
    }
    if (const auto* offset = find(keys, "offset")) {
      auto d = source_.duration(*offset, true);
      ok = ok && d.has_value();
      if (d) t.offset = *d;
    }
    if (!ok) return std::nullopt;
    return t;
  }

  std::optional<Trigger> read_inactive_trigger(const YamlEntry& main) {
    if (!source_.require_map(main, "event and for")) return std::nullopt;
    auto keys = source_.entries(main.value, {"event", "for"}, "inactive");
    InactiveTrigger t;
    auto event = required_string(keys, "event", main);
    bool ok = event.has_value();
    if (event) t.event = *event;
    if (const auto* after = find(keys, "for")) {
      auto d = source_.duration(*after);
      if (d && d->count() == 0) {
        source_.error(*after, "'for' must be more than 0s");
        d.reset();
      }
      ok = ok && d.has_value();
      if (d) t.after = *d;
    } else {
      source_.error(main.key, "inactive needs 'for'");
      ok = false;
    }
    if (!ok) return std::nullopt;
    return t;
  }

  std::optional<Trigger> read_churn_trigger(const YamlEntry& main) {
    if (!source_.require_map(main, "above")) return std::nullopt;
    auto keys = source_.entries(main.value, {"above"}, "churn_risk");
    const auto* above = find(keys, "above");
    if (above == nullptr) {
      source_.error(main.key, "churn_risk needs 'above'");
      return std::nullopt;
    }
    auto x = source_.number(*above);
    if (!x) return std::nullopt;
    if (!(*x > 0 && *x < 1)) {
      source_.error(*above, "'above' is a churn risk between 0 and 1 (exclusive)");
      return std::nullopt;
    }
    return ChurnRiskTrigger{*x};
  }

  std::optional<Trigger> read_segment_trigger(const YamlEntry& main) {
    if (!source_.require_map(main, "enters")) return std::nullopt;
    auto keys = source_.entries(main.value, {"enters"}, "segment");
    auto name = required_string(keys, "enters", main);
    if (!name) return std::nullopt;
    check_segment(*find(keys, "enters"), *name);
    return SegmentTrigger{*name};
  }

  std::optional<Trigger> read_schedule_trigger(const YamlEntry& main) {
    if (!source_.require_map(main, "cron and segment")) return std::nullopt;
    auto keys = source_.entries(main.value, {"cron", "segment"}, "schedule");
    ScheduleTrigger t;
    bool ok = true;
    if (auto text = required_string(keys, "cron", main)) {
      CronSchedule::Error error;
      auto cron = CronSchedule::parse(*text, &error);
      if (!cron) {
        source_.error(source_.scalar_position(find(keys, "cron")->value, error.offset),
                      error.message);
        ok = false;
      } else {
        t.cron = *cron;
        t.cron_text = *text;
      }
    } else {
      ok = false;
    }
    if (auto segment = required_string(keys, "segment", main)) {
      check_segment(*find(keys, "segment"), *segment);
      t.segment = *segment;
    } else {
      ok = false;
    }
    if (!ok) return std::nullopt;
    return t;
  }

  bool read_entry(const YamlEntry& entry, EntryRules& rules) {
    if (!source_.require_map(entry, "once and cooldown")) return false;
    auto keys = source_.entries(entry.value, kEntryKeys, "entry");
    bool ok = true;
    if (const auto* once = find(keys, "once")) {
      auto b = source_.boolean(*once);
      ok = b.has_value();
      if (b) rules.once = *b;
    }
    if (const auto* cooldown = find(keys, "cooldown")) {
      auto d = source_.duration(*cooldown);
      ok = ok && d.has_value();
      if (d) rules.cooldown = *d;
      if (d && rules.once)
        source_.warning(source_.position(*cooldown), "'cooldown' has no effect with 'once: true'");
    }
    return ok;
  }

  std::optional<EventCondition> read_event_condition(const YAML::Node& node) {
    if (!node.IsMap()) {
      source_.error(node, "expected a mapping with 'event' (and 'where'), not " + node_kind(node));
      return std::nullopt;
    }
    auto keys = source_.entries(node, kExitWhenKeys, "exit_when");
    EventCondition c;
    const auto* event = find(keys, "event");
    bool ok = event != nullptr;
    if (!event) source_.error(node, "exit_when items need 'event'");
    if (event) {
      auto name = source_.string(*event);
      ok = name.has_value();
      if (name) c.event = *name;
    }
    if (const auto* where = find(keys, "where")) {
      c.where = source_.expression(*where, expr::Schema::workflow(), true);
      ok = ok && c.where.has_value();
    }
    if (!ok) return std::nullopt;
    return c;
  }

  bool read_exit_when(const YamlEntry& entry, std::vector<EventCondition>& out) {
    if (!source_.require_sequence(entry, "events")) return false;
    bool ok = true;
    for (const auto& item : entry.value) {
      auto c = read_event_condition(item);
      ok = ok && c.has_value();
      if (c) out.push_back(std::move(*c));
    }
    return ok;
  }

  std::optional<Goal> read_goal(const YamlEntry& entry) {
    if (!source_.require_map(entry, "event, where and within")) return std::nullopt;
    auto keys = source_.entries(entry.value, kGoalKeys, "goal");
    Goal goal;
    auto event = required_string(keys, "event", entry);
    bool ok = event.has_value();
    if (event) goal.event = *event;
    if (const auto* where = find(keys, "where")) {
      goal.where = source_.expression(*where, expr::Schema::workflow(), true);
      ok = ok && goal.where.has_value();
    }
    if (const auto* within = find(keys, "within")) {
      auto d = source_.duration(*within);
      ok = ok && d.has_value();
      if (d) goal.within = *d;
    }
    if (!ok) return std::nullopt;
    return goal;
  }

  YamlSource& source_;
  const ParseOptions& options_;
  StepParser steps_;
};

}  // namespace

ParseResult parse_workflow(std::string_view text, const std::string& file,
                           const ParseOptions& options) {
  ParseResult result;
  YamlSource source(file, text, result.findings);
  if (auto root = source.load()) {
    if (root->IsNull()) {
      source.error(SourcePosition{1, 1}, "the file is empty");
    } else {
      auto wf = WorkflowReader(source, options).read(*root);
      if (wf && !has_errors(result.findings)) {
        wf->file = file;
        wf->source_hash = fnv1a(text);
        result.workflow = std::make_shared<const Workflow>(std::move(*wf));
      }
    }
  }
  sort_findings(result.findings);
  return result;
}

}  // namespace herald::workflows
