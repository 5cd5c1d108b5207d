#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "workflows/dsl/cron.hpp"
#include "workflows/dsl/yaml_source.hpp"
#include "workflows/expr/expression.hpp"

namespace herald::workflows {

using Seconds = std::chrono::seconds;

/// The channels a send can name, in the contract's order.
inline constexpr std::array<std::string_view, 5> kChannels = {"email", "sms", "whatsapp", "wechat",
                                                              "social"};

struct TimeOfDay {
  int hour = 0;
  int minute = 0;
};

/// Inline template values (a send's `data`, a webhook's `body`): JSON whose string
/// leaves are Liquid templates rendered at run time; numbers, booleans and null are kept
/// as they are, mappings and lists nest.
using TemplateData = expr::Json;

// ---- triggers ---------------------------------------------------------------------------

struct EventTrigger {
  std::string event;
  std::optional<expr::Expression> where;  ///< sees event, customer and now
};

struct DateTrigger {
  std::string trait;  ///< `birthday` for `date: customer.birthday`
  TimeOfDay at;       ///< local time of the customer
  Seconds offset{0};  ///< `-1d`: the day before
};

struct InactiveTrigger {
  std::string event;
  Seconds after{0};  ///< the `for:` duration
};

struct ChurnRiskTrigger {
  double above = 0;  ///< in (0, 1)
};

struct SegmentTrigger {
  std::string segment;  ///< `enters:`
};

struct ScheduleTrigger {
  std::string cron_text;
  CronSchedule cron;
  std::string segment;
};

using Trigger = std::variant<EventTrigger, DateTrigger, InactiveTrigger, ChurnRiskTrigger,
                             SegmentTrigger, ScheduleTrigger>;

// ---- entry rules ------------------------------------------------------------------------

struct EntryRules {
  bool once = false;
  std::optional<Seconds> cooldown;
};

/// An `exit_when` item.
struct EventCondition {
  std::string event;
  std::optional<expr::Expression> where;
};

struct Goal {
  std::string event;
  std::optional<expr::Expression> where;
  std::optional<Seconds> within;  ///< absent: any time while the run is active
};

// ---- steps ------------------------------------------------------------------------------

struct Step;
using Steps = std::vector<Step>;

struct SendStep {
  std::string template_name;
  std::vector<std::string> channels;  ///< fallback order; `channel: x` gives one
  TemplateData data = TemplateData::object();
};

struct WaitStep {
  Seconds duration{0};
};

struct WaitUntilStep {
  TimeOfDay at;
  std::vector<std::chrono::weekday> days;  ///< empty: any day
};

struct WaitForStep {
  std::string event;
  std::optional<expr::Expression> where;
  Seconds timeout{0};
  Steps on_event;
  Steps on_timeout;
};

struct IfStep {
  expr::Expression condition;
  Steps then_steps;
  Steps else_steps;
};

struct SplitVariant {
  std::string name;
  double weight = 1;
  Steps steps;
};

struct SplitStep {
  std::vector<SplitVariant> variants;
};

struct TraitUpdate {
  std::string trait;
  expr::Expression value;
};

struct UpdateStep {
  std::vector<TraitUpdate> set;
};

/// `url`, header values and a string `body` are Liquid templates; a mapping `body` is
/// sent as JSON with templated string leaves.
struct WebhookStep {
  std::string url;
  std::string method = "POST";
  std::vector<std::pair<std::string, std::string>> headers;
  TemplateData body;  ///< null: no body
};

struct EscalateStep {
  std::string reason;
  std::string note;  ///< a Liquid template; may be empty
};

struct ExitStep {
  std::string reason;
};

using StepAction = std::variant<SendStep, WaitStep, WaitUntilStep, WaitForStep, IfStep, SplitStep,
                                UpdateStep, WebhookStep, EscalateStep, ExitStep>;

struct Step {
  std::string name;  ///< `id:` when given, else the path
  std::string path;  ///< `steps[3].then[0]`
  SourcePosition position;
  StepAction action;

  /// `send`, `wait`, … — the YAML key of the action.
  std::string_view kind() const;
};

// ---- the workflow -----------------------------------------------------------------------

/// One loaded workflow file. Immutable once built by parse_workflow().
struct Workflow {
  std::string id;
  std::string name;  ///< defaults to the id
  std::string file;
  bool enabled = true;
  Trigger trigger;
  EntryRules entry;
  std::vector<EventCondition> exit_when;
  std::optional<Goal> goal;
  bool escalate_replies = false;
  Steps steps;
  std::uint64_t source_hash = 0;  ///< FNV-1a of the file's text: changes with every edit

  /// The step named `name` (an id or a path), searching every branch; nullptr if none.
  const Step* find_step(std::string_view name) const;
};

std::string_view trigger_kind(const Trigger& trigger);

}  // namespace herald::workflows
