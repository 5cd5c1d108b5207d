#pragma once
// A Redis reply, copied out of hiredis so that it outlives the callback.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/http_types.hpp"

namespace herald::redis {

struct Reply {
  enum class Type { kNil, kString, kStatus, kError, kInteger, kArray };
  Type type = Type::kNil;
  std::string str;  // string, status or error text
  int64_t integer = 0;
  std::vector<Reply> elements;

  bool is_nil() const { return type == Type::kNil; }
  bool is_error() const { return type == Type::kError; }
  bool is_array() const { return type == Type::kArray; }
  /// The integer value of an integer reply, or of a string holding an integer.
  std::optional<int64_t> as_integer() const;
};

/// Redis cannot be reached or dropped the connection: 503 `unavailable` for the caller.
class Unavailable : public gateway::ApiError {
 public:
  explicit Unavailable(const std::string& why);
};

/// Redis answered with an error where none was expected.
class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace herald::redis
