#include "gateway/messages.hpp"

#include <chrono>

#include <nlohmann/json.hpp>

#include "gateway/ingest/json_dom.hpp"
#include "gateway/ingest/timestamp.hpp"

namespace herald::gateway::messages {

std::string partitioned_id(std::string_view base, std::string_view customer_id) {
  std::string id(base);
  id.append("-p").append(std::to_string(keys::partition_of(customer_id, keys::partitions())));
  return id;
}

std::optional<unsigned> id_partition(std::string_view id) {
  auto dash = id.rfind("-p");
  if (dash == std::string_view::npos || dash < 17 || dash > 25) return std::nullopt;
  if (id[0] < 'a' || id[0] > 'z') return std::nullopt;
  for (std::size_t i = 1; i < dash; ++i)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return std::nullopt;
  auto digits = id.substr(dash + 2);
  if (digits.empty() || digits.size() > 5 || (digits.size() > 1 && digits[0] == '0'))
    return std::nullopt;
  unsigned p = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    p = p * 10 + static_cast<unsigned>(c - '0');
  }
  if (p >= keys::partitions()) return std::nullopt;
  return p;
}

std::string_view id_base(std::string_view id) {
  return id_partition(id) ? id.substr(0, id.rfind("-p")) : id;
}

bool origin_field(std::string_view field) {
  return field == "id" || field == "customer_id" || field == "template" || field == "created_at" ||
         field == "workflow" || field == "run" || field == "step";
}

std::vector<std::pair<std::string, std::string>> origin_fields(std::string_view packed) {
  std::vector<std::pair<std::string, std::string>> out;
  auto origin = nlohmann::json::parse(packed, nullptr, false);
  if (!origin.is_object()) return out;
  for (auto& [name, value] : origin.items())
    if (value.is_string() && origin_field(name)) out.emplace_back(name, value.get<std::string>());
  return out;
}

std::vector<std::string> read_command(const std::string& key,
                                      const std::vector<std::string>& fields) {
  std::vector<std::string> cmd{"HMGET", key};
  cmd.reserve(3 + fields.size());
  cmd.insert(cmd.end(), fields.begin(), fields.end());
  cmd.push_back(kOriginField);
  return cmd;
}

void unpack_read(redis::Reply& reply, const std::vector<std::string>& fields) {
  auto& values = reply.elements;
  if (!reply.is_array() || values.size() != fields.size() + 1) return;
  redis::Reply packed = std::move(values.back());
  values.pop_back();
  if (packed.is_nil()) return;
  for (auto& [name, value] : origin_fields(packed.str))
    for (std::size_t i = 0; i < fields.size(); ++i)
      if (fields[i] == name && values[i].is_nil()) {
        values[i].type = redis::Reply::Type::kString;
        values[i].str = value;
      }
}

std::string timeline_entry(std::string_view status, std::string_view detail) {
  nlohmann::ordered_json entry = nlohmann::ordered_json::object();
  entry["status"] = status;
  entry["at"] = ingest::format_rfc3339(
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()));
  if (!detail.empty()) entry["detail"] = detail;
  return entry.dump();
}

namespace {

/// Appends `"key":` and `value` as a JSON string (null when `null_if_empty` and it is
/// empty) to the object being written in `out`: opened by the first member, closed by
/// the caller.
void member(std::string& out, std::string_view key, std::string_view value,
            bool null_if_empty = false) {
  out += out.empty() ? "{\"" : ",\"";
  out += key;
  out += "\":";
  if (null_if_empty && value.empty()) out += "null";
  else ingest::append_json_string(out, value);
}

/// The message's entry in the customer's list (JSON: what finds the message and what the
/// list's readers match on, the rest being in its hash) and its timeline (JSON), as
/// recorded: written directly, as nlohmann's dump() of the same objects would write them.
std::pair<std::string, std::string> record_json(const NewMessage& m) {
  std::string entry;
  member(entry, "status", m.status);
  member(entry, "at", m.at);
  if (!m.reason.empty()) member(entry, "detail", m.reason);
  std::string timeline = "[" + entry + "}]";
  std::string record;
  record.reserve(64 + m.id.size() + m.channel.size() + m.workflow.size() + m.run.size());
  member(record, "id", m.id);
  member(record, "channel", m.channel, true);
  member(record, "workflow", m.workflow, true);
  member(record, "run", m.run, true);
  record += "}";
  return {std::move(record), std::move(timeline)};
}

/// The message hash's field/value pairs, appended to `out`. Fields at their default are
/// left out, and read as it: no reason, no fallback ("[]"), attempts 0.
void append_fields(std::vector<std::string>& out, const NewMessage& m, std::string timeline) {
  std::string origin;
  origin.reserve(96 + m.id.size() + m.customer_id.size() + m.template_name.size() +
                 m.workflow.size() + m.run.size() + m.step.size() + m.at.size());
  member(origin, "id", m.id);
  member(origin, "customer_id", m.customer_id);
  member(origin, "template", m.template_name);
  if (!m.workflow.empty()) {
    member(origin, "workflow", m.workflow);
    member(origin, "run", m.run);
    member(origin, "step", m.step);
  }
  member(origin, "created_at", m.at);
  origin += "}";
  out.insert(out.end(), {kOriginField, std::move(origin), "channel", m.channel, "provider",
                         m.provider, "status", m.status, "content", m.content});
  if (!m.reason.empty()) out.insert(out.end(), {"reason", m.reason});
  out.insert(out.end(), {"timeline", std::move(timeline)});
  if (!m.fallback.empty() && m.fallback != "[]") out.insert(out.end(), {"fallback", m.fallback});
  if (m.transactional) out.insert(out.end(), {"transactional", *m.transactional ? "1" : "0"});
  out.insert(out.end(), m.extra.begin(), m.extra.end());
}

}  // namespace

std::vector<std::string> record_command(const NewMessage& m) {
  auto [record, timeline] = record_json(m);
  const bool queued = m.status == "queued";
  std::vector<std::string> cmd{"EVAL",
                               kRecordMessage,
                               "5",
                               key(m.customer_id, m.id),
                               keys::customer_messages(m.customer_id),
                               kDeliveries,
                               m.stats_key,
                               id_partition(m.id) ? key(m.customer_id, id_base(m.id))
                                                  : index_key(m.id),
                               std::move(record),
                               m.id,
                               m.customer_id,
                               m.stats_field,
                               queued ? "1" : "0"};
  append_fields(cmd, m, std::move(timeline));
  return cmd;
}

std::vector<std::vector<std::string>> record_new_commands(const NewMessage& m) {
  auto [record, timeline] = record_json(m);
  std::vector<std::vector<std::string>> out;
  std::vector<std::string> hash{"HSET", key(m.customer_id, m.id)};
  append_fields(hash, m, std::move(timeline));
  out.push_back(std::move(hash));
  if (!id_partition(m.id)) out.push_back({"SET", index_key(m.id), m.customer_id});
  out.push_back({"LPUSH", keys::customer_messages(m.customer_id), std::move(record)});
  if (m.status == "queued")
    out.push_back({"XADD", kDeliveries, "*", "id", m.id, "customer", m.customer_id});
  out.push_back({"HINCRBY", m.stats_key, m.stats_field, "1"});
  return out;
}

}  // namespace herald::gateway::messages
