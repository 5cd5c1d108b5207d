#include "gateway/ingest/timestamp.hpp"

#include <cstdio>

namespace herald::ingest {
namespace {

bool read_digits(std::string_view text, std::size_t at, std::size_t count, int& value) {
  if (at + count > text.size()) return false;
  value = 0;
  for (std::size_t i = at; i < at + count; ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return true;
}

}  // namespace

std::optional<Timestamp> parse_rfc3339(std::string_view text) {
  using namespace std::chrono;
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  // YYYY-MM-DDTHH:MM:SS is 19 characters; an offset adds at least 1.
  if (text.size() < 20 || !read_digits(text, 0, 4, year) || text[4] != '-' ||
      !read_digits(text, 5, 2, month) || text[7] != '-' || !read_digits(text, 8, 2, day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !read_digits(text, 11, 2, hour) ||
      text[13] != ':' || !read_digits(text, 14, 2, minute) || text[16] != ':' ||
      !read_digits(text, 17, 2, second)) {
    return std::nullopt;
  }
  const year_month_day date{std::chrono::year{year}, std::chrono::month{unsigned(month)},
                            std::chrono::day{unsigned(day)}};
  if (!date.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;

  std::size_t at = 19;
  int millis = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    const std::size_t first = at;
    int scale = 100;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      millis += (text[at] - '0') * scale;
      scale /= 10;
      ++at;
    }
    if (at == first) return std::nullopt;
  }
  if (at >= text.size()) return std::nullopt;
  int offset_minutes = 0;
  const char sign = text[at];
  if (sign == 'Z' || sign == 'z') {
    ++at;
  } else if (sign == '+' || sign == '-') {
    int offset_hours = 0, offset_mins = 0;
    if (!read_digits(text, at + 1, 2, offset_hours) || at + 3 >= text.size() ||
        text[at + 3] != ':' || !read_digits(text, at + 4, 2, offset_mins) || offset_hours > 23 ||
        offset_mins > 59) {
      return std::nullopt;
    }
    offset_minutes = (offset_hours * 60 + offset_mins) * (sign == '-' ? -1 : 1);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;

  const auto local = sys_days{date} + hours{hour} + minutes{minute} + seconds{second};
  return time_point_cast<milliseconds>(local) + milliseconds{millis} - minutes{offset_minutes};
}

std::string format_rfc3339(Timestamp time) {
  using namespace std::chrono;
  const auto day_point = floor<days>(time);
  const year_month_day date{day_point};
  const hh_mm_ss<milliseconds> clock{time - day_point};
  const int year = int(date.year());
  if (year < 0 || year > 9999) {  // outside RFC 3339's four digits: as printf writes it
    char buffer[48];
    const int n = std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                                year, unsigned(date.month()), unsigned(date.day()),
                                int(clock.hours().count()), int(clock.minutes().count()),
                                int(clock.seconds().count()), int(clock.subseconds().count()));
    return std::string(buffer, std::size_t(n));
  }
  // "YYYY-MM-DDTHH:MM:SS.mmmZ", digit by digit: snprintf was a tenth of the engine's
  // time per event.
  std::string out = "0000-00-00T00:00:00.000Z";
  auto put = [&out](std::size_t at, unsigned value, int digits) {
    for (int i = digits - 1; i >= 0; --i, value /= 10) out[at + std::size_t(i)] = char('0' + value % 10);
  };
  put(0, unsigned(year), 4);
  put(5, unsigned(date.month()), 2);
  put(8, unsigned(date.day()), 2);
  put(11, unsigned(clock.hours().count()), 2);
  put(14, unsigned(clock.minutes().count()), 2);
  put(17, unsigned(clock.seconds().count()), 2);
  put(20, unsigned(clock.subseconds().count()), 3);
  return out;
}

}  // namespace herald::ingest
