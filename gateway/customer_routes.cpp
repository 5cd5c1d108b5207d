#include <utility>

#include "gateway/customer_routes.hpp"

#include <charconv>

#include "gateway/consent.hpp"
#include "gateway/conversations.hpp"
#include "gateway/customer_state.hpp"
#include "gateway/engine/engine.hpp"
#include "gateway/ingest/traits.hpp"
#include "gateway/keys.hpp"
#include "gateway/suppression.hpp"
#include "gateway/messages.hpp"
#include "gateway/redis/script.hpp"
#include "gateway/router.hpp"
#include "gateway/worker.hpp"

namespace herald::gateway {
namespace asio = boost::asio;

namespace {

const std::vector<std::string> kChannelNames{"email", "sms", "whatsapp", "wechat", "social"};

asio::awaitable<std::optional<CustomerState>> load(const std::string& id) {
  std::vector<std::string> cmd{"HMGET", keys::customer(id)};
  cmd.insert(cmd.end(), kProfileFields.begin(), kProfileFields.end());
  auto reply = co_await current_worker().redis->command(cmd);
  if (reply.is_error()) throw redis::CommandError(reply.str);
  std::vector<std::optional<std::string>> values;
  for (const auto& v : reply.elements)
    values.push_back(v.is_nil() ? std::nullopt : std::optional<std::string>(v.str));
  values.resize(kProfileFields.size());
  auto state = customer_from_fields(values);
  if (!state.exists()) co_return std::nullopt;
  co_return state;
}

ApiError not_found(const std::string& id) {
  return ApiError(404, "not_found", "no customer " + id);
}

std::vector<OJson> parse_list(const redis::Reply& reply) {
  std::vector<OJson> out;
  for (const auto& item : reply.elements) {
    auto j = OJson::parse(item.str, nullptr, false);
    if (!j.is_discarded()) out.push_back(std::move(j));
  }
  return out;
}

struct ConsentChange {
  std::string channel, status, source;
};

ConsentChange consent_change(const Request& request) {
  ConsentChange change;
  change.channel = request.params.at("channel");
  const auto& channels = config::kChannels;
  if (std::find(channels.begin(), channels.end(), change.channel) == channels.end())
    throw ApiError(400, "invalid_channel",
                   "unknown channel " + change.channel + " (email, sms, whatsapp, wechat, social)",
                   "channel");
  auto body = OJson::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object())
    throw ApiError(400, "invalid_json", "the body must be a JSON object");
  auto status = body.value("status", OJson());
  if (!status.is_string() || (status != "opted_in" && status != "opted_out"))
    throw ApiError(400, "invalid_consent", "status: expected opted_in or opted_out", "status");
  change.status = status.get<std::string>();
  auto source = body.value("source", OJson("api"));
  if (!source.is_string()) throw ApiError(400, "invalid_consent", "source: expected a string", "source");
  change.source = source.get<std::string>();
  return change;
}

std::size_t limit_of(const Request& request) {
  auto text = request.query("limit").value_or("50");
  std::size_t limit = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
  if (ec != std::errc() || end != text.data() + text.size() || limit < 1 || limit > 1000)
    throw ApiError(400, "invalid_request", "limit: expected 1 to 1000", "limit");
  return limit;
}

const std::vector<std::string> kCurrentFields{"status",   "timeline", "provider_id", "channel",
                                              "provider", "reason",   "template"};

std::vector<std::string> current_fields_command(const std::string& customer, const OJson& item) {
  return messages::read_command(engine::message_key(customer, item.value("id", std::string())),
                                kCurrentFields);
}

/// A message as listed: its entry in the customer's list (id, channel, workflow and run;
/// entries written by earlier versions carry the rest as it was when queued) with the
/// message's hash as it is now (`fields`: current_fields_command's answer). Without a
/// hash, the entry as it is.
OJson listed_message(OJson entry, const redis::Reply& fields, const std::string& customer) {
  const auto& f = fields.elements;
  if (f.size() < 7 || f[0].is_nil()) return entry;
  auto now_or = [&](std::size_t i, const char* name) {
    return !f[i].is_nil() && !f[i].str.empty() ? OJson(f[i].str) : entry.value(name, OJson());
  };
  OJson out = OJson::object();
  out["id"] = entry.value("id", OJson());
  out["customer_id"] = customer;
  // A fallback changes the channel and provider after the message was listed.
  out["channel"] = now_or(3, "channel");
  out["provider"] = now_or(4, "provider");
  out["template"] = now_or(6, "template");
  out["workflow"] = entry.value("workflow", OJson());
  out["run"] = entry.value("run", OJson());
  out["status"] = f[0].str;
  auto timeline = OJson::parse(f[1].str, nullptr, false);
  out["timeline"] = timeline.is_discarded() ? entry.value("timeline", OJson::array()) : timeline;
  if (!f[2].is_nil()) out["provider_id"] = f[2].str;
  if (!f[5].is_nil() && !f[5].str.empty()) out["reason"] = f[5].str;
  return out;
}

/// The listed messages, each with its hash as it is now.
asio::awaitable<OJson> listed_messages(redis::Client& redis, const std::string& customer,
                                       const redis::Reply& list) {
  auto entries = parse_list(list);
  std::vector<std::vector<std::string>> reads;
  for (const auto& entry : entries) reads.push_back(current_fields_command(customer, entry));
  std::vector<redis::Reply> current;
  if (!reads.empty()) current = co_await redis.pipeline(reads);
  for (auto& reply : current) messages::unpack_read(reply, kCurrentFields);
  OJson items = OJson::array();
  for (std::size_t i = 0; i < entries.size(); ++i)
    items.push_back(i < current.size() ? listed_message(std::move(entries[i]), current[i], customer)
                                       : std::move(entries[i]));
  co_return items;
}

}  // namespace

void add_customer_routes(Router& router, const config::Config& config) {
  auto cfg = std::make_shared<const config::Config>(config);

  router.add("GET", "/v1/customers/{id}", Access::kAdmin,
             [cfg](Request& request) -> asio::awaitable<Response> {
               const auto& id = request.params.at("id");
               auto state = co_await load(id);
               if (!state) throw not_found(id);
               co_return Response::json(200, customer_to_json(id, *state, *cfg));
             });

  router.add("PUT", "/v1/customers/{id}/consent/{channel}", Access::kAdmin,
             [](Request& request) -> asio::awaitable<Response> {
               const auto& id = request.params.at("id");
               auto change = consent_change(request);
               auto consent = co_await record_consent(*current_worker().redis, id,
                                                      change.channel, change.status,
                                                      change.source);
               co_return Response::json(200, OJson{{"consent", consent}});
             });

  router.add("DELETE", "/v1/customers/{id}", Access::kAdmin,
             [cfg](Request& request) -> asio::awaitable<Response> {
               const auto& id = request.params.at("id");
               auto& redis = *current_worker().redis;
               auto state = co_await load(id);
               // Two steps, each safe to repeat, so that the same request sent again after
               // an error answer finishes the erasure: first the suppression of the
               // identifiers and the global index entries (each key in a slot of its own on
               // a cluster), then, in one transaction, everything in the customer's slot:
               // profile, events, consent log, messages, caps, conversations, timers,
               // segments. The lists that name the rest go last.
               std::vector<std::vector<std::string>> global;
               std::vector<std::string> doomed{"DEL"};
               // The customer's messages (hashes with their rendered content, and their
               // index entries) and frequency-cap windows go too.
               auto listed = co_await redis.command("LRANGE", keys::customer_messages(id), "0", "-1");
               for (const auto& item : listed.elements) {
                 auto m = OJson::parse(item.str, nullptr, false);
                 if (!m.is_object() || !m.contains("id") || !m["id"].is_string()) continue;
                 const auto message = m["id"].get<std::string>();
                 doomed.push_back(messages::key(id, message));
                 if (!messages::id_partition(message))
                   global.push_back({"DEL", messages::index_key(message)});
               }
               for (std::size_t i = 0; i < cfg->policies.frequency_caps.size(); ++i)
                 doomed.push_back("herald:c:" + keys::tag(id) + ":fc:" + std::to_string(i));
               // Conversations: each one's hash, thread and index entries.
               auto talks = co_await redis.command("SMEMBERS", conversations::all_key(id));
               for (const auto& c : talks.elements) {
                 doomed.push_back(conversations::key(id, c.str));
                 doomed.push_back(conversations::thread_key(id, c.str));
                 doomed.push_back(conversations::key(id, c.str) + ":om");
                 global.push_back({"DEL", conversations::index_key(c.str)});
                 for (const auto& status : conversations::kStatuses)
                   global.push_back({"ZREM", conversations::status_key(status), c.str});
               }
               for (const auto& channel : kChannelNames)
                 doomed.push_back(conversations::open_key(id, channel));
               std::vector<std::vector<std::string>> tx{{"MULTI"}};
               if (doomed.size() > 1) tx.push_back(std::move(doomed));
               std::vector<std::string> suppressed{hashed_identifier("id", id)};
               if (state) {
                 // Segment memberships and timers (runs, triggers) go with the customer.
                 for (auto& c : engine::erasure_commands(id, *state, cfg->redis.partitions))
                   tx.push_back(std::move(c));
                 for (const auto& a : ingest::channel_addresses(state->traits)) {
                   suppressed.push_back(hashed_identifier(a.channel, a.address));
                   global.push_back(release_address_command(a.channel, a.address, id));
                 }
               }
               auto suppress = suppression::add_commands(suppressed, "erased", "api");
               global.insert(global.begin(), suppress.begin(), suppress.end());
               tx.push_back({"DEL", conversations::all_key(id), keys::customer(id),
                             keys::customer_events(id), keys::consent_log(id),
                             keys::customer_messages(id)});
               tx.push_back({"EXEC"});
               auto first = co_await redis.pipeline(global);
               for (const auto& r : first)
                 if (r.is_error()) throw redis::CommandError("erasure failed: " + r.str);
               auto replies = co_await redis.pipeline(tx);
               if (!replies.back().is_array()) throw redis::CommandError("erasure failed");
               co_return Response::text(204, "", "application/json");
             });

  router.add("GET", "/v1/customers/{id}/export", Access::kAdmin,
             [cfg](Request& request) -> asio::awaitable<Response> {
               const auto& id = request.params.at("id");
               auto state = co_await load(id);
               if (!state) throw not_found(id);
               std::vector<std::vector<std::string>> reads;
               reads.push_back({"LRANGE", keys::consent_log(id), "0", "-1"});
               reads.push_back({"LRANGE", keys::customer_events(id), "0", "-1"});
               reads.push_back({"LRANGE", keys::customer_messages(id), "0", "-1"});
               auto lists = co_await current_worker().redis->pipeline(reads);
               auto out = customer_to_json(id, *state, *cfg);
               out["consent_log"] = parse_list(lists[0]);
               for (auto& entry : lists[1].elements) entry.str = history_entry_json(entry.str);
               out["events"] = parse_list(lists[1]);
               out["messages"] = co_await listed_messages(*current_worker().redis, id, lists[2]);
               co_return Response::json(200, out);
             });

  router.add("GET", "/v1/customers/{id}/messages", Access::kAdmin,
             [](Request& request) -> asio::awaitable<Response> {
               const auto& id = request.params.at("id");
               auto limit = limit_of(request);
               auto& redis = *current_worker().redis;
               auto reply = co_await redis.command("LRANGE", keys::customer_messages(id), "0",
                                                   std::to_string(limit - 1));
               OJson page = OJson::object();
               page["items"] = co_await listed_messages(redis, id, reply);
               co_return Response::json(200, page);
             });
}

}  // namespace herald::gateway
