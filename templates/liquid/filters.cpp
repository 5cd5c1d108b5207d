// The standard filters. Semantics follow liquidjs (the conformance corpus in
// tests/templates/ checks them); deliberate differences are listed in
// templates/README.md.

#include "templates/liquid/filters.hpp"

#include <locale.h>
#include <wctype.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "templates/liquid/render_state.hpp"

namespace herald::templates {
namespace {

const Json& arg(const Json* const* args, std::size_t argc, std::size_t i) {
  return i < argc ? *args[i] : null_json();
}

std::string str(const Json& value) {
  return to_liquid_string(value);
}

// ---- case mapping (Unicode, through the C.UTF-8 locale's tables)

locale_t utf8_locale() {
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  return loc;
}

enum class Case { kUpper, kLower };

void append_cased(std::string_view text, Case to, std::string& out) {
  locale_t loc = utf8_locale();
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out += static_cast<char>(to == Case::kUpper ? (c >= 'a' && c <= 'z' ? c - 32 : c)
                                                  : (c >= 'A' && c <= 'Z' ? c + 32 : c));
      ++i;
      continue;
    }
    char32_t cp = decode_utf8(text, i);
    if (loc) {
      cp = static_cast<char32_t>(to == Case::kUpper ? towupper_l(static_cast<wint_t>(cp), loc)
                                                    : towlower_l(static_cast<wint_t>(cp), loc));
    }
    append_utf8(cp, out);
  }
}

std::string cased(std::string_view text, Case to) {
  std::string out;
  out.reserve(text.size());
  append_cased(text, to, out);
  return out;
}

Json upcase(const Json& in, const Json* const*, std::size_t, RenderState&) {
  return cased(str(in), Case::kUpper);
}
Json downcase(const Json& in, const Json* const*, std::size_t, RenderState&) {
  return cased(str(in), Case::kLower);
}
Json capitalize(const Json& in, const Json* const*, std::size_t, RenderState&) {
  std::string s = str(in);
  if (s.empty()) return s;
  std::size_t first_end = 0;
  decode_utf8(s, first_end);
  std::string out = cased(std::string_view(s).substr(0, first_end), Case::kUpper);
  append_cased(std::string_view(s).substr(first_end), Case::kLower, out);
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

Json strip(const Json& in, const Json* const*, std::size_t, RenderState&) {
  std::string s = str(in);
  std::size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

Json default_filter(const Json& in, const Json* const* args, std::size_t argc, RenderState&) {
  bool allow_false = argc >= 2 && is_truthy(*args[1]);
  bool use_default = in.is_null() || (in.is_boolean() && !in.get<bool>() && !allow_false) ||
                     (in.is_string() && in.get_ref<const std::string&>().empty()) ||
                     (in.is_array() && in.empty());
  return use_default ? arg(args, argc, 0) : in;
}

std::int64_t int_arg(const Json& value, std::int64_t fallback) {
  if (value.is_null()) return fallback;
  Json n = arithmetic_operand(value);
  if (n.is_number_integer()) return n.get<std::int64_t>();
  double d = n.get<double>();
  return std::isfinite(d) ? static_cast<std::int64_t>(std::clamp(d, -1e15, 1e15)) : fallback;
}

// Byte offset of the `n`th code point (or the size when there are fewer).
std::size_t utf8_offset(std::string_view s, std::size_t n) {
  std::size_t i = 0;
  while (n > 0 && i < s.size()) {
    decode_utf8(s, i);
    --n;
  }
  return i;
}

Json truncate(const Json& in, const Json* const* args, std::size_t argc, RenderState&) {
  std::string s = str(in);
  std::int64_t length = int_arg(arg(args, argc, 0), 50);
  std::string ellipsis = argc >= 2 ? str(*args[1]) : "...";
  if (static_cast<std::int64_t>(utf8_length(s)) <= length) return in;
  std::int64_t keep = length - static_cast<std::int64_t>(utf8_length(ellipsis));
  std::string out = keep > 0 ? s.substr(0, utf8_offset(s, static_cast<std::size_t>(keep))) : "";
  return out + ellipsis;
}

Json truncatewords(const Json& in, const Json* const* args, std::size_t argc, RenderState&) {
  std::string s = str(in);
  std::int64_t words = std::max<std::int64_t>(1, int_arg(arg(args, argc, 0), 15));
  std::string ellipsis = argc >= 2 ? str(*args[1]) : "...";
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    std::size_t start = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > start) parts.emplace_back(s.data() + start, i - start);
    if (static_cast<std::int64_t>(parts.size()) > words) break;
  }
  if (static_cast<std::int64_t>(parts.size()) <= words) return in;
  std::string out;
  for (std::int64_t w = 0; w < words; ++w) {
    if (w) out += ' ';
    out += parts[static_cast<std::size_t>(w)];
  }
  return out + ellipsis;
}

// Splits into code points, as JavaScript's split('') does for the BMP.
std::vector<std::string> code_points(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t start = i;
    decode_utf8(s, i);
    out.push_back(s.substr(start, i - start));
  }
  return out;
}

Json replace(const Json& in, const Json* const* args, std::size_t argc, RenderState&) {
  std::string s = str(in);
  std::string from = str(arg(args, argc, 0));
  std::string to = str(arg(args, argc, 1));
  std::string out;
  if (from.empty()) {
    auto chars = code_points(s);
    for (std::size_t i = 0; i < chars.size(); ++i) {
      if (i) out += to;
      out += chars[i];
    }
    return out;
  }
  std::size_t pos = 0;
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, pos)) {
    out.append(s, pos, at - pos);
    out += to;
    pos = at + from.size();
  }
  out.append(s, pos);
  return out;
}

Json append(const Json& in, const Json* const* args, std::size_t argc, RenderState&) {
  return str(in) + str(arg(args, argc, 0));
}
Json prepend(const Json& in, const Json* const* args, std::size_t argc, RenderState&) {
  return str(arg(args, argc, 0)) + str(in);
}

Json split(const Json& in, const Json* const* args, std::size_t argc, RenderState&) {
  std::string s = str(in);
  std::string sep = str(arg(args, argc, 0));
  Json out = Json::array();
  if (sep.empty()) {
    for (auto& c : code_points(s)) out.push_back(std::move(c));
  } else {
    std::size_t pos = 0;
    for (std::size_t at = s.find(sep); at != std::string::npos; at = s.find(sep, pos)) {
      out.push_back(s.substr(pos, at - pos));
      pos = at + sep.size();
    }
    out.push_back(s.substr(pos));
  }
  while (!out.empty() && out.back().get_ref<const std::string&>().empty())
    out.erase(out.size() - 1);
  return out;
}

// Array#join's view of an element: nil is empty, nested arrays join with ','.
void append_join_item(const Json& item, std::string& out) {
  if (item.is_array()) {
    bool first = true;
    for (const auto& inner : item) {
      if (!first) out += ',';
      first = false;
      append_join_item(inner, out);
    }
  } else {
    append_value(item, out);
  }
}

Json join(const Json& in, const Json* const* args, std::size_t argc, RenderState&) {
  std::string sep = argc >= 1 && !args[0]->is_null() ? str(*args[0]) : " ";
  if (in.is_null()) return "";
  if (!in.is_array()) return str(in);
  std::string out;
  bool first = true;
  for (const auto& item : in) {
    if (!first) out += sep;
    first = false;
    append_join_item(item, out);
  }
  return out;
}

Json first(const Json& in, const Json* const*, std::size_t, RenderState&) {
  if (in.is_array()) return in.empty() ? Json() : in.front();
  if (in.is_string()) {
    const auto& s = in.get_ref<const std::string&>();
    return s.substr(0, utf8_offset(s, 1));
  }
  return "";
}

Json last(const Json& in, const Json* const*, std::size_t, RenderState&) {
  if (in.is_array()) return in.empty() ? Json() : in.back();
  if (in.is_string()) {
    const auto& s = in.get_ref<const std::string&>();
    std::size_t n = utf8_length(s);
    return n == 0 ? "" : s.substr(utf8_offset(s, n - 1));
  }
  return "";
}

Json size(const Json& in, const Json* const*, std::size_t, RenderState&) {
  if (in.is_string()) return utf8_length(in.get_ref<const std::string&>());
  if (in.is_array() || in.is_object()) return in.size();
  return 0;
}

// ---- arithmetic: integers stay integers while they can, as in Liquid.

enum class Arith { kPlus, kMinus, kTimes };

Json arithmetic(const Json& in, const Json& rhs, Arith op) {
  Json a = arithmetic_operand(in);
  Json b = arithmetic_operand(rhs);
  if (a.is_number_integer() && b.is_number_integer()) {
    std::int64_t x = a.get<std::int64_t>(), y = b.get<std::int64_t>(), r = 0;
    bool overflow = op == Arith::kPlus    ? __builtin_add_overflow(x, y, &r)
                    : op == Arith::kMinus ? __builtin_sub_overflow(x, y, &r)
                                          : __builtin_mul_overflow(x, y, &r);
    if (!overflow) return r;
  }
  double x = a.get<double>(), y = b.get<double>();
  return op == Arith::kPlus ? x + y : op == Arith::kMinus ? x - y : x * y;
}

Json plus(const Json& in, const Json* const* args, std::size_t argc, RenderState&) {
  return arithmetic(in, arg(args, argc, 0), Arith::kPlus);
}
Json minus(const Json& in, const Json* const* args, std::size_t argc, RenderState&) {
  return arithmetic(in, arg(args, argc, 0), Arith::kMinus);
}
Json times(const Json& in, const Json* const* args, std::size_t argc, RenderState&) {
  return arithmetic(in, arg(args, argc, 0), Arith::kTimes);
}

Json divided_by(const Json& in, const Json* const* args, std::size_t argc, RenderState&) {
  Json a = arithmetic_operand(in);
  Json b = arithmetic_operand(arg(args, argc, 0));
  if (b.get<double>() == 0) return Json();  // nil rather than Infinity
  if (a.is_number_integer() && b.is_number_integer()) {
    std::int64_t x = a.get<std::int64_t>(), y = b.get<std::int64_t>();
    if (y != -1 && x % y == 0) return x / y;
  }
  return a.get<double>() / b.get<double>();
}

Json round(const Json& in, const Json* const* args, std::size_t argc, RenderState&) {
  Json a = arithmetic_operand(in);
  std::int64_t places = int_arg(arg(args, argc, 0), 0);
  if (a.is_number_integer() && places >= 0) return a;
  double scale = std::pow(10.0, static_cast<double>(places));
  double x = a.get<double>() * scale;
  double r = std::floor(x);
  if (x - r >= 0.5) r += 1;  // Math.round: halves go up
  return r / scale;
}

// ---- encodings

Json escape(const Json& in, const Json* const*, std::size_t, RenderState&) {
  std::string out;
  append_html_escaped(str(in), out);
  return out;
}

Json url_encode(const Json& in, const Json* const*, std::size_t, RenderState&) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string s = str(in);
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        std::string_view("-_.!~*'()").find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Json json(const Json& in, const Json* const* args, std::size_t argc, RenderState&) {
  std::string out;
  append_json(in, static_cast<int>(std::clamp<std::int64_t>(int_arg(arg(args, argc, 0), 0), 0, 10)),
              out);
  return out;
}

Json raw(const Json& in, const Json* const*, std::size_t, RenderState&) {
  return in;
}

constexpr std::size_t kMany = 2;

constexpr std::array kFilters = {
    FilterSpec{"append", append, 1, 1, {}},
    FilterSpec{"capitalize", capitalize, 0, 0, {}},
    FilterSpec{"date", date_filter, 0, kMany, {}},
    FilterSpec{"default", default_filter, 1, 1, "allow_false"},
    FilterSpec{"divided_by", divided_by, 1, 1, {}},
    FilterSpec{"downcase", downcase, 0, 0, {}},
    FilterSpec{"escape", escape, 0, 0, {}},
    FilterSpec{"first", first, 0, 0, {}},
    FilterSpec{"join", join, 0, 1, {}},
    FilterSpec{"json", json, 0, 1, {}},
    FilterSpec{"last", last, 0, 0, {}},
    FilterSpec{"minus", minus, 1, 1, {}},
    FilterSpec{"money", money_filter, 0, 1, {}},
    FilterSpec{"plus", plus, 1, 1, {}},
    FilterSpec{"prepend", prepend, 1, 1, {}},
    FilterSpec{"raw", raw, 0, 0, {}},
    FilterSpec{"replace", replace, 2, 2, {}},
    FilterSpec{"round", round, 0, 1, {}},
    FilterSpec{"size", size, 0, 0, {}},
    FilterSpec{"split", split, 1, 1, {}},
    FilterSpec{"strip", strip, 0, 0, {}},
    FilterSpec{"times", times, 1, 1, {}},
    FilterSpec{"truncate", truncate, 0, 2, {}},
    FilterSpec{"truncatewords", truncatewords, 0, 2, {}},
    FilterSpec{"upcase", upcase, 0, 0, {}},
    FilterSpec{"url_encode", url_encode, 0, 0, {}},
};

}  // namespace

const FilterSpec* find_filter(std::string_view name) {
  for (const FilterSpec& spec : kFilters) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

}  // namespace herald::templates
