// `date`: strftime in the customer's time zone. Directives, flags and padding
// follow liquidjs's strftime; %F and %T are added.

#include <date/tz.h>

#include <charconv>
#include <chrono>
#include <cmath>

#include "templates/liquid/filters.hpp"
#include "templates/liquid/render_state.hpp"

namespace herald::templates {
namespace {

using Millis = std::chrono::sys_time<std::chrono::milliseconds>;

constexpr std::string_view kDefaultFormat = "%A, %B %-e, %Y at %-l:%M %P %z";
constexpr const char* kWeekdays[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                     "Thursday", "Friday", "Saturday"};
constexpr const char* kMonths[] = {"January",   "February", "March",    "April",
                                   "May",       "June",     "July",     "August",
                                   "September", "October",  "November", "December"};

bool digits_at(std::string_view s, std::size_t pos, std::size_t n, int& value) {
  if (pos + n > s.size()) return false;
  auto res = std::from_chars(s.data() + pos, s.data() + pos + n, value);
  return res.ec == std::errc() && res.ptr == s.data() + pos + n;
}

// ISO 8601: YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][Z|±HH[:]MM]; no offset means UTC.
std::optional<Millis> parse_iso(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, ms = 0, off = 0;
  if (s.size() < 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  if (!digits_at(s, 0, 4, y) || !digits_at(s, 5, 2, mo) || !digits_at(s, 8, 2, d))
    return std::nullopt;
  std::size_t i = 10;
  if (i < s.size() && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
    if (!digits_at(s, i + 1, 2, h) || i + 3 >= s.size() || s[i + 3] != ':' ||
        !digits_at(s, i + 4, 2, mi)) {
      return std::nullopt;
    }
    i += 6;
    if (i < s.size() && s[i] == ':') {
      if (!digits_at(s, i + 1, 2, sec)) return std::nullopt;
      i += 3;
      if (i < s.size() && s[i] == '.') {
        ++i;
        int scale = 100;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
          ms += (s[i] - '0') * scale;
          scale /= 10;
          ++i;
        }
      }
    }
    if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
      ++i;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      int oh = 0, om = 0;
      int sign = s[i] == '-' ? -1 : 1;
      if (!digits_at(s, i + 1, 2, oh)) return std::nullopt;
      std::size_t m = i + 3;
      if (m < s.size() && s[m] == ':') ++m;
      if (!digits_at(s, m, 2, om)) return std::nullopt;
      off = sign * (oh * 60 + om);
      i = m + 2;
    }
  }
  if (i != s.size()) return std::nullopt;
  date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(mo)},
                           date::day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  using namespace std::chrono;
  return Millis{date::sys_days{ymd}.time_since_epoch() + hours{h} + minutes{mi} + seconds{sec} +
                milliseconds{ms} - minutes{off}};
}

Millis from_seconds(double s) {
  return Millis{std::chrono::milliseconds{static_cast<std::int64_t>(std::llround(s * 1000))}};
}

std::optional<Millis> parse_time(const Json& v, RenderState& state, int depth = 0) {
  if (v.is_number()) {
    double s = v.get<double>();
    if (!std::isfinite(s) || std::abs(s) > 1e11) return std::nullopt;  // years within ±3000
    return from_seconds(s);
  }
  if (!v.is_string()) return std::nullopt;
  const auto& s = v.get_ref<const std::string&>();
  if (s == "now" || s == "today") {
    // The context's `now` keeps renders reproducible; without it, the clock.
    if (depth == 0 && state.context.is_object()) {
      auto it = state.context.find("now");
      if (it != state.context.end()) {
        if (auto t = parse_time(*it, state, 1)) return t;
      }
    }
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }
  if (!s.empty() && s.size() <= 11 && s.find_first_not_of("0123456789") == std::string::npos) {
    return from_seconds(std::stod(s));
  }
  return parse_iso(s);
}

struct Fields {
  int year, month, day, hour, minute, second, millis, weekday, yday;
  int offset_minutes;
  std::string abbrev;
  std::int64_t epoch_millis;
};

Fields fields_of(Millis t, const date::time_zone* zone) {
  using namespace std::chrono;
  auto info = zone->get_info(floor<seconds>(t));
  auto local = t + info.offset;
  auto day = floor<date::days>(local);
  date::year_month_day ymd{day};
  date::hh_mm_ss<milliseconds> tod{local - day};
  date::year_month_day jan1{ymd.year(), date::January, date::day{1}};
  Fields f{};
  f.year = static_cast<int>(ymd.year());
  f.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
  f.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
  f.hour = static_cast<int>(tod.hours().count());
  f.minute = static_cast<int>(tod.minutes().count());
  f.second = static_cast<int>(tod.seconds().count());
  f.millis = static_cast<int>(tod.subseconds().count());
  f.weekday = static_cast<int>(date::weekday{day}.c_encoding());
  f.yday = static_cast<int>((day - date::sys_days{jan1}).count()) + 1;
  f.offset_minutes = static_cast<int>(duration_cast<minutes>(info.offset).count());
  f.abbrev = info.abbrev;
  f.epoch_millis = t.time_since_epoch().count();
  return f;
}

std::string pad(std::string s, std::size_t width, char c) {
  if (s.size() < width) s.insert(0, width - s.size(), c);
  return s;
}

std::string offset_text(const Fields& f, bool colon) {
  int m = std::abs(f.offset_minutes);
  return std::string(f.offset_minutes < 0 ? "-" : "+") + pad(std::to_string(m / 60), 2, '0') +
         (colon ? ":" : "") + pad(std::to_string(m % 60), 2, '0');
}

std::string twelve_hour(const Fields& f) {
  return std::to_string(f.hour % 12 == 0 ? 12 : f.hour % 12);
}

std::string week_of_year(const Fields& f, int start_day) {
  int now = f.yday + (start_day - f.weekday);
  int jan1_weekday = ((f.weekday - (f.yday - 1)) % 7 + 7) % 7;
  int then = 7 - jan1_weekday + start_day;
  return std::to_string(static_cast<int>(std::floor((now - then) / 7.0)) + 1);
}

// Intl's en-US toLocaleDateString / toLocaleTimeString.
std::string locale_date(const Fields& f) {
  return std::to_string(f.month) + "/" + std::to_string(f.day) + "/" + std::to_string(f.year);
}
std::string locale_time(const Fields& f) {
  return twelve_hour(f) + ":" + pad(std::to_string(f.minute), 2, '0') + ":" +
         pad(std::to_string(f.second), 2, '0') + (f.hour < 12 ? " AM" : " PM");
}

std::optional<std::string> convert(char c, const Fields& f, bool colon, std::size_t width) {
  switch (c) {
    case 'a':
      return std::string(kWeekdays[f.weekday]).substr(0, 3);
    case 'A':
      return std::string(kWeekdays[f.weekday]);
    case 'b':
    case 'h':
      return std::string(kMonths[f.month - 1]).substr(0, 3);
    case 'B':
      return std::string(kMonths[f.month - 1]);
    case 'c':
      return locale_date(f) + ", " + locale_time(f);
    case 'C':
      return std::to_string(f.year).substr(0, 2);
    case 'd':
    case 'e':
      return std::to_string(f.day);
    case 'F':
      return pad(std::to_string(f.year), 4, '0') + "-" + pad(std::to_string(f.month), 2, '0') +
             "-" + pad(std::to_string(f.day), 2, '0');
    case 'H':
    case 'k':
      return std::to_string(f.hour);
    case 'I':
    case 'l':
      return twelve_hour(f);
    case 'j':
      return std::to_string(f.yday);
    case 'L':
      return std::to_string(f.millis);
    case 'm':
      return std::to_string(f.month);
    case 'M':
      return std::to_string(f.minute);
    case 'N': {
      std::size_t w = width ? width : 9;
      std::string s = std::to_string(f.millis).substr(0, w);
      s.append(w - s.size(), '0');
      return s;
    }
    case 'p':
      return std::string(f.hour < 12 ? "AM" : "PM");
    case 'P':
      return std::string(f.hour < 12 ? "am" : "pm");
    case 'q': {
      if (f.day >= 11 && f.day <= 13) return std::string("th");
      switch (f.day % 10) {
        case 1:
          return std::string("st");
        case 2:
          return std::string("nd");
        case 3:
          return std::string("rd");
        default:
          return std::string("th");
      }
    }
    case 's': {
      double s = static_cast<double>(f.epoch_millis) / 1000.0;
      return std::to_string(static_cast<std::int64_t>(std::floor(s + 0.5)));
    }
    case 'S':
      return std::to_string(f.second);
    case 'T':
      return pad(std::to_string(f.hour), 2, '0') + ":" + pad(std::to_string(f.minute), 2, '0') +
             ":" + pad(std::to_string(f.second), 2, '0');
    case 'u':
      return std::to_string(f.weekday == 0 ? 7 : f.weekday);
    case 'U':
      return week_of_year(f, 0);
    case 'w':
      return std::to_string(f.weekday);
    case 'W':
      return week_of_year(f, 1);
    case 'x':
      return locale_date(f);
    case 'X':
      return locale_time(f);
    case 'y': {
      std::string year = std::to_string(f.year);
      return year.size() > 2 ? year.substr(2, 2) : std::string();
    }
    case 'Y':
      return std::to_string(f.year);
    case 'z':
      return offset_text(f, colon);
    case 'Z':
      return f.abbrev.empty() ? offset_text(f, colon) : f.abbrev;
    case 't':
      return std::string("\t");
    case 'n':
      return std::string("\n");
    case '%':
      return std::string("%");
    default:
      return std::nullopt;
  }
}

std::size_t default_width(char c) {
  switch (c) {
    case 'd':
    case 'e':
    case 'H':
    case 'I':
    case 'k':
    case 'l':
    case 'm':
    case 'M':
    case 'S':
    case 'U':
    case 'W':
      return 2;
    case 'j':
    case 'L':
      return 3;
    default:
      return 0;
  }
}

std::string strftime(std::string_view format, const Fields& f) {
  std::string out;
  std::size_t i = 0;
  while (i < format.size()) {
    std::size_t percent = format.find('%', i);
    if (percent == std::string_view::npos) break;
    out.append(format, i, percent - i);
    std::size_t j = percent + 1;
    bool no_pad = false, upper = false, space = false, zero = false, colon = false, swap = false;
    while (j < format.size() &&
           std::string_view("-_0^#:").find(format[j]) != std::string_view::npos) {
      switch (format[j]) {
        case '-':
          no_pad = true;
          break;
        case '_':
          space = true;
          break;
        case '0':
          zero = true;
          break;
        case '^':
          upper = true;
          break;
        case '#':
          swap = true;
          break;
        case ':':
          colon = true;
          break;
      }
      ++j;
    }
    std::size_t width = 0;
    while (j < format.size() && format[j] >= '0' && format[j] <= '9' && width < 1000) {
      width = width * 10 + static_cast<std::size_t>(format[j] - '0');
      ++j;
    }
    if (j < format.size() && (format[j] == 'E' || format[j] == 'O')) ++j;
    if (j >= format.size() || format[j] == '\n') {
      out.append(format, percent, j - percent);
      i = j;
      continue;
    }
    char c = format[j];
    auto value = convert(c, f, colon, width);
    i = j + 1;
    if (!value) {
      out.append(format, percent, i - percent);
      continue;
    }
    std::string s = std::move(*value);
    char pad_char = std::string_view("aAbBceklpP").find(c) != std::string_view::npos ? ' ' : '0';
    std::size_t pad_width = width ? width : default_width(c);
    if (upper) {
      for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    } else if (swap) {
      bool has_lower = false;
      for (char ch : s) has_lower = has_lower || (ch >= 'a' && ch <= 'z');
      for (char& ch : s) {
        ch = static_cast<char>(has_lower ? std::toupper(static_cast<unsigned char>(ch))
                                         : std::tolower(static_cast<unsigned char>(ch)));
      }
    }
    if (space)
      pad_char = ' ';
    else if (zero)
      pad_char = '0';
    if (no_pad) pad_width = 0;
    out += pad(std::move(s), pad_width, pad_char);
  }
  if (i < format.size()) out.append(format, i);
  return out;
}

}  // namespace

Json date_filter(const Json& input, const Json* const* args, std::size_t argc, RenderState& state) {
  auto t = parse_time(input, state);
  if (!t) return input;
  const date::time_zone* zone = nullptr;
  if (argc >= 2 && args[1]->is_string()) {
    try {
      zone = date::locate_zone(args[1]->get<std::string>());
    } catch (const std::exception&) {
      zone = nullptr;
    }
  }
  if (!zone) zone = state.time_zone();
  std::string format =
      argc >= 1 && !args[0]->is_null() ? to_liquid_string(*args[0]) : std::string(kDefaultFormat);
  return strftime(format, fields_of(*t, zone));
}

}  // namespace herald::templates
