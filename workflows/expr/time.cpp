#include "workflows/expr/time.hpp"

#include <cstdio>

namespace herald::expr {
namespace {

bool read_digits(std::string_view s, std::size_t& pos, std::size_t count, int& out) {
  if (pos + count > s.size()) return false;
  int value = 0;
  for (std::size_t i = 0; i < count; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  pos += count;
  out = value;
  return true;
}

bool is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

}  // namespace

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::optional<TimePoint> parse_rfc3339(std::string_view s) {
  std::size_t pos = 0;
  int year, month, day;
  if (!read_digits(s, pos, 4, year) || pos >= s.size() || s[pos++] != '-' ||
      !read_digits(s, pos, 2, month) || pos >= s.size() || s[pos++] != '-' ||
      !read_digits(s, pos, 2, day))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) return std::nullopt;
  std::int64_t micros = days_from_civil(year, month, day) * 86'400'000'000LL;
  if (pos == s.size()) return TimePoint(Duration(micros));

  char sep = s[pos++];
  if (sep != 'T' && sep != 't' && sep != ' ') return std::nullopt;
  int hour, minute, second;
  if (!read_digits(s, pos, 2, hour) || pos >= s.size() || s[pos++] != ':' ||
      !read_digits(s, pos, 2, minute) || pos >= s.size() || s[pos++] != ':' ||
      !read_digits(s, pos, 2, second))
    return std::nullopt;
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;  // 60: leap second
  micros += (hour * 3600LL + minute * 60LL + second) * 1'000'000LL;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    std::int64_t frac = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) frac = frac * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (std::size_t i = digits; i < 6; ++i) frac *= 10;
    micros += frac;
  }
  if (pos >= s.size()) return std::nullopt;
  char zone = s[pos++];
  if (zone == 'Z' || zone == 'z') {
    if (pos != s.size()) return std::nullopt;
    return TimePoint(Duration(micros));
  }
  if (zone != '+' && zone != '-') return std::nullopt;
  int off_h, off_m;
  if (!read_digits(s, pos, 2, off_h) || pos >= s.size() || s[pos++] != ':' ||
      !read_digits(s, pos, 2, off_m) || pos != s.size() || off_h > 23 || off_m > 59)
    return std::nullopt;
  std::int64_t offset = (off_h * 3600LL + off_m * 60LL) * 1'000'000LL;
  micros += zone == '+' ? -offset : offset;
  return TimePoint(Duration(micros));
}

std::string format_rfc3339(TimePoint t) {
  std::int64_t micros = t.time_since_epoch().count();
  std::int64_t days =
      micros >= 0 ? micros / 86'400'000'000LL : -((-micros - 1) / 86'400'000'000LL) - 1;
  std::int64_t rem = micros - days * 86'400'000'000LL;
  // civil_from_days
  std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  const auto secs = rem / 1'000'000;
  const auto frac = rem % 1'000'000;
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld",
                        static_cast<long long>(y), m, d, static_cast<long long>(secs / 3600),
                        static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  std::string out(buf, static_cast<std::size_t>(n));
  if (frac != 0) {
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(frac));
    std::string f(buf);
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  out += 'Z';
  return out;
}

std::optional<Duration> parse_duration(std::string_view s) {
  std::size_t pos = 0;
  bool negative = false;
  if (pos < s.size() && (s[pos] == '-' || s[pos] == '+')) negative = s[pos++] == '-';
  if (pos == s.size()) return std::nullopt;
  std::int64_t total = 0;
  while (pos < s.size()) {
    std::int64_t n = 0;
    std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start >= 9) return std::nullopt;  // keeps every product far from overflow
      n = n * 10 + (s[pos++] - '0');
    }
    if (pos == start || pos == s.size()) return std::nullopt;
    std::int64_t unit;
    switch (s[pos++]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      default:
        return std::nullopt;
    }
    total += n * unit;
  }
  return std::chrono::duration_cast<Duration>(std::chrono::seconds(negative ? -total : total));
}

std::string format_duration(Duration d) {
  std::int64_t micros = d.count();
  std::string out;
  if (micros < 0) {
    out += '-';
    micros = -micros;
  }
  std::int64_t secs = micros / 1'000'000;
  if (secs == 0) return out + "0s";
  struct Unit {
    std::int64_t seconds;
    char suffix;
  };
  static constexpr Unit kUnits[] = {
      {7 * 86400, 'w'}, {86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  for (const auto& u : kUnits) {
    if (secs >= u.seconds) {
      out += std::to_string(secs / u.seconds);
      out += u.suffix;
      secs %= u.seconds;
    }
  }
  return out;
}

}  // namespace herald::expr
