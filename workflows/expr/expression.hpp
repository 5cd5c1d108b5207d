#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "workflows/expr/schema.hpp"
#include "workflows/expr/time.hpp"
#include "workflows/expr/value.hpp"

/// The expression language of workflows (`where`, `if`, `update`, segments) and of
/// signed-source mappings (expressions over `header` and `body`).
///
/// Semantics, where workflows.md leaves room:
/// - A missing path, or a JSON null, is null. `x == null` / `x != null` test for it;
///   every other comparison with a null operand is false (`!=` included), `in` with a
///   null side is false, arithmetic and lower/upper/len/days_since of null give null,
///   and null is false where a condition is expected (`not null` is true).
/// - Times: `now`, and the known time fields (`event.timestamp`,
///   `customer.stats.first_order_at|last_order_at`, `customer.created_at|updated_at`,
///   `run.entered_at`) whose RFC 3339 string values are read as times. A string meeting
///   a time (compared with it, subtracted from it, or plus/minus a duration) is parsed as
///   RFC 3339; a date `YYYY-MM-DD` is midnight UTC; a string compared with a duration is
///   parsed as one (`'90m'`). An unparsable string is an error (kInvalidTime).
/// - time − time = duration; time ± duration = time; duration ± duration; duration × or
///   ÷ number; duration ÷ duration = number; duration % duration.
/// - `==` never converts between numbers and strings; `a in b` looks in a list, in a
///   string (substring) or among an object's keys; `not in` negates it.
/// - `and`/`or` short-circuit and need booleans (or null); anything else is a type error.
/// - `exists(p)` is true when the path is present and not null. `len` counts characters
///   of a string and items of a list or object. `days_since(t)` is the number of whole
///   days from t to now (negative for future times). lower/upper change ASCII letters.
/// - A run-time error (type, division by zero, bad time) makes the whole expression
///   null and a condition false; it is reported through EvalError, never thrown.
namespace herald::expr {

/// A load-time error of an expression. Offsets count bytes from the start of the
/// expression's text; line and column count from 1 (columns in characters).
class SyntaxError : public std::runtime_error {
 public:
  SyntaxError(std::size_t offset, int line, int column, std::string message);

  std::size_t offset;
  int line;
  int column;
  std::string message;
};

enum class Severity : std::uint8_t { kError, kWarning };

/// A finding of the static type pass: a sub-expression whose types are known to clash
/// (an error: it could only fail or be false at run time) or that looks like a mistake
/// (a warning: an unknown field of a known object, an equality that is never true).
struct Diagnostic {
  std::size_t offset = 0;
  std::size_t length = 0;
  Severity severity = Severity::kError;
  std::string message;
};

/// Why an evaluation failed. A failure makes a condition false; the caller counts and
/// logs it. Evaluation never throws.
enum class ErrorKind : std::uint8_t { kNone, kType, kDivisionByZero, kInvalidTime };

std::string_view error_kind_name(ErrorKind kind);

struct EvalError {
  ErrorKind kind = ErrorKind::kNone;
  std::size_t offset = 0;  ///< where in the expression's text
  std::string message;     ///< filled only when an EvalError is passed in

  explicit operator bool() const { return kind != ErrorKind::kNone; }
};

/// What an expression is evaluated against: JSON documents by root name, borrowed (the
/// caller keeps them alive and unchanged during evaluation), and the time of `now`.
/// Unset roots read as null. Cheap to build on the stack; not thread-safe to mutate.
class Context {
 public:
  /// `now` defaults to the system clock at construction.
  Context();

  Context& set(Root root, const Json* value) {
    roots_[static_cast<std::size_t>(root)] = value;
    return *this;
  }
  /// By name (`customer`, `event`, `run`, `header`, `body`); false for an unknown name.
  bool set(std::string_view name, const Json* value);
  Context& set_now(TimePoint now) {
    now_ = now;
    return *this;
  }

  const Json* root(Root root) const { return roots_[static_cast<std::size_t>(root)]; }
  TimePoint now() const { return now_; }

 private:
  std::array<const Json*, kRootCount> roots_{};
  TimePoint now_;
};

struct Program;

/// A compiled expression: parsed once, names resolved and types checked, then evaluated
/// any number of times without re-parsing. Immutable and cheap to copy (shared); safe to
/// evaluate from several threads at once.
class Expression {
 public:
  /// An empty expression: evaluates to null, tests false.
  Expression();

  /// Throws SyntaxError for syntax errors, unknown names or functions, wrong argument
  /// counts and roots the schema does not allow.
  static Expression compile(std::string_view text, const Schema& schema = Schema::workflow());

  /// The value, or null with `error` set (when given) on a run-time error.
  Value evaluate(const Context& context, EvalError* error = nullptr) const;
  /// For conditions: true only for the boolean true. Null is false; any other value is
  /// a type error (false, and reported through `error`).
  bool test(const Context& context, EvalError* error = nullptr) const;

  const std::string& text() const;
  /// The result type where the static pass knows it, else Type::kUnknown.
  Type static_type() const;
  /// Findings of the static type pass, in source order.
  const std::vector<Diagnostic>& diagnostics() const;

 private:
  explicit Expression(std::shared_ptr<const Program> program);
  std::shared_ptr<const Program> program_;
};

}  // namespace herald::expr
