#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace herald::workflows {

/// A 5-field cron expression: minute hour day-of-month month day-of-week. Fields take
/// `*`, numbers, ranges `a-b`, steps `*/n`, `a-b/n` and `a/n`, and comma lists; months
/// take JAN–DEC and days SUN–SAT (case-insensitive; 0 and 7 are Sunday). As in Vixie
/// cron, when both day fields are restricted a day matching either one matches.
class CronSchedule {
 public:
  struct Error {
    std::size_t offset = 0;  // into the text
    std::string message;
  };

  /// nullopt with `error` filled for invalid text.
  static std::optional<CronSchedule> parse(std::string_view text, Error* error = nullptr);

  /// Whether the minute containing `t` (a local civil time) is scheduled.
  bool matches(std::chrono::local_seconds t) const;
  /// The first scheduled minute strictly after `t`, searching eight years ahead
  /// (nullopt for schedules such as `0 0 30 2 *` that never fire).
  std::optional<std::chrono::local_seconds> next_after(std::chrono::local_seconds t) const;

 private:
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool days_restricted_ = false;
  bool weekdays_restricted_ = false;

  bool day_matches(std::chrono::year_month_day ymd) const;
};

}  // namespace herald::workflows
