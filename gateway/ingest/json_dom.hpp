#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>
#include <nlohmann/json.hpp>

namespace herald::ingest {

/// Deepest nesting of objects and arrays accepted in one event (the event object is level 1).
inline constexpr int kMaxJsonDepth = 64;

/// Walks simdjson DOM values, enforcing Herald's JSON rules on top of simdjson's own (valid UTF-8,
/// numbers within a double): at most kMaxJsonDepth nested containers, no NUL character in a string
/// or key (C layers downstream would truncate them), no key twice in one object (two parsers could
/// disagree on which one counts). Output is minified JSON text or an ordered_json.
///
/// Not thread-safe; keep one per thread, it reuses its buffers.
class JsonWalker {
 public:
  /// Appends `value` to `out` as minified JSON. `depth` is the number of containers already
  /// around `value`. False on a rule violation: see problem_path() and problem_message().
  bool write(simdjson::dom::element value, std::string& out, int depth = 0);

  /// As write() for an object, also recording where each member's value lies in `out`
  /// (offset, length), in member order.
  bool write_members(simdjson::dom::object object, std::string& out,
                     std::vector<std::pair<std::size_t, std::size_t>>& spans);

  /// Converts `value` to an ordered_json under the same rules.
  bool convert(simdjson::dom::element value, nlohmann::ordered_json& out, int depth = 0);

  /// Path of the offending value relative to the value walked ("properties.a[2]"), and why.
  const std::string& problem_path() const { return problem_path_; }
  const std::string& problem_message() const { return problem_message_; }

 private:
  struct Segment {
    std::string_view key;
    std::size_t index;  // used when key is empty and is_index
    bool is_index;
  };

  bool check_key(simdjson::dom::object object, std::string_view key, int depth);
  bool check_string(std::string_view text);
  bool fail(std::string message);

  std::vector<Segment> path_;
  std::vector<std::vector<std::string_view>> seen_keys_;  // per depth, reused
  std::string problem_path_;
  std::string problem_message_;
};

/// Appends `text` as a JSON string literal (quotes included).
void append_json_string(std::string& out, std::string_view text);

/// Appends a number as JSON: integers exactly, doubles in their shortest round-trip form.
void append_json_number(std::string& out, simdjson::dom::element number);

/// The string form of a JSON number (`42`, `1.5`); a double holding an integer prints without a
/// fraction (`1e3` → `1000`).
std::string number_to_string(simdjson::dom::element number);

/// "batch[3]" + "event" → "batch[3].event"; "batch" + "[3]" → "batch[3]"; "" + "x" → "x".
std::string join_path(std::string_view base, std::string_view rest);

/// Parses a JSON document into an ordered_json under JsonWalker's rules (used for the bodies of
/// signed sources, where the mapping expressions need a DOM). Throws ApiError 400 `invalid_json`.
nlohmann::ordered_json parse_json_document(std::string_view text);

/// `value.dump()`, byte for byte (minified, UTF-8 kept as it is), written without
/// nlohmann's character-by-character serializer: its strings are copied in runs between
/// the characters to escape. A float is written by nlohmann (its shortest form), and a
/// value holding a string that is not valid UTF-8 goes to nlohmann whole, which throws
/// as dump() does.
std::string dump_json(const nlohmann::ordered_json& value);

/// Parses JSON that Herald wrote itself (the customer's stored fields, stream entries
/// written by ingest) with simdjson, several times faster than nlohmann's own parser,
/// without JsonWalker's checks (that data passed them when it came in). A document that
/// does not parse gives a discarded value, as nlohmann's parse(text, nullptr, false).
nlohmann::ordered_json parse_stored_json(std::string_view text);

/// Whether `text` is one JSON object (checked with simdjson, nothing built).
bool is_json_object(std::string_view text);

/// simdjson's DOM rejects integers beyond 64 bits, which are valid JSON and within the range of a
/// double. Returns a copy of `text` where such integers carry a ".0" (so they parse as doubles), or
/// an empty string when there are none.
std::string widen_big_integers(std::string_view text);

}  // namespace herald::ingest
