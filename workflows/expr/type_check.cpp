#include <string>

#include "workflows/expr/ast.hpp"

namespace herald::expr {
namespace {

Type literal_type(const Value& v) {
  switch (v.kind()) {
    case Kind::kNull:
      return Type::kNull;
    case Kind::kBool:
      return Type::kBool;
    case Kind::kNumber:
      return Type::kNumber;
    case Kind::kString:
      return Type::kString;
    case Kind::kTime:
      return Type::kTime;
    case Kind::kDuration:
      return Type::kDuration;
    case Kind::kList:
      return Type::kList;
    case Kind::kJson:
      return Type::kObject;
  }
  return Type::kUnknown;
}

std::string a(Type t) {
  std::string name(type_name(t));
  bool vowel =
      name[0] == 'a' || name[0] == 'e' || name[0] == 'i' || name[0] == 'o' || name[0] == 'u';
  return (vowel ? "an " : "a ") + name;
}

bool known(Type t) {
  return t != Type::kUnknown && t != Type::kNull;
}

class TypeChecker {
 public:
  TypeChecker(const std::string& text, std::vector<Diagnostic>& out) : text_(text), out_(out) {}

  void check(Node& node) {
    for (auto& child : node.children) check(*child);
    for (auto& segment : node.segments)
      if (segment.dynamic) check(*segment.dynamic);
    switch (node.kind) {
      case NodeKind::kLiteral:
        node.type = literal_type(node.literal);
        break;
      case NodeKind::kNow:
        node.type = Type::kTime;
        break;
      case NodeKind::kPath:
        break;  // typed by the parser from the schema
      case NodeKind::kList:
        node.type = Type::kList;
        break;
      case NodeKind::kNot:
        need_boolean(*node.children[0], "'not'");
        node.type = Type::kBool;
        break;
      case NodeKind::kAnd:
      case NodeKind::kOr:
        need_boolean(*node.children[0], node.kind == NodeKind::kAnd ? "'and'" : "'or'");
        need_boolean(*node.children[1], node.kind == NodeKind::kAnd ? "'and'" : "'or'");
        node.type = Type::kBool;
        break;
      case NodeKind::kIsNull:
      case NodeKind::kIsNotNull:
        node.type = Type::kBool;
        break;
      case NodeKind::kNeg: {
        Type t = node.children[0]->type;
        if (known(t) && t != Type::kNumber && t != Type::kDuration)
          error(node, "'-' cannot negate " + a(t));
        node.type = t == Type::kNumber || t == Type::kDuration ? t : Type::kUnknown;
        break;
      }
      case NodeKind::kBinary:
        node.type = binary(node);
        break;
      case NodeKind::kCall:
        node.type = call(node);
        break;
    }
  }

 private:
  void error(const Node& node, std::string message) {
    out_.push_back({node.offset, node.length, Severity::kError, std::move(message)});
  }
  void warning(const Node& node, std::string message) {
    out_.push_back({node.offset, node.length, Severity::kWarning, std::move(message)});
  }

  void need_boolean(const Node& operand, const std::string& op) {
    if (known(operand.type) && operand.type != Type::kBool)
      error(operand, op + " needs true or false, not " + a(operand.type));
  }

  static bool is_literal_string(const Node& n) {
    return n.kind == NodeKind::kLiteral && n.literal.kind() == Kind::kString;
  }

  // A string literal meeting a time or a duration must denote one.
  void check_coercion(const Node& string_side, Type other) {
    if (!is_literal_string(string_side)) return;
    auto s = string_side.literal.as_string();
    if (other == Type::kTime && !parse_rfc3339(s))
      error(string_side, "'" + std::string(s) + "' is not an RFC 3339 time");
    if (other == Type::kDuration && !parse_duration(s))
      error(string_side, "'" + std::string(s) + "' is not a duration");
  }

  Type binary(const Node& node) {
    const Node& lhs = *node.children[0];
    const Node& rhs = *node.children[1];
    Type l = lhs.type;
    Type r = rhs.type;
    std::string op = "'" + std::string(binary_op_text(node.op)) + "'";
    switch (node.op) {
      case BinaryOp::kEq:
      case BinaryOp::kNe:
        if (known(l) && known(r) && l != r) {
          if ((l == Type::kTime && r == Type::kString) ||
              (l == Type::kString && r == Type::kTime)) {
            check_coercion(l == Type::kString ? lhs : rhs, Type::kTime);
          } else if (!((l == Type::kList || l == Type::kObject) &&
                       (r == Type::kList || r == Type::kObject))) {
            warning(node, op + " between " + a(l) + " and " + a(r) + " is never " +
                              (node.op == BinaryOp::kEq ? "true" : "false"));
          }
        }
        return Type::kBool;
      case BinaryOp::kLt:
      case BinaryOp::kLe:
      case BinaryOp::kGt:
      case BinaryOp::kGe:
        if (l == Type::kNull || r == Type::kNull) {
          warning(node, "a comparison with null is always false (use == null or != null)");
        } else if (known(l) && known(r)) {
          bool same = l == r && (l == Type::kNumber || l == Type::kString || l == Type::kTime ||
                                 l == Type::kDuration);
          bool time_string =
              (l == Type::kTime && r == Type::kString) || (l == Type::kString && r == Type::kTime);
          bool duration_string = (l == Type::kDuration && r == Type::kString) ||
                                 (l == Type::kString && r == Type::kDuration);
          if (time_string || duration_string)
            check_coercion(l == Type::kString ? lhs : rhs, l == Type::kString ? r : l);
          else if (!same)
            error(node, op + " cannot compare " + a(l) + " with " + a(r));
        }
        return Type::kBool;
      case BinaryOp::kIn:
      case BinaryOp::kNotIn:
        if (known(r) && r != Type::kList && r != Type::kString && r != Type::kObject)
          error(rhs, op + " needs a list, a string or an object on its right, not " + a(r));
        else if (r == Type::kString && known(l) && l != Type::kString)
          error(node, op + " looks for " + a(l) + " in a string");
        return Type::kBool;
      default:
        return arithmetic(node, op, lhs, rhs);
    }
  }

  Type arithmetic(const Node& node, const std::string& op, const Node& lhs, const Node& rhs) {
    Type l = lhs.type;
    Type r = rhs.type;
    if (l == Type::kNull || r == Type::kNull) return Type::kNull;
    if (!known(l) || !known(r)) return Type::kUnknown;
    auto is = [&](Type x, Type y) { return l == x && r == y; };
    const Type N = Type::kNumber, S = Type::kString, T = Type::kTime, D = Type::kDuration;
    Type result = Type::kUnknown;
    switch (node.op) {
      case BinaryOp::kAdd:
        if (is(N, N))
          result = N;
        else if (is(S, S))
          result = S;
        else if (is(T, D) || is(D, T) || is(S, D) || is(D, S))
          result = T;
        else if (is(D, D))
          result = D;
        if (is(S, D)) check_coercion(lhs, T);
        if (is(D, S)) check_coercion(rhs, T);
        break;
      case BinaryOp::kSub:
        if (is(N, N))
          result = N;
        else if (is(T, T) || is(T, S) || is(S, T))
          result = D;
        else if (is(T, D) || is(S, D))
          result = T;
        else if (is(D, D))
          result = D;
        if (is(S, T) || is(S, D)) check_coercion(lhs, T);
        if (is(T, S)) check_coercion(rhs, T);
        break;
      case BinaryOp::kMul:
        if (is(N, N))
          result = N;
        else if (is(D, N) || is(N, D))
          result = D;
        break;
      case BinaryOp::kDiv:
        if (is(N, N) || is(D, D))
          result = N;
        else if (is(D, N))
          result = D;
        break;
      case BinaryOp::kMod:
        if (is(N, N))
          result = N;
        else if (is(D, D))
          result = D;
        break;
      default:
        break;
    }
    if (result == Type::kUnknown) error(node, op + " cannot combine " + a(l) + " and " + a(r));
    return result;
  }

  Type call(const Node& node) {
    auto arg = [&](std::size_t i) { return node.children[i]->type; };
    auto need = [&](std::size_t i, std::initializer_list<Type> allowed, std::string_view name) {
      Type t = arg(i);
      if (!known(t)) return;
      for (Type ok : allowed)
        if (t == ok) return;
      error(*node.children[i], std::string(name) + "() cannot take " + a(t));
    };
    switch (node.function) {
      case Function::kExists:
        return Type::kBool;
      case Function::kLower:
      case Function::kUpper:
        need(0, {Type::kString}, node.function == Function::kLower ? "lower" : "upper");
        return arg(0) == Type::kNull ? Type::kNull : Type::kString;
      case Function::kContains:
        need(0, {Type::kString, Type::kList, Type::kObject}, "contains");
        return Type::kBool;
      case Function::kStartsWith:
        need(0, {Type::kString}, "starts_with");
        need(1, {Type::kString}, "starts_with");
        return Type::kBool;
      case Function::kLen:
        need(0, {Type::kString, Type::kList, Type::kObject}, "len");
        return Type::kNumber;
      case Function::kDaysSince:
        need(0, {Type::kTime, Type::kString}, "days_since");
        if (arg(0) == Type::kString && is_literal_string(*node.children[0]))
          check_coercion(*node.children[0], Type::kTime);
        return Type::kNumber;
    }
    return Type::kUnknown;
  }

  const std::string& text_;
  std::vector<Diagnostic>& out_;
};

}  // namespace

void check_types(Node& node, const std::string& text, std::vector<Diagnostic>& diagnostics) {
  TypeChecker(text, diagnostics).check(node);
}

}  // namespace herald::expr
