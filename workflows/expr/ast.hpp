#pragma once

// The compiled form of an expression; internal to herald_expr.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "workflows/expr/expression.hpp"

namespace herald::expr {

enum class NodeKind : std::uint8_t {
  kLiteral,
  kNow,
  kPath,
  kList,
  kNot,
  kNeg,
  kBinary,
  kAnd,
  kOr,
  kIsNull,
  kIsNotNull,
  kCall
};

enum class BinaryOp : std::uint8_t {
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kIn,
  kNotIn,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod
};

enum class Function : std::uint8_t {
  kExists,
  kLower,
  kUpper,
  kContains,
  kStartsWith,
  kLen,
  kDaysSince
};

std::string_view binary_op_text(BinaryOp op);

struct Node;

/// One step of a path: a constant key, a constant index, or an expression (`a[b]`).
struct Segment {
  std::string key;
  std::int64_t index = 0;
  bool is_index = false;
  std::unique_ptr<Node> dynamic;
};

struct Node {
  NodeKind kind = NodeKind::kLiteral;
  std::uint32_t offset = 0;  // span in the source text
  std::uint32_t length = 0;
  BinaryOp op = BinaryOp::kEq;
  Function function = Function::kExists;
  Value literal;                  // kLiteral
  Root root = Root::kCustomer;    // kPath
  bool time_field = false;        // kPath: a known time field, strings parse as RFC 3339
  std::vector<Segment> segments;  // kPath
  std::vector<std::unique_ptr<Node>> children;
  Type type = Type::kUnknown;  // set by the type pass
};

struct Program {
  std::string text;
  std::unique_ptr<Node> root;
  Type type = Type::kUnknown;
  std::vector<Diagnostic> diagnostics;
};

/// Parses `text` (throws SyntaxError) into a tree whose paths are resolved against
/// `schema`; unknown fields of closed objects are added to `diagnostics`.
std::unique_ptr<Node> parse_expression(const std::string& text, const Schema& schema,
                                       std::vector<Diagnostic>& diagnostics);

/// Sets Node::type bottom-up and reports clashes.
void check_types(Node& node, const std::string& text, std::vector<Diagnostic>& diagnostics);

/// Line and column (from 1, columns in characters) of a byte offset.
std::pair<int, int> line_column(std::string_view text, std::size_t offset);

}  // namespace herald::expr
