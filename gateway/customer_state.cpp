#include "gateway/customer_state.hpp"

#include <charconv>
#include <chrono>
#include <stdexcept>

#include <openssl/sha.h>

#include "gateway/ingest/json_dom.hpp"
#include "gateway/keys.hpp"

namespace herald::gateway {
namespace {

OJson parse_object(const std::optional<std::string>& text) {
  if (!text) return OJson::object();
  auto j = ingest::parse_stored_json(*text);
  return j.is_object() ? j : OJson::object();
}

std::optional<ingest::Timestamp> time_of(const OJson& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return ingest::parse_rfc3339(it->get<std::string>());
}

}  // namespace

CustomerState customer_from_fields(const std::vector<std::optional<std::string>>& values,
                                   bool full) {
  CustomerState c;
  auto s = parse_object(values.at(1));
  c.stats.orders = s.value("orders", int64_t{0});
  c.stats.revenue = s.value("revenue", 0.0);
  c.stats.first_order_at = time_of(s, "first");
  c.stats.last_order_at = time_of(s, "last");
  c.created_at = values.at(3).value_or("");
  c.updated_at = values.at(4).value_or("");
  c.partial = true;
  c.source = &values;
  if (full) c.complete();
  return c;
}

void CustomerState::complete() {
  if (!partial) return;
  if (!source)
    throw std::runtime_error(
        "a customer's state was read without its traits, runs and entries, which are needed "
        "after all; read again");
  const auto& values = *source;
  traits = parse_object(values.at(0));
  consent = parse_object(values.at(2));
  runs = parse_object(values.size() > 5 ? values[5] : std::nullopt);
  entries = parse_object(values.size() > 6 ? values[6] : std::nullopt);
  partial = false;
  source = nullptr;
}

std::string history_entry(std::string_view event, std::string_view properties,
                          ingest::Timestamp at) {
  const auto ms = std::to_string(at.time_since_epoch().count());
  const auto props = ingest::is_json_object(properties) ? properties : std::string_view("{}");
  std::string out;
  out.reserve(3 + ms.size() + event.size() + props.size());
  out += '\x01';
  out.append(ms).append(1, '\x1f').append(event).append(1, '\x1f').append(props);
  return out;
}

std::string history_entry_json(std::string_view stored) {
  if (stored.empty() || stored[0] != '\x01') return std::string(stored);
  const auto first = stored.find('\x1f');
  const auto last = stored.rfind('\x1f');
  if (first == std::string_view::npos || last == first) return "{}";
  long long ms = 0;
  auto digits = stored.substr(1, first - 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), ms);
  if (ec != std::errc() || end != digits.data() + digits.size()) return "{}";
  const auto event = stored.substr(first + 1, last - first - 1);
  const auto props = stored.substr(last + 1);
  std::string out;
  out.reserve(stored.size() + 48);
  out.append("{\"event\":");
  ingest::append_json_string(out, event);
  out.append(",\"properties\":").append(props.empty() ? std::string_view("{}") : props);
  out.append(",\"timestamp\":\"")
      .append(ingest::format_rfc3339(ingest::Timestamp(std::chrono::milliseconds(ms))))
      .append("\"}");
  return out;
}

std::string stats_to_stored(const ingest::OrderStats& stats) {
  OJson s{{"orders", stats.orders}, {"revenue", stats.revenue}};
  if (stats.first_order_at) s["first"] = ingest::format_rfc3339(*stats.first_order_at);
  if (stats.last_order_at) s["last"] = ingest::format_rfc3339(*stats.last_order_at);
  return s.dump();
}

OJson customer_to_json(const std::string& id, const CustomerState& c,
                       const config::Config& config) {
  auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  OJson out;
  out["id"] = id;
  out["traits"] = c.traits;
  out["consent"] = c.consent;
  out["stats"] = ingest::stats_to_json(c.stats, now, config.stats.default_order_gap);
  out["runs"] = OJson::array();
  for (auto it = c.runs.begin(); it != c.runs.end(); ++it) {
    const auto& run = it.value();
    if (!run.is_object()) continue;
    out["runs"].push_back({{"workflow", it.key()},
                           {"version", run.value("version", "")},
                           {"step", run.value("step", "")},
                           {"state", run.value("state", "")},
                           {"wake_at", run.value("wake_at", OJson())}});
  }
  out["created_at"] = c.created_at;
  out["updated_at"] = c.updated_at;
  return out;
}

void merge_traits(OJson& traits, const OJson& update) {
  if (!update.is_object()) return;
  for (auto it = update.begin(); it != update.end(); ++it) {
    if (it.value().is_null()) traits.erase(it.key());
    else traits[it.key()] = it.value();
  }
}

std::vector<std::string> release_address_command(std::string_view channel,
                                                 std::string_view address,
                                                 std::string_view customer_id) {
  // EVAL, not EVALSHA: a NOSCRIPT inside MULTI would skip only this command.
  static const std::string kCompareAndDelete =
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
      "return 0\n";
  return {"EVAL", kCompareAndDelete, "1", keys::address(channel, address),
          std::string(customer_id)};
}

std::string hashed_identifier(std::string_view kind, std::string_view value) {
  std::string input = std::string(kind) + ":" + std::string(value);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) out += kHex[b >> 4], out += kHex[b & 15];
  return out;
}

}  // namespace herald::gateway
