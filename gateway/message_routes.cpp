#include <utility>

#include "gateway/message_routes.hpp"

#include <charconv>

#include "gateway/content.hpp"
#include "gateway/customer_state.hpp"
#include "gateway/engine/engine.hpp"
#include "gateway/ingest/timestamp.hpp"
#include "gateway/ingest/traits.hpp"
#include "gateway/keys.hpp"
#include "gateway/message_send.hpp"
#include "gateway/messages.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/router.hpp"
#include "gateway/worker.hpp"

namespace herald::gateway {
namespace asio = boost::asio;

namespace {

const std::vector<std::string> kHashFields{
    "id",       "customer_id", "channel", "provider",    "template",   "workflow",
    "run",      "step",        "status",  "timeline",    "provider_id", "attempts",
    "reason",   "created_at",  "transactional", "dead_letter", "converted_by"};

ApiError not_found(const std::string& what) {
  return ApiError(404, "not_found", what + " not found");
}

/// The message as GET /v1/messages/{id} shows it, from its hash fields.
Json message_json(const std::vector<redis::Reply>& values) {
  Json out = Json::object();
  for (std::size_t i = 0; i < kHashFields.size() && i < values.size(); ++i) {
    const auto& name = kHashFields[i];
    const auto& v = values[i];
    if (v.is_nil()) {
      if (name == "workflow" || name == "run") out[name] = nullptr;
      if (name == "attempts") out[name] = 0;  // recorded only once the first attempt starts
      continue;
    }
    if (name == "timeline" || name == "dead_letter" || name == "converted_by") {
      out[name] = Json::parse(v.str, nullptr, false);
    } else if (name == "attempts") {
      out[name] = std::atoi(v.str.c_str());
    } else if (name == "transactional") {
      out[name] = v.str == "1";
    } else if (name == "workflow" || name == "run") {
      out[name] = v.str.empty() ? Json() : Json(v.str);
    } else if (!v.str.empty()) {
      out[name] = v.str;
    }
  }
  return out;
}

SendRequest parse_send(const Request& request, const Content& content) {
  auto body = Json::parse(request.body, nullptr, false);
  if (!body.is_object()) throw ApiError(400, "invalid_json", "the body must be a JSON object");
  SendRequest r;
  auto string_field = [&](const char* name, bool required) {
    auto it = body.find(name);
    if (it == body.end() || it->is_null()) {
      if (required) throw ApiError(400, "invalid_message", std::string(name) + ": required", name);
      return std::string();
    }
    if (!it->is_string() || (required && it->get<std::string>().empty()))
      throw ApiError(400, "invalid_message", std::string(name) + ": expected a non-empty string", name);
    return it->get<std::string>();
  };
  r.customer_id = string_field("customer_id", true);
  r.template_name = string_field("template", true);
  r.idempotency_key = string_field("idempotency_key", false);
  if (r.idempotency_key.size() > 256)
    throw ApiError(400, "invalid_message", "idempotency_key: at most 256 characters", "idempotency_key");
  const auto& set = content.catalog->set();
  if (!set.has(r.template_name))
    throw ApiError(422, "unknown_template", "template: no template named \"" + r.template_name + "\"",
                   "template");
  auto channels = body.find("channels");
  if (channels == body.end() || !channels->is_array() || channels->empty())
    throw ApiError(400, "invalid_message", "channels: expected a non-empty list of channels", "channels");
  for (std::size_t i = 0; i < channels->size(); ++i) {
    const auto& c = (*channels)[i];
    const std::string field = "channels[" + std::to_string(i) + "]";
    static const std::vector<std::string> kKnown{"email", "sms", "whatsapp", "wechat", "social"};
    if (!c.is_string() || std::find(kKnown.begin(), kKnown.end(), c.get<std::string>()) == kKnown.end())
      throw ApiError(400, "invalid_message", field + ": expected one of email, sms, whatsapp, wechat, social", field);
    if (!set.has_channel(r.template_name, c.get<std::string>()))
      throw ApiError(422, "unknown_template",
                     field + ": template \"" + r.template_name + "\" has no " + c.get<std::string>() + " section",
                     field);
    r.channels.push_back(c.get<std::string>());
  }
  if (auto data = body.find("data"); data != body.end() && !data->is_null()) {
    if (!data->is_object()) throw ApiError(400, "invalid_message", "data: expected an object", "data");
    r.data = *data;
  }
  if (auto t = body.find("transactional"); t != body.end() && !t->is_null()) {
    if (!t->is_boolean()) throw ApiError(400, "invalid_message", "transactional: expected true or false", "transactional");
    r.transactional = t->get<bool>();
  }
  return r;
}

}  // namespace

void add_message_routes(Router& router, const config::Config& config,
                        ContentSourcePtr source) {
  auto cfg = std::make_shared<const config::Config>(config);

  router.add("GET", "/v1/messages/{id}", Access::kAdmin,
             [](Request& request) -> asio::awaitable<Response> {
               const auto& id = request.params.at("id");
               auto& redis = *current_worker().redis;
               // An id that names its partition names its hash; another is looked up.
               std::string customer;
               if (!messages::id_partition(id)) {
                 auto owner = co_await redis.command("GET", messages::index_key(id));
                 if (owner.is_error()) throw redis::CommandError(owner.str);
                 if (owner.is_nil()) throw not_found("message " + id);
                 customer = std::move(owner.str);
               }
               auto hmget = messages::read_command(messages::key(customer, id), kHashFields);
               auto values = co_await redis.command(hmget);
               if (values.is_error()) throw redis::CommandError(values.str);
               messages::unpack_read(values, kHashFields);
               if (values.elements.empty() || values.elements[0].is_nil())
                 throw not_found("message " + id);
               co_return Response::json(200, message_json(values.elements));
             });

  router.add("GET", "/v1/messages", Access::kAdmin,
             [](Request& request) -> asio::awaitable<Response> {
               auto status = request.query("status").value_or("");
               if (status != "dead_letter")
                 throw ApiError(400, "invalid_query",
                                "status: expected dead_letter (the list of messages given up)",
                                "status");
               long limit = 50, cursor = 0;
               auto number = [](const std::optional<std::string>& text, long fallback, long max,
                                const char* name) {
                 if (!text) return fallback;
                 long v = -1;
                 auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
                 if (ec != std::errc() || end != text->data() + text->size() || v < 0 || v > max)
                   throw ApiError(400, "invalid_query",
                                  std::string(name) + ": expected an integer from 0 to " + std::to_string(max),
                                  name);
                 return v;
               };
               limit = std::max(1L, number(request.query("limit"), 50, 1000, "limit"));
               cursor = number(request.query("cursor"), 0, messages::kDeadLetterLimit, "cursor");
               auto reply = co_await current_worker().redis->command(
                   "LRANGE", messages::kDeadLetters, std::to_string(cursor),
                   std::to_string(cursor + limit));
               if (reply.is_error()) throw redis::CommandError(reply.str);
               Json items = Json::array();
               for (std::size_t i = 0; i < reply.elements.size() && static_cast<long>(i) < limit; ++i)
                 items.push_back(Json::parse(reply.elements[i].str, nullptr, false));
               Json out = Json::object();
               out["items"] = std::move(items);
               if (static_cast<long>(reply.elements.size()) > limit) out["next"] = std::to_string(cursor + limit);
               co_return Response::json(200, out);
             });

  router.add("POST", "/v1/messages", Access::kAdmin,
             [cfg, source](Request& request) -> asio::awaitable<Response> {
               auto content = source->get();
               auto r = parse_send(request, *content);
               auto queued = co_await queue_message(*current_worker().redis, *cfg, *content, r);
               Json out = Json::object();
               out["id"] = queued.id;
               out["status"] = queued.status;
               co_return Response::json(202, out);
             });
}

}  // namespace herald::gateway
