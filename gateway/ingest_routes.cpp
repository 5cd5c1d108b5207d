#include <utility>

#include "gateway/ingest_routes.hpp"

#include <chrono>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/auth.hpp"
#include "gateway/ingest/payload_parser.hpp"
#include "gateway/ingest/source_config.hpp"
#include "gateway/keys.hpp"
#include "gateway/log.hpp"
#include "gateway/metrics.hpp"
#include "gateway/redis/script.hpp"
#include "gateway/router.hpp"
#include "gateway/worker.hpp"
#include "workflows/expr/expression.hpp"
#include "workflows/expr/schema.hpp"

namespace herald::gateway {
namespace asio = boost::asio;

namespace {

// Appends a partition's events; each event with a messageId first claims its dedupe key,
// and a duplicate is not appended. One script, so a claimed id always has its event.
// KEYS: stream, backlog counter. ARGV: dedupe prefix, window ms, count, then per event:
// messageId (or ""), field count, fields...
const redis::Script kAppend(R"lua(
local dups, added, i = 0, 0, 4
for _ = 1, tonumber(ARGV[3]) do
  local id, n = ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  local fresh = true
  if id ~= '' then
    fresh = redis.call('SET', ARGV[1] .. id, '1', 'NX', 'PX', ARGV[2])
  end
  if fresh then
    redis.call('XADD', KEYS[1], '*', unpack(ARGV, i, i + 2 * n - 1))
    added = added + 1
  else
    dups = dups + 1
  end
  i = i + 2 * n
end
if added > 0 then redis.call('INCRBY', KEYS[2], added) end
return dups
)lua");

struct IngestMetrics {
  metrics::Counter& accepted = metrics::registry().counter(
      "herald_ingest_events_total", "Events acknowledged by ingest", "result=\"accepted\"");
  metrics::Counter& duplicates = metrics::registry().counter(
      "herald_ingest_events_total", "Events acknowledged by ingest", "result=\"duplicate\"");
  metrics::Counter& rejected = metrics::registry().counter(
      "herald_ingest_requests_rejected_total", "Ingest requests refused (4xx)");
};

IngestMetrics& ingest_metrics() {
  static IngestMetrics m;
  return m;
}

class ExpressionMapping final : public ingest::MappingExpr {
 public:
  explicit ExpressionMapping(expr::Expression e) : expression_(std::move(e)) {}
  nlohmann::ordered_json eval(const nlohmann::ordered_json& header,
                              const nlohmann::ordered_json& body) const override {
    expr::Context context;
    context.set("header", &header);
    context.set("body", &body);
    expr::EvalError error;
    return expression_.evaluate(context, &error).to_json();
  }

 private:
  expr::Expression expression_;
};

struct IngestState {
  config::Config config;
  const Authenticator* auth = nullptr;
  std::shared_ptr<BacklogGauge> backlog;
  ingest::SourceRegistry sources;
  ingest::IngestOptions options;
};

ingest::Timestamp now_ms() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

/// One parser per worker thread: it reuses simdjson's buffers.
ingest::PayloadParser& parser_for(const IngestState& state) {
  thread_local std::unique_ptr<ingest::PayloadParser> parser;
  if (!parser) parser = std::make_unique<ingest::PayloadParser>(state.options);
  return *parser;
}

Response error_of(const ingest::ApiError& e) {
  ingest_metrics().rejected.inc();
  return Response::json(e.status, e.to_json());
}

void check_backlog(const IngestState& state) {
  if (state.backlog->events.load(std::memory_order_relaxed) >
      static_cast<int64_t>(state.config.ingest.max_backlog)) {
    ApiError e(429, "overloaded",
               "the processing backlog is over ingest.max_backlog; retry after a moment");
    e.headers.emplace_back("Retry-After", "1");
    throw e;
  }
}

/// The write key may come in the body when no Authorization header was sent.
void authorize_body_key(const IngestState& state, const Request& request, ingest::PayloadParser& p) {
  if (request.principal != Principal::kNone) return;
  auto key = p.find_write_key(request.body);
  if (!key || !state.auth->is_write_key(*key))
    throw ApiError(401, "unauthorized", "missing or unknown write key");
}

}  // namespace

asio::awaitable<std::size_t> append_events(const config::Config& config,
                                           const std::vector<ingest::Event>& events) {
  unsigned partitions = config.redis.partitions;
  std::map<unsigned, std::vector<const ingest::Event*>> by_partition;
  for (const auto& e : events)
    by_partition[keys::partition_of(e.user_id, partitions)].push_back(&e);
  auto window = std::to_string(config.ingest.dedupe_window.count());
  std::vector<std::vector<std::string>> commands;
  for (const auto& [p, list] : by_partition) {
    std::vector<std::string> args{keys::dedupe_prefix(p), window, std::to_string(list.size())};
    for (const auto* e : list) {
      auto fields = ingest::to_stream_fields(*e);
      args.push_back(e->message_id);
      args.push_back(std::to_string(fields.size()));
      for (auto& [name, value] : fields) {
        args.push_back(std::move(name));
        args.push_back(std::move(value));
      }
    }
    commands.push_back(kAppend.command({keys::stream(p), keys::backlog(p)}, args));
  }
  auto& redis = *current_worker().redis;
  auto replies = co_await redis.pipeline(commands);
  // After a Redis restart or SCRIPT FLUSH the script must be loaded again. Each EVALSHA
  // either ran whole or answered NOSCRIPT, so only the NOSCRIPT ones are sent again:
  // resending the others would append their events twice.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::vector<std::size_t> missing;
    for (std::size_t i = 0; i < replies.size(); ++i)
      if (replies[i].is_error() && replies[i].str.rfind("NOSCRIPT", 0) == 0) missing.push_back(i);
    if (missing.empty()) break;
    std::vector<std::vector<std::string>> again;
    again.push_back(std::vector<std::string>{std::string("SCRIPT"), std::string("LOAD"), kAppend.source()});
    for (auto i : missing) again.push_back(commands[i]);
    auto retried = co_await redis.pipeline(again);
    for (std::size_t k = 0; k < missing.size(); ++k) replies[missing[k]] = std::move(retried[k + 1]);
  }
  std::size_t duplicates = 0;
  for (const auto& r : replies) {
    if (r.is_error()) throw redis::Unavailable("append failed: " + r.str);
    duplicates += static_cast<std::size_t>(r.integer);
  }
  co_return duplicates;
}

namespace {

asio::awaitable<std::size_t> append(const IngestState& state,
                                    const std::vector<ingest::Event>& events) {
  co_return co_await append_events(state.config, events);
}

/// `accepted` counts the events taken in by this request, `duplicates` those already seen
/// (acknowledged, not stored again): together they are the request's events.
Response acknowledged(std::size_t total, std::size_t duplicates) {
  auto accepted = total - duplicates;
  ingest_metrics().accepted.inc(accepted);
  ingest_metrics().duplicates.inc(duplicates);
  return Response::text(200,
                        "{\"success\":true,\"accepted\":" + std::to_string(accepted) +
                            ",\"duplicates\":" + std::to_string(duplicates) + "}",
                        "application/json");
}

/// Validates a Segment body; an invalid one becomes the error response.
std::optional<ingest::IngestRequest> parse(const IngestState& state, ingest::Endpoint endpoint,
                                           const Request& request, Response& error) {
  auto& p = parser_for(state);
  authorize_body_key(state, request, p);
  try {
    return p.parse(endpoint, request.body, now_ms());
  } catch (const ingest::ApiError& e) {
    error = error_of(e);
    return std::nullopt;
  }
}

Handler segment_handler(std::shared_ptr<const IngestState> state, ingest::Endpoint endpoint) {
  return [state, endpoint](Request& request) -> asio::awaitable<Response> {
    check_backlog(*state);
    Response error;
    auto parsed = parse(*state, endpoint, request, error);
    if (!parsed) co_return error;
    auto duplicates = co_await append(*state, parsed->events);
    co_return acknowledged(parsed->events.size() + parsed->ignored, duplicates);
  };
}

std::optional<ingest::Event> map_source(const IngestState& state, const Request& request,
                                        Response& error) {
  auto it = state.sources.find(request.params.at("name"));
  if (it == state.sources.end())
    throw ApiError(404, "not_found", "no source named " + request.params.at("name"));
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  for (auto& [name, value] : request.headers()) header[name] = std::move(value);
  try {
    return it->second->handle(header, request.body, now_ms(), state.options.traits);
  } catch (const ingest::ApiError& e) {
    error = error_of(e);
    return std::nullopt;
  }
}

}  // namespace

ingest::MappingExprFactory expression_mapping_factory() {
  return [](std::string_view text) -> std::unique_ptr<const ingest::MappingExpr> {
    try {
      return std::make_unique<ExpressionMapping>(
          expr::Expression::compile(text, expr::Schema::source_mapping()));
    } catch (const expr::SyntaxError& e) {
      throw ingest::MappingExprError(e.message, e.column);
    }
  };
}

void add_ingest_routes(Router& router, const config::Config& config, const Authenticator& auth,
                       std::shared_ptr<BacklogGauge> backlog) {
  auto state = std::make_shared<IngestState>();
  state->config = config;
  state->auth = &auth;
  state->backlog = std::move(backlog);
  state->options.traits.default_region = config.policies.default_region;
  if (config.sources && config.sources.IsMap()) {
    try {
      state->sources = ingest::parse_sources(config.sources, expression_mapping_factory());
    } catch (const ingest::SourceConfigError& e) {
      throw config::ConfigError({config.file, e.line(), e.column()}, e.what());
    }
  }
  std::shared_ptr<const IngestState> shared = state;
  router.add("POST", "/v1/track", Access::kWrite, segment_handler(shared, ingest::Endpoint::kTrack));
  router.add("POST", "/v1/identify", Access::kWrite,
             segment_handler(shared, ingest::Endpoint::kIdentify));
  router.add("POST", "/v1/batch", Access::kWrite, segment_handler(shared, ingest::Endpoint::kBatch));
  router.add("POST", "/v1/sources/{name}", Access::kPublic,
             [shared](Request& request) -> asio::awaitable<Response> {
               check_backlog(*shared);
               Response error;
               auto event = map_source(*shared, request, error);
               if (!event) co_return error;
               std::vector<ingest::Event> events{std::move(*event)};
               auto duplicates = co_await append(*shared, events);
               co_return acknowledged(1, duplicates);
             });
}

asio::awaitable<void> backlog_monitor(const config::Config& config,
                                      std::shared_ptr<BacklogGauge> backlog) {
  auto& gauge = metrics::registry().gauge("herald_ingest_backlog",
                                          "Events appended and not yet processed");
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::vector<std::vector<std::string>> commands;
  for (unsigned p = 0; p < config.redis.partitions; ++p) commands.push_back({"GET", keys::backlog(p)});
  for (;;) {
    timer.expires_after(std::chrono::milliseconds(200));
    co_await timer.async_wait(asio::use_awaitable);
    try {
      auto replies = co_await current_worker().redis->pipeline(commands);
      int64_t total = 0;
      for (const auto& r : replies) total += r.as_integer().value_or(0);
      backlog->events.store(total, std::memory_order_relaxed);
      gauge.set(total);
    } catch (const std::exception&) {
      // Redis is down: ingest answers 503 anyway; keep the last figure.
    }
  }
}

}  // namespace herald::gateway
