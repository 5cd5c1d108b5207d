#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "workflows/expr/time.hpp"

namespace herald::expr {

using Json = nlohmann::ordered_json;

enum class Kind : std::uint8_t { kNull, kBool, kNumber, kString, kTime, kDuration, kList, kJson };

std::string_view kind_name(Kind kind);

/// A value produced by an expression. Cheap to copy: scalars are held inline, strings of
/// the context or the expression are borrowed (a string_view), JSON objects and arrays of
/// the context are referenced (kJson). Only computed strings and lists own memory.
///
/// A Value may borrow from the evaluation context and from the Expression: use it (or
/// call to_json()) while both are alive.
class Value {
 public:
  Value() = default;

  static Value boolean(bool b);
  static Value number(double n);
  /// Borrows `s`: the caller keeps it alive.
  static Value borrowed_string(std::string_view s);
  static Value owned_string(std::string s);
  static Value time(TimePoint t);
  static Value duration(Duration d);
  static Value list(std::vector<Value> items);
  /// Scalars of `j` become kNull/kBool/kNumber/kString (borrowing the string);
  /// objects and arrays become a kJson reference to `j`.
  static Value from_json(const Json& j);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool as_bool() const { return bool_; }
  double as_number() const { return number_; }
  std::string_view as_string() const { return string_; }
  TimePoint as_time() const { return TimePoint(Duration(micros_)); }
  Duration as_duration() const { return Duration(micros_); }
  const std::vector<Value>& as_list() const { return *list_; }
  const Json& as_json() const { return *json_; }

  /// True for a kList, or a kJson array.
  bool is_sequence() const {
    return kind_ == Kind::kList || (kind_ == Kind::kJson && json_->is_array());
  }
  /// Number of elements of a sequence.
  std::size_t sequence_size() const;
  /// Element `i` of a sequence (i < sequence_size()).
  Value sequence_at(std::size_t i) const;

  /// A JSON copy: times as RFC 3339 strings, durations as strings like `1h30m`.
  Json to_json() const;
  /// A short human-readable rendering, for messages and tests.
  std::string debug_string() const;

  friend bool operator==(const Value& a, const Value& b);

 private:
  Kind kind_ = Kind::kNull;
  union {
    bool bool_;
    double number_;
    std::int64_t micros_ = 0;
    const Json* json_;
    const std::vector<Value>* list_;
  };
  std::string_view string_;
  std::shared_ptr<const void> owner_;  // owned strings and lists only
};

/// Structural equality of the language's `==`: numbers by value, strings by content,
/// lists and JSON element-wise, a time equal to an RFC 3339 string denoting it.
/// Null equals only null.
bool values_equal(const Value& a, const Value& b);

}  // namespace herald::expr
