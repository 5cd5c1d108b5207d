#pragma once

#include <memory>
#include <string_view>

#include "gateway/ingest/mapping_expr.hpp"

namespace herald::ingest {

/// A minimal mapping-expression language, enough for the forms of config.md:
///   paths       body, body.a.b, body.items[0], header['x-shopify-topic'], header.x
///   literals    'text', "text", 12, 1.5, true, false, null
///   operators   == != and or not, parentheses
/// Comparisons with null are false except `== null` and `!= null`; `and`, `or` and `not` treat
/// only `true` as true.
std::unique_ptr<const MappingExpr> compile_builtin_expr(std::string_view text);

MappingExprFactory builtin_mapping_expr_factory();

}  // namespace herald::ingest
