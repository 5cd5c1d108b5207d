#pragma once

#include <cstddef>

#include "templates/limits.hpp"
#include "templates/liquid/value.hpp"

namespace date {
class time_zone;
}

namespace herald::templates {

/// The per-render state shared by every field of one section render: the
/// context, the bounds and what has been spent of them. Not thread-safe; one
/// per render call.
struct RenderState {
  RenderState(const Json& context_in, const Limits& limits_in)
      : context(context_in), limits(limits_in) {}

  const Json& context;
  const Limits& limits;
  std::size_t iterations = 0;

  /// The zone `date` formats in: customer.timezone, else the default one.
  const date::time_zone* time_zone();

 private:
  const date::time_zone* zone_ = nullptr;
};

}  // namespace herald::templates
