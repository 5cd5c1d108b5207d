#include "gateway/ingest/order_stats.hpp"

#include <cmath>

#include <catch2/catch.hpp>

#include "ingest_test_util.hpp"

using namespace herald::ingest;
using herald::ingest::test::json;
using namespace std::chrono;

namespace {
const Timestamp kT0 = sys_days{year{2024} / 1 / 1};
const Duration kThirtyDays = duration_cast<Duration>(days(30));
}  // namespace

TEST_CASE("revenue comes from total, else revenue", "[ingest][stats]") {
  CHECK(order_revenue(json(R"({"total":19.5,"revenue":17})")) == 19.5);
  CHECK(order_revenue(json(R"({"revenue":17})")) == 17);
  CHECK(order_revenue(json(R"({"total":"42.10"})")) == Approx(42.10));
  CHECK(order_revenue(json(R"({"total":"n/a","revenue":3})")) == 3);
  CHECK(order_revenue(json(R"({"total":null,"revenue":"5"})")) == 5);
  CHECK(order_revenue(json(R"({"amount":10})")) == 0);
  CHECK(order_revenue(json("[]")) == 0);
}

TEST_CASE("orders update the stats", "[ingest][stats]") {
  OrderStats stats;
  stats = apply_order(stats, json(R"({"total":10})"), kT0 + days(10));
  CHECK(stats.orders == 1);
  CHECK(stats.revenue == 10);
  CHECK(stats.first_order_at == kT0 + days(10));
  CHECK(stats.last_order_at == kT0 + days(10));
  stats = apply_order(stats, json(R"({"revenue":5.5})"), kT0 + days(20));
  // An order that arrives late, dated before the first.
  stats = apply_order(stats, json(R"({})"), kT0);
  CHECK(stats.orders == 3);
  CHECK(stats.revenue == 15.5);
  CHECK(stats.first_order_at == kT0);
  CHECK(stats.last_order_at == kT0 + days(20));
}

TEST_CASE("churn risk is 1 - exp(-r/g)", "[ingest][stats]") {
  OrderStats none;
  CHECK_FALSE(churn_risk(none, kT0, kThirtyDays));
  CHECK_FALSE(churn_crossing_time(none, 0.8, kThirtyDays));

  // One order: g is the default gap.
  OrderStats one = apply_order({}, json("{}"), kT0);
  CHECK(*churn_risk(one, kT0, kThirtyDays) == 0);
  CHECK(*churn_risk(one, kT0 + days(30), kThirtyDays) == Approx(1 - std::exp(-1.0)));
  CHECK(*churn_risk(one, kT0 + days(60), kThirtyDays) == Approx(1 - std::exp(-2.0)));
  CHECK(*churn_risk(one, kT0 - days(1), kThirtyDays) == 0);  // a clock behind the last order

  // Three orders over 20 days: g = 10 days.
  OrderStats three =
      apply_order(apply_order(one, json("{}"), kT0 + days(5)), json("{}"), kT0 + days(20));
  CHECK(*order_gap(three, kThirtyDays) == duration_cast<Duration>(days(10)));
  CHECK(*churn_risk(three, kT0 + days(30), kThirtyDays) == Approx(1 - std::exp(-1.0)));

  // Orders at one instant: the default gap rather than a division by zero.
  OrderStats same = apply_order(one, json("{}"), kT0);
  CHECK(*order_gap(same, kThirtyDays) == kThirtyDays);
}

TEST_CASE("the churn crossing time is last + g ln(1/(1-X))", "[ingest][stats]") {
  const OrderStats one = apply_order({}, json("{}"), kT0);
  const auto crossing = churn_crossing_time(one, 0.8, kThirtyDays);
  REQUIRE(crossing);
  const double expected_ms = double(kThirtyDays.count()) * std::log(1 / 0.2);
  CHECK(double((*crossing - kT0).count()) == Approx(expected_ms).margin(1));
  // At that moment the risk has reached the threshold, a millisecond earlier it had not.
  CHECK(*churn_risk(one, *crossing, kThirtyDays) >= 0.8);
  CHECK(*churn_risk(one, *crossing - milliseconds(2), kThirtyDays) < 0.8);
  CHECK(churn_crossing_time(one, 0.5, kThirtyDays) > kT0 + days(20));
  CHECK(churn_crossing_time(one, 0.5, kThirtyDays) < kT0 + days(21));  // 30 ln 2 = 20.79 days
  CHECK(churn_crossing_time(one, 0, kThirtyDays) == kT0);
  CHECK_FALSE(churn_crossing_time(one, 1, kThirtyDays));
  CHECK_FALSE(churn_crossing_time(one, 1.5, kThirtyDays));
  // A new order moves the crossing.
  const OrderStats two = apply_order(one, json("{}"), kT0 + days(10));
  CHECK(double((*churn_crossing_time(two, 0.8, kThirtyDays) - (kT0 + days(10))).count()) ==
        Approx(double(duration_cast<Duration>(days(10)).count()) * std::log(5)).margin(1));
}

TEST_CASE("stats as the customers API shows them", "[ingest][stats]") {
  CHECK(stats_to_json({}, kT0, kThirtyDays) == json(R"({"orders":0,"revenue":0.0,
    "first_order_at":null,"last_order_at":null,"churn_risk":null})"));
  const OrderStats one = apply_order({}, json(R"({"total":12.5})"), kT0);
  const auto shown = stats_to_json(one, kT0 + days(30), kThirtyDays);
  CHECK(shown["orders"] == 1);
  CHECK(shown["revenue"] == 12.5);
  CHECK(shown["first_order_at"] == "2024-01-01T00:00:00.000Z");
  CHECK(shown["churn_risk"].get<double>() == Approx(0.6321205588));
}
