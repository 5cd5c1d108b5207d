#include "workflows/dsl/workflow.hpp"

namespace herald::workflows {
namespace {

const Step* find_in(const Steps& steps, std::string_view name);

const Step* find_in_action(const Step& step, std::string_view name) {
  return std::visit(
      [&](const auto& action) -> const Step* {
        using T = std::decay_t<decltype(action)>;
        if constexpr (std::is_same_v<T, IfStep>) {
          if (const Step* s = find_in(action.then_steps, name)) return s;
          return find_in(action.else_steps, name);
        } else if constexpr (std::is_same_v<T, WaitForStep>) {
          if (const Step* s = find_in(action.on_event, name)) return s;
          return find_in(action.on_timeout, name);
        } else if constexpr (std::is_same_v<T, SplitStep>) {
          for (const auto& variant : action.variants)
            if (const Step* s = find_in(variant.steps, name)) return s;
          return nullptr;
        } else {
          return nullptr;
        }
      },
      step.action);
}

const Step* find_in(const Steps& steps, std::string_view name) {
  for (const auto& step : steps) {
    if (step.name == name || step.path == name) return &step;
    if (const Step* s = find_in_action(step, name)) return s;
  }
  return nullptr;
}

}  // namespace

std::string_view Step::kind() const {
  static constexpr std::string_view kKinds[] = {"send",     "wait",  "wait_until", "wait_for",
                                                "if",       "split", "update",     "webhook",
                                                "escalate", "exit"};
  return kKinds[action.index()];
}

const Step* Workflow::find_step(std::string_view name) const {
  return find_in(steps, name);
}

std::string_view trigger_kind(const Trigger& trigger) {
  static constexpr std::string_view kKinds[] = {"event",      "date",    "inactive",
                                                "churn_risk", "segment", "schedule"};
  return kKinds[trigger.index()];
}

}  // namespace herald::workflows
