#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace herald::ingest {

/// Event times are kept to the millisecond, in UTC.
using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

/// Parses RFC 3339 (`2024-03-01T12:30:00.250+01:00`, `Z` or any offset, `T`, `t` or a space
/// between date and time, any number of fraction digits, truncated to milliseconds). A leap second
/// (`:60`) rolls over into the next minute. Returns nullopt for anything else, including an
/// impossible date such as 2023-02-29 or a missing offset.
std::optional<Timestamp> parse_rfc3339(std::string_view text);

/// `2024-03-01T11:30:00.250Z`: always UTC, always three fraction digits.
std::string format_rfc3339(Timestamp time);

}  // namespace herald::ingest
