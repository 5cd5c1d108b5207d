#include "gateway/engine/webhook_step.hpp"

#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <unordered_map>

#include "gateway/ingest/timestamp.hpp"
#include "gateway/log.hpp"
#include "templates/liquid/liquid_template.hpp"
#include "templates/template_error.hpp"

namespace herald::gateway::engine::webhook {
namespace {

// Records a request once and queues it. KEYS: request hash, stream.
// ARGV: customer, request id, field/value pairs... Returns 1 when recorded.
constexpr const char* kRecord = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('XADD', KEYS[2], '*', 'id', ARGV[2], 'customer', ARGV[1])
return 1
)lua";

std::string hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

/// Inline Liquid compiled once per distinct source and kept: workflows are immutable,
/// and a reload that changes a template brings a new source text.
const templates::LiquidTemplate& compiled(const std::string& source) {
  static std::shared_mutex mutex;
  static std::unordered_map<std::string, templates::LiquidTemplate> cache;
  {
    std::shared_lock lock(mutex);
    if (auto it = cache.find(source); it != cache.end()) return it->second;
  }
  std::vector<templates::LoadError> errors;
  templates::LiquidTemplate::Options options;
  options.file = "webhook";
  auto compiled = templates::LiquidTemplate::compile(source, options, errors);
  if (!compiled) {
    const auto& e = errors.front();
    throw templates::TemplateError(templates::TemplateError::Kind::kRender, e.file, e.line,
                                   e.column, e.message);
  }
  std::unique_lock lock(mutex);
  return cache.try_emplace(source, std::move(*compiled)).first->second;
}

std::string render_text(const std::string& source, const OJson& context,
                        const templates::Limits& limits) {
  if (source.find("{{") == std::string::npos && source.find("{%") == std::string::npos)
    return source;
  return compiled(source).render(context, limits);
}

/// A structured body: string leaves are templates, the rest is kept.
OJson render_json(const OJson& data, const OJson& context, const templates::Limits& limits) {
  if (data.is_string()) return render_text(data.get<std::string>(), context, limits);
  if (data.is_object()) {
    OJson out = OJson::object();
    for (auto it = data.begin(); it != data.end(); ++it)
      out[it.key()] = render_json(it.value(), context, limits);
    return out;
  }
  if (data.is_array()) {
    OJson out = OJson::array();
    for (const auto& item : data) out.push_back(render_json(item, context, limits));
    return out;
  }
  return data;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = a[i] >= 'A' && a[i] <= 'Z' ? a[i] - 'A' + 'a' : a[i];
    auto y = b[i] >= 'A' && b[i] <= 'Z' ? b[i] - 'A' + 'a' : b[i];
    if (x != y) return false;
  }
  return true;
}

std::string trim(std::string s) {
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

std::shared_ptr<spdlog::logger> logger() {
  static auto log = herald::log::get("engine");
  return log;
}

}  // namespace

std::string request_id(std::string_view run_id, std::string_view step_path) {
  std::string text(run_id);
  text += '|';
  text += step_path;
  return "h" + hex(keys::fnv1a(text));
}

Request render(const workflows::WebhookStep& step, const OJson& context,
               const templates::Limits& limits) {
  Request r;
  r.method = step.method.empty() ? "POST" : step.method;
  r.url = trim(render_text(step.url, context, limits));
  if (r.url.rfind("http://", 0) != 0 && r.url.rfind("https://", 0) != 0)
    throw std::invalid_argument("the url does not start with http:// or https:// once rendered");
  if (r.url.find_first_of(" \r\n") != std::string::npos)
    throw std::invalid_argument("the url has a space or a line break once rendered");
  bool has_type = false;
  for (const auto& [name, value] : step.headers) {
    auto text = render_text(value, context, limits);
    if (text.find_first_of("\r\n") != std::string::npos)  // no header injection
      throw std::invalid_argument("header " + name + " has a line break once rendered");
    if (iequals(name, "content-type")) has_type = true;
    r.headers.emplace_back(name, std::move(text));
  }
  if (step.body.is_null()) return r;
  if (step.body.is_string()) {
    r.body = render_text(step.body.get<std::string>(), context, limits);
    // A text body that is JSON once rendered (`body: '{"id": "{{ customer.id }}"}'`) goes
    // as JSON; any other text as plain text. A Content-Type header of the step wins.
    if (!has_type)
      r.headers.emplace_back(
          "Content-Type", OJson::accept(r.body) ? "application/json" : "text/plain; charset=utf-8");
  } else {
    r.body = render_json(step.body, context, limits).dump();
    if (!has_type) r.headers.emplace_back("Content-Type", "application/json");
  }
  return r;
}

std::optional<std::string> start(const Start& s, Commands& tx) {
  const auto id = request_id(s.run_id, s.step.path);
  OJson run = s.run;
  run["id"] = s.run_id;
  const auto now = ingest::format_rfc3339(ingest::Timestamp(std::chrono::milliseconds(s.now_ms)));
  OJson context{{"customer", s.customer}, {"event", s.event}, {"run", run}, {"now", now}};
  Request request;
  try {
    request = render(s.hook, context, s.limits);
  } catch (const std::exception& e) {  // TemplateError, invalid_argument
    logger()->warn("workflow {} step {}: the webhook cannot be rendered: {}", s.workflow_id,
                   s.step.name, e.what());
    return std::nullopt;
  }
  OJson headers = OJson::array();
  for (const auto& [name, value] : request.headers) headers.push_back(OJson::array({name, value}));
  tx.push_back({"EVAL",
                kRecord,
                "2",
                request_key(s.customer_id, id),
                kStream,
                s.customer_id,
                id,
                "id",
                id,
                "customer_id",
                s.customer_id,
                "workflow",
                s.workflow_id,
                "run",
                s.run_id,
                "step",
                s.step.name,
                "method",
                request.method,
                "url",
                request.url,
                "headers",
                headers.dump(),
                "body",
                request.body,
                "status",
                "pending",
                "attempts",
                "0",
                "created_at",
                now});
  return id;
}

std::optional<Outcome> outcome_of(const Timer& timer) {
  std::string_view id = timer.id;
  if (id.rfind(kTimerPrefix, 0) != 0) return std::nullopt;
  id.remove_prefix(kTimerPrefix.size());
  auto bar = id.find('|');
  if (bar == std::string_view::npos) return std::nullopt;
  Outcome o;
  o.request_id = id.substr(0, bar);
  auto result = id.substr(bar + 1);
  if (result != "ok" && result != "failed") return std::nullopt;
  o.ok = result == "ok";
  o.workflow_id = timer.payload;
  return o;
}

Commands outcome_commands(std::string_view customer_id, const Outcome& outcome, int64_t now_ms,
                          unsigned partitions) {
  // One timer per outcome: an outcome handed back twice moves the same timer, and two
  // different ones (two workers raced on one request) both fire, the first one counting.
  auto timer_id = std::string(kTimerPrefix) + outcome.request_id + (outcome.ok ? "|ok" : "|failed");
  return schedule_timer(customer_id, timer_id, now_ms, outcome.workflow_id, partitions);
}

}  // namespace herald::gateway::engine::webhook
