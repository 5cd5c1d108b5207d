#include "gateway/ingest/json_dom.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <unordered_set>

#include "gateway/ingest/api_error.hpp"

namespace herald::ingest {
namespace {

// Above this many members, duplicate keys are found with a hash set instead of a scan.
constexpr std::size_t kLinearKeyScan = 16;
// Keys quoted in error paths are cut to this many bytes.
constexpr std::size_t kMaxPathKey = 64;

std::string_view cut_utf8(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

bool integer_fits_64_bits(std::string_view digits, bool negative) {
  constexpr std::string_view kMaxUnsigned = "18446744073709551615";
  constexpr std::string_view kMinSigned = "9223372036854775808";
  const std::string_view limit = negative ? kMinSigned : kMaxUnsigned;
  if (digits.size() != limit.size()) return digits.size() < limit.size();
  return digits <= limit;
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  static constexpr auto kNeedsEscape = [] {
    std::array<bool, 256> table{};
    for (int c = 0; c < 0x20; ++c) table[c] = true;
    table['"'] = table['\\'] = true;
    return table;
  }();
  out.reserve(out.size() + text.size() + 2);
  out.push_back('"');
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (!kNeedsEscape[c]) continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(text.data() + run, text.size() - run);
  out.push_back('"');
}

namespace {

/// A string for dump_json: as append_json_string, false when it is not valid UTF-8. Most
/// are plain ASCII with nothing to escape, found so in one pass and copied whole.
bool append_checked_string(std::string& out, std::string_view text) {
  static constexpr auto kPlain = [] {
    std::array<bool, 256> table{};
    for (int c = 0x20; c < 0x80; ++c) table[c] = true;
    table['"'] = table['\\'] = false;
    return table;
  }();
  std::size_t i = 0;
  while (i < text.size() && kPlain[static_cast<unsigned char>(text[i])]) ++i;
  if (i == text.size()) {
    out.push_back('"');
    out.append(text);
    out.push_back('"');
    return true;
  }
  if (!simdjson::validate_utf8(text.data(), text.size())) return false;
  append_json_string(out, text);
  return true;
}

/// dump_json's walk: false when a string is not valid UTF-8 (or a binary value comes).
bool dump_into(const nlohmann::ordered_json& value, std::string& out) {
  using value_t = nlohmann::ordered_json::value_t;
  char buffer[32];
  switch (value.type()) {
    case value_t::null:
      out.append("null");
      return true;
    case value_t::boolean:
      out.append(value.get_ref<const bool&>() ? "true" : "false");
      return true;
    case value_t::number_integer: {
      auto r = std::to_chars(buffer, buffer + sizeof buffer,
                             value.get_ref<const nlohmann::ordered_json::number_integer_t&>());
      out.append(buffer, r.ptr);
      return true;
    }
    case value_t::number_unsigned: {
      auto r = std::to_chars(buffer, buffer + sizeof buffer,
                             value.get_ref<const nlohmann::ordered_json::number_unsigned_t&>());
      out.append(buffer, r.ptr);
      return true;
    }
    case value_t::number_float:
      out.append(value.dump());
      return true;
    case value_t::string:
      return append_checked_string(out, value.get_ref<const std::string&>());
    case value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& item : value) {
        if (!first) out.push_back(',');
        first = false;
        if (!dump_into(item, out)) return false;
      }
      out.push_back(']');
      return true;
    }
    case value_t::object: {
      out.push_back('{');
      bool first = true;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!first) out.push_back(',');
        first = false;
        if (!append_checked_string(out, it.key())) return false;
        out.push_back(':');
        if (!dump_into(it.value(), out)) return false;
      }
      out.push_back('}');
      return true;
    }
    case value_t::discarded:
      out.append("<discarded>");
      return true;
    default:  // binary
      return false;
  }
}

}  // namespace

std::string dump_json(const nlohmann::ordered_json& value) {
  std::string out;
  out.reserve(1024);
  if (!dump_into(value, out)) return value.dump();
  return out;
}

void append_json_number(std::string& out, simdjson::dom::element number) {
  char buffer[32];
  std::to_chars_result result{};
  switch (number.type()) {
    case simdjson::dom::element_type::INT64:
      result = std::to_chars(buffer, buffer + sizeof buffer, int64_t(number));
      break;
    case simdjson::dom::element_type::UINT64:
      result = std::to_chars(buffer, buffer + sizeof buffer, uint64_t(number));
      break;
    default:
      result = std::to_chars(buffer, buffer + sizeof buffer, double(number));
  }
  out.append(buffer, result.ptr);
}

std::string number_to_string(simdjson::dom::element number) {
  if (number.type() == simdjson::dom::element_type::DOUBLE) {
    const double value = double(number);
    if (std::trunc(value) == value && std::fabs(value) < 9.0e15) {
      char buffer[32];
      const auto result = std::to_chars(buffer, buffer + sizeof buffer, int64_t(value));
      return std::string(buffer, result.ptr);
    }
  }
  std::string out;
  append_json_number(out, number);
  return out;
}

std::string join_path(std::string_view base, std::string_view rest) {
  std::string path(base);
  if (!base.empty() && !rest.empty() && rest.front() != '[') path.push_back('.');
  path.append(rest);
  return path;
}

bool JsonWalker::fail(std::string message) {
  problem_message_ = std::move(message);
  problem_path_.clear();
  for (const auto& segment : path_) {
    if (segment.is_index) {
      problem_path_ += '[' + std::to_string(segment.index) + ']';
    } else {
      if (!problem_path_.empty()) problem_path_.push_back('.');
      problem_path_.append(cut_utf8(segment.key, kMaxPathKey));
    }
  }
  path_.clear();
  return false;
}

bool JsonWalker::check_string(std::string_view text) {
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) {
    return fail("NUL characters are not accepted in strings");
  }
  return true;
}

bool JsonWalker::check_key(simdjson::dom::object object, std::string_view key, int depth) {
  if (std::memchr(key.data(), '\0', key.size()) != nullptr) {
    return fail("NUL characters are not accepted in keys");
  }
  if (seen_keys_.size() <= std::size_t(depth)) seen_keys_.resize(depth + 1);
  auto& seen = seen_keys_[depth];
  if (seen.size() < kLinearKeyScan) {
    for (const auto& previous : seen) {
      if (previous == key) return fail("duplicate key");
    }
    seen.push_back(key);
    return true;
  }
  if (seen.size() == kLinearKeyScan) {
    // A large object: check it once, whole, with a hash set.
    std::unordered_set<std::string_view> all;
    all.reserve(object.size());
    for (auto [member_key, member_value] : object) {
      if (!all.insert(member_key).second) {
        path_.back() = Segment{member_key, 0, false};
        return fail("duplicate key");
      }
    }
    seen.push_back(key);  // past the threshold: no further checks for this object
  }
  return true;
}

bool JsonWalker::write(simdjson::dom::element value, std::string& out, int depth) {
  using simdjson::dom::element_type;
  switch (value.type()) {
    case element_type::OBJECT: {
      if (depth + 1 > kMaxJsonDepth) return fail("nested deeper than 64 levels");
      const simdjson::dom::object object = value.get_object().value_unsafe();
      if (seen_keys_.size() <= std::size_t(depth)) seen_keys_.resize(depth + 1);
      seen_keys_[depth].clear();
      out.push_back('{');
      bool first = true;
      for (auto [key, member] : object) {
        path_.push_back(Segment{key, 0, false});
        if (!check_key(object, key, depth)) return false;
        if (!first) out.push_back(',');
        first = false;
        append_json_string(out, key);
        out.push_back(':');
        if (!write(member, out, depth + 1)) return false;
        path_.pop_back();
      }
      out.push_back('}');
      return true;
    }
    case element_type::ARRAY: {
      if (depth + 1 > kMaxJsonDepth) return fail("nested deeper than 64 levels");
      out.push_back('[');
      std::size_t index = 0;
      const simdjson::dom::array array = value.get_array().value_unsafe();
      for (auto item : array) {
        path_.push_back(Segment{{}, index, true});
        if (index++ != 0) out.push_back(',');
        if (!write(item, out, depth + 1)) return false;
        path_.pop_back();
      }
      out.push_back(']');
      return true;
    }
    case element_type::STRING: {
      const std::string_view text = value.get_string().value_unsafe();
      if (!check_string(text)) return false;
      append_json_string(out, text);
      return true;
    }
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      append_json_number(out, value);
      return true;
    case element_type::BOOL:
      out.append(value.get_bool().value_unsafe() ? "true" : "false");
      return true;
    case element_type::NULL_VALUE:
      out.append("null");
      return true;
  }
  return true;
}

bool JsonWalker::write_members(simdjson::dom::object object, std::string& out,
                               std::vector<std::pair<std::size_t, std::size_t>>& spans) {
  spans.clear();
  if (seen_keys_.empty()) seen_keys_.resize(1);
  seen_keys_[0].clear();
  path_.clear();
  out.push_back('{');
  bool first = true;
  for (auto [key, member] : object) {
    path_.push_back(Segment{key, 0, false});
    if (!check_key(object, key, 0)) return false;
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, key);
    out.push_back(':');
    const std::size_t begin = out.size();
    if (!write(member, out, 1)) return false;
    spans.emplace_back(begin, out.size() - begin);
    path_.pop_back();
  }
  out.push_back('}');
  return true;
}

bool JsonWalker::convert(simdjson::dom::element value, nlohmann::ordered_json& out, int depth) {
  using simdjson::dom::element_type;
  switch (value.type()) {
    case element_type::OBJECT: {
      if (depth + 1 > kMaxJsonDepth) return fail("nested deeper than 64 levels");
      const simdjson::dom::object object = value.get_object().value_unsafe();
      if (seen_keys_.size() <= std::size_t(depth)) seen_keys_.resize(depth + 1);
      seen_keys_[depth].clear();
      out = nlohmann::ordered_json::object();
      // Keys are known to be unique here, so members are appended without ordered_map's scan.
      auto& members = static_cast<nlohmann::ordered_json::object_t::Container&>(
          out.get_ref<nlohmann::ordered_json::object_t&>());
      members.reserve(object.size());
      for (auto [key, member] : object) {
        path_.push_back(Segment{key, 0, false});
        if (!check_key(object, key, depth)) return false;
        nlohmann::ordered_json converted;
        if (!convert(member, converted, depth + 1)) return false;
        members.emplace_back(std::string(key), std::move(converted));
        path_.pop_back();
      }
      return true;
    }
    case element_type::ARRAY: {
      if (depth + 1 > kMaxJsonDepth) return fail("nested deeper than 64 levels");
      out = nlohmann::ordered_json::array();
      std::size_t index = 0;
      const simdjson::dom::array array = value.get_array().value_unsafe();
      for (auto item : array) {
        path_.push_back(Segment{{}, index++, true});
        nlohmann::ordered_json converted;
        if (!convert(item, converted, depth + 1)) return false;
        out.push_back(std::move(converted));
        path_.pop_back();
      }
      return true;
    }
    case element_type::STRING: {
      const std::string_view text = value.get_string().value_unsafe();
      if (!check_string(text)) return false;
      out = std::string(text);
      return true;
    }
    case element_type::INT64:
      out = int64_t(value);
      return true;
    case element_type::UINT64:
      out = uint64_t(value);
      return true;
    case element_type::DOUBLE:
      out = double(value);
      return true;
    case element_type::BOOL:
      out = bool(value);
      return true;
    case element_type::NULL_VALUE:
      out = nullptr;
      return true;
  }
  return true;
}

std::string widen_big_integers(std::string_view text) {
  std::string widened;
  std::size_t copied = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      continue;
    }
    if (c != '-' && (c < '0' || c > '9')) continue;
    const std::size_t start = i;
    const bool negative = c == '-';
    std::size_t digits_begin = negative ? i + 1 : i;
    std::size_t end = digits_begin;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    bool integer = true;
    std::size_t token_end = end;
    while (token_end < text.size() &&
           (text[token_end] == '.' || text[token_end] == 'e' || text[token_end] == 'E' ||
            text[token_end] == '+' || text[token_end] == '-' ||
            (text[token_end] >= '0' && text[token_end] <= '9'))) {
      integer = false;
      ++token_end;
    }
    if (integer && end > digits_begin &&
        !integer_fits_64_bits(text.substr(digits_begin, end - digits_begin), negative)) {
      widened.append(text.substr(copied, end - copied));
      widened.append(".0");
      copied = end;
    }
    i = (token_end > start ? token_end : start + 1) - 1;
  }
  if (copied == 0) return {};
  widened.append(text.substr(copied));
  return widened;
}

nlohmann::ordered_json parse_json_document(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  thread_local JsonWalker walker;
  // simdjson counts the document itself as one level.
  if (parser.max_depth() != kMaxJsonDepth + 1) {
    if (parser.allocate(std::max<std::size_t>(text.size(), 4096), kMaxJsonDepth + 1)) {
      throw ApiError(503, "unavailable", "out of memory");
    }
  }
  auto parsed = parser.parse(text.data(), text.size(), true);
  std::string widened;
  if (parsed.error() == simdjson::NUMBER_ERROR) {
    widened = widen_big_integers(text);
    if (!widened.empty()) parsed = parser.parse(widened.data(), widened.size(), true);
  }
  if (parsed.error()) {
    throw ApiError(400, "invalid_json",
                   std::string("invalid JSON: ") + simdjson::error_message(parsed.error()));
  }
  nlohmann::ordered_json out;
  if (!walker.convert(parsed.value_unsafe(), out)) {
    const std::string& path = walker.problem_path();
    throw ApiError(400, "invalid_json",
                   path.empty() ? walker.problem_message() : path + ": " + walker.problem_message(),
                   path);
  }
  return out;
}

namespace {

void convert_stored(simdjson::dom::element value, nlohmann::ordered_json& out) {
  using simdjson::dom::element_type;
  switch (value.type()) {
    case element_type::OBJECT: {
      const simdjson::dom::object object = value.get_object().value_unsafe();
      out = nlohmann::ordered_json::object();
      auto& members = static_cast<nlohmann::ordered_json::object_t::Container&>(
          out.get_ref<nlohmann::ordered_json::object_t&>());
      members.reserve(object.size());
      for (auto [key, member] : object) {
        nlohmann::ordered_json converted;
        convert_stored(member, converted);
        members.emplace_back(std::string(key), std::move(converted));
      }
      return;
    }
    case element_type::ARRAY: {
      out = nlohmann::ordered_json::array();
      const simdjson::dom::array array = value.get_array().value_unsafe();
      for (auto item : array) {
        nlohmann::ordered_json converted;
        convert_stored(item, converted);
        out.push_back(std::move(converted));
      }
      return;
    }
    case element_type::STRING:
      out = std::string(value.get_string().value_unsafe());
      return;
    case element_type::INT64:
      out = int64_t(value);
      return;
    case element_type::UINT64:
      out = uint64_t(value);
      return;
    case element_type::DOUBLE:
      out = double(value);
      return;
    case element_type::BOOL:
      out = bool(value);
      return;
    case element_type::NULL_VALUE:
      out = nullptr;
      return;
  }
}

simdjson::dom::parser& stored_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

}  // namespace

nlohmann::ordered_json parse_stored_json(std::string_view text) {
  auto parsed = stored_parser().parse(text.data(), text.size(), true);
  if (parsed.error()) return nlohmann::ordered_json(nlohmann::ordered_json::value_t::discarded);
  nlohmann::ordered_json out;
  convert_stored(parsed.value_unsafe(), out);
  return out;
}

bool is_json_object(std::string_view text) {
  auto parsed = stored_parser().parse(text.data(), text.size(), true);
  return !parsed.error() && parsed.value_unsafe().is_object();
}

}  // namespace herald::ingest
