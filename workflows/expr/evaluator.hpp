#pragma once

// The tree-walking evaluator; internal to herald_expr.

#include "workflows/expr/ast.hpp"

namespace herald::expr {

/// Evaluates `node`. On a run-time error returns null and sets `failed` (and fills
/// `error`, when not null). Does not allocate unless the expression builds strings or
/// lists, or an error message is wanted.
Value evaluate_node(const Node& node, const Context& context, EvalError* error, bool& failed);

}  // namespace herald::expr
