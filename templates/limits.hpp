#pragma once

#include <cstddef>
#include <string>

namespace herald::templates {

/// Bounds and defaults applied to every render; filled from the `templates.*`,
/// `channels.sms.max_segments` and `policies.default_timezone` config keys.
struct Limits {
  std::size_t max_iterations = 1000;      ///< loop iterations per render, all loops together
  std::size_t max_output_bytes = 262144;  ///< bytes of any rendered field or intermediate string
  std::size_t max_sms_segments = 4;       ///< an SMS body needing more segments is an error
  std::string default_timezone = "UTC";   ///< `date` filter zone when customer.timezone is absent
};

}  // namespace herald::templates
