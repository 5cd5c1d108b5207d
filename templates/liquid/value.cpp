#include "templates/liquid/value.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace herald::templates {

const Json& null_json() {
  static const Json kNull;
  return kNull;
}

void append_js_number(double value, std::string& out) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value < 0 ? "-Infinity" : "Infinity";
    return;
  }
  if (value == 0) {
    out += '0';
    return;
  }
  // Shortest round-trip digits, then JavaScript's layout rules (ECMA-262 Number::toString).
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  bool negative = false;
  if (sci.front() == '-') {
    negative = true;
    sci.remove_prefix(1);
  }
  std::size_t epos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, epos)) {
    if (c != '.') digits += c;
  }
  int exponent = std::atoi(std::string(sci.substr(epos + 1)).c_str());
  int k = static_cast<int>(digits.size());
  int n = exponent + 1;
  if (negative) out += '-';
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, 0, static_cast<std::size_t>(n));
    out += '.';
    out.append(digits, static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += 'e';
    out += n - 1 >= 0 ? '+' : '-';
    out += std::to_string(std::abs(n - 1));
  }
}

void append_number(const Json& number, std::string& out) {
  char buf[32];
  if (number.is_number_unsigned()) {
    auto res = std::to_chars(buf, buf + sizeof buf, number.get<std::uint64_t>());
    out.append(buf, res.ptr);
  } else if (number.is_number_integer()) {
    auto res = std::to_chars(buf, buf + sizeof buf, number.get<std::int64_t>());
    out.append(buf, res.ptr);
  } else {
    append_js_number(number.get<double>(), out);
  }
}

void append_value(const Json& value, std::string& out) {
  switch (value.type()) {
    case Json::value_t::string:
      out += value.get_ref<const std::string&>();
      break;
    case Json::value_t::null:
    case Json::value_t::discarded:
      break;
    case Json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      break;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      append_number(value, out);
      break;
    case Json::value_t::array:
      for (const auto& item : value) append_value(item, out);
      break;
    case Json::value_t::object:
    case Json::value_t::binary:
      append_json(value, 0, out);
      break;
  }
}

std::string to_liquid_string(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  std::string out;
  append_value(value, out);
  return out;
}

namespace {

void append_json_string(const std::string& s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void append_json_at(const Json& value, int indent, int depth, std::string& out) {
  auto newline = [&](int level) {
    if (indent <= 0) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent * level), ' ');
  };
  switch (value.type()) {
    case Json::value_t::string:
      append_json_string(value.get_ref<const std::string&>(), out);
      break;
    case Json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      break;
    case Json::value_t::number_float: {
      double d = value.get<double>();
      if (std::isfinite(d)) {
        append_js_number(d, out);
      } else {
        out += "null";
      }
      break;
    }
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      append_number(value, out);
      break;
    case Json::value_t::array: {
      if (value.empty()) {
        out += "[]";
        break;
      }
      out += '[';
      bool first = true;
      for (const auto& item : value) {
        if (!first) out += ',';
        first = false;
        newline(depth + 1);
        append_json_at(item, indent, depth + 1, out);
      }
      newline(depth);
      out += ']';
      break;
    }
    case Json::value_t::object: {
      if (value.empty()) {
        out += "{}";
        break;
      }
      out += '{';
      bool first = true;
      for (const auto& [key, item] : value.items()) {
        if (!first) out += ',';
        first = false;
        newline(depth + 1);
        append_json_string(key, out);
        out += indent > 0 ? ": " : ":";
        append_json_at(item, indent, depth + 1, out);
      }
      newline(depth);
      out += '}';
      break;
    }
    default:
      out += "null";
  }
}

}  // namespace

void append_json(const Json& value, int indent, std::string& out) {
  append_json_at(value, std::min(indent, 10), 0, out);
}

void append_html_escaped(std::string_view text, std::string& out) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char* entity = nullptr;
    switch (text[i]) {
      case '&':
        entity = "&amp;";
        break;
      case '<':
        entity = "&lt;";
        break;
      case '>':
        entity = "&gt;";
        break;
      case '"':
        entity = "&#34;";
        break;
      case '\'':
        entity = "&#39;";
        break;
      default:
        continue;
    }
    out.append(text, start, i - start);
    out += entity;
    start = i + 1;
  }
  out.append(text, start);
}

bool is_truthy(const Json& value) {
  if (value.is_null()) return false;
  if (value.is_boolean()) return value.get<bool>();
  return true;
}

bool liquid_equals(const Json& lhs, const Json& rhs) {
  if (lhs.is_number() && rhs.is_number()) {
    if (lhs.is_number_float() || rhs.is_number_float())
      return lhs.get<double>() == rhs.get<double>();
    if (lhs.is_number_unsigned() || rhs.is_number_unsigned())
      return lhs.get<double>() == rhs.get<double>();
    return lhs.get<std::int64_t>() == rhs.get<std::int64_t>();
  }
  if (lhs.is_array() && rhs.is_array()) {
    if (lhs.size() != rhs.size()) return false;
    for (std::size_t i = 0; i < lhs.size(); ++i) {
      if (!liquid_equals(lhs[i], rhs[i])) return false;
    }
    return true;
  }
  return lhs == rhs;
}

bool is_empty_value(const Json& value) {
  if (value.is_string()) return value.get_ref<const std::string&>().empty();
  if (value.is_array() || value.is_object()) return value.empty();
  return false;
}

bool is_blank_value(const Json& value) {
  if (value.is_null()) return true;
  if (value.is_boolean()) return !value.get<bool>();
  if (value.is_string()) {
    for (char c : value.get_ref<const std::string&>()) {
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') return false;
    }
    return true;
  }
  return is_empty_value(value);
}

namespace {

bool is_js_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::optional<double> parse_js_number(std::string_view s) {
  while (!s.empty() && is_js_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_js_space(s.back())) s.remove_suffix(1);
  if (s.empty()) return 0.0;
  if (s == "Infinity" || s == "+Infinity") return std::numeric_limits<double>::infinity();
  if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  std::string_view body = s;
  if (body.front() == '+' || body.front() == '-') body.remove_prefix(1);
  if (body.empty()) return std::nullopt;
  for (char c : body) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' ||
          c == '+' || c == '-')) {
      return std::nullopt;
    }
  }
  double result = 0;
  std::string_view digits = s.front() == '+' ? s.substr(1) : s;
  auto res = std::from_chars(digits.data(), digits.data() + digits.size(), result);
  if (res.ec != std::errc() || res.ptr != digits.data() + digits.size()) return std::nullopt;
  return result;
}

}  // namespace

std::optional<double> js_number(const Json& value) {
  switch (value.type()) {
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return value.get<double>();
    case Json::value_t::boolean:
      return value.get<bool>() ? 1.0 : 0.0;
    case Json::value_t::null:
      return 0.0;
    case Json::value_t::string:
      return parse_js_number(value.get_ref<const std::string&>());
    case Json::value_t::array:
      if (value.empty()) return 0.0;
      if (value.size() == 1) return js_number(value[0]);
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

Json arithmetic_operand(const Json& value) {
  if (value.is_number_integer() || value.is_number_float()) return value;
  if (value.is_number_unsigned()) return value.get<double>();
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    std::int64_t i = 0;
    auto res = std::from_chars(s.data(), s.data() + s.size(), i);
    if (res.ec == std::errc() && res.ptr == s.data() + s.size() && !s.empty()) return i;
  }
  auto d = js_number(value);
  if (!d || std::isnan(*d)) return 0;
  return *d;
}

char32_t decode_utf8(std::string_view text, std::size_t& pos) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char c = byte(pos);
  if (c < 0x80) {
    ++pos;
    return c;
  }
  int extra = 0;
  char32_t cp = 0;
  if ((c & 0xE0) == 0xC0) {
    extra = 1;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    extra = 2;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    extra = 3;
    cp = c & 0x07;
  } else {
    ++pos;
    return 0xFFFD;
  }
  if (pos + static_cast<std::size_t>(extra) >= text.size()) {
    ++pos;
    return 0xFFFD;
  }
  for (int i = 1; i <= extra; ++i) {
    unsigned char cc = byte(pos + static_cast<std::size_t>(i));
    if ((cc & 0xC0) != 0x80) {
      ++pos;
      return 0xFFFD;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  pos += static_cast<std::size_t>(extra) + 1;
  return cp;
}

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::size_t utf8_length(std::string_view text) {
  std::size_t n = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

}  // namespace herald::templates
