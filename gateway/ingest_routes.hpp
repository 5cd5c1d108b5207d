#pragma once
// The front door: POST /v1/track, /v1/identify, /v1/batch (Segment-compatible) and
// POST /v1/sources/{name} (signed webhooks). An answer of 200 is sent only after the
// events are appended to their partition's Redis stream; a messageId already seen
// within ingest.dedupe_window is acknowledged and counted as a duplicate, atomically
// with the append.

#include <atomic>
#include <memory>

#include <boost/asio/awaitable.hpp>

#include "config/config.hpp"
#include "gateway/ingest/event.hpp"
#include "gateway/ingest/mapping_expr.hpp"

namespace herald::gateway {

class Router;
class Authenticator;

/// Pending events across partitions, refreshed by backlog_monitor(); read by ingest.
struct BacklogGauge {
  std::atomic<int64_t> events{0};
};

/// Compiles source-mapping expressions with Herald's expression language.
ingest::MappingExprFactory expression_mapping_factory();

/// Appends events durably, partition by partition, deduplicated by messageId within
/// ingest.dedupe_window; returns how many were duplicates. Throws redis::Unavailable.
boost::asio::awaitable<std::size_t> append_events(const config::Config& config,
                                                  const std::vector<ingest::Event>& events);

/// Adds the ingest and source routes. Throws config::ConfigError for a bad `sources` section.
void add_ingest_routes(Router& router, const config::Config& config, const Authenticator& auth,
                       std::shared_ptr<BacklogGauge> backlog);

/// Keeps `backlog` current (every 200 ms) from the partitions' counters; run on one worker.
boost::asio::awaitable<void> backlog_monitor(const config::Config& config,
                                             std::shared_ptr<BacklogGauge> backlog);

}  // namespace herald::gateway
