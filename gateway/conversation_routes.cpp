#include <utility>

#include "gateway/conversation_routes.hpp"

#include <charconv>
#include <chrono>

#include "gateway/content.hpp"
#include "gateway/conversations.hpp"
#include "gateway/customer_state.hpp"
#include "gateway/keys.hpp"
#include "gateway/message_send.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/router.hpp"
#include "gateway/worker.hpp"

namespace herald::gateway {
namespace asio = boost::asio;
namespace cv = conversations;

namespace {

constexpr std::size_t kRecentOrders = 5;

ApiError not_found(const std::string& id) {
  return ApiError(404, "not_found", "conversation " + id + " not found");
}

long number(const std::optional<std::string>& text, long fallback, long min, long max,
            const char* name) {
  if (!text) return fallback;
  long v = -1;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size() || v < min || v > max)
    throw ApiError(400, "invalid_query",
                   std::string(name) + ": expected an integer from " + std::to_string(min) +
                       " to " + std::to_string(max),
                   name);
  return v;
}

/// 409 already_claimed, with the holder named in the message and in `holder`.
Response already_claimed(const std::string& holder) {
  Json error = Json::object();
  error["code"] = "already_claimed";
  error["message"] = "the conversation is held by " + holder;
  error["holder"] = holder;
  return Response::json(409, Json{{"error", error}});
}

/// The care window of a channel, if it has one.
std::optional<std::chrono::hours> care_window(const std::string& channel) {
  if (channel == "whatsapp" || channel == "social") return std::chrono::hours(24);
  if (channel == "wechat") return std::chrono::hours(48);
  return std::nullopt;
}

struct Located {
  std::string customer;
  cv::Conversation conversation;
};

asio::awaitable<Located> locate(const std::string& id) {
  auto& redis = *current_worker().redis;
  auto customer = co_await cv::customer_of(redis, id);
  if (!customer) throw not_found(id);
  auto c = co_await cv::load(redis, *customer, id);
  if (!c) throw not_found(id);
  co_return Located{*customer, std::move(*c)};
}

asio::awaitable<Response> answer(const std::string& id) {
  auto located = co_await locate(id);
  co_return Response::json(200, located.conversation.to_json());
}

Response transition_error(const cv::Transition& t, const std::string& id) {
  using Kind = cv::Transition::Kind;
  switch (t.kind) {
    case Kind::kMissing:
      throw not_found(id);
    case Kind::kResolved:
      throw ApiError(409, "conversation_resolved", "conversation " + id + " is resolved");
    case Kind::kNotHeld:
      throw ApiError(409, "not_claimed", "conversation " + id + " is not claimed by anyone");
    case Kind::kHeld:
      throw ApiError(403, "forbidden", "conversation " + id + " is held by " + t.holder);
    case Kind::kDone:
      break;
  }
  throw std::logic_error("transition_error of a done transition");
}

struct Reply {
  std::string text;
  std::string template_name;
  Json data = Json::object();
  std::string idempotency_key;
};

Reply parse_reply(const Request& request) {
  auto body = Json::parse(request.body, nullptr, false);
  if (!body.is_object()) throw ApiError(400, "invalid_json", "the body must be a JSON object");
  Reply r;
  auto string_field = [&](const char* name) {
    auto it = body.find(name);
    if (it == body.end() || it->is_null()) return std::string();
    if (!it->is_string() || it->get<std::string>().empty())
      throw ApiError(400, "invalid_reply", std::string(name) + ": expected a non-empty string",
                     name);
    return it->get<std::string>();
  };
  r.text = string_field("text");
  r.template_name = string_field("template");
  r.idempotency_key = string_field("idempotency_key");
  if (r.text.empty() == r.template_name.empty())
    throw ApiError(400, "invalid_reply", "expected either text or template");
  if (r.text.size() > 4096)
    throw ApiError(400, "invalid_reply", "text: at most 4096 bytes", "text");
  if (r.idempotency_key.size() > 256)
    throw ApiError(400, "invalid_reply", "idempotency_key: at most 256 characters",
                   "idempotency_key");
  if (auto data = body.find("data"); data != body.end() && !data->is_null()) {
    if (!data->is_object())
      throw ApiError(400, "invalid_reply", "data: expected an object", "data");
    r.data = *data;
  }
  return r;
}

/// The customer as the agent sees them, their recent orders, and the run that led here.
asio::awaitable<void> add_context(Json& out, const Located& located, const config::Config& config) {
  auto& redis = *current_worker().redis;
  std::vector<std::vector<std::string>> reads;
  std::vector<std::string> hmget{"HMGET", keys::customer(located.customer)};
  hmget.insert(hmget.end(), kProfileFields.begin(), kProfileFields.end());
  reads.push_back(std::move(hmget));
  reads.push_back({"LRANGE", keys::customer_events(located.customer), "0", "199"});
  auto replies = co_await redis.pipeline(reads);
  std::vector<std::optional<std::string>> values;
  for (const auto& v : replies[0].elements)
    values.push_back(v.is_nil() ? std::nullopt : std::optional<std::string>(v.str));
  values.resize(kProfileFields.size());
  auto state = customer_from_fields(values);
  out["customer"] =
      state.exists() ? Json(customer_to_json(located.customer, state, config)) : Json();
  Json orders = Json::array();
  for (const auto& e : replies[1].elements) {
    if (orders.size() >= kRecentOrders) break;
    auto ev = Json::parse(history_entry_json(e.str), nullptr, false);
    if (ev.is_object() && ev.value("event", "") == config.stats.order_event)
      orders.push_back(std::move(ev));
  }
  out["recent_orders"] = std::move(orders);
  const auto& escalation = located.conversation.escalation;
  Json run;
  if (escalation.is_object() && escalation.contains("workflow") &&
      escalation["workflow"].is_string()) {
    const auto workflow = escalation["workflow"].get<std::string>();
    run = Json::object();
    run["workflow"] = workflow;
    run["run"] = escalation.value("run", Json());
    run["message_id"] = escalation.value("message_id", Json());
    // The run itself while it is still active.
    if (state.runs.is_object() && state.runs.contains(workflow))
      run["active"] = state.runs[workflow];
  }
  out["run"] = std::move(run);
}

}  // namespace

void add_conversation_routes(Router& router, const config::Config& config,
                             ContentSourcePtr source) {
  auto cfg = std::make_shared<const config::Config>(config);

  router.add(
      "GET", "/v1/conversations", Access::kAdminOrAgent,
      [](Request& request) -> asio::awaitable<Response> {
        auto status = request.query("status").value_or("escalated");
        if (std::find(cv::kStatuses.begin(), cv::kStatuses.end(), status) == cv::kStatuses.end())
          throw ApiError(400, "invalid_query",
                         "status: expected open, escalated, assigned or resolved", "status");
        long limit = number(request.query("limit"), 50, 1, 500, "limit");
        long cursor = number(request.query("cursor"), 0, 0, 1000000000L, "cursor");
        auto page = co_await cv::list(*current_worker().redis, status, limit, cursor);
        Json items = Json::array();
        for (const auto& c : page.items) items.push_back(c.to_json());
        Json out = Json::object();
        out["items"] = std::move(items);
        if (page.next) out["next"] = std::to_string(*page.next);
        co_return Response::json(200, out);
      });

  router.add("GET", "/v1/conversations/{id}", Access::kAdminOrAgent,
             [cfg](Request& request) -> asio::awaitable<Response> {
               const auto& id = request.params.at("id");
               auto located = co_await locate(id);
               auto out = located.conversation.to_json();
               out["thread"] = co_await cv::thread(*current_worker().redis, located.customer, id);
               co_await add_context(out, located, *cfg);
               co_return Response::json(200, out);
             });

  router.add("POST", "/v1/conversations/{id}/claim", Access::kAgent,
             [](Request& request) -> asio::awaitable<Response> {
               const auto& id = request.params.at("id");
               auto& redis = *current_worker().redis;
               auto customer = co_await cv::customer_of(redis, id);
               if (!customer) throw not_found(id);
               auto t = co_await cv::claim(redis, *customer, id, request.agent);
               if (t.kind == cv::Transition::Kind::kHeld) co_return already_claimed(t.holder);
               if (t.kind != cv::Transition::Kind::kDone) co_return transition_error(t, id);
               co_return co_await answer(id);
             });

  router.add("POST", "/v1/conversations/{id}/release", Access::kAdminOrAgent,
             [](Request& request) -> asio::awaitable<Response> {
               const auto& id = request.params.at("id");
               auto& redis = *current_worker().redis;
               auto customer = co_await cv::customer_of(redis, id);
               if (!customer) throw not_found(id);
               const bool admin = request.principal == Principal::kAdmin;
               auto t = co_await cv::release(redis, *customer, id, request.agent, admin);
               if (t.kind != cv::Transition::Kind::kDone) co_return transition_error(t, id);
               co_return co_await answer(id);
             });

  router.add("POST", "/v1/conversations/{id}/resolve", Access::kAgent,
             [](Request& request) -> asio::awaitable<Response> {
               const auto& id = request.params.at("id");
               auto& redis = *current_worker().redis;
               auto customer = co_await cv::customer_of(redis, id);
               if (!customer) throw not_found(id);
               auto t = co_await cv::resolve(redis, *customer, id, request.agent);
               if (t.kind != cv::Transition::Kind::kDone) co_return transition_error(t, id);
               co_return co_await answer(id);
             });

  router.add(
      "POST", "/v1/conversations/{id}/reply", Access::kAgent,
      [cfg, source](Request& request) -> asio::awaitable<Response> {
        auto content = source->get();
        const auto& id = request.params.at("id");
        auto reply = parse_reply(request);
        auto located = co_await locate(id);
        const auto& c = located.conversation;
        if (c.status != "assigned" || c.assignee != request.agent)
          throw ApiError(403, "forbidden",
                         c.assignee.empty() ? "claim the conversation before replying"
                                            : "conversation " + id + " is held by " + c.assignee);
        auto& redis = *current_worker().redis;
        SendRequest send;
        send.customer_id = located.customer;
        send.channels.push_back(c.channel);
        send.transactional = true;
        send.data = reply.data;
        if (!reply.idempotency_key.empty())
          send.idempotency_key = "conversation:" + id + ":" + reply.idempotency_key;
        if (!reply.text.empty()) {
          if (auto window = care_window(c.channel)) {
            auto last =
                co_await redis.command("HGET", keys::customer(located.customer), "in:" + c.channel);
            if (last.is_error()) throw redis::CommandError(last.str);
            const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
            const long long opened = last.is_nil() ? 0 : std::atoll(last.str.c_str());
            if (opened <= 0 ||
                now - opened >=
                    std::chrono::duration_cast<std::chrono::milliseconds>(*window).count())
              throw ApiError(422, "window_closed",
                             "outside the " + c.channel +
                                 " customer-care window: reply with a template instead",
                             "text");
          }
          send.content = text_content(c.channel, reply.text);
        } else {
          const auto& set = content->catalog->set();
          if (!set.has(reply.template_name) || !set.has_channel(reply.template_name, c.channel))
            throw ApiError(422, "unknown_template",
                           "template: no template \"" + reply.template_name + "\" with a " +
                               c.channel + " section",
                           "template");
          send.template_name = reply.template_name;
        }
        auto queued = co_await queue_message(redis, *cfg, *content, send);
        co_await cv::record_outbound(redis, located.customer, id, queued.id, request.agent);
        Json out = Json::object();
        out["id"] = queued.id;
        out["status"] = queued.status;
        co_return Response::json(202, out);
      });
}

}  // namespace herald::gateway
