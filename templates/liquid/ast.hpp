#pragma once

// The compiled form of a Liquid template: a tree built once at load, with
// variables resolved to slots, filters to function pointers and literals
// pre-parsed, so rendering never looks at the source again.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "templates/liquid/value.hpp"

namespace herald::templates {

struct RenderState;

struct SourcePos {
  int line = 0;
  int column = 0;
};

struct Expr;

struct PathStep {
  enum class Kind : std::uint8_t { kKey, kIndex, kDynamic };
  Kind kind = Kind::kKey;
  std::string key;
  std::int64_t index = 0;
  std::unique_ptr<Expr> dynamic;
};

enum class ForloopField : std::uint8_t {
  kWhole,
  kIndex,
  kIndex0,
  kRindex,
  kRindex0,
  kFirst,
  kLast,
  kLength
};

struct Expr {
  enum class Kind : std::uint8_t { kLiteral, kVariable, kRange, kEmpty, kBlank, kForloop };
  Kind kind = Kind::kLiteral;
  Json literal;                // kLiteral
  std::uint32_t slot = 0;      // kVariable: the root name's slot
  std::vector<PathStep> path;  // kVariable, kForloop: steps after the root
  ForloopField forloop_field = ForloopField::kWhole;
  std::unique_ptr<Expr> range_from;  // kRange
  std::unique_ptr<Expr> range_to;
};

/// A filter implementation. `args` holds `argc` evaluated arguments.
using FilterFn = Json (*)(const Json& input, const Json* const* args, std::size_t argc,
                          RenderState& state);

struct FilterCall {
  FilterFn fn = nullptr;
  bool is_raw = false;
  std::vector<Expr> args;
  SourcePos pos;
};

struct Pipeline {
  Expr head;
  std::vector<FilterCall> filters;
};

struct Condition {
  enum class Op : std::uint8_t { kTruthy, kEq, kNe, kLt, kGt, kLe, kGe, kContains, kAnd, kOr };
  Op op = Op::kTruthy;
  Expr lhs;
  Expr rhs;
  std::unique_ptr<Condition> left;  // kAnd, kOr
  std::unique_ptr<Condition> right;
};

struct Node;
using Block = std::vector<Node>;

struct TextNode {
  std::string text;
};
struct OutputNode {
  Pipeline value;
  bool escape = false;  // email.html: HTML-escape unless the last filter is `raw`
};
struct IfBranch {
  Condition condition;
  Block body;
};
struct IfNode {
  std::vector<IfBranch> branches;
  Block else_body;
  bool negate_first = false;  // `unless`
};
struct WhenBranch {
  std::vector<Expr> values;
  Block body;
};
struct CaseNode {
  Expr subject;
  std::vector<WhenBranch> whens;
  Block else_body;
};
struct ForNode {
  std::uint32_t slot = 0;
  Expr collection;
  std::optional<Expr> limit;
  std::optional<Expr> offset;
  bool reversed = false;
  bool copy_collection = false;  // the collection is a variable the body may reassign
  Block body;
  Block else_body;
};
struct AssignNode {
  std::uint32_t slot = 0;
  Pipeline value;
};
struct CaptureNode {
  std::uint32_t slot = 0;
  Block body;
};
struct BreakNode {};
struct ContinueNode {};

struct Node {
  std::variant<TextNode, OutputNode, IfNode, CaseNode, ForNode, AssignNode, CaptureNode, BreakNode,
               ContinueNode>
      data;
  SourcePos pos;
};

/// A whole compiled template.
struct Program {
  std::string file;
  Block root;
  std::vector<std::string> slot_names;  // root variable names, by slot
  std::vector<bool> slot_assigned;      // written by assign/capture somewhere
};

}  // namespace herald::templates
