#include <utility>

#include "gateway/workflow_routes.hpp"

#include <chrono>
#include <filesystem>
#include <set>

#include "gateway/content.hpp"
#include "gateway/engine/engine.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/router.hpp"
#include "gateway/simulate.hpp"
#include "gateway/worker.hpp"

namespace herald::gateway {
namespace asio = boost::asio;

namespace {

long long to_count(const redis::Reply& r) {
  if (r.is_nil()) return 0;
  try {
    return std::stoll(r.str);
  } catch (const std::exception&) {
    return 0;
  }
}

/// The variant names of every split of a workflow, in every branch.
void collect_variants(const workflows::Steps& steps, std::set<std::string>& out) {
  for (const auto& step : steps) {
    if (const auto* split = std::get_if<workflows::SplitStep>(&step.action)) {
      for (const auto& v : split->variants) {
        out.insert(v.name);
        collect_variants(v.steps, out);
      }
    } else if (const auto* branch = std::get_if<workflows::IfStep>(&step.action)) {
      collect_variants(branch->then_steps, out);
      collect_variants(branch->else_steps, out);
    } else if (const auto* wait = std::get_if<workflows::WaitForStep>(&step.action)) {
      collect_variants(wait->on_event, out);
      collect_variants(wait->on_timeout, out);
    }
  }
}

const workflows::Workflow* find_workflow(const Content& content, const std::string& id) {
  for (const auto& w : content.workflows)
    if (w->id == id) return w.get();
  return nullptr;
}

Json stats_json(const workflows::Workflow& workflow, const redis::Reply& all) {
  std::set<std::string> variants;
  collect_variants(workflow.steps, variants);
  Json out = Json::object();
  out["workflow"] = workflow.id;
  out["version"] = engine::workflow_version(workflow);
  for (const char* k : {"entered", "completed", "exited", "converted"}) out[k] = 0;
  Json exited = Json::object(), skipped{{"active", 0}, {"once", 0}, {"cooldown", 0}};
  Json steps = Json::object(), by_variant = Json::object();
  for (const auto& v : variants) by_variant[v] = Json{{"entered", 0}, {"converted", 0}};
  for (std::size_t i = 0; i + 1 < all.elements.size(); i += 2) {
    const std::string& field = all.elements[i].str;
    const long long n = to_count(all.elements[i + 1]);
    if (field == "entered" || field == "completed" || field == "exited" || field == "converted") {
      out[field] = n;
      continue;
    }
    if (field.rfind("skipped_", 0) == 0) {
      skipped[field.substr(8)] = n;
      continue;
    }
    if (field.rfind("exited:", 0) == 0) {
      exited[field.substr(7)] = n;
      continue;
    }
    auto colon = field.find(':');
    if (colon == std::string::npos) {  // unsupported, and counters of later versions
      out[field] = n;
      continue;
    }
    const std::string owner = field.substr(0, colon), what = field.substr(colon + 1);
    if (variants.count(owner) && (what == "entered" || what == "converted")) {
      by_variant[owner][what] = n;
      continue;
    }
    Json& step = steps[owner];
    if (step.is_null())
      step = Json{{"sent", 0}, {"delivered", 0}, {"failed", 0}, {"suppressed", 0}};
    auto second = what.find(':');
    if (second == std::string::npos) {
      step[what] = step.value(what, 0LL) + n;
    } else {  // STATUS:REASON
      const std::string status = what.substr(0, second), reason = what.substr(second + 1);
      step[status + "_by_reason"][reason] = n;
      if (status == "suppressed") step["suppressed"] = step.value("suppressed", 0LL) + n;
    }
  }
  out["active"] = std::max(0LL, out["entered"].get<long long>() - out["completed"].get<long long>() -
                                    out["exited"].get<long long>());
  out["exited_by_reason"] = std::move(exited);
  out["skipped"] = std::move(skipped);
  out["steps"] = std::move(steps);
  out["variants"] = std::move(by_variant);
  return out;
}

}  // namespace

void add_workflow_routes(Router& router, std::shared_ptr<const config::Config> config,
                         ContentSourcePtr source, Reloader reload) {
  router.add("POST", "/v1/workflows/reload", Access::kAdmin,
             [reload](Request&) -> asio::awaitable<Response> {
               auto report = reload();
               Json loaded = Json::array(), errors = Json::array();
               for (const auto& id : report.loaded) loaded.push_back(id);
               for (const auto& e : report.errors)
                 errors.push_back(Json{{"file", std::filesystem::path(e.file).filename().string()},
                                       {"line", e.line},
                                       {"column", e.column},
                                       {"message", e.message}});
               co_return Response::json(200, Json{{"loaded", std::move(loaded)},
                                                  {"errors", std::move(errors)}});
             });
  router.add("POST", "/v1/workflows/{id}/simulate", Access::kAdmin,
             [source, config](Request& request) -> asio::awaitable<Response> {
               auto content = source->get();
               auto body = Json::parse(request.body.empty() ? std::string("{}") : request.body,
                                       nullptr, false);
               if (body.is_discarded())
                 throw ApiError(400, "invalid_json", "the body is not valid JSON");
               const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
               co_return Response::json(
                   200, simulate(*config, *content, request.params.at("id"), body, now));
             });
  router.add("GET", "/v1/workflows", Access::kAdmin,
             [source](Request&) -> asio::awaitable<Response> {
               auto content = source->get();
               auto& redis = *current_worker().redis;
               std::vector<std::vector<std::string>> reads;
               for (const auto& w : content->workflows)
                 reads.push_back({"HMGET", engine::stats_key(w->id), "entered", "completed", "exited"});
               std::vector<redis::Reply> replies;
               if (!reads.empty()) replies = co_await redis.pipeline(reads);
               Json items = Json::array();
               for (std::size_t i = 0; i < content->workflows.size(); ++i) {
                 const auto& w = *content->workflows[i];
                 long long active = 0;
                 if (i < replies.size() && replies[i].elements.size() == 3) {
                   const auto& e = replies[i].elements;
                   active = std::max(0LL, to_count(e[0]) - to_count(e[1]) - to_count(e[2]));
                 } else if (i < replies.size() && replies[i].is_error()) {
                   throw redis::CommandError(replies[i].str);
                 }
                 items.push_back(Json{{"id", w.id},
                                      {"name", w.name},
                                      {"version", engine::workflow_version(w)},
                                      {"enabled", w.enabled},
                                      {"file", std::filesystem::path(w.file).filename().string()},
                                      {"trigger", std::string(workflows::trigger_kind(w.trigger))},
                                      {"active_runs", active}});
               }
               co_return Response::json(200, Json{{"items", std::move(items)}});
             });
  router.add("GET", "/v1/workflows/{id}/stats", Access::kAdmin,
             [source](Request& request) -> asio::awaitable<Response> {
               auto content = source->get();
               const auto& id = request.params.at("id");
               const auto* workflow = find_workflow(*content, id);
               if (!workflow) throw ApiError(404, "not_found", "no workflow " + id);
               auto& redis = *current_worker().redis;
               auto all = co_await redis.command("HGETALL", engine::stats_key(id));
               if (all.is_error()) throw redis::CommandError(all.str);
               co_return Response::json(200, stats_json(*workflow, all));
             });
}

}  // namespace herald::gateway
