#include <set>

#include "templates/liquid/liquid_template.hpp"

namespace herald::templates {
namespace {

class VariableWalker {
 public:
  explicit VariableWalker(const Program& program) : program_(program) {
    for (std::size_t i = 0; i < program.slot_assigned.size(); ++i)
      if (program.slot_assigned[i]) locals_.insert(static_cast<std::uint32_t>(i));
    collect_loop_slots(program.root);
  }

  std::vector<LiquidTemplate::VariableUse> walk() {
    block(program_.root, SourcePos{1, 1});
    return std::move(uses_);
  }

 private:
  void collect_loop_slots(const Block& b) {
    for (const auto& node : b) {
      if (const auto* f = std::get_if<ForNode>(&node.data)) {
        locals_.insert(f->slot);
        collect_loop_slots(f->body);
        collect_loop_slots(f->else_body);
      } else if (const auto* i = std::get_if<IfNode>(&node.data)) {
        for (const auto& br : i->branches) collect_loop_slots(br.body);
        collect_loop_slots(i->else_body);
      } else if (const auto* c = std::get_if<CaseNode>(&node.data)) {
        for (const auto& w : c->whens) collect_loop_slots(w.body);
        collect_loop_slots(c->else_body);
      } else if (const auto* cap = std::get_if<CaptureNode>(&node.data)) {
        collect_loop_slots(cap->body);
      }
    }
  }

  void expr(const Expr& e, SourcePos pos) {
    if (e.kind == Expr::Kind::kRange) {
      if (e.range_from) expr(*e.range_from, pos);
      if (e.range_to) expr(*e.range_to, pos);
      return;
    }
    if (e.kind != Expr::Kind::kVariable && e.kind != Expr::Kind::kForloop) return;
    for (const auto& step : e.path)
      if (step.dynamic) expr(*step.dynamic, pos);
    if (e.kind != Expr::Kind::kVariable || locals_.count(e.slot) ||
        e.slot >= program_.slot_names.size())
      return;
    std::string path = program_.slot_names[e.slot];
    for (const auto& step : e.path) {
      if (step.kind != PathStep::Kind::kKey) break;
      path += "." + step.key;
    }
    uses_.push_back({std::move(path), pos});
  }

  void pipeline(const Pipeline& p, SourcePos pos) {
    expr(p.head, pos);
    for (const auto& f : p.filters)
      for (const auto& a : f.args) expr(a, pos);
  }

  void condition(const Condition& c, SourcePos pos) {
    if (c.left) condition(*c.left, pos);
    if (c.right) condition(*c.right, pos);
    if (c.op != Condition::Op::kAnd && c.op != Condition::Op::kOr) {
      expr(c.lhs, pos);
      expr(c.rhs, pos);
    }
  }

  void block(const Block& b, SourcePos) {
    for (const auto& node : b) {
      const auto pos = node.pos;
      std::visit(
          [&](const auto& n) {
            using T = std::decay_t<decltype(n)>;
            if constexpr (std::is_same_v<T, OutputNode>) {
              pipeline(n.value, pos);
            } else if constexpr (std::is_same_v<T, IfNode>) {
              for (const auto& br : n.branches) {
                condition(br.condition, pos);
                block(br.body, pos);
              }
              block(n.else_body, pos);
            } else if constexpr (std::is_same_v<T, CaseNode>) {
              expr(n.subject, pos);
              for (const auto& w : n.whens) {
                for (const auto& v : w.values) expr(v, pos);
                block(w.body, pos);
              }
              block(n.else_body, pos);
            } else if constexpr (std::is_same_v<T, ForNode>) {
              expr(n.collection, pos);
              if (n.limit) expr(*n.limit, pos);
              if (n.offset) expr(*n.offset, pos);
              block(n.body, pos);
              block(n.else_body, pos);
            } else if constexpr (std::is_same_v<T, AssignNode>) {
              pipeline(n.value, pos);
            } else if constexpr (std::is_same_v<T, CaptureNode>) {
              block(n.body, pos);
            }
          },
          node.data);
    }
  }

  const Program& program_;
  std::set<std::uint32_t> locals_;
  std::vector<LiquidTemplate::VariableUse> uses_;
};

}  // namespace

std::vector<LiquidTemplate::VariableUse> LiquidTemplate::variables() const {
  return VariableWalker(*program_).walk();
}

}  // namespace herald::templates
