#pragma once
// Local civil times of the workflow engine: anniversaries (`date` triggers), `wait_until`
// and cron ticks, turned into instants in an IANA time zone (Howard Hinnant's date/tz).
//
// Daylight-saving rules, the same everywhere in the engine:
// - a local time that does not exist (clocks turned forward, e.g. 02:30 on the second
//   Sunday of March in America/New_York) becomes the first valid instant after the gap
//   (03:00 EDT);
// - a local time that happens twice (clocks turned back) is its first occurrence
//   (date::choose::earliest), e.g. 01:30 EDT rather than 01:30 EST.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "workflows/dsl/cron.hpp"
#include "workflows/dsl/workflow.hpp"

namespace date {
class time_zone;
}

namespace herald::gateway::engine {

/// The zone named `name`; else the zone named `fallback`; else UTC.
const date::time_zone* zone_or(std::string_view name, std::string_view fallback);

/// A local time (seconds since the local epoch) as an instant in ms, with the rules above.
int64_t local_to_ms(const date::time_zone* zone, std::chrono::seconds local);

/// A date trait's month and day: "YYYY-MM-DD", alone or at the start of a timestamp.
/// nullopt for anything else.
struct MonthDay {
  unsigned month = 0;
  unsigned day = 0;
};
std::optional<MonthDay> parse_month_day(std::string_view text);

/// The first yearly anniversary instant at or after `from_ms`: the day at `at` local
/// time, then `offset` added in local time. 29 February falls on 28 February in years
/// that have none.
std::optional<int64_t> next_anniversary(MonthDay date, workflows::TimeOfDay at,
                                        std::chrono::seconds offset, const date::time_zone* zone,
                                        int64_t from_ms);

/// The first instant strictly after `after_ms` that is `at` local time on one of `days`
/// (any day when empty).
std::optional<int64_t> next_local_time(workflows::TimeOfDay at,
                                       const std::vector<std::chrono::weekday>& days,
                                       const date::time_zone* zone, int64_t after_ms);

/// The first cron tick strictly after `after_ms`, the schedule read in `zone`.
std::optional<int64_t> next_cron_tick(const workflows::CronSchedule& cron,
                                      const date::time_zone* zone, int64_t after_ms);

}  // namespace herald::gateway::engine
