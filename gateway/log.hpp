#pragma once
// Logging: a named spdlog logger per module, text or JSON lines on stderr.
// Personal data (emails, phone numbers, message bodies) is never logged at info or above.

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace herald::log {

/// Configures the sink, format ("text" or "json") and level of every module logger.
void setup(const std::string& level, const std::string& format);

/// The logger of a module ("http", "redis", "ingest", ...), created on first use.
std::shared_ptr<spdlog::logger> get(const std::string& module);

}  // namespace herald::log
