#include "workflows/expr/expression.hpp"

#include <algorithm>

#include "workflows/expr/ast.hpp"
#include "workflows/expr/evaluator.hpp"

namespace herald::expr {

SyntaxError::SyntaxError(std::size_t offset_, int line_, int column_, std::string message_)
    : std::runtime_error(std::to_string(line_) + ":" + std::to_string(column_) + ": " + message_),
      offset(offset_),
      line(line_),
      column(column_),
      message(std::move(message_)) {}

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNone:
      return "none";
    case ErrorKind::kType:
      return "type";
    case ErrorKind::kDivisionByZero:
      return "division_by_zero";
    case ErrorKind::kInvalidTime:
      return "invalid_time";
  }
  return "?";
}

Context::Context()
    : now_(std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now())) {}

bool Context::set(std::string_view name, const Json* value) {
  auto root = root_from_name(name);
  if (!root) return false;
  set(*root, value);
  return true;
}

namespace {
const std::shared_ptr<const Program>& empty_program() {
  static const auto kEmpty = [] {
    auto program = std::make_shared<Program>();
    program->root = std::make_unique<Node>();  // a null literal
    program->type = Type::kNull;
    return std::shared_ptr<const Program>(std::move(program));
  }();
  return kEmpty;
}
}  // namespace

Expression::Expression() : program_(empty_program()) {}

Expression::Expression(std::shared_ptr<const Program> program) : program_(std::move(program)) {}

Expression Expression::compile(std::string_view text, const Schema& schema) {
  auto program = std::make_shared<Program>();
  program->text = std::string(text);
  program->root = parse_expression(program->text, schema, program->diagnostics);
  check_types(*program->root, program->text, program->diagnostics);
  program->type = program->root->type;
  std::stable_sort(program->diagnostics.begin(), program->diagnostics.end(),
                   [](const Diagnostic& a, const Diagnostic& b) { return a.offset < b.offset; });
  return Expression(std::move(program));
}

Value Expression::evaluate(const Context& context, EvalError* error) const {
  bool failed = false;
  Value v = evaluate_node(*program_->root, context, error, failed);
  if (failed) {
    if (error != nullptr && error->kind == ErrorKind::kNone) error->kind = ErrorKind::kType;
    return {};
  }
  return v;
}

bool Expression::test(const Context& context, EvalError* error) const {
  bool failed = false;
  Value v = evaluate_node(*program_->root, context, error, failed);
  if (failed) {
    if (error != nullptr && error->kind == ErrorKind::kNone) error->kind = ErrorKind::kType;
    return false;
  }
  if (v.kind() == Kind::kBool) return v.as_bool();
  if (!v.is_null() && error != nullptr) {
    error->kind = ErrorKind::kType;
    error->offset = 0;
    error->message = std::string("the condition is ") + (v.kind() == Kind::kJson ? "an " : "a ") +
                     std::string(kind_name(v.kind())) + ", not true or false";
  }
  return false;
}

const std::string& Expression::text() const {
  return program_->text;
}
Type Expression::static_type() const {
  return program_->type;
}
const std::vector<Diagnostic>& Expression::diagnostics() const {
  return program_->diagnostics;
}

}  // namespace herald::expr
