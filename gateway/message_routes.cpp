#include <utility>

#include "gateway/message_routes.hpp"

#include <openssl/rand.h>

#include <charconv>

#include "gateway/content.hpp"
#include "gateway/customer_state.hpp"
#include "gateway/engine/engine.hpp"
#include "gateway/ingest/timestamp.hpp"
#include "gateway/ingest/traits.hpp"
#include "gateway/keys.hpp"
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

std::string hex64(uint64_t v) {
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(v));
  return out;
}

uint64_t fnv1a(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

/// The message as GET /v1/messages/{id} shows it, from its hash fields.
Json message_json(const std::vector<redis::Reply>& values) {
  Json out = Json::object();
  for (std::size_t i = 0; i < kHashFields.size() && i < values.size(); ++i) {
    const auto& name = kHashFields[i];
    const auto& v = values[i];
    if (v.is_nil()) {
      if (name == "workflow" || name == "run") out[name] = nullptr;
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

struct SendRequest {
  std::string customer_id;
  std::string template_name;
  std::vector<std::string> channels;
  Json data = Json::object();
  std::string idempotency_key;
  bool transactional = false;
};

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

/// The recorded command for one message (kRecordMessage).
std::vector<std::string> record_command(const std::string& id, const SendRequest& r,
                                        const std::string& channel, const std::string& provider,
                                        const std::string& status, const std::string& reason,
                                        const Json& content, const Json& fallback) {
  auto at = ingest::format_rfc3339(
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()));
  Json entry = Json::object();
  entry["status"] = status;
  entry["at"] = at;
  if (!reason.empty()) entry["detail"] = reason;
  Json timeline = Json::array();
  timeline.push_back(entry);
  Json record = Json::object();
  record["id"] = id;
  record["customer_id"] = r.customer_id;
  record["channel"] = channel.empty() ? Json() : Json(channel);
  record["provider"] = provider;
  record["template"] = r.template_name;
  record["workflow"] = nullptr;
  record["run"] = nullptr;
  record["status"] = status;
  record["timeline"] = timeline;
  std::vector<std::string> cmd{"EVAL", messages::kRecordMessage, "5",
                               messages::key(r.customer_id, id),
                               keys::customer_messages(r.customer_id),
                               messages::kDeliveries,
                               "herald:apistats",
                               messages::index_key(id),
                               record.dump(), id, r.customer_id,
                               status == "queued" ? std::string("sent") : status,
                               status == "queued" ? "1" : "0"};
  std::vector<std::string> fields{"id", id, "customer_id", r.customer_id, "channel", channel,
                                  "provider", provider, "template", r.template_name,
                                  "status", status, "content", content.dump(), "reason", reason,
                                  "created_at", at, "timeline", timeline.dump(),
                                  "fallback", fallback.dump(), "attempts", "0",
                                  "transactional", r.transactional ? "1" : "0"};
  cmd.insert(cmd.end(), fields.begin(), fields.end());
  return cmd;
}

}  // namespace

void add_message_routes(Router& router, const config::Config& config,
                        std::shared_ptr<const Content> content) {
  auto cfg = std::make_shared<const config::Config>(config);

  router.add("GET", "/v1/messages/{id}", Access::kAdmin,
             [](Request& request) -> asio::awaitable<Response> {
               const auto& id = request.params.at("id");
               auto& redis = *current_worker().redis;
               auto owner = co_await redis.command("GET", messages::index_key(id));
               if (owner.is_error()) throw redis::CommandError(owner.str);
               if (owner.is_nil()) throw not_found("message " + id);
               std::vector<std::string> hmget{"HMGET", messages::key(owner.str, id)};
               hmget.insert(hmget.end(), kHashFields.begin(), kHashFields.end());
               auto values = co_await redis.command(hmget);
               if (values.is_error()) throw redis::CommandError(values.str);
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
             [cfg, content](Request& request) -> asio::awaitable<Response> {
               auto r = parse_send(request, *content);
               auto& redis = *current_worker().redis;
               std::vector<std::string> hmget{"HMGET", keys::customer(r.customer_id)};
               hmget.insert(hmget.end(), kProfileFields.begin(), kProfileFields.end());
               auto reply = co_await redis.command(hmget);
               if (reply.is_error()) throw redis::CommandError(reply.str);
               std::vector<std::optional<std::string>> values;
               for (const auto& v : reply.elements)
                 values.push_back(v.is_nil() ? std::nullopt : std::optional<std::string>(v.str));
               auto state = customer_from_fields(values);
               if (!state.exists()) throw not_found("customer " + r.customer_id);

               // The id: derived from the idempotency key, so a retried request finds
               // the first one's message; else random.
               std::string id;
               if (!r.idempotency_key.empty()) {
                 id = "t" + hex64(fnv1a(r.customer_id + '\n' + r.idempotency_key)) +
                      hex64(fnv1a(r.idempotency_key + '\n' + r.customer_id)).substr(0, 8);
               } else {
                 unsigned char bytes[12];
                 RAND_bytes(bytes, sizeof bytes);
                 id = "t";
                 for (unsigned char b : bytes) {
                   char h[3];
                   std::snprintf(h, sizeof h, "%02x", b);
                   id += h;
                 }
               }

               const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
               auto view = engine::customer_view(r.customer_id, state, *cfg, now);
               // Channels the customer can receive, in the order asked. Transactional
               // messages pass the consent default but never an explicit opt-out.
               const auto addresses = ingest::channel_addresses(state.traits);
               std::vector<std::string> eligible;
               std::string refusal = "no_address";
               for (const auto& c : r.channels) {
                 bool has = std::any_of(addresses.begin(), addresses.end(),
                                        [&](const ingest::ChannelAddress& a) { return a.channel == c; });
                 if (!has) continue;
                 std::string recorded;
                 if (state.consent.is_object() && state.consent.contains(c)) {
                   const auto& v = state.consent[c];
                   recorded = v.is_object() ? v.value("status", "") : v.is_string() ? v.get<std::string>() : "";
                 }
                 bool allowed = r.transactional ? recorded != "opted_out"
                                                : view["consent"].value(c, std::string()) == "opted_in";
                 if (!allowed) {
                   refusal = "consent";
                   continue;
                 }
                 eligible.push_back(c);
               }
               auto provider_of = [&](const std::string& c) {
                 auto it = cfg->channels.find(c);
                 return it == cfg->channels.end() ? std::string("outbox") : it->second.provider;
               };
               Json context = Json::object();
               context["customer"] = view;
               context["event"] = Json::object();
               context["data"] = r.data;
               context["now"] = ingest::format_rfc3339(ingest::Timestamp(std::chrono::milliseconds(now)));
               std::string status = "queued", reason, channel;
               Json rendered, fallback = Json::array();
               if (eligible.empty()) {
                 status = "suppressed";
                 reason = refusal;
               }
               for (const auto& c : eligible) {
                 try {
                   auto out = content->catalog->set().render(r.template_name, c, "", context);
                   if (channel.empty()) {
                     channel = c;
                     rendered = std::move(out);
                   } else {
                     Json next = Json::object();
                     next["channel"] = c;
                     next["provider"] = provider_of(c);
                     next["content"] = std::move(out);
                     fallback.push_back(std::move(next));
                   }
                 } catch (const std::exception& e) {
                   if (channel.empty())
                     throw ApiError(422, "template_error", std::string("template: ") + e.what(), "template");
                 }
               }
               auto cmd = record_command(id, r, channel, channel.empty() ? "" : provider_of(channel),
                                         status, reason, rendered, fallback);
               auto recorded = co_await redis.command(cmd);
               if (recorded.is_error()) throw redis::CommandError(recorded.str);
               if (recorded.as_integer().value_or(0) == 0) {
                 // Seen before (same idempotency key): its current state.
                 auto current = co_await redis.command("HGET", messages::key(r.customer_id, id), "status");
                 status = current.is_nil() ? status : current.str;
               }
               Json out = Json::object();
               out["id"] = id;
               out["status"] = status;
               co_return Response::json(202, out);
             });
}

}  // namespace herald::gateway
