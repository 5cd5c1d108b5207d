#include "gateway/engine/escalate_step.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "gateway/conversations.hpp"
#include "gateway/ingest/timestamp.hpp"
#include "gateway/ingest/traits.hpp"
#include "gateway/log.hpp"
#include "templates/liquid/liquid_template.hpp"

namespace herald::gateway::engine::escalate {

namespace {

/// Where a conversation can take place, in order of preference.
const std::vector<std::string> kChannels{"sms", "whatsapp", "wechat", "social"};

std::string render_note(const Input& in) {
  const auto& source = in.escalate.note;
  if (source.find("{{") == std::string::npos && source.find("{%") == std::string::npos)
    return source;
  std::vector<templates::LoadError> errors;
  templates::LiquidTemplate::Options options;
  options.file = "note";
  auto compiled = templates::LiquidTemplate::compile(source, options, errors);
  if (!compiled) return source;  // checked when the workflow loaded; kept as written
  OJson context{{"customer", in.customer},
                {"event", in.event},
                {"run", in.run},
                {"now", ingest::format_rfc3339(ingest::Timestamp(
                            std::chrono::milliseconds(in.now_ms)))}};
  try {
    return compiled->render(context, in.limits);
  } catch (const std::exception& e) {
    herald::log::get("engine")->warn("workflow {} step {}: the escalation note failed: {}",
                                     in.workflow_id, in.step.name, e.what());
    return source;
  }
}

}  // namespace

bool add(const Input& in, Commands& tx) {
  const auto addresses =
      ingest::channel_addresses(in.traits.is_object() ? in.traits : OJson::object());
  auto has = [&](const std::string& channel) {
    return std::any_of(addresses.begin(), addresses.end(),
                       [&](const ingest::ChannelAddress& a) { return a.channel == channel; });
  };
  std::vector<std::string> channels;
  for (const auto& c : kChannels)
    if (has(c)) channels.push_back(c);
  if (channels.empty() && has("email")) channels.push_back("email");
  if (channels.empty()) return false;

  OJson escalation = OJson::object();
  escalation["reason"] = in.escalate.reason;
  escalation["note"] = render_note(in);
  escalation["workflow"] = in.workflow_id;
  escalation["run"] = in.run_id;
  escalation["step"] = in.step.name;
  tx.push_back(conversations::open_and_escalate_command(in.customer_id, channels, in.run_id,
                                                        std::move(escalation), in.now_ms));
  return true;
}

}  // namespace herald::gateway::engine::escalate
