#pragma once

#include <cstddef>
#include <string_view>

#include "templates/liquid/ast.hpp"

namespace herald::templates {

struct FilterSpec {
  std::string_view name;
  FilterFn fn;
  std::size_t min_args;
  std::size_t max_args;
  std::string_view keyword;  // the one keyword argument it takes (`allow_false`), passed last
};

/// The filter of that name, or nullptr: an unknown filter is a load-time error.
const FilterSpec* find_filter(std::string_view name);

// Implemented in their own files.
Json date_filter(const Json& input, const Json* const* args, std::size_t argc, RenderState& state);
Json money_filter(const Json& input, const Json* const* args, std::size_t argc, RenderState& state);

}  // namespace herald::templates
