#pragma once
// The customers API of api.md: profile, consent with its log, erasure, export, messages.

#include "config/config.hpp"

namespace herald::gateway {

class Router;

void add_customer_routes(Router& router, const config::Config& config);

}  // namespace herald::gateway
