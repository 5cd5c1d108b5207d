#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include <nlohmann/json.hpp>

#include "gateway/ingest/timestamp.hpp"

namespace herald::ingest {

/// `customer.stats` (workflows.md, "Churn risk").
struct OrderStats {
  std::int64_t orders = 0;
  double revenue = 0;
  std::optional<Timestamp> first_order_at;  // set together with last_order_at, by the first order
  std::optional<Timestamp> last_order_at;

  friend bool operator==(const OrderStats&, const OrderStats&) = default;
};

using Duration = std::chrono::milliseconds;

/// An order's revenue: `properties.total`, else `properties.revenue`; a number or a numeric string
/// (Shopify sends "19.99"); 0 when neither holds one.
double order_revenue(const nlohmann::ordered_json& properties);

/// The stats after one more order event (the configured `stats.order_event`) at `at`. Orders may
/// arrive out of time order: first and last are the earliest and latest seen.
OrderStats apply_order(const OrderStats& stats, const nlohmann::ordered_json& properties,
                       Timestamp at);

/// The mean gap between orders: (last − first) / (orders − 1) with two or more orders,
/// `default_gap` with one, or when all orders share one instant. Nullopt without orders.
std::optional<Duration> order_gap(const OrderStats& stats, Duration default_gap);

/// 1 − exp(−r / g) with recency r = now − last_order_at (0 when last is in the future); nullopt
/// without orders.
std::optional<double> churn_risk(const OrderStats& stats, Timestamp now, Duration default_gap);

/// When churn_risk() reaches `threshold`: last_order_at + g · ln(1 / (1 − threshold)). Nullopt
/// without orders or for a threshold of 1 or more (never reached); last_order_at for a threshold
/// of 0 or less.
std::optional<Timestamp> churn_crossing_time(const OrderStats& stats, double threshold,
                                             Duration default_gap);

/// `{"orders", "revenue", "first_order_at", "last_order_at", "churn_risk"}` as GET
/// /v1/customers/{id} shows them (times RFC 3339, absent values null).
nlohmann::ordered_json stats_to_json(const OrderStats& stats, Timestamp now, Duration default_gap);

}  // namespace herald::ingest
