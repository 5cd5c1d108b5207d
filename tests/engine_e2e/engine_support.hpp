#pragma once
// What the engine end-to-end tests share: herald processes on one redis-server whose
// email channel is the outbox provider writing to one shared file, workflows and
// templates written by the test, and readers of the state they leave in Redis.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/herald_process.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/temp_dir.hpp"

namespace herald::test::engine_e2e {

using Json = nlohmann::json;

/// A folder with `templates/` (welcome, followup, farewell: email only) and `workflows/`,
/// and the outbox file every herald process of the test appends to.
struct Content {
  TempDir dir;
  Content();
  void workflow(const std::string& file, const std::string& yaml) const;
  std::string outbox() const { return dir.file("outbox.jsonl"); }
  /// A herald config on `redis` (url filled in by HeraldProcess) with this content.
  std::string config(const std::string& extra = {}) const;
};

/// POST /v1/batch with the write key; throws unless 200.
void post_batch(const HeraldProcess& herald, const Json& batch);

/// The outbox's lines, parsed.
std::vector<Json> outbox_lines(const std::string& path);

/// Every message record: {"id", "customer", "template", "status", "reason", "created_at"}.
std::vector<Json> message_records(const RedisServer& redis);

/// Pending timers, summed over the partitions' counters.
int64_t pending_timers(const RedisServer& redis);

/// A field of herald:wfstats:{workflow} (0 when absent).
int64_t wf_stat(const RedisServer& redis, const std::string& workflow, const std::string& field);

/// The sum of a counter's samples in a herald's /metrics (every label set).
double metric_sum(const HeraldProcess& herald, const std::string& name);

/// Waits until the partitions' leases are held by `consumers` distinct consumers (every
/// worker thread of every process has its share).
bool wait_balanced(const RedisServer& redis, std::size_t consumers, unsigned partitions = 16);

/// An RFC 3339 time with milliseconds as ms since the epoch.
int64_t parse_time_ms(const std::string& text);

}  // namespace herald::test::engine_e2e
