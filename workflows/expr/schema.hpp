#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald::expr {

/// The names an expression can start a path from. `now` is not a root: it is the
/// evaluation time of the context.
enum class Root : std::uint8_t { kCustomer, kEvent, kRun, kHeader, kBody };
inline constexpr std::size_t kRootCount = 5;

std::string_view root_name(Root root);
std::optional<Root> root_from_name(std::string_view name);

/// Static types, as far as they are known before evaluation.
enum class Type : std::uint8_t {
  kUnknown,
  kNull,
  kBool,
  kNumber,
  kString,
  kTime,
  kDuration,
  kList,
  kObject
};

std::string_view type_name(Type type);

/// What is known of a field: its type and, for objects, its fields. A closed object
/// has only the listed fields (any other is reported); an open one may hold anything.
struct FieldSpec {
  Type type = Type::kUnknown;
  bool closed = false;
  std::vector<std::pair<std::string, FieldSpec>> fields;
  /// The spec of every field of an open object not listed in `fields` (e.g. headers).
  Type other_fields = Type::kUnknown;

  const FieldSpec* field(std::string_view name) const;
};

/// Which roots an expression may use and what is known of them. Fields typed kTime hold
/// RFC 3339 strings that evaluate to times.
class Schema {
 public:
  Schema(std::string description, std::initializer_list<Root> roots, bool allows_now = true);

  /// customer, event, run and now: `if`, `update`, `wait_for`, `exit_when`, `goal`.
  static const Schema& workflow();
  /// customer, event and now: a trigger's `where` (no run exists yet).
  static const Schema& trigger();
  /// customer and now: segments.
  static const Schema& segment();
  /// header (names lower-cased), body and now: the mappings of signed sources.
  static const Schema& source_mapping();

  bool allows(Root root) const { return allowed_[static_cast<std::size_t>(root)]; }
  bool allows_now() const { return allows_now_; }
  const FieldSpec& root_spec(Root root) const { return roots_[static_cast<std::size_t>(root)]; }
  /// For messages: "segments see customer and now".
  const std::string& description() const { return description_; }

 private:
  std::string description_;
  std::array<bool, kRootCount> allowed_{};
  bool allows_now_;
  std::array<FieldSpec, kRootCount> roots_;
};

}  // namespace herald::expr
