#include <cmath>
#include <string>

#include "workflows/expr/ast.hpp"
#include "workflows/expr/lexer.hpp"
#include "workflows/expr/suggest.hpp"

namespace herald::expr {
namespace {

struct FunctionInfo {
  std::string_view name;
  Function function;
  std::size_t arity;
};

constexpr FunctionInfo kFunctions[] = {
    {"exists", Function::kExists, 1},
    {"lower", Function::kLower, 1},
    {"upper", Function::kUpper, 1},
    {"contains", Function::kContains, 2},
    {"starts_with", Function::kStartsWith, 2},
    {"len", Function::kLen, 1},
    {"days_since", Function::kDaysSince, 1},
};

std::vector<std::string> function_names() {
  std::vector<std::string> names;
  for (const auto& f : kFunctions) names.emplace_back(f.name);
  return names;
}

bool is_keyword(const Token& t, std::string_view word) {
  return t.kind == TokenKind::kIdentifier && t.text == word;
}

class Parser {
 public:
  Parser(const std::string& text, const Schema& schema, std::vector<Diagnostic>& diagnostics)
      : text_(text), schema_(schema), diagnostics_(diagnostics), tokens_(tokenize(text)) {}

  std::unique_ptr<Node> run() {
    if (tokens_.front().kind == TokenKind::kEnd) fail(0, "empty expression");
    auto node = parse_or();
    if (current().kind != TokenKind::kEnd)
      fail(current().offset, "unexpected " + describe(current()));
    return node;
  }

 private:
  const Token& current() const { return tokens_[pos_]; }
  const Token& next() const { return tokens_[std::min(pos_ + 1, tokens_.size() - 1)]; }
  const Token& advance() { return tokens_[pos_++]; }

  [[noreturn]] void fail(std::size_t offset, std::string message) const {
    auto [line, column] = line_column(text_, offset);
    throw SyntaxError(offset, line, column, std::move(message));
  }

  std::string describe(const Token& t) const {
    if (t.kind == TokenKind::kEnd) return "end of expression";
    return "'" + text_.substr(t.offset, t.length) + "'";
  }

  void expect(TokenKind kind, std::string_view what) {
    if (current().kind != kind)
      fail(current().offset, "expected " + std::string(what) + ", found " + describe(current()));
    ++pos_;
  }

  std::unique_ptr<Node> make(NodeKind kind, std::uint32_t offset) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->offset = offset;
    return node;
  }

  void finish(Node& node) {
    const Token& last = tokens_[pos_ - 1];
    node.length = last.offset + last.length - node.offset;
  }

  std::unique_ptr<Node> binary(NodeKind kind, BinaryOp op, std::unique_ptr<Node> lhs,
                               std::unique_ptr<Node> rhs) {
    auto node = make(kind, lhs->offset);
    node->op = op;
    node->children.push_back(std::move(lhs));
    node->children.push_back(std::move(rhs));
    finish(*node);
    return node;
  }

  // Bounds recursion, so that hostile input cannot exhaust the stack.
  struct DepthGuard {
    explicit DepthGuard(Parser& p) : parser(p) {
      if (++parser.depth_ > kMaxDepth)
        parser.fail(parser.current().offset, "the expression is nested too deeply");
    }
    ~DepthGuard() { --parser.depth_; }
    Parser& parser;
  };
  static constexpr int kMaxDepth = 100;

  std::unique_ptr<Node> parse_or() {
    DepthGuard guard(*this);
    auto lhs = parse_and();
    while (is_keyword(current(), "or")) {
      ++pos_;
      lhs = binary(NodeKind::kOr, BinaryOp::kEq, std::move(lhs), parse_and());
    }
    return lhs;
  }

  std::unique_ptr<Node> parse_and() {
    auto lhs = parse_not();
    while (is_keyword(current(), "and")) {
      ++pos_;
      lhs = binary(NodeKind::kAnd, BinaryOp::kEq, std::move(lhs), parse_not());
    }
    return lhs;
  }

  std::unique_ptr<Node> parse_not() {
    if (is_keyword(current(), "not")) {
      DepthGuard guard(*this);
      auto node = make(NodeKind::kNot, advance().offset);
      node->children.push_back(parse_not());
      finish(*node);
      return node;
    }
    return parse_comparison();
  }

  bool comparison_ahead(BinaryOp& op, std::size_t& width) const {
    width = 1;
    switch (current().kind) {
      case TokenKind::kEq:
        op = BinaryOp::kEq;
        return true;
      case TokenKind::kNe:
        op = BinaryOp::kNe;
        return true;
      case TokenKind::kLt:
        op = BinaryOp::kLt;
        return true;
      case TokenKind::kLe:
        op = BinaryOp::kLe;
        return true;
      case TokenKind::kGt:
        op = BinaryOp::kGt;
        return true;
      case TokenKind::kGe:
        op = BinaryOp::kGe;
        return true;
      default:
        break;
    }
    if (is_keyword(current(), "in")) {
      op = BinaryOp::kIn;
      return true;
    }
    if (is_keyword(current(), "not") && is_keyword(next(), "in")) {
      op = BinaryOp::kNotIn;
      width = 2;
      return true;
    }
    return false;
  }

  static bool is_null_literal(const Node& n) {
    return n.kind == NodeKind::kLiteral && n.literal.is_null();
  }

  std::unique_ptr<Node> parse_comparison() {
    auto lhs = parse_additive();
    BinaryOp op;
    std::size_t width;
    if (!comparison_ahead(op, width)) return lhs;
    pos_ += width;
    auto rhs = parse_additive();
    BinaryOp again;
    if (comparison_ahead(again, width))
      fail(current().offset, "comparisons cannot be chained: combine them with 'and'");
    // `x == null` and `x != null` are the two comparisons with null that can hold.
    if ((op == BinaryOp::kEq || op == BinaryOp::kNe) &&
        (is_null_literal(*lhs) || is_null_literal(*rhs))) {
      auto node = make(op == BinaryOp::kEq ? NodeKind::kIsNull : NodeKind::kIsNotNull, lhs->offset);
      node->children.push_back(is_null_literal(*lhs) ? std::move(rhs) : std::move(lhs));
      finish(*node);
      return node;
    }
    return binary(NodeKind::kBinary, op, std::move(lhs), std::move(rhs));
  }

  std::unique_ptr<Node> parse_additive() {
    auto lhs = parse_multiplicative();
    while (current().kind == TokenKind::kPlus || current().kind == TokenKind::kMinus) {
      BinaryOp op = advance().kind == TokenKind::kPlus ? BinaryOp::kAdd : BinaryOp::kSub;
      lhs = binary(NodeKind::kBinary, op, std::move(lhs), parse_multiplicative());
    }
    return lhs;
  }

  std::unique_ptr<Node> parse_multiplicative() {
    auto lhs = parse_unary();
    while (current().kind == TokenKind::kStar || current().kind == TokenKind::kSlash ||
           current().kind == TokenKind::kPercent) {
      TokenKind k = advance().kind;
      BinaryOp op = k == TokenKind::kStar    ? BinaryOp::kMul
                    : k == TokenKind::kSlash ? BinaryOp::kDiv
                                             : BinaryOp::kMod;
      lhs = binary(NodeKind::kBinary, op, std::move(lhs), parse_unary());
    }
    return lhs;
  }

  std::unique_ptr<Node> parse_unary() {
    if (current().kind == TokenKind::kMinus) {
      DepthGuard guard(*this);
      std::uint32_t offset = advance().offset;
      auto operand = parse_unary();
      // Constant folding of negative literals.
      if (operand->kind == NodeKind::kLiteral && operand->literal.kind() == Kind::kNumber) {
        operand->literal = Value::number(-operand->literal.as_number());
        operand->offset = offset;
        finish(*operand);
        return operand;
      }
      if (operand->kind == NodeKind::kLiteral && operand->literal.kind() == Kind::kDuration) {
        operand->literal = Value::duration(-operand->literal.as_duration());
        operand->offset = offset;
        finish(*operand);
        return operand;
      }
      auto node = make(NodeKind::kNeg, offset);
      node->children.push_back(std::move(operand));
      finish(*node);
      return node;
    }
    return parse_postfix();
  }

  std::unique_ptr<Node> parse_postfix() {
    auto node = parse_primary();
    while (current().kind == TokenKind::kDot || current().kind == TokenKind::kLBracket) {
      if (node->kind != NodeKind::kPath)
        fail(current().offset, "only paths (customer.…, event.…) can have members or indexes");
      if (advance().kind == TokenKind::kDot) {
        if (current().kind != TokenKind::kIdentifier)
          fail(current().offset, "expected a field name after '.', found " + describe(current()));
        Segment segment;
        segment.key = advance().text;
        node->segments.push_back(std::move(segment));
      } else {
        std::uint32_t index_offset = current().offset;
        auto index = parse_or();
        expect(TokenKind::kRBracket, "']'");
        Segment segment;
        if (index->kind == NodeKind::kLiteral && index->literal.kind() == Kind::kString) {
          segment.key = std::string(index->literal.as_string());
        } else if (index->kind == NodeKind::kLiteral && index->literal.kind() == Kind::kNumber) {
          double n = index->literal.as_number();
          if (std::trunc(n) != n) fail(index_offset, "an index must be a whole number");
          segment.is_index = true;
          segment.index = static_cast<std::int64_t>(n);
        } else if (index->kind == NodeKind::kLiteral) {
          fail(index_offset, "an index must be a number or a string");
        } else {
          segment.dynamic = std::move(index);
        }
        node->segments.push_back(std::move(segment));
      }
      finish(*node);
    }
    if (node->kind == NodeKind::kPath) resolve_path(*node);
    return node;
  }

  // Walks the schema along the constant segments: marks time fields, types the path
  // and warns about fields that a closed object cannot have.
  void resolve_path(Node& node) {
    const FieldSpec* spec = &schema_.root_spec(node.root);
    std::string where(root_name(node.root));
    for (const auto& segment : node.segments) {
      if (segment.dynamic || spec == nullptr) {
        spec = nullptr;
        break;
      }
      if (segment.is_index) {
        spec = nullptr;
        break;
      }
      const FieldSpec* child = spec->field(segment.key);
      if (child == nullptr && spec->closed) {
        std::vector<std::string> names;
        for (const auto& [name, unused] : spec->fields) names.push_back(name);
        diagnostics_.push_back(
            {node.offset, node.length, Severity::kWarning,
             "unknown field '" + segment.key + "' of " + where + did_you_mean(segment.key, names)});
        spec = nullptr;
        break;
      }
      if (child == nullptr && spec->other_fields != Type::kUnknown) {
        other_ = FieldSpec{spec->other_fields, false, {}, Type::kUnknown};
        child = &other_;
      }
      spec = child;
      where += "." + segment.key;
    }
    node.type = spec ? spec->type : Type::kUnknown;
    node.time_field = node.type == Type::kTime;
  }

  std::unique_ptr<Node> parse_primary() {
    const Token& token = current();
    switch (token.kind) {
      case TokenKind::kNumber: {
        auto node = make(NodeKind::kLiteral, token.offset);
        node->literal = Value::number(advance().number);
        finish(*node);
        return node;
      }
      case TokenKind::kDuration: {
        auto node = make(NodeKind::kLiteral, token.offset);
        node->literal = Value::duration(advance().duration);
        finish(*node);
        return node;
      }
      case TokenKind::kString: {
        auto node = make(NodeKind::kLiteral, token.offset);
        node->literal = Value::owned_string(advance().text);
        finish(*node);
        return node;
      }
      case TokenKind::kLParen: {
        ++pos_;
        auto inner = parse_or();
        expect(TokenKind::kRParen, "')'");
        return inner;
      }
      case TokenKind::kLBracket:
        return parse_list();
      case TokenKind::kIdentifier:
        return parse_name();
      default:
        fail(token.offset, "expected a value, found " + describe(token));
    }
  }

  std::unique_ptr<Node> parse_list() {
    auto node = make(NodeKind::kList, advance().offset);
    if (current().kind != TokenKind::kRBracket) {
      while (true) {
        node->children.push_back(parse_or());
        if (current().kind != TokenKind::kComma) break;
        ++pos_;
      }
    }
    expect(TokenKind::kRBracket, "',' or ']'");
    finish(*node);
    // A list of literals is itself a literal, built once.
    bool constant = true;
    for (const auto& child : node->children)
      constant = constant && child->kind == NodeKind::kLiteral;
    if (constant) {
      std::vector<Value> items;
      for (const auto& child : node->children) items.push_back(child->literal);
      node->kind = NodeKind::kLiteral;
      node->literal = Value::list(std::move(items));
      node->children.clear();
    }
    return node;
  }

  std::unique_ptr<Node> parse_name() {
    const Token& token = advance();
    const std::string& name = token.text;
    if (current().kind == TokenKind::kLParen) return parse_call(token);
    if (name == "true" || name == "false" || name == "null") {
      auto node = make(NodeKind::kLiteral, token.offset);
      if (name != "null") node->literal = Value::boolean(name == "true");
      finish(*node);
      return node;
    }
    if (name == "now") {
      if (!schema_.allows_now()) fail(token.offset, "'now' is not available here");
      auto node = make(NodeKind::kNow, token.offset);
      finish(*node);
      return node;
    }
    if (name == "and" || name == "or" || name == "not" || name == "in")
      fail(token.offset, "expected a value, found '" + name + "'");
    auto root = root_from_name(name);
    if (!root) {
      std::vector<std::string> names;
      for (std::size_t i = 0; i < kRootCount; ++i)
        if (schema_.allows(static_cast<Root>(i)))
          names.emplace_back(root_name(static_cast<Root>(i)));
      names.emplace_back("now");
      auto suggestion = did_you_mean(name, names);
      fail(token.offset, "unknown name '" + name + "'" +
                             (suggestion.empty() ? " (for a string, write '" + name + "' in quotes)"
                                                 : suggestion));
    }
    if (!schema_.allows(*root))
      fail(token.offset, "'" + name + "' is not available here: " + schema_.description());
    auto node = make(NodeKind::kPath, token.offset);
    node->root = *root;
    finish(*node);
    return node;
  }

  std::unique_ptr<Node> parse_call(const Token& name) {
    const FunctionInfo* info = nullptr;
    for (const auto& f : kFunctions)
      if (f.name == name.text) info = &f;
    if (info == nullptr)
      fail(name.offset,
           "unknown function '" + name.text + "'" + did_you_mean(name.text, function_names()));
    auto node = make(NodeKind::kCall, name.offset);
    node->function = info->function;
    ++pos_;  // (
    if (current().kind != TokenKind::kRParen) {
      while (true) {
        node->children.push_back(parse_or());
        if (current().kind != TokenKind::kComma) break;
        ++pos_;
      }
    }
    expect(TokenKind::kRParen, "',' or ')'");
    finish(*node);
    if (node->children.size() != info->arity)
      fail(name.offset, std::string(info->name) + "() takes " + std::to_string(info->arity) +
                            (info->arity == 1 ? " argument" : " arguments") + ", not " +
                            std::to_string(node->children.size()));
    if (info->function == Function::kExists && node->children[0]->kind != NodeKind::kPath)
      fail(node->children[0]->offset, "exists() takes a path, like exists(customer.email)");
    return node;
  }

  const std::string& text_;
  const Schema& schema_;
  std::vector<Diagnostic>& diagnostics_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  FieldSpec other_;
};

}  // namespace

std::unique_ptr<Node> parse_expression(const std::string& text, const Schema& schema,
                                       std::vector<Diagnostic>& diagnostics) {
  return Parser(text, schema, diagnostics).run();
}

std::pair<int, int> line_column(std::string_view text, std::size_t offset) {
  int line = 1;
  int column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      column = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++column;
    }
  }
  return {line, column};
}

std::string_view binary_op_text(BinaryOp op) {
  switch (op) {
    case BinaryOp::kEq:
      return "==";
    case BinaryOp::kNe:
      return "!=";
    case BinaryOp::kLt:
      return "<";
    case BinaryOp::kLe:
      return "<=";
    case BinaryOp::kGt:
      return ">";
    case BinaryOp::kGe:
      return ">=";
    case BinaryOp::kIn:
      return "in";
    case BinaryOp::kNotIn:
      return "not in";
    case BinaryOp::kAdd:
      return "+";
    case BinaryOp::kSub:
      return "-";
    case BinaryOp::kMul:
      return "*";
    case BinaryOp::kDiv:
      return "/";
    case BinaryOp::kMod:
      return "%";
  }
  return "?";
}

}  // namespace herald::expr
