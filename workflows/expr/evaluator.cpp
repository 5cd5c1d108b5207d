#include "workflows/expr/evaluator.hpp"

#include <cmath>

namespace herald::expr {
namespace {

constexpr std::int64_t kMicrosPerDay = 86'400'000'000LL;

class Evaluator {
 public:
  Evaluator(const Context& context, EvalError* error, bool& failed)
      : context_(context), error_(error), failed_(failed) {}

  Value eval(const Node& node) {
    switch (node.kind) {
      case NodeKind::kLiteral:
        return borrow(node.literal);
      case NodeKind::kNow:
        return Value::time(context_.now());
      case NodeKind::kPath:
        return path(node);
      case NodeKind::kList: {
        std::vector<Value> items;
        items.reserve(node.children.size());
        for (const auto& child : node.children) {
          items.push_back(eval(*child));
          if (failed_) return {};
        }
        return Value::list(std::move(items));
      }
      case NodeKind::kNot: {
        auto truth = truthy(*node.children[0], "'not'");
        return failed_ ? Value() : Value::boolean(!truth);
      }
      case NodeKind::kAnd: {
        if (!truthy(*node.children[0], "'and'")) return failed_ ? Value() : Value::boolean(false);
        auto truth = truthy(*node.children[1], "'and'");
        return failed_ ? Value() : Value::boolean(truth);
      }
      case NodeKind::kOr: {
        if (truthy(*node.children[0], "'or'")) return Value::boolean(true);
        if (failed_) return {};
        auto truth = truthy(*node.children[1], "'or'");
        return failed_ ? Value() : Value::boolean(truth);
      }
      case NodeKind::kIsNull:
      case NodeKind::kIsNotNull: {
        Value v = eval(*node.children[0]);
        if (failed_) return {};
        return Value::boolean(v.is_null() == (node.kind == NodeKind::kIsNull));
      }
      case NodeKind::kNeg: {
        Value v = eval(*node.children[0]);
        if (failed_ || v.is_null()) return {};
        if (v.kind() == Kind::kNumber) return Value::number(-v.as_number());
        if (v.kind() == Kind::kDuration) return Value::duration(-v.as_duration());
        return type_error(node, "'-' cannot negate " + describe(v));
      }
      case NodeKind::kBinary:
        return binary(node);
      case NodeKind::kCall:
        return call(node);
    }
    return {};
  }

 private:
  // Literals live as long as the Expression; evaluation results may borrow them.
  static Value borrow(const Value& literal) {
    if (literal.kind() == Kind::kString) return Value::borrowed_string(literal.as_string());
    return literal;
  }

  static std::string describe(const Value& v) {
    std::string name(kind_name(v.kind()));
    if (v.kind() == Kind::kJson && v.as_json().is_array()) name = "list";
    bool vowel = name[0] == 'o';
    return (vowel ? "an " : "a ") + name;
  }

  Value fail(ErrorKind kind, const Node& node, const std::string& message) {
    failed_ = true;
    if (error_ != nullptr) {
      error_->kind = kind;
      error_->offset = node.offset;
      error_->message = message;
    }
    return {};
  }

  template <typename MessageFn>
  Value fail_lazy(ErrorKind kind, const Node& node, MessageFn&& message) {
    if (error_ == nullptr) {
      failed_ = true;
      return {};
    }
    return fail(kind, node, message());
  }

  Value type_error(const Node& node, const std::string& message) {
    return fail(ErrorKind::kType, node, message);
  }

  bool truthy(const Node& node, const char* op) {
    Value v = eval(node);
    if (failed_) return false;
    if (v.kind() == Kind::kBool) return v.as_bool();
    if (v.is_null()) return false;
    fail_lazy(ErrorKind::kType, node,
              [&] { return std::string(op) + " needs true or false, not " + describe(v); });
    return false;
  }

  // The JSON a path designates, or nullptr when any step is missing.
  const Json* lookup(const Node& node) {
    const Json* current = context_.root(node.root);
    for (const auto& segment : node.segments) {
      if (current == nullptr) return nullptr;
      if (segment.dynamic) {
        Value key = eval(*segment.dynamic);
        if (failed_ || key.is_null()) return nullptr;
        if (key.kind() == Kind::kString) {
          current = member(*current, key.as_string());
        } else if (key.kind() == Kind::kNumber && std::trunc(key.as_number()) == key.as_number()) {
          current = element(*current, static_cast<std::int64_t>(key.as_number()));
        } else {
          fail_lazy(ErrorKind::kType, *segment.dynamic, [&] {
            return "an index must be a string or a whole number, not " + describe(key);
          });
          return nullptr;
        }
      } else if (segment.is_index) {
        current = element(*current, segment.index);
      } else {
        current = member(*current, segment.key);
      }
    }
    return current;
  }

  static const Json* member(const Json& j, std::string_view key) {
    if (!j.is_object()) return nullptr;
    for (const auto& [name, value] : j.get_ref<const Json::object_t&>())
      if (name == key) return &value;
    return nullptr;
  }

  static const Json* element(const Json& j, std::int64_t index) {
    if (!j.is_array()) return nullptr;
    auto size = static_cast<std::int64_t>(j.size());
    if (index < 0) index += size;
    if (index < 0 || index >= size) return nullptr;
    return &j[static_cast<std::size_t>(index)];
  }

  Value path(const Node& node) {
    const Json* j = lookup(node);
    if (j == nullptr) return {};
    if (node.time_field && j->is_string()) {
      const auto& s = j->get_ref<const std::string&>();
      if (auto t = parse_rfc3339(s)) return Value::time(*t);
      return fail_lazy(ErrorKind::kInvalidTime, node,
                       [&] { return node_text(node) + " is not an RFC 3339 time: '" + s + "'"; });
    }
    if (node.time_field && !j->is_null())
      return fail_lazy(ErrorKind::kType, node, [&] { return node_text(node) + " is not a time"; });
    return Value::from_json(*j);
  }

  std::string node_text(const Node& node) const {
    std::string out(root_name(node.root));
    for (const auto& s : node.segments) {
      if (s.dynamic)
        out += "[…]";
      else if (s.is_index)
        out += "[" + std::to_string(s.index) + "]";
      else
        out += "." + s.key;
    }
    return out;
  }

  // A string used as a time: parsed as RFC 3339.
  bool as_time(const Node& node, const Value& v, TimePoint& out) {
    if (v.kind() == Kind::kTime) {
      out = v.as_time();
      return true;
    }
    if (v.kind() == Kind::kString) {
      if (auto t = parse_rfc3339(v.as_string())) {
        out = *t;
        return true;
      }
      fail_lazy(ErrorKind::kInvalidTime, node,
                [&] { return "'" + std::string(v.as_string()) + "' is not an RFC 3339 time"; });
      return false;
    }
    fail_lazy(ErrorKind::kType, node, [&] { return "expected a time, not " + describe(v); });
    return false;
  }

  // -1, 0, 1; or 2 with failed_ set on a type error; 3 for unordered (NaN).
  int order(const Node& node, const Value& a, const Value& b) {
    auto cmp = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
    Kind ka = a.kind(), kb = b.kind();
    if (ka == Kind::kNumber && kb == Kind::kNumber) {
      if (std::isnan(a.as_number()) || std::isnan(b.as_number())) return 3;
      return cmp(a.as_number(), b.as_number());
    }
    if (ka == Kind::kString && kb == Kind::kString) return cmp(a.as_string(), b.as_string());
    if ((ka == Kind::kTime || ka == Kind::kString) && (kb == Kind::kTime || kb == Kind::kString)) {
      TimePoint x, y;
      if (!as_time(node, a, x) || !as_time(node, b, y)) return 2;
      return cmp(x, y);
    }
    if ((ka == Kind::kDuration || ka == Kind::kString) &&
        (kb == Kind::kDuration || kb == Kind::kString)) {
      auto x =
          ka == Kind::kDuration ? std::optional(a.as_duration()) : parse_duration(a.as_string());
      auto y =
          kb == Kind::kDuration ? std::optional(b.as_duration()) : parse_duration(b.as_string());
      if (x && y) return cmp(*x, *y);
      fail_lazy(ErrorKind::kType, node,
                [&] { return std::string("a string that is not a duration"); });
      return 2;
    }
    fail_lazy(ErrorKind::kType, node, [&] {
      return "'" + std::string(binary_op_text(node.op)) + "' cannot compare " + describe(a) +
             " with " + describe(b);
    });
    return 2;
  }

  Value membership(const Node& node, const Value& needle, const Value& haystack) {
    if (haystack.is_sequence()) {
      for (std::size_t i = 0, n = haystack.sequence_size(); i < n; ++i)
        if (values_equal(needle, haystack.sequence_at(i))) return Value::boolean(true);
      return Value::boolean(false);
    }
    if (haystack.kind() == Kind::kString && needle.kind() == Kind::kString)
      return Value::boolean(haystack.as_string().find(needle.as_string()) !=
                            std::string_view::npos);
    if (haystack.kind() == Kind::kJson && needle.kind() == Kind::kString)
      return Value::boolean(member(haystack.as_json(), needle.as_string()) != nullptr);
    return fail_lazy(ErrorKind::kType, node, [&] {
      return "cannot look for " + describe(needle) + " in " + describe(haystack);
    });
  }

  Value binary(const Node& node) {
    Value a = eval(*node.children[0]);
    if (failed_) return {};
    Value b = eval(*node.children[1]);
    if (failed_) return {};
    switch (node.op) {
      case BinaryOp::kEq:
      case BinaryOp::kNe:
        if (a.is_null() || b.is_null())
          return Value::boolean(node.op == BinaryOp::kEq && a.is_null() && b.is_null());
        return Value::boolean(values_equal(a, b) == (node.op == BinaryOp::kEq));
      case BinaryOp::kLt:
      case BinaryOp::kLe:
      case BinaryOp::kGt:
      case BinaryOp::kGe: {
        if (a.is_null() || b.is_null()) return Value::boolean(false);
        int o = order(node, a, b);
        if (o == 2) return {};
        if (o == 3) return Value::boolean(false);
        bool result = node.op == BinaryOp::kLt   ? o < 0
                      : node.op == BinaryOp::kLe ? o <= 0
                      : node.op == BinaryOp::kGt ? o > 0
                                                 : o >= 0;
        return Value::boolean(result);
      }
      case BinaryOp::kIn:
      case BinaryOp::kNotIn: {
        if (a.is_null() || b.is_null()) return Value::boolean(false);
        Value found = membership(node, a, b);
        if (failed_) return {};
        return Value::boolean(found.as_bool() == (node.op == BinaryOp::kIn));
      }
      default:
        return arithmetic(node, a, b);
    }
  }

  Value arithmetic(const Node& node, const Value& a, const Value& b) {
    if (a.is_null() || b.is_null()) return {};
    Kind ka = a.kind(), kb = b.kind();
    auto is = [&](Kind x, Kind y) { return ka == x && kb == y; };
    const Kind N = Kind::kNumber, S = Kind::kString, T = Kind::kTime, D = Kind::kDuration;
    switch (node.op) {
      case BinaryOp::kAdd:
        if (is(N, N)) return Value::number(a.as_number() + b.as_number());
        if (is(S, S))
          return Value::owned_string(std::string(a.as_string()) + std::string(b.as_string()));
        if (is(D, D)) return Value::duration(a.as_duration() + b.as_duration());
        if ((ka == T || ka == S) && kb == D) {
          TimePoint t;
          return as_time(node, a, t) ? Value::time(t + b.as_duration()) : Value();
        }
        if (ka == D && (kb == T || kb == S)) {
          TimePoint t;
          return as_time(node, b, t) ? Value::time(t + a.as_duration()) : Value();
        }
        break;
      case BinaryOp::kSub:
        if (is(N, N)) return Value::number(a.as_number() - b.as_number());
        if (is(D, D)) return Value::duration(a.as_duration() - b.as_duration());
        if ((ka == T || ka == S) && kb == D) {
          TimePoint t;
          return as_time(node, a, t) ? Value::time(t - b.as_duration()) : Value();
        }
        if ((ka == T && (kb == T || kb == S)) || (ka == S && kb == T)) {
          TimePoint x, y;
          if (!as_time(node, a, x) || !as_time(node, b, y)) return {};
          return Value::duration(x - y);
        }
        break;
      case BinaryOp::kMul:
        if (is(N, N)) return Value::number(a.as_number() * b.as_number());
        if (is(D, N)) return scale(a.as_duration(), b.as_number());
        if (is(N, D)) return scale(b.as_duration(), a.as_number());
        break;
      case BinaryOp::kDiv:
        if (is(N, N)) {
          if (b.as_number() == 0) return division_by_zero(node);
          return Value::number(a.as_number() / b.as_number());
        }
        if (is(D, N)) {
          if (b.as_number() == 0) return division_by_zero(node);
          return scale(a.as_duration(), 1.0 / b.as_number());
        }
        if (is(D, D)) {
          if (b.as_duration().count() == 0) return division_by_zero(node);
          return Value::number(static_cast<double>(a.as_duration().count()) /
                               static_cast<double>(b.as_duration().count()));
        }
        break;
      case BinaryOp::kMod:
        if (is(N, N)) {
          if (b.as_number() == 0) return division_by_zero(node);
          return Value::number(std::fmod(a.as_number(), b.as_number()));
        }
        if (is(D, D)) {
          if (b.as_duration().count() == 0) return division_by_zero(node);
          return Value::duration(a.as_duration() % b.as_duration());
        }
        break;
      default:
        break;
    }
    return fail_lazy(ErrorKind::kType, node, [&] {
      return "'" + std::string(binary_op_text(node.op)) + "' cannot combine " + describe(a) +
             " and " + describe(b);
    });
  }

  static Value scale(Duration d, double factor) {
    return Value::duration(
        Duration(static_cast<std::int64_t>(std::llround(static_cast<double>(d.count()) * factor))));
  }

  Value division_by_zero(const Node& node) {
    return fail_lazy(ErrorKind::kDivisionByZero, node,
                     [] { return std::string("division by zero"); });
  }

  static std::string change_case(std::string_view s, bool upper) {
    std::string out(s);
    for (char& c : out) {
      if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
  }

  Value call(const Node& node) {
    if (node.function == Function::kExists) {
      const Json* j = lookup(*node.children[0]);
      if (failed_) return {};
      return Value::boolean(j != nullptr && !j->is_null());
    }
    Value first = eval(*node.children[0]);
    if (failed_) return {};
    auto wrong = [&](const Value& v, const char* name) {
      return fail_lazy(ErrorKind::kType, node,
                       [&] { return std::string(name) + "() cannot take " + describe(v); });
    };
    switch (node.function) {
      case Function::kLower:
      case Function::kUpper: {
        bool upper = node.function == Function::kUpper;
        if (first.is_null()) return {};
        if (first.kind() != Kind::kString) return wrong(first, upper ? "upper" : "lower");
        auto s = first.as_string();
        bool unchanged = true;
        for (char c : s)
          if (upper ? (c >= 'a' && c <= 'z') : (c >= 'A' && c <= 'Z')) unchanged = false;
        return unchanged ? first : Value::owned_string(change_case(s, upper));
      }
      case Function::kContains: {
        Value second = eval(*node.children[1]);
        if (failed_) return {};
        if (first.is_null() || second.is_null()) return Value::boolean(false);
        if (first.kind() == Kind::kString && second.kind() != Kind::kString)
          return wrong(second, "contains");
        if (!first.is_sequence() && first.kind() != Kind::kString && first.kind() != Kind::kJson)
          return wrong(first, "contains");
        return membership(node, second, first);
      }
      case Function::kStartsWith: {
        Value second = eval(*node.children[1]);
        if (failed_) return {};
        if (first.is_null() || second.is_null()) return Value::boolean(false);
        if (first.kind() != Kind::kString) return wrong(first, "starts_with");
        if (second.kind() != Kind::kString) return wrong(second, "starts_with");
        return Value::boolean(first.as_string().substr(0, second.as_string().size()) ==
                              second.as_string());
      }
      case Function::kLen: {
        if (first.is_null()) return {};
        if (first.kind() == Kind::kString) {
          std::size_t count = 0;
          for (char c : first.as_string()) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
          return Value::number(static_cast<double>(count));
        }
        if (first.is_sequence()) return Value::number(static_cast<double>(first.sequence_size()));
        if (first.kind() == Kind::kJson)
          return Value::number(static_cast<double>(first.as_json().size()));
        return wrong(first, "len");
      }
      case Function::kDaysSince: {
        if (first.is_null()) return {};
        if (first.kind() != Kind::kTime && first.kind() != Kind::kString)
          return wrong(first, "days_since");
        TimePoint t;
        if (!as_time(node, first, t)) return {};
        std::int64_t micros = (context_.now() - t).count();
        std::int64_t days =
            micros >= 0 ? micros / kMicrosPerDay : -((-micros + kMicrosPerDay - 1) / kMicrosPerDay);
        return Value::number(static_cast<double>(days));
      }
      default:
        return {};
    }
  }

  const Context& context_;
  EvalError* error_;
  bool& failed_;
};

}  // namespace

Value evaluate_node(const Node& node, const Context& context, EvalError* error, bool& failed) {
  return Evaluator(context, error, failed).eval(node);
}

}  // namespace herald::expr
