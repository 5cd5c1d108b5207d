#include "workflows/dsl/cron.hpp"

#include <array>
#include <vector>

namespace herald::workflows {
namespace {

struct FieldSpec {
  const char* name;
  int min;
  int max;
  const char* const* names;  // names[i] is value min + i; nullptr when none
};

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

constexpr std::array<FieldSpec, 5> kFields = {{
    {"minute", 0, 59, nullptr},
    {"hour", 0, 23, nullptr},
    {"day of month", 1, 31, nullptr},
    {"month", 1, 12, kMonthNames},
    {"day of week", 0, 7, kDayNames},
}};

class FieldParser {
 public:
  FieldParser(const FieldSpec& spec, std::string_view text, std::size_t base,
              CronSchedule::Error* error)
      : spec_(spec), text_(text), base_(base), error_(error) {}

  // Sets bits [value - 0]; returns false on error.
  template <std::size_t N>
  bool parse(std::bitset<N>& bits) {
    std::size_t start = 0;
    while (true) {
      std::size_t comma = text_.find(',', start);
      std::string_view item = text_.substr(
          start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
      if (!parse_item(item, start, bits)) return false;
      if (comma == std::string_view::npos) return true;
      start = comma + 1;
    }
  }

 private:
  bool fail(std::size_t at, std::string message) {
    if (error_ != nullptr) *error_ = {base_ + at, std::move(message)};
    return false;
  }

  bool value(std::string_view word, std::size_t at, int& out) {
    if (word.empty()) return fail(at, std::string("empty ") + spec_.name + " value");
    bool digits = true;
    for (char c : word) digits = digits && c >= '0' && c <= '9';
    if (digits) {
      if (word.size() > 2)
        return fail(at, std::string("bad ") + spec_.name + " '" + std::string(word) + "'");
      out = std::stoi(std::string(word));
      if (out < spec_.min || out > spec_.max)
        return fail(at, std::string("bad ") + spec_.name + " '" + std::string(word) +
                            "': expected " + std::to_string(spec_.min) + "-" +
                            std::to_string(spec_.max));
      return true;
    }
    if (spec_.names != nullptr && word.size() == 3) {
      std::string lower;
      for (char c : word) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      int count = spec_.max - spec_.min + (spec_.max == 7 ? 0 : 1);
      for (int i = 0; i < count; ++i) {
        if (lower == spec_.names[i]) {
          out = spec_.min + i;
          return true;
        }
      }
    }
    return fail(at, std::string("bad ") + spec_.name + " '" + std::string(word) + "'");
  }

  template <std::size_t N>
  bool parse_item(std::string_view item, std::size_t at, std::bitset<N>& bits) {
    int step = 1;
    std::size_t slash = item.find('/');
    std::string_view range = item.substr(0, slash);
    if (slash != std::string_view::npos) {
      std::string_view step_text = item.substr(slash + 1);
      bool digits = !step_text.empty() && step_text.size() <= 2;
      for (char c : step_text) digits = digits && c >= '0' && c <= '9';
      if (!digits || std::stoi(std::string(step_text)) == 0)
        return fail(at + slash + 1, "bad step '" + std::string(step_text) + "'");
      step = std::stoi(std::string(step_text));
    }
    int low = spec_.min, high = spec_.max;
    if (range != "*") {
      std::size_t dash = range.find('-');
      if (!value(range.substr(0, dash), at, low)) return false;
      if (dash != std::string_view::npos) {
        if (!value(range.substr(dash + 1), at + dash + 1, high)) return false;
        if (high < low)
          return fail(at, "bad range '" + std::string(range) + "': the end is before the start");
      } else if (slash == std::string_view::npos) {
        high = low;
      }
    }
    for (int v = low; v <= high; v += step)
      bits.set(static_cast<std::size_t>(v == 7 && N == 7 ? 0 : v));
    return true;
  }

  const FieldSpec& spec_;
  std::string_view text_;
  std::size_t base_;
  CronSchedule::Error* error_;
};

}  // namespace

std::optional<CronSchedule> CronSchedule::parse(std::string_view text, Error* error) {
  std::vector<std::pair<std::size_t, std::string_view>> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > start) fields.emplace_back(start, text.substr(start, i - start));
  }
  if (fields.size() != 5) {
    if (error != nullptr)
      *error = {0,
                "a cron schedule has 5 fields (minute hour day-of-month month day-of-week), not " +
                    std::to_string(fields.size())};
    return std::nullopt;
  }
  CronSchedule s;
  bool ok = FieldParser(kFields[0], fields[0].second, fields[0].first, error).parse(s.minutes_) &&
            FieldParser(kFields[1], fields[1].second, fields[1].first, error).parse(s.hours_) &&
            FieldParser(kFields[2], fields[2].second, fields[2].first, error).parse(s.days_) &&
            FieldParser(kFields[3], fields[3].second, fields[3].first, error).parse(s.months_) &&
            FieldParser(kFields[4], fields[4].second, fields[4].first, error).parse(s.weekdays_);
  if (!ok) return std::nullopt;
  s.days_restricted_ = fields[2].second.front() != '*';
  s.weekdays_restricted_ = fields[4].second.front() != '*';
  return s;
}

bool CronSchedule::day_matches(std::chrono::year_month_day ymd) const {
  if (!months_.test(static_cast<unsigned>(ymd.month()))) return false;
  bool day = days_.test(static_cast<unsigned>(ymd.day()));
  bool weekday = weekdays_.test(std::chrono::weekday(std::chrono::sys_days(ymd)).c_encoding());
  if (days_restricted_ && weekdays_restricted_) return day || weekday;
  return day && weekday;
}

bool CronSchedule::matches(std::chrono::local_seconds t) const {
  using namespace std::chrono;
  auto day = floor<days>(t);
  year_month_day ymd{sys_days(day.time_since_epoch())};
  hh_mm_ss hms{t - day};
  return day_matches(ymd) && hours_.test(static_cast<std::size_t>(hms.hours().count())) &&
         minutes_.test(static_cast<std::size_t>(hms.minutes().count()));
}

std::optional<std::chrono::local_seconds> CronSchedule::next_after(
    std::chrono::local_seconds t) const {
  using namespace std::chrono;
  auto start = floor<minutes>(t) + minutes(1);
  auto day = floor<days>(start);
  auto minute_of_day = duration_cast<minutes>(start - day).count();
  for (int d = 0; d < 366 * 8; ++d, day += days(1), minute_of_day = 0) {
    if (!day_matches(year_month_day{sys_days(day.time_since_epoch())})) continue;
    for (auto m = minute_of_day; m < 24 * 60; ++m) {
      if (hours_.test(static_cast<std::size_t>(m / 60)) &&
          minutes_.test(static_cast<std::size_t>(m % 60)))
        return local_seconds(day + minutes(m));
    }
  }
  return std::nullopt;
}

}  // namespace herald::workflows
