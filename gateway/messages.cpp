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

}  // namespace herald::gateway::messages
