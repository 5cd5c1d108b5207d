// Walks a compiled Program against a context.

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>

#include "templates/liquid/liquid_template.hpp"

namespace herald::templates {

const date::time_zone* RenderState::time_zone() {
  if (zone_) return zone_;
  auto locate = [](const std::string& name) -> const date::time_zone* {
    try {
      return date::locate_zone(name);
    } catch (const std::exception&) {
      return nullptr;
    }
  };
  if (context.is_object()) {
    auto customer = context.find("customer");
    if (customer != context.end() && customer->is_object()) {
      auto tz = customer->find("timezone");
      if (tz != customer->end() && tz->is_string()) zone_ = locate(tz->get<std::string>());
    }
  }
  if (!zone_) zone_ = locate(limits.default_timezone);
  if (!zone_) zone_ = locate("UTC");
  return zone_;
}

namespace {

/// A value during rendering: a pointer into the context (or a variable), or a
/// value of its own computed by a filter.
class Value {
 public:
  Value() : ref_(&null_json()) {}
  explicit Value(const Json* ref) : ref_(ref ? ref : &null_json()) {}
  explicit Value(Json&& owned) : ref_(nullptr), owned_(std::move(owned)) {}

  const Json& get() const { return ref_ ? *ref_ : *owned_; }
  bool owned() const { return ref_ == nullptr; }
  Json take() && { return ref_ ? *ref_ : std::move(*owned_); }

 private:
  const Json* ref_;
  std::optional<Json> owned_;  // engaged only for computed values: most values are references
};

struct Slot {
  const Json* ref = nullptr;  // a context value or a loop item, else `owned`
  std::optional<Json> owned;
  bool set = false;
  const Json& get() const { return ref ? *ref : *owned; }
};

struct LoopFrame {
  std::size_t index0 = 0;
  std::size_t length = 0;
};

enum class Flow { kNormal, kBreak, kContinue };

std::int64_t to_int(const Json& value) {
  Json n = arithmetic_operand(value);
  if (n.is_number_integer()) return n.get<std::int64_t>();
  double d = n.get<double>();
  if (!std::isfinite(d)) return 0;
  return static_cast<std::int64_t>(std::clamp(d, -9e18, 9e18));
}

class Renderer {
 public:
  Renderer(const Program& program, RenderState& state) : program_(program), state_(state) {
    std::size_t n = program.slot_names.size();
    if (n <= inline_slots_.size()) {
      slots_ = inline_slots_.data();
    } else {
      heap_slots_.resize(n);
      slots_ = heap_slots_.data();
    }
  }

  Flow render_block(const Block& block, std::string& out) {
    for (const Node& node : block) {
      Flow flow = std::visit([&](const auto& n) { return render(n, node.pos, out); }, node.data);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

 private:
  // ---- nodes

  Flow render(const TextNode& n, SourcePos pos, std::string& out) {
    out += n.text;
    check_size(out, pos);
    return Flow::kNormal;
  }

  Flow render(const OutputNode& n, SourcePos pos, std::string& out) {
    Value v = eval(n.value);
    const Json& value = v.get();
    if (n.escape) {
      if (value.is_string()) {
        append_html_escaped(value.get_ref<const std::string&>(), out);
      } else {
        append_html_escaped(to_liquid_string(value), out);
      }
    } else {
      append_value(value, out);
    }
    check_size(out, pos);
    return Flow::kNormal;
  }

  Flow render(const IfNode& n, SourcePos, std::string& out) {
    for (std::size_t i = 0; i < n.branches.size(); ++i) {
      bool taken = eval(n.branches[i].condition);
      if (i == 0 && n.negate_first) taken = !taken;
      if (taken) return render_block(n.branches[i].body, out);
    }
    return render_block(n.else_body, out);
  }

  Flow render(const CaseNode& n, SourcePos, std::string& out) {
    Value subject = eval(n.subject);
    bool matched = false;
    for (const WhenBranch& when : n.whens) {
      for (const Expr& candidate : when.values) {
        if (equals(n.subject, subject.get(), candidate)) {
          matched = true;
          Flow flow = render_block(when.body, out);
          if (flow != Flow::kNormal) return flow;
          break;
        }
      }
    }
    if (!matched) return render_block(n.else_body, out);
    return Flow::kNormal;
  }

  Flow render(const ForNode& n, SourcePos pos, std::string& out) {
    // What to walk: a range, an array, an object's [key, value] pairs, or one string.
    std::int64_t range_from = 0;
    std::size_t total = 0;
    Value collection;
    Json pairs;
    const Json* items = nullptr;
    const bool is_range = n.collection.kind == Expr::Kind::kRange;
    if (is_range) {
      range_from = to_int(eval(*n.collection.range_from).get());
      std::int64_t range_to = to_int(eval(*n.collection.range_to).get());
      // Unsigned arithmetic: (-9e18..9e18) has more items than an int64 holds.
      if (range_to >= range_from) {
        total = static_cast<std::size_t>(range_to) - static_cast<std::size_t>(range_from) + 1;
      }
    } else {
      collection = eval(n.collection);
      if (n.copy_collection && !collection.owned()) collection = Value(Json(collection.get()));
      const Json& c = collection.get();
      if (c.is_array()) {
        items = &c;
        total = c.size();
      } else if (c.is_object()) {
        pairs = Json::array();
        for (const auto& [key, value] : c.items()) pairs.push_back(Json::array({key, value}));
        items = &pairs;
        total = pairs.size();
      } else if (c.is_string() && !c.get_ref<const std::string&>().empty()) {
        total = 1;
      }
    }
    std::size_t begin = 0;
    if (n.offset)
      begin = static_cast<std::size_t>(std::max<std::int64_t>(0, to_int(eval(*n.offset).get())));
    begin = std::min(begin, total);
    std::size_t count = total - begin;
    if (n.limit) {
      count = std::min(
          count, static_cast<std::size_t>(std::max<std::int64_t>(0, to_int(eval(*n.limit).get()))));
    }
    if (count == 0) return render_block(n.else_body, out);

    Slot saved = std::move(slots_[n.slot]);
    Slot& slot = slots_[n.slot];
    slot = Slot{};
    slot.set = true;
    loops_.push_back({0, count});
    for (std::size_t i = 0; i < count; ++i) {
      if (++state_.iterations > state_.limits.max_iterations) {
        fail(TemplateError::Kind::kIterationLimit, pos,
             "loop iterations exceed templates.max_iterations (" +
                 std::to_string(state_.limits.max_iterations) + ")");
      }
      std::size_t index = begin + (n.reversed ? count - 1 - i : i);
      if (is_range) {
        slot.ref = nullptr;
        slot.owned =
            Json(static_cast<std::int64_t>(static_cast<std::uint64_t>(range_from) + index));
      } else if (items) {
        slot.ref = &(*items)[index];
      } else {
        slot.ref = &collection.get();
      }
      loops_.back().index0 = i;
      if (render_block(n.body, out) == Flow::kBreak) break;
    }
    loops_.pop_back();
    slots_[n.slot] = std::move(saved);
    return Flow::kNormal;
  }

  Flow render(const AssignNode& n, SourcePos, std::string&) {
    Json value = eval(n.value).take();
    Slot& slot = slots_[n.slot];
    slot.owned = std::move(value);
    slot.ref = nullptr;
    slot.set = true;
    return Flow::kNormal;
  }

  Flow render(const CaptureNode& n, SourcePos, std::string&) {
    std::string captured;
    Flow flow = render_block(n.body, captured);
    Slot& slot = slots_[n.slot];
    slot.owned = std::move(captured);
    slot.ref = nullptr;
    slot.set = true;
    return flow;
  }

  Flow render(const BreakNode&, SourcePos, std::string&) { return Flow::kBreak; }
  Flow render(const ContinueNode&, SourcePos, std::string&) { return Flow::kContinue; }

  // ---- expressions

  Value eval(const Pipeline& p) {
    if (p.filters.empty()) return eval(p.head);
    Value v = eval(p.head);
    for (const FilterCall& f : p.filters) {
      if (f.is_raw) continue;
      std::optional<Value> args[4];
      const Json* argv[4];
      std::size_t argc = std::min<std::size_t>(f.args.size(), 4);
      for (std::size_t i = 0; i < argc; ++i) {
        args[i].emplace(eval(f.args[i]));
        argv[i] = &args[i]->get();
      }
      Json result = f.fn(v.get(), argv, argc, state_);
      if (result.is_string() &&
          result.get_ref<const std::string&>().size() > state_.limits.max_output_bytes) {
        fail_output(f.pos);
      }
      v = Value(std::move(result));
    }
    return v;
  }

  Value eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        return Value(&e.literal);
      case Expr::Kind::kVariable: {
        const Slot& slot = slots_[e.slot];
        Value root;
        if (slot.set) {
          root = Value(&slot.get());
        } else if (state_.context.is_object()) {
          auto it = state_.context.find(program_.slot_names[e.slot]);
          if (it != state_.context.end()) root = Value(&*it);
        }
        return walk(std::move(root), e.path);
      }
      case Expr::Kind::kForloop:
        return walk(Value(forloop(e.forloop_field)), e.path);
      case Expr::Kind::kRange: {
        std::int64_t from = to_int(eval(*e.range_from).get());
        std::int64_t to = to_int(eval(*e.range_to).get());
        Json range = Json::array();
        for (std::int64_t i = from; i <= to; ++i) {
          if (range.size() >= state_.limits.max_iterations) break;
          range.push_back(i);
        }
        return Value(std::move(range));
      }
      case Expr::Kind::kEmpty:
        return Value(Json(""));
      case Expr::Kind::kBlank:
        return Value(Json(""));
    }
    return Value();
  }

  Json forloop(ForloopField field) const {
    const LoopFrame& f = loops_.back();
    auto index0 = static_cast<std::int64_t>(f.index0);
    auto length = static_cast<std::int64_t>(f.length);
    switch (field) {
      case ForloopField::kIndex:
        return index0 + 1;
      case ForloopField::kIndex0:
        return index0;
      case ForloopField::kRindex:
        return length - index0;
      case ForloopField::kRindex0:
        return length - index0 - 1;
      case ForloopField::kFirst:
        return index0 == 0;
      case ForloopField::kLast:
        return index0 == length - 1;
      case ForloopField::kLength:
        return length;
      case ForloopField::kWhole:
        break;
    }
    return Json{{"first", index0 == 0},          {"index", index0 + 1}, {"index0", index0},
                {"last", index0 == length - 1},  {"length", length},    {"rindex", length - index0},
                {"rindex0", length - index0 - 1}};
  }

  Value walk(Value v, const std::vector<PathStep>& path) {
    for (const PathStep& step : path) {
      const Json& cur = v.get();
      PathStep::Kind kind = step.kind;
      std::string_view key = step.key;
      std::int64_t index = step.index;
      std::optional<Value> dynamic;
      if (kind == PathStep::Kind::kDynamic) {
        dynamic.emplace(eval(*step.dynamic));
        const Json& d = dynamic->get();
        if (d.is_number_integer()) {
          kind = PathStep::Kind::kIndex;
          index = d.get<std::int64_t>();
        } else if (d.is_string()) {
          kind = PathStep::Kind::kKey;
          key = d.get_ref<const std::string&>();
        } else {
          return Value();
        }
      }
      const Json* next = nullptr;
      if (kind == PathStep::Kind::kIndex) {
        if (cur.is_array()) {
          auto size = static_cast<std::int64_t>(cur.size());
          if (index < 0) index += size;
          if (index >= 0 && index < size) next = &cur[static_cast<std::size_t>(index)];
        } else if (cur.is_object()) {
          auto it = cur.find(std::to_string(index));
          if (it != cur.end()) next = &*it;
        }
      } else if (cur.is_object()) {
        auto it = cur.find(key);
        if (it != cur.end()) {
          next = &*it;
        } else if (key == "size") {
          std::size_t n = cur.size();
          v = Value(Json(n));
          continue;
        }
      } else if (cur.is_array()) {
        if (key == "size") {
          std::size_t n = cur.size();
          v = Value(Json(n));
          continue;
        }
        if (key == "first" && !cur.empty()) next = &cur.front();
        if (key == "last" && !cur.empty()) next = &cur.back();
      } else if (cur.is_string() && key == "size") {
        std::size_t n = utf8_length(cur.get_ref<const std::string&>());
        v = Value(Json(n));
        continue;
      }
      if (!next) return Value();
      v = v.owned() ? Value(Json(*next)) : Value(next);
    }
    return v;
  }

  bool equals(const Expr& lhs_expr, const Json& lhs, const Expr& rhs_expr) {
    if (rhs_expr.kind == Expr::Kind::kEmpty) return is_empty_value(lhs);
    if (rhs_expr.kind == Expr::Kind::kBlank) return is_blank_value(lhs);
    Value rhs = eval(rhs_expr);
    if (lhs_expr.kind == Expr::Kind::kEmpty) return is_empty_value(rhs.get());
    if (lhs_expr.kind == Expr::Kind::kBlank) return is_blank_value(rhs.get());
    return liquid_equals(lhs, rhs.get());
  }

  static std::optional<int> compare(const Json& l, const Json& r) {
    auto sign = [](double d) { return d < 0 ? -1 : (d > 0 ? 1 : 0); };
    if (l.is_number() && r.is_number()) {
      if (l.is_number_integer() && r.is_number_integer()) {
        auto a = l.get<std::int64_t>(), b = r.get<std::int64_t>();
        return a < b ? -1 : (a > b ? 1 : 0);
      }
      double a = l.get<double>(), b = r.get<double>();
      if (std::isnan(a) || std::isnan(b)) return std::nullopt;
      return sign(a - b);
    }
    if (l.is_string() && r.is_string()) {
      int c = l.get_ref<const std::string&>().compare(r.get_ref<const std::string&>());
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    if ((l.is_number() && r.is_string()) || (l.is_string() && r.is_number())) {
      auto a = js_number(l), b = js_number(r);
      if (!a || !b || std::isnan(*a) || std::isnan(*b)) return std::nullopt;
      return *a < *b ? -1 : (*a > *b ? 1 : 0);
    }
    return std::nullopt;
  }

  bool eval(const Condition& c) {
    using Op = Condition::Op;
    switch (c.op) {
      case Op::kAnd:
        return eval(*c.left) && eval(*c.right);
      case Op::kOr:
        return eval(*c.left) || eval(*c.right);
      case Op::kTruthy:
        return c.lhs.kind == Expr::Kind::kEmpty || c.lhs.kind == Expr::Kind::kBlank ||
               is_truthy(eval(c.lhs).get());
      default:
        break;
    }
    Value lhs = eval(c.lhs);
    if (c.op == Op::kEq) return equals(c.lhs, lhs.get(), c.rhs);
    if (c.op == Op::kNe) return !equals(c.lhs, lhs.get(), c.rhs);
    Value rhs = eval(c.rhs);
    const Json& l = lhs.get();
    const Json& r = rhs.get();
    if (c.op == Op::kContains) {
      if (l.is_string()) {
        return l.get_ref<const std::string&>().find(to_liquid_string(r)) != std::string::npos;
      }
      if (l.is_array()) {
        return std::any_of(l.begin(), l.end(),
                           [&](const Json& item) { return liquid_equals(item, r); });
      }
      return false;
    }
    auto order = compare(l, r);
    if (!order) return false;
    switch (c.op) {
      case Op::kLt:
        return *order < 0;
      case Op::kGt:
        return *order > 0;
      case Op::kLe:
        return *order <= 0;
      case Op::kGe:
        return *order >= 0;
      default:
        return false;
    }
  }

  // ---- bounds

  void check_size(const std::string& out, SourcePos pos) const {
    if (out.size() > state_.limits.max_output_bytes) fail_output(pos);
  }

  [[noreturn]] void fail_output(SourcePos pos) const {
    fail(TemplateError::Kind::kOutputLimit, pos,
         "output exceeds templates.max_output_bytes (" +
             std::to_string(state_.limits.max_output_bytes) + ")");
  }

  [[noreturn]] void fail(TemplateError::Kind kind, SourcePos pos, std::string message) const {
    throw TemplateError(kind, program_.file, pos.line, pos.column, std::move(message));
  }

  const Program& program_;
  RenderState& state_;
  // Variables by slot; most templates have a handful, kept off the heap.
  std::array<Slot, 8> inline_slots_;
  std::vector<Slot> heap_slots_;
  Slot* slots_ = nullptr;
  std::vector<LoopFrame> loops_;
};

}  // namespace

void LiquidTemplate::render(RenderState& state, std::string& out) const {
  Renderer renderer(*program_, state);
  renderer.render_block(program_->root, out);
}

std::string LiquidTemplate::render(const Json& context, const Limits& limits) const {
  RenderState state(context, limits);
  std::string out;
  render(state, out);
  return out;
}

}  // namespace herald::templates
