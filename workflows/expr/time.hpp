#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald::expr {

/// Durations and instants of the expression language, at microsecond precision.
using Duration = std::chrono::microseconds;
using TimePoint = std::chrono::sys_time<std::chrono::microseconds>;

/// Parses an RFC 3339 date-time (`2024-05-01T09:30:00Z`, `2024-05-01T09:30:00.25+02:00`;
/// `t`, `z` and a space separator are accepted) or a full date (`2024-05-01`, taken as
/// midnight UTC). Returns nullopt for anything else, including out-of-range fields.
std::optional<TimePoint> parse_rfc3339(std::string_view text);

/// RFC 3339 in UTC, `Z` suffix; fractional seconds only when non-zero.
std::string format_rfc3339(TimePoint t);

/// Parses a duration: an optional sign, then one or more groups of digits and a unit
/// `s`, `m`, `h`, `d` or `w` (`30s`, `15m`, `1h`, `2d`, `1w`, `1h30m`, `-1d`).
std::optional<Duration> parse_duration(std::string_view text);

/// The shortest form of parse_duration's syntax (`90m` → `1h30m`, `0s` for zero).
std::string format_duration(Duration d);

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);

}  // namespace herald::expr
