#include "tests/engine_e2e/engine_support.hpp"

#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"

namespace herald::test::engine_e2e {

Content::Content() {
  std::filesystem::create_directories(dir.file("templates"));
  std::filesystem::create_directories(dir.file("workflows"));
  for (const auto* name : {"welcome", "followup", "farewell"})
    dir.write(std::string("templates/") + name + ".yaml",
              std::string("template: ") + name + "\nemail:\n  subject: \"" + name +
                  " {{ customer.first_name }}\"\n  text: \"" + name + " for {{ customer.id }}\"\n");
}

void Content::workflow(const std::string& file, const std::string& yaml) const {
  dir.write("workflows/" + file, yaml);
}

std::string Content::config(const std::string& extra) const {
  return test_config(
      "workflows_dir: " + dir.file("workflows") + "\ntemplates_dir: " + dir.file("templates") +
      "\nchannels:\n  email: { provider: outbox, path: \"" + outbox() + "\" }\n" + extra);
}

void post_batch(const HeraldProcess& herald, const Json& batch) {
  Json body{{"batch", batch}};
  auto r = http(herald.port(), "POST", "/v1/batch", body.dump(),
                {{"Authorization", std::string("Bearer ") + kWriteKey}});
  if (r.status != 200)
    throw std::runtime_error("batch answered " + std::to_string(r.status) + " " + r.body);
}

std::vector<Json> outbox_lines(const std::string& path) {
  std::vector<Json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(Json::parse(line));
  return out;
}

std::vector<Json> message_records(const RedisServer& redis) {
  // One script reads them all. (Double quotes only: RedisServer::cli single-quotes arguments.)
  auto text = redis.cli({"EVAL", R"lua(
local out = {}
local cursor = "0"
repeat
  local r = redis.call("SCAN", cursor, "MATCH", "herald:msg:*", "COUNT", 1000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do
    local f = {}
    if redis.call("TYPE", k)["ok"] == "hash" then
      f = redis.call("HMGET", k, "o", "status", "reason")
    end
    if f[1] then
      local o = cjson.decode(f[1])
      table.insert(out, {id = o["id"], customer = o["customer_id"], template = o["template"],
                         status = f[2], reason = f[3] or "", created_at = o["created_at"] or ""})
    end
  end
until cursor == "0"
if #out == 0 then return "[]" end
return cjson.encode(out)
)lua",
                         "0"});
  auto parsed = Json::parse(text.empty() ? "[]" : text, nullptr, false);
  if (!parsed.is_array()) throw std::runtime_error("reading the message records: " + text);
  return std::vector<Json>(parsed.begin(), parsed.end());
}

int64_t pending_timers(const RedisServer& redis) {
  auto text = redis.cli({"EVAL", R"lua(
local n = 0
local cursor = "0"
repeat
  local r = redis.call("SCAN", cursor, "MATCH", "herald:tmn:*", "COUNT", 1000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do n = n + tonumber(redis.call("GET", k) or "0") end
until cursor == "0"
return n
)lua",
                         "0"});
  return text.empty() ? 0 : std::stoll(text);
}

int64_t wf_stat(const RedisServer& redis, const std::string& workflow, const std::string& field) {
  auto text = redis.cli({"HGET", "herald:wfstats:{" + workflow + "}", field});
  return text.empty() ? 0 : std::stoll(text);
}

double metric_sum(const HeraldProcess& herald, const std::string& name) {
  auto r = herald.get("/metrics");
  std::istringstream in(r.body);
  std::string line;
  double sum = 0;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    auto rest = line.substr(name.size());
    if (!rest.empty() && rest[0] != ' ' && rest[0] != '{') continue;
    auto space = line.rfind(' ');
    sum += std::stod(line.substr(space + 1));
  }
  return sum;
}

bool wait_balanced(const RedisServer& redis, std::size_t consumers, unsigned partitions) {
  return eventually(
      [&] {
        std::set<std::string> owners;
        for (unsigned p = 0; p < partitions; ++p) {
          auto owner = redis.cli({"GET", "herald:lease:{p" + std::to_string(p) + "}"});
          if (owner.empty()) return false;
          owners.insert(owner);
        }
        return owners.size() == consumers;
      },
      std::chrono::seconds(20));
}

int64_t parse_time_ms(const std::string& text) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

}  // namespace herald::test::engine_e2e
