#pragma once
// The `escalate` step (workflows.md "Steps"): `escalate: { reason, note }` opens (or
// escalates) a conversation for agents with the run's context.
//
// The engine decides synchronously and writes only into the caller's MULTI/EXEC, so the
// step is one EVAL there (conversations::open_and_escalate_command): it commits with the
// run's new position, exactly once, and the conversation's `escalated` (and, with
// auto-assignment, `claimed`) transition reaches the agents' stream from the same script.
//
// The channel: that of the run's latest message, when the customer has an address there
// on a chat channel (sms, whatsapp, wechat, social: the ones customers answer on), else
// the first of those channels the customer has an address for, in that order; email, which
// has no inbound path, only when the customer has no chat address at all (an agent can
// still write). The customer's open conversation there is continued (and keeps an earlier
// escalation), else one is opened.
//
// The escalation recorded: {"reason", "note" (the rendered Liquid; context customer,
// event, run, now), "workflow", "run", "step", "at"}. Stats: STEP:escalated, or
// STEP:failed when the customer has no address at all (the run continues either way).

#include <string>

#include "gateway/customer_state.hpp"
#include "gateway/timers.hpp"
#include "templates/limits.hpp"
#include "workflows/dsl/workflow.hpp"

namespace herald::gateway::engine::escalate {

struct Input {
  const std::string& customer_id;
  const std::string& workflow_id;
  const std::string& run_id;
  const workflows::Step& step;
  const workflows::EscalateStep& escalate;
  const OJson& traits;    // the customer's traits (their addresses)
  const OJson& customer;  // the `customer` view
  const OJson& event;
  const OJson& run;
  int64_t now_ms;
  const templates::Limits& limits;
};

/// Appends the escalation to `tx`. false when the customer has no address to talk on.
bool add(const Input& in, Commands& tx);

}  // namespace herald::gateway::engine::escalate
