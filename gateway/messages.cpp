#include "gateway/messages.hpp"

#include <chrono>

#include <nlohmann/json.hpp>

#include "gateway/ingest/timestamp.hpp"

namespace herald::gateway::messages {

std::string timeline_entry(std::string_view status, std::string_view detail) {
  nlohmann::ordered_json entry = nlohmann::ordered_json::object();
  entry["status"] = status;
  entry["at"] = ingest::format_rfc3339(
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()));
  if (!detail.empty()) entry["detail"] = detail;
  return entry.dump();
}

std::vector<std::string> record_command(const NewMessage& m) {
  using OJson = nlohmann::ordered_json;
  OJson entry{{"status", m.status}, {"at", m.at}};
  if (!m.reason.empty()) entry["detail"] = m.reason;
  OJson timeline = OJson::array({entry});
  auto or_null = [](const std::string& v) { return v.empty() ? OJson() : OJson(v); };
  OJson record{{"id", m.id},
               {"customer_id", m.customer_id},
               {"channel", or_null(m.channel)},
               {"provider", m.provider},
               {"template", m.template_name},
               {"workflow", or_null(m.workflow)},
               {"run", or_null(m.run)},
               {"status", m.status},
               {"timeline", timeline}};
  const bool queued = m.status == "queued";
  std::vector<std::string> cmd{"EVAL",
                               kRecordMessage,
                               "5",
                               key(m.customer_id, m.id),
                               keys::customer_messages(m.customer_id),
                               kDeliveries,
                               m.stats_key,
                               index_key(m.id),
                               record.dump(),
                               m.id,
                               m.customer_id,
                               m.stats_field,
                               queued ? "1" : "0",
                               "id",
                               m.id,
                               "customer_id",
                               m.customer_id,
                               "channel",
                               m.channel,
                               "provider",
                               m.provider,
                               "template",
                               m.template_name};
  if (!m.workflow.empty()) {
    cmd.insert(cmd.end(), {"workflow", m.workflow, "run", m.run, "step", m.step});
  }
  cmd.insert(cmd.end(), {"status", m.status, "content", m.content, "reason", m.reason,
                         "created_at", m.at, "timeline", timeline.dump(), "fallback",
                         m.fallback, "attempts", "0"});
  if (m.transactional) cmd.insert(cmd.end(), {"transactional", *m.transactional ? "1" : "0"});
  cmd.insert(cmd.end(), m.extra.begin(), m.extra.end());
  return cmd;
}

}  // namespace herald::gateway::messages
