#include "gateway/ingest/order_stats.hpp"

#include <charconv>
#include <cmath>
#include <string>

namespace herald::ingest {
namespace {

std::optional<double> amount(const nlohmann::ordered_json& value) {
  if (value.is_number()) return value.get<double>();
  if (!value.is_string()) return std::nullopt;
  const std::string& text = value.get_ref<const std::string&>();
  double parsed = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
  if (error != std::errc{} || end != text.data() + text.size() || !std::isfinite(parsed)) {
    return std::nullopt;
  }
  return parsed;
}

}  // namespace

double order_revenue(const nlohmann::ordered_json& properties) {
  if (!properties.is_object()) return 0;
  for (const char* key : {"total", "revenue"}) {
    const auto found = properties.find(key);
    if (found == properties.end()) continue;
    if (const auto value = amount(*found)) return *value;
  }
  return 0;
}

OrderStats apply_order(const OrderStats& stats, const nlohmann::ordered_json& properties,
                       Timestamp at) {
  OrderStats next = stats;
  next.orders += 1;
  next.revenue += order_revenue(properties);
  if (!next.first_order_at || at < *next.first_order_at) next.first_order_at = at;
  if (!next.last_order_at || at > *next.last_order_at) next.last_order_at = at;
  return next;
}

std::optional<Duration> order_gap(const OrderStats& stats, Duration default_gap) {
  if (stats.orders <= 0 || !stats.first_order_at || !stats.last_order_at) return std::nullopt;
  if (stats.orders == 1) return default_gap;
  const Duration span = *stats.last_order_at - *stats.first_order_at;
  const Duration gap = span / (stats.orders - 1);
  return gap.count() > 0 ? gap : default_gap;
}

std::optional<double> churn_risk(const OrderStats& stats, Timestamp now, Duration default_gap) {
  const auto gap = order_gap(stats, default_gap);
  if (!gap) return std::nullopt;
  const double recency = std::max<double>(0, double((now - *stats.last_order_at).count()));
  return 1.0 - std::exp(-recency / double(gap->count()));
}

std::optional<Timestamp> churn_crossing_time(const OrderStats& stats, double threshold,
                                             Duration default_gap) {
  const auto gap = order_gap(stats, default_gap);
  if (!gap || !(threshold < 1.0)) return std::nullopt;
  if (threshold <= 0) return *stats.last_order_at;
  const double wait = double(gap->count()) * std::log(1.0 / (1.0 - threshold));
  return *stats.last_order_at + Duration(static_cast<Duration::rep>(std::ceil(wait)));
}

nlohmann::ordered_json stats_to_json(const OrderStats& stats, Timestamp now, Duration default_gap) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["orders"] = stats.orders;
  out["revenue"] = stats.revenue;
  out["first_order_at"] = stats.first_order_at
                              ? nlohmann::ordered_json(format_rfc3339(*stats.first_order_at))
                              : nullptr;
  out["last_order_at"] =
      stats.last_order_at ? nlohmann::ordered_json(format_rfc3339(*stats.last_order_at)) : nullptr;
  const auto risk = churn_risk(stats, now, default_gap);
  out["churn_risk"] = risk ? nlohmann::ordered_json(*risk) : nlohmann::ordered_json(nullptr);
  return out;
}

}  // namespace herald::ingest
