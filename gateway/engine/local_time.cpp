#include "gateway/engine/local_time.hpp"

#include <charconv>

#include <date/tz.h>

namespace herald::gateway::engine {
namespace {

using std::chrono::seconds;

date::local_seconds local_of(const date::time_zone* zone, int64_t ms) {
  auto sys = date::sys_seconds(
      std::chrono::floor<seconds>(std::chrono::milliseconds(ms)));
  return zone->to_local(sys);
}

bool number(std::string_view text, unsigned& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

const date::time_zone* zone_or(std::string_view name, std::string_view fallback) {
  for (auto candidate : {name, fallback}) {
    if (candidate.empty()) continue;
    try {
      return date::locate_zone(std::string(candidate));
    } catch (const std::exception&) {
    }
  }
  return date::locate_zone("UTC");
}

int64_t local_to_ms(const date::time_zone* zone, seconds local) {
  // choose::earliest: the first occurrence of an ambiguous time; a time in a gap maps to
  // the end of the gap (date/tz returns the transition instant).
  auto sys = zone->to_sys(date::local_seconds(local), date::choose::earliest);
  return std::chrono::duration_cast<std::chrono::milliseconds>(sys.time_since_epoch()).count();
}

std::optional<MonthDay> parse_month_day(std::string_view text) {
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  if (text.size() > 10 && text[10] != 'T' && text[10] != ' ') return std::nullopt;
  unsigned year = 0, month = 0, day = 0;
  if (!number(text.substr(0, 4), year) || !number(text.substr(5, 2), month) ||
      !number(text.substr(8, 2), day))
    return std::nullopt;
  // Validated against a leap year: 29 February is a valid birthday.
  auto ymd = date::year(2000) / date::month(month) / date::day(day);
  if (!ymd.ok()) return std::nullopt;
  return MonthDay{month, day};
}

std::optional<int64_t> next_anniversary(MonthDay md, workflows::TimeOfDay at, seconds offset,
                                        const date::time_zone* zone, int64_t from_ms) {
  auto local_now = local_of(zone, from_ms);
  auto year = date::year_month_day(date::floor<date::days>(local_now)).year();
  // An offset of up to a year either way moves the instant into a neighbouring year.
  auto span = static_cast<int>(std::chrono::abs(offset).count() / (366 * 86400)) + 1;
  for (int y = static_cast<int>(year) - span; y <= static_cast<int>(year) + span + 1; ++y) {
    auto d = date::year(y) / date::month(md.month) / date::day(md.day);
    if (!d.ok()) d = date::year(y) / date::month(md.month) / date::last;  // 29 February
    auto local = date::local_days(d).time_since_epoch() + std::chrono::hours(at.hour) +
                 std::chrono::minutes(at.minute) + offset;
    auto ms = local_to_ms(zone, std::chrono::duration_cast<seconds>(local));
    if (ms >= from_ms) return ms;
  }
  return std::nullopt;
}

std::optional<int64_t> next_local_time(workflows::TimeOfDay at,
                                       const std::vector<std::chrono::weekday>& days,
                                       const date::time_zone* zone, int64_t after_ms) {
  auto today = date::floor<date::days>(local_of(zone, after_ms));
  for (int i = 0; i <= 8; ++i) {
    auto day = today + date::days(i);
    if (!days.empty()) {
      std::chrono::weekday wd{std::chrono::sys_days(day.time_since_epoch())};
      bool listed = false;
      for (auto d : days) listed = listed || d == wd;
      if (!listed) continue;
    }
    auto local = day.time_since_epoch() + std::chrono::hours(at.hour) +
                 std::chrono::minutes(at.minute);
    auto ms = local_to_ms(zone, std::chrono::duration_cast<seconds>(local));
    if (ms > after_ms) return ms;
  }
  return std::nullopt;
}

std::optional<int64_t> next_cron_tick(const workflows::CronSchedule& cron,
                                      const date::time_zone* zone, int64_t after_ms) {
  auto local = local_of(zone, after_ms);
  std::chrono::local_seconds t{local.time_since_epoch()};
  // A few tries: a tick in a gap maps to the end of the gap, which may come before or at
  // `after_ms` (the local time repeats an hour when clocks go back).
  for (int i = 0; i < 4; ++i) {
    auto next = cron.next_after(t);
    if (!next) return std::nullopt;
    auto ms = local_to_ms(zone, next->time_since_epoch());
    if (ms > after_ms) return ms;
    t = *next;
  }
  return std::nullopt;
}

}  // namespace herald::gateway::engine
