#pragma once
// The messages API of api.md: POST /v1/messages (a send outside any workflow),
// GET /v1/messages/{id}, and, an addition, GET /v1/messages?status=dead_letter — the
// dead letters, newest first.

#include <memory>

#include "config/config.hpp"

namespace herald::gateway {

class Router;
class ContentSource;

void add_message_routes(Router& router, const config::Config& config,
                        std::shared_ptr<ContentSource> content);

}  // namespace herald::gateway
