#include "gateway/ingest/builtin_expr.hpp"

#include <charconv>
#include <variant>
#include <vector>

namespace herald::ingest {
namespace {

using Json = nlohmann::ordered_json;

// The tree: one node type, small enough that a variant of kinds is clearer than a hierarchy.
struct Node {
  enum class Kind { kLiteral, kPath, kEqual, kNotEqual, kAnd, kOr, kNot } kind;
  Json literal;                                               // kLiteral
  bool from_header = false;                                   // kPath: root
  std::vector<std::variant<std::string, std::size_t>> steps;  // kPath: keys and indexes
  std::unique_ptr<Node> left, right;                          // operators
};

bool is_true(const Json& value) {
  return value.is_boolean() && value.get<bool>();
}

Json evaluate(const Node& node, const Json& header, const Json& body) {
  switch (node.kind) {
    case Node::Kind::kLiteral:
      return node.literal;
    case Node::Kind::kPath: {
      const Json* at = node.from_header ? &header : &body;
      for (const auto& step : node.steps) {
        if (const auto* key = std::get_if<std::string>(&step)) {
          if (!at->is_object()) return nullptr;
          const auto found = at->find(*key);
          if (found == at->end()) return nullptr;
          at = &*found;
        } else {
          const std::size_t index = std::get<std::size_t>(step);
          if (!at->is_array() || index >= at->size()) return nullptr;
          at = &(*at)[index];
        }
      }
      return *at;
    }
    case Node::Kind::kEqual:
    case Node::Kind::kNotEqual: {
      const Json a = evaluate(*node.left, header, body);
      const Json b = evaluate(*node.right, header, body);
      const auto null_literal = [](const Node& side) {
        return side.kind == Node::Kind::kLiteral && side.literal.is_null();
      };
      // A missing value compares false with anything but the literal null.
      if ((a.is_null() || b.is_null()) && !null_literal(*node.left) && !null_literal(*node.right)) {
        return false;
      }
      return node.kind == Node::Kind::kEqual ? a == b : a != b;
    }
    case Node::Kind::kAnd:
      return is_true(evaluate(*node.left, header, body)) &&
             is_true(evaluate(*node.right, header, body));
    case Node::Kind::kOr:
      return is_true(evaluate(*node.left, header, body)) ||
             is_true(evaluate(*node.right, header, body));
    case Node::Kind::kNot:
      return !is_true(evaluate(*node.left, header, body));
  }
  return nullptr;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  std::unique_ptr<Node> parse() {
    auto node = parse_or();
    skip_space();
    if (at_ < text_.size()) fail("unexpected '" + std::string(1, text_[at_]) + "'");
    return node;
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw MappingExprError(message, int(at_) + 1);
  }

  void skip_space() {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r')) {
      ++at_;
    }
  }

  static bool word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  }

  // Consumes `word` when it stands alone at the cursor.
  bool accept_word(std::string_view word) {
    skip_space();
    if (text_.substr(at_, word.size()) != word) return false;
    const std::size_t end = at_ + word.size();
    if (end < text_.size() && word_char(text_[end])) return false;
    at_ = end;
    return true;
  }

  bool accept(std::string_view symbol) {
    skip_space();
    if (text_.substr(at_, symbol.size()) != symbol) return false;
    at_ += symbol.size();
    return true;
  }

  std::unique_ptr<Node> binary(Node::Kind kind, std::unique_ptr<Node> left,
                               std::unique_ptr<Node> right) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->left = std::move(left);
    node->right = std::move(right);
    return node;
  }

  std::unique_ptr<Node> parse_or() {
    auto left = parse_and();
    while (accept_word("or")) left = binary(Node::Kind::kOr, std::move(left), parse_and());
    return left;
  }

  std::unique_ptr<Node> parse_and() {
    auto left = parse_not();
    while (accept_word("and")) left = binary(Node::Kind::kAnd, std::move(left), parse_not());
    return left;
  }

  std::unique_ptr<Node> parse_not() {
    if (accept_word("not")) return binary(Node::Kind::kNot, parse_not(), nullptr);
    auto left = parse_primary();
    if (accept("==")) return binary(Node::Kind::kEqual, std::move(left), parse_primary());
    if (accept("!=")) return binary(Node::Kind::kNotEqual, std::move(left), parse_primary());
    return left;
  }

  std::string parse_string() {
    const char quote = text_[at_++];
    std::string value;
    while (at_ < text_.size() && text_[at_] != quote) {
      if (text_[at_] == '\\' && at_ + 1 < text_.size()) ++at_;
      value.push_back(text_[at_++]);
    }
    if (at_ >= text_.size()) fail("unterminated string");
    ++at_;
    return value;
  }

  std::unique_ptr<Node> literal(Json value) {
    auto node = std::make_unique<Node>();
    node->kind = Node::Kind::kLiteral;
    node->literal = std::move(value);
    return node;
  }

  std::unique_ptr<Node> parse_primary() {
    skip_space();
    if (at_ >= text_.size()) fail("expression expected");
    const char c = text_[at_];
    if (c == '(') {
      ++at_;
      auto inner = parse_or();
      if (!accept(")")) fail("')' expected");
      return inner;
    }
    if (c == '\'' || c == '"') return literal(parse_string());
    if (c == '-' || (c >= '0' && c <= '9')) return literal(parse_number());
    if (accept_word("true")) return literal(true);
    if (accept_word("false")) return literal(false);
    if (accept_word("null")) return literal(nullptr);
    return parse_path();
  }

  Json parse_number() {
    const std::size_t begin = at_;
    if (text_[at_] == '-') ++at_;
    while (at_ < text_.size() && ((text_[at_] >= '0' && text_[at_] <= '9') || text_[at_] == '.')) {
      ++at_;
    }
    const std::string_view token = text_.substr(begin, at_ - begin);
    long long integer = 0;
    auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), integer);
    if (error == std::errc{} && end == token.data() + token.size()) return integer;
    double real = 0;
    auto [real_end, real_error] = std::from_chars(token.data(), token.data() + token.size(), real);
    if (real_error != std::errc{} || real_end != token.data() + token.size()) {
      at_ = begin;
      fail("malformed number");
    }
    return real;
  }

  std::string parse_name() {
    skip_space();
    const std::size_t begin = at_;
    while (at_ < text_.size() && (word_char(text_[at_]) || text_[at_] == '-')) ++at_;
    if (at_ == begin) fail("name expected");
    return std::string(text_.substr(begin, at_ - begin));
  }

  std::unique_ptr<Node> parse_path() {
    const std::size_t begin = at_;
    const std::string root = parse_name();
    auto node = std::make_unique<Node>();
    node->kind = Node::Kind::kPath;
    if (root == "header") {
      node->from_header = true;
    } else if (root != "body") {
      at_ = begin;
      fail("unknown name '" + root + "' (expected header or body)");
    }
    while (true) {
      if (at_ < text_.size() && text_[at_] == '.') {
        ++at_;
        node->steps.emplace_back(parse_name());
      } else if (at_ < text_.size() && text_[at_] == '[') {
        ++at_;
        skip_space();
        if (at_ < text_.size() && (text_[at_] == '\'' || text_[at_] == '"')) {
          node->steps.emplace_back(parse_string());
        } else {
          const Json index = parse_number();
          if (!index.is_number_integer() || index.get<long long>() < 0) fail("bad index");
          node->steps.emplace_back(std::size_t(index.get<long long>()));
        }
        if (!accept("]")) fail("']' expected");
      } else {
        return node;
      }
    }
  }

  std::string_view text_;
  std::size_t at_ = 0;
};

class BuiltinExpr final : public MappingExpr {
 public:
  explicit BuiltinExpr(std::unique_ptr<Node> root) : root_(std::move(root)) {}
  Json eval(const Json& header, const Json& body) const override {
    return evaluate(*root_, header, body);
  }

 private:
  std::unique_ptr<Node> root_;
};

}  // namespace

std::unique_ptr<const MappingExpr> compile_builtin_expr(std::string_view text) {
  return std::make_unique<BuiltinExpr>(Parser(text).parse());
}

MappingExprFactory builtin_mapping_expr_factory() {
  return [](std::string_view text) { return compile_builtin_expr(text); };
}

}  // namespace herald::ingest
