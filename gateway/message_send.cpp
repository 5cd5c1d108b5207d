#include <utility>

#include "gateway/message_send.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>

#include "gateway/content.hpp"
#include "gateway/customer_state.hpp"
#include "gateway/engine/engine.hpp"
#include "gateway/ingest/timestamp.hpp"
#include "gateway/ingest/traits.hpp"
#include "gateway/keys.hpp"
#include "gateway/messages.hpp"
#include "gateway/unsubscribe.hpp"
#include "gateway/redis/redis_client.hpp"

namespace herald::gateway {
namespace asio = boost::asio;

namespace {

std::string hex64(uint64_t v) {
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(v));
  return out;
}

using keys::fnv1a;

/// The recorded command for one message (kRecordMessage).
std::vector<std::string> record_command(const std::string& id, const SendRequest& r,
                                        const std::string& channel, const std::string& provider,
                                        const std::string& status, const std::string& reason,
                                        const Json& content, const Json& fallback,
                                        std::vector<std::string> extra = {}) {
  messages::NewMessage m;
  m.id = id;
  m.customer_id = r.customer_id;
  m.channel = channel;
  m.provider = provider;
  m.template_name = r.template_name;
  m.status = status;
  m.reason = reason;
  m.at = ingest::format_rfc3339(
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()));
  m.content = content.dump();
  m.fallback = fallback.dump();
  m.stats_key = "herald:apistats";
  m.stats_field = status == "queued" ? std::string("sent") : status;
  m.transactional = r.transactional;
  m.extra = std::move(extra);
  return messages::record_command(m);
}

std::string provider_for(const config::Config& config, const std::string& channel) {
  auto it = config.channels.find(channel);
  return it == config.channels.end() ? std::string("outbox") : it->second.provider;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\n': out += "<br>"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string message_id_for(const std::string& customer_id, const std::string& idempotency_key) {
  if (!idempotency_key.empty())
    return "t" + hex64(fnv1a(customer_id + '\n' + idempotency_key)) +
           hex64(fnv1a(idempotency_key + '\n' + customer_id)).substr(0, 8);
  unsigned char bytes[12];
  RAND_bytes(bytes, sizeof bytes);
  std::string id = "t";
  for (unsigned char b : bytes) {
    char h[3];
    std::snprintf(h, sizeof h, "%02x", b);
    id += h;
  }
  return id;
}

asio::awaitable<QueuedMessage> queue_message(redis::Client& redis, const config::Config& config,
                                             const Content& content, const SendRequest& r) {
  std::vector<std::string> hmget{"HMGET", keys::customer(r.customer_id)};
  hmget.insert(hmget.end(), kProfileFields.begin(), kProfileFields.end());
  auto reply = co_await redis.command(hmget);
  if (reply.is_error()) throw redis::CommandError(reply.str);
  std::vector<std::optional<std::string>> values;
  for (const auto& v : reply.elements)
    values.push_back(v.is_nil() ? std::nullopt : std::optional<std::string>(v.str));
  auto state = customer_from_fields(values);
  if (!state.exists()) throw ApiError(404, "not_found", "customer " + r.customer_id + " not found");

  const std::string id = message_id_for(r.customer_id, r.idempotency_key);
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  auto view = engine::customer_view(r.customer_id, state, config, now);
  // Channels the customer can receive, in the order asked. Transactional messages pass
  // the consent default but never an explicit opt-out.
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
  auto provider_of = [&](const std::string& c) { return provider_for(config, c); };
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
    if (r.content) {  // pre-rendered for the first channel asked
      if (c == r.channels.front()) {
        channel = c;
        rendered = *r.content;
      }
      break;
    }
    try {
      // Transactional messages carry no unsubscribe link (they are not marketing).
      context["unsubscribe_url"] = r.transactional ? std::string() : unsubscribe_url(config, r.customer_id, c);
      auto out = content.catalog->set().render(r.template_name, c, "", context);
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
  if (channel.empty() && status == "queued") {
    status = "suppressed";
    reason = refusal;
  }
  auto cmd = record_command(id, r, channel, channel.empty() ? "" : provider_of(channel), status,
                            reason, rendered, fallback);
  auto recorded = co_await redis.command(cmd);
  if (recorded.is_error()) throw redis::CommandError(recorded.str);
  if (recorded.as_integer().value_or(0) == 0) {
    // Seen before (same idempotency key): its current state.
    auto current =
        co_await redis.command("HMGET", messages::key(r.customer_id, id), "status", "channel");
    if (current.elements.size() >= 2 && !current.elements[0].is_nil()) {
      status = current.elements[0].str;
      channel = current.elements[1].str;
    }
  }
  co_return QueuedMessage{id, status, channel};
}

Json text_content(const std::string& channel, const std::string& text) {
  Json c = Json::object();
  if (channel == "sms") {
    c["body"] = text;
  } else if (channel == "email") {
    c["subject"] = "Re: your message";
    c["html"] = "<p>" + html_escape(text) + "</p>";
    c["text"] = text;
  } else {
    c["text"] = text;
  }
  return c;
}

asio::awaitable<QueuedMessage> queue_notice(redis::Client& redis, const config::Config& config,
                                            const Notice& notice) {
  SendRequest r;
  r.customer_id = notice.customer_id;
  r.transactional = true;
  r.idempotency_key = notice.idempotency_key;
  const std::string id = message_id_for(r.customer_id, r.idempotency_key);
  const std::string provider = provider_for(config, notice.channel);
  std::vector<std::string> extra{"notice", "1", "to", notice.address};
  auto cmd = record_command(id, r, notice.channel, provider, "queued", "",
                            text_content(notice.channel, notice.text), Json::array(), extra);
  auto recorded = co_await redis.command(cmd);
  if (recorded.is_error()) throw redis::CommandError(recorded.str);
  co_return QueuedMessage{id, "queued", notice.channel};
}

}  // namespace herald::gateway
