#pragma once
// Operations endpoints: /healthz, /readyz and /metrics (no credentials).

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gateway/http_types.hpp"

namespace herald::gateway {

class Router;

/// A readiness check: nullopt when ready, else {component, why it is not ready}.
using ReadinessCheck = std::function<std::optional<ErrorDetail>()>;

void add_ops_routes(Router& router, std::vector<ReadinessCheck> checks);

/// Registers the process gauges (resident and virtual memory, open descriptors, uptime).
void register_process_metrics();

}  // namespace herald::gateway
