#include <utility>

#include "gateway/hook_routes.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <optional>
#include <set>

#include "channels/messenger/messenger_channel.hpp"
#include "channels/sendgrid/sendgrid_channel.hpp"
#include "channels/twilio/twilio_channel.hpp"
#include "channels/webhooks.hpp"
#include "channels/wechat/wechat_channel.hpp"
#include "channels/whatsapp/whatsapp_channel.hpp"
#include "gateway/consent.hpp"
#include "gateway/content.hpp"
#include "gateway/message_send.hpp"
#include "gateway/conversations.hpp"
#include "gateway/ingest/event.hpp"
#include "gateway/ingest/timestamp.hpp"
#include "gateway/ingest/traits.hpp"
#include "gateway/ingest_routes.hpp"
#include "gateway/keys.hpp"
#include "gateway/log.hpp"
#include "gateway/messages.hpp"
#include "gateway/metrics.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/redis/script.hpp"
#include "gateway/router.hpp"
#include "gateway/suppression.hpp"
#include "gateway/unsubscribe.hpp"
#include "gateway/worker.hpp"

namespace herald::gateway {
namespace asio = boost::asio;
namespace hooks = channels::webhooks;

namespace {

const redis::Script kAdvanceScript(messages::kAdvance);
const redis::Script kAsTemplateScript(messages::kAsTemplate);

// The customer-care window only moves forward: a message the customer wrote earlier,
// delivered late (providers retry for days), must not close the window a later one
// opened. KEYS: profile. ARGV: field (in:CHANNEL), unix ms.
const redis::Script kOpenWindow(R"lua(
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') or 0
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1 end
return 0
)lua");

// Inbound messages already taken, by the provider's id: a provider's retry of a webhook
// is acknowledged without opting out, opening the window or recording anything again.
// Claimed for a few minutes while it is being handled (a crash lets the retry through),
// then kept for 7 days.
std::string seen_key(const std::string& provider, const std::string& provider_message_id) {
  return "herald:hookseen:" + provider + ":" + provider_message_id;
}
constexpr const char* kClaimSeconds = "300";
constexpr const char* kSeenSeconds = "604800";

// Watermark statuses (Messenger's read, and delivery without mids) cover the customer's
// recent messages on the channel that were sent up to the watermark.
constexpr const char* kWatermarkScan = "99";

struct HookState {
  config::Config config;
  std::string public_url;
  std::string unsubscribe_secret;
  const channels::twilio::TwilioChannel* twilio = nullptr;
  const channels::sendgrid::SendgridChannel* sendgrid = nullptr;
  const channels::whatsapp::WhatsappChannel* whatsapp = nullptr;
  const channels::messenger::MessengerChannel* messenger = nullptr;
  const channels::wechat::WechatChannel* wechat = nullptr;
  std::shared_ptr<const ContentSource> content;  // the workflows (escalate_replies), or null
};

metrics::Counter& hook_counter(const std::string& provider, const std::string& kind) {
  return metrics::registry().counter("herald_webhooks_total", "Provider webhook items by kind",
                                     "provider=\"" + provider + "\",kind=\"" + kind + "\"");
}

ApiError bad_signature() {
  return ApiError(401, "bad_signature", "the request's signature does not match");
}

hooks::FormParams query_params(const Request& request) {
  auto q = request.target.find('?');
  if (q == std::string::npos) return {};
  return hooks::parse_form(std::string_view(request.target).substr(q + 1));
}

std::string param(const hooks::FormParams& params, std::string_view name) {
  const auto* v = hooks::find_param(params, name);
  return v ? *v : std::string();
}

/// The trait that holds a channel's address.
std::string address_trait(const std::string& channel) {
  if (channel == "sms") return "phone";
  if (channel == "whatsapp") return "whatsapp";
  if (channel == "wechat") return "wechat_openid";
  if (channel == "social") return "messenger_psid";
  return "email";
}

std::string upper_trimmed(std::string text) {
  auto b = text.find_first_not_of(" \t\r\n");
  auto e = text.find_last_not_of(" \t\r\n");
  text = b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string status_detail(const std::string& provider, const hooks::StatusUpdate& s) {
  return s.error_code.empty() ? provider
                              : s.error_code + (s.error_message.empty() ? "" : ": " + s.error_message);
}

/// When a message was handed to the provider (its `sent` timeline entry), unix ms.
std::optional<int64_t> sent_at(const std::string& timeline) {
  auto entries = nlohmann::json::parse(timeline, nullptr, false);
  if (!entries.is_array()) return std::nullopt;
  for (const auto& e : entries) {
    if (!e.is_object() || e.value("status", "") != "sent" || !e.contains("at") || !e["at"].is_string())
      continue;
    if (auto t = ingest::parse_rfc3339(e["at"].get<std::string>()))
      return t->time_since_epoch().count();
  }
  return std::nullopt;
}

/// A workflow message reported delivered counts in its step's stats (STEP:delivered).
asio::awaitable<void> count_delivered(redis::Client& redis, const std::string& message_key) {
  static const std::vector<std::string> kOrigin{"workflow", "step"};
  auto read = messages::read_command(message_key, kOrigin);
  auto origin = co_await redis.command(read);
  if (origin.is_error()) co_return;
  messages::unpack_read(origin, kOrigin);
  if (origin.elements.size() != 2) co_return;
  const auto& workflow = origin.elements[0];
  const auto& step = origin.elements[1];
  if (workflow.is_nil() || step.is_nil() || workflow.str.empty() || step.str.empty()) co_return;
  std::vector<std::string> stat{"HINCRBY", "herald:wfstats:{" + workflow.str + "}",
                                step.str + ":delivered", "1"};
  co_await redis.command(stat);
}

/// A watermark status: every recent message of the recipient on this channel and provider
/// that was sent up to the watermark moves forward to it.
asio::awaitable<void> apply_watermark(const std::string& channel, const std::string& provider,
                                      const hooks::StatusUpdate& s) {
  auto& redis = *current_worker().redis;
  auto owner = co_await redis.command("GET", keys::address(channel, s.recipient));
  if (owner.is_error()) throw redis::CommandError(owner.str);
  if (owner.is_nil()) {
    hook_counter(provider, "status_unknown").inc();
    co_return;
  }
  const std::string customer = owner.str;
  auto list = co_await redis.command("LRANGE", keys::customer_messages(customer), "0", kWatermarkScan);
  if (list.is_error()) throw redis::CommandError(list.str);
  std::vector<std::string> ids;
  std::vector<std::vector<std::string>> reads;
  for (const auto& item : list.elements) {
    auto j = nlohmann::json::parse(item.str, nullptr, false);
    if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) continue;
    ids.push_back(j["id"].get<std::string>());
    reads.push_back({"HMGET", messages::key(customer, ids.back()), "channel", "provider", "status",
                     "timeline"});
  }
  if (reads.empty()) co_return;
  auto replies = co_await redis.pipeline(reads);
  for (std::size_t i = 0; i < ids.size() && i < replies.size(); ++i) {
    const auto& f = replies[i].elements;
    if (f.size() < 4 || f[0].is_nil() || f[0].str != channel || f[1].str != provider) continue;
    // Only messages the provider took and has not reported on as failed: a watermark
    // says nothing about a message that never arrived.
    if ((f[2].str != "sent" && f[2].str != "delivered") ||
        !hooks::status_moves_forward(f[2].str, s.status))
      continue;
    auto at = sent_at(f[3].str);
    if (!at || (s.at_unix_ms && *at > *s.at_unix_ms)) continue;
    std::vector<std::string> ks{messages::key(customer, ids[i])};
    std::vector<std::string> as{s.status, messages::timeline_entry(s.status, status_detail(provider, s)),
                                std::string()};
    auto moved = co_await kAdvanceScript.run(redis, ks, as);
    if (moved.is_error()) throw redis::CommandError(moved.str);
    hook_counter(provider, moved.as_integer().value_or(0) ? "status" : "status_stale").inc();
    if (moved.as_integer().value_or(0) && s.status == "delivered") co_await count_delivered(redis, ks[0]);
  }
}

/// Moves the messages of the status updates forward.
asio::awaitable<void> apply_statuses(const std::string& channel, const std::string& provider,
                                     const std::vector<hooks::StatusUpdate>& statuses) {
  auto& redis = *current_worker().redis;
  for (const auto& s : statuses) {
    if (s.opt_out) continue;
    if (s.provider_message_id.empty()) {
      if (!s.recipient.empty() && s.at_unix_ms) co_await apply_watermark(channel, provider, s);
      continue;
    }
    auto owner = co_await redis.command("GET", messages::provider_key(provider, s.provider_message_id));
    if (owner.is_error()) throw redis::CommandError(owner.str);
    if (owner.is_nil()) {
      // Possibly a callback that overtook the delivery worker's record of the provider's
      // answer: kept for an hour, and applied when that record is written.
      nlohmann::ordered_json early = nlohmann::ordered_json::object();
      early["status"] = s.status;
      early["detail"] = status_detail(provider, s);
      std::vector<std::vector<std::string>> keep;
      keep.push_back(std::vector<std::string>{"RPUSH", messages::early_key(provider, s.provider_message_id),
                                              early.dump()});
      keep.push_back(std::vector<std::string>{"EXPIRE", messages::early_key(provider, s.provider_message_id),
                                              "3600"});
      co_await redis.pipeline(keep);
      hook_counter(provider, "status_early").inc();
      continue;
    }
    auto tab = owner.str.find('\t');
    if (tab == std::string::npos) continue;
    std::string detail = status_detail(provider, s);
    std::vector<std::string> ks{messages::key(owner.str.substr(0, tab), owner.str.substr(tab + 1))};
    if (s.status == "failed" && ((provider == "whatsapp_cloud" && s.error_code == "131047") ||
                                 (provider == "wechat_oa" && s.error_code == "45015"))) {
      // A text the provider refused later as outside the window: once more as the
      // template, when the message has one (templates.md, "Per channel").
      std::vector<std::string> rk{ks[0], messages::kRetries};
      std::vector<std::string> ra{messages::timeline_entry("queued", "sending again as the template: " + detail),
                                  owner.str.substr(tab + 1) + "\t" + owner.str.substr(0, tab),
                                  std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                     std::chrono::system_clock::now().time_since_epoch())
                                                     .count())};
      auto again = co_await kAsTemplateScript.run(redis, rk, ra);
      if (again.is_error()) throw redis::CommandError(again.str);
      if (again.as_integer().value_or(0) == 1) {
        hook_counter(provider, "window_closed_retry").inc();
        continue;
      }
    }
    std::vector<std::string> as{s.status, messages::timeline_entry(s.status, detail),
                                s.status == "failed" ? detail : std::string()};
    auto moved = co_await kAdvanceScript.run(redis, ks, as);
    if (moved.is_error()) throw redis::CommandError(moved.str);
    hook_counter(provider, moved.as_integer().value_or(0) ? "status" : "status_stale").inc();
    if (moved.as_integer().value_or(0) && s.status == "delivered") co_await count_delivered(redis, ks[0]);
  }
}

bool is_stop_keyword(const std::string& keyword) {
  static const std::vector<std::string> kStop{"STOP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"};
  return std::find(kStop.begin(), kStop.end(), keyword) != kStop.end();
}

ingest::Event inbound_event(const std::string& customer, bool new_customer,
                            const std::string& channel, const std::string& provider,
                            const hooks::InboundMessage& m, int64_t at, int64_t received) {
  ingest::Event e;
  e.type = ingest::EventType::kTrack;
  e.user_id = customer;
  e.event = "message.received";
  nlohmann::ordered_json properties = nlohmann::ordered_json::object();
  properties["channel"] = channel;
  properties["provider"] = provider;
  properties["text"] = m.text;
  properties["provider_message_id"] = m.provider_message_id;
  if (!m.media_urls.empty()) properties["media_urls"] = m.media_urls;
  if (!m.profile_name.empty()) properties["profile_name"] = m.profile_name;
  e.properties = properties.dump();
  nlohmann::ordered_json traits = nlohmann::ordered_json::object();
  if (new_customer) traits[address_trait(channel)] = m.from;
  e.traits = traits.dump();
  e.context = "{}";
  e.integrations = "{}";
  // The provider's id also deduplicates the event (within ingest.dedupe_window).
  e.message_id = provider + ":" + (m.provider_message_id.empty() ? std::to_string(received) : m.provider_message_id);
  e.timestamp = ingest::Timestamp(std::chrono::milliseconds(at));
  e.received_at = ingest::Timestamp(std::chrono::milliseconds(received));
  return e;
}

// Built outside the coroutine: g++ 12 mishandles braced lists of literals in coroutines.
nlohmann::ordered_json keyword_escalation(const std::string& keyword) {
  nlohmann::ordered_json e = nlohmann::ordered_json::object();
  e["reason"] = "keyword";
  e["keyword"] = keyword;
  return e;
}

nlohmann::ordered_json reply_escalation(const nlohmann::ordered_json& message) {
  nlohmann::ordered_json e = nlohmann::ordered_json::object();
  e["reason"] = "reply";
  e["message_id"] = message.value("id", nlohmann::ordered_json());
  e["workflow"] = message["workflow"];
  e["run"] = message.value("run", nlohmann::ordered_json());
  return e;
}

/// Whether a workflow in effect (any, when `workflow` is empty) sets escalate_replies.
bool escalates_replies(const HookState& state, const std::string& workflow = {}) {
  if (!state.content) return false;
  auto content = state.content->get();
  for (const auto& w : content->workflows)
    if (w->escalate_replies && (workflow.empty() || w->id == workflow)) return true;
  return false;
}

/// The conversation of an inbound message: started or continued, then escalated by a
/// keyword of conversations.escalate_keywords held as a whole word ("I want a human"), or
/// as a reply to the customer's most recent message when its workflow has
/// escalate_replies. Opt-out and opt-in keywords are recorded but escalate nothing.
asio::awaitable<void> converse(const HookState& state, const std::string& customer,
                               const std::string& channel, const hooks::InboundMessage& m, int64_t at,
                               bool consent_keyword) {
  auto& redis = *current_worker().redis;
  auto recorded = co_await conversations::record_inbound(redis, customer, channel, m.text,
                                                         m.provider_message_id, at);
  if (consent_keyword || recorded.id.empty()) co_return;
  auto keyword = conversations::escalation_keyword(m.text, state.config.conversations.escalate_keywords);
  nlohmann::ordered_json escalation;
  if (!keyword.empty()) {
    escalation = keyword_escalation(keyword);
  } else if (escalates_replies(state)) {
    auto last = co_await redis.command("LINDEX", keys::customer_messages(customer), "0");
    if (last.is_error()) throw redis::CommandError(last.str);
    auto message = nlohmann::ordered_json::parse(last.is_nil() ? std::string() : last.str, nullptr, false);
    if (message.is_object() && message.contains("workflow") && message["workflow"].is_string() &&
        escalates_replies(state, message["workflow"].get<std::string>())) {
      escalation = reply_escalation(message);
    }
  }
  if (escalation.is_null()) co_return;
  co_await conversations::escalate(redis, customer, recorded.id, std::move(escalation));
  metrics::registry()
      .counter("herald_conversations_escalated_total", "Conversations escalated by inbound messages",
               std::string("reason=\"") + (keyword.empty() ? "reply" : "keyword") + "\"")
      .inc();
}

/// The inbound messages of one webhook: each deduplicated by the provider's id (a retry
/// changes nothing), the window opened, STOP/START recorded, and recorded as an event.
asio::awaitable<void> handle_inbound(const HookState& state, const std::string& channel,
                                     const std::string& provider,
                                     const std::vector<hooks::InboundMessage>& inbound,
                                     std::vector<std::string>& claimed) {
  auto& redis = *current_worker().redis;
  std::vector<ingest::Event> events;
  for (const auto& m : inbound) {
    if (m.from.empty()) continue;
    if (!m.provider_message_id.empty()) {
      auto seen = seen_key(provider, m.provider_message_id);
      auto claim = co_await redis.command("SET", seen, "1", "NX", "EX", kClaimSeconds);
      if (claim.is_error()) throw redis::CommandError(claim.str);
      if (claim.is_nil()) {  // taken before (or being taken right now)
        hook_counter(provider, "inbound_duplicate").inc();
        continue;
      }
      claimed.push_back(std::move(seen));
    }
    auto owner = co_await redis.command("GET", keys::address(channel, m.from));
    if (owner.is_error()) throw redis::CommandError(owner.str);
    std::string customer = owner.is_nil() ? channel + ":" + m.from : owner.str;
    const int64_t received = now_ms();
    // The window opens with the customer's message (unix ms, never later than now).
    const int64_t at = std::min(m.at_unix_ms.value_or(received), received);
    std::vector<std::string> window_keys{keys::customer(customer)};
    std::vector<std::string> window_args{"in:" + channel, std::to_string(at)};
    auto opened = co_await kOpenWindow.run(redis, window_keys, window_args);
    if (opened.is_error()) throw redis::CommandError(opened.str);

    auto keyword = upper_trimmed(m.text);
    // An opt-out is confirmed once: only the STOP that changed the consent gets an answer.
    std::string answer;
    if (is_stop_keyword(keyword)) {
      auto change =
          co_await change_consent(redis, customer, channel, "opted_out", "inbound:" + keyword);
      if (change.previous != "opted_out") answer = state.config.conversations.stop_text;
    } else if (keyword == "START") {
      co_await record_consent(redis, customer, channel, "opted_in", "inbound:START");
    } else if (keyword == "HELP") {
      answer = state.config.conversations.help_text;
    }
    if (!answer.empty()) {
      Notice notice{customer, channel, m.from, answer, std::string()};
      if (!m.provider_message_id.empty())
        notice.idempotency_key = "notice:" + provider + ":" + m.provider_message_id;
      co_await queue_notice(redis, state.config, notice);
      hook_counter(provider, keyword == "HELP" ? "help_answered" : "stop_confirmed").inc();
    }

    co_await converse(state, customer, channel, m, at,
                      is_stop_keyword(keyword) || keyword == "START" || keyword == "HELP");
    events.push_back(inbound_event(customer, owner.is_nil(), channel, provider, m, at, received));
    hook_counter(provider, "inbound").inc();
  }
  if (!events.empty()) co_await append_events(state.config, events);
}

asio::awaitable<void> apply_inbound(const HookState& state, const std::string& channel,
                                    const std::string& provider,
                                    const std::vector<hooks::InboundMessage>& inbound) {
  std::vector<std::string> claimed;
  std::exception_ptr failure;
  try {
    co_await handle_inbound(state, channel, provider, inbound, claimed);
  } catch (...) {
    failure = std::current_exception();
  }
  auto& redis = *current_worker().redis;
  if (failure) {
    // Not recorded: let the provider's retry through (best effort: Redis may be gone).
    if (!claimed.empty()) {
      std::vector<std::string> del{"DEL"};
      del.insert(del.end(), claimed.begin(), claimed.end());
      try {
        co_await redis.command(del);
      } catch (const std::exception&) {
      }
    }
    std::rethrow_exception(failure);
  }
  // Recorded durably: remember the ids for 7 days.
  std::vector<std::vector<std::string>> keep;
  for (const auto& key : claimed) keep.push_back({"EXPIRE", key, kSeenSeconds});
  if (keep.empty()) co_return;
  try {
    co_await redis.pipeline(keep);
  } catch (const std::exception&) {
    // Recorded all the same; the claims expire on their own.
  }
}

/// Opt-outs reported by the provider (a WeChat unsubscribe, ...).
asio::awaitable<void> apply_opt_outs(const std::string& channel, const std::string& provider,
                                     const std::vector<hooks::StatusUpdate>& statuses) {
  auto& redis = *current_worker().redis;
  for (const auto& s : statuses) {
    if (!s.opt_out || s.recipient.empty()) continue;
    auto owner = co_await redis.command("GET", keys::address(channel, s.recipient));
    if (owner.is_error() || owner.is_nil()) continue;
    co_await record_consent(redis, owner.str, channel, "opted_out", "provider:" + provider);
  }
}

/// Hard bounces and spam complaints (SendGrid): the address joins the suppression list.
asio::awaitable<void> apply_suppressions(const std::string& channel, const std::string& provider,
                                         const std::vector<hooks::StatusUpdate>& statuses) {
  auto& redis = *current_worker().redis;
  for (const auto& s : statuses) {
    if (s.suppress.empty() || s.recipient.empty()) continue;
    auto address = channel == "email" ? ingest::normalize_email(s.recipient) : s.recipient;
    if (!address) continue;
    co_await suppression::add_address(redis, channel, *address, s.suppress, "provider:" + provider);
    hook_counter(provider, s.suppress).inc();
  }
}

asio::awaitable<void> apply(const HookState& state, const std::string& channel,
                            const std::string& provider, const hooks::ParsedHook& parsed) {
  co_await apply_statuses(channel, provider, parsed.statuses);
  co_await apply_opt_outs(channel, provider, parsed.statuses);
  co_await apply_suppressions(channel, provider, parsed.statuses);
  co_await apply_inbound(state, channel, provider, parsed.inbound);
}

const hooks::ParsedHook& parsed_or_400(const hooks::HookResult& result) {
  if (const auto* error = std::get_if<std::string>(&result))
    throw ApiError(400, "invalid_payload", *error);
  return std::get<hooks::ParsedHook>(result);
}

std::string html_page(const std::string& title, const std::string& body) {
  return "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
         "content=\"width=device-width\"><title>" + title + "</title></head><body style=\"font-family:"
         "sans-serif;max-width:32em;margin:4em auto\">" + body + "</body></html>";
}

}  // namespace

void add_hook_routes(Router& router, const config::Config& config,
                     std::map<std::string, channels::Channel*> adapters,
                     std::string unsubscribe_secret,
                     std::shared_ptr<const ContentSource> content) {
  auto state = std::make_shared<HookState>();
  state->content = std::move(content);
  state->config = config;
  state->public_url = config.public_url;
  while (!state->public_url.empty() && state->public_url.back() == '/') state->public_url.pop_back();
  state->unsubscribe_secret = std::move(unsubscribe_secret);
  auto find = [&](const char* channel) -> channels::Channel* {
    auto it = adapters.find(channel);
    return it == adapters.end() ? nullptr : it->second;
  };
  state->twilio = dynamic_cast<const channels::twilio::TwilioChannel*>(find("sms"));
  state->whatsapp = dynamic_cast<const channels::whatsapp::WhatsappChannel*>(find("whatsapp"));
  state->messenger = dynamic_cast<const channels::messenger::MessengerChannel*>(find("social"));
  state->wechat = dynamic_cast<const channels::wechat::WechatChannel*>(find("wechat"));
  state->sendgrid = dynamic_cast<const channels::sendgrid::SendgridChannel*>(find("email"));
  auto not_configured = [](const char* what) {
    return ApiError(404, "not_found", std::string(what) + " is not the configured provider");
  };

  router.add("POST", "/hooks/twilio", Access::kPublic,
             [state, not_configured](Request& request) -> asio::awaitable<Response> {
               if (!state->twilio) throw not_configured("twilio");
               auto params = hooks::parse_form(request.body);
               // The URL Twilio requested: public_url and the path and query it used.
               auto url = state->public_url + request.target;
               if (!hooks::twilio_valid(url, params, request.header("x-twilio-signature"),
                                        state->twilio->settings().auth_token))
                 throw bad_signature();
               auto result = hooks::parse_twilio(params);
               const auto& parsed = parsed_or_400(result);
               co_await apply(*state, "sms", "twilio", parsed);
               co_return Response::text(200, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>",
                                        "text/xml");
             });

  // SendGrid's signed event webhook (an addition to the contract's list): deliveries,
  // opens, bounces (hard ones join the suppression list), spam complaints (an opt-out and
  // the suppression list) and unsubscribes. Without a verification key it is refused.
  router.add("POST", "/hooks/sendgrid", Access::kPublic,
             [state, not_configured](Request& request) -> asio::awaitable<Response> {
               if (!state->sendgrid) throw not_configured("sendgrid");
               const auto& key = state->sendgrid->settings().webhook_public_key;
               if (key.empty())
                 throw ApiError(404, "not_found",
                                "the sendgrid event webhook needs webhook_public_key in the "
                                "email channel's config");
               if (!hooks::sendgrid_signature_valid(
                       key, request.header("x-twilio-email-event-webhook-signature"),
                       request.header("x-twilio-email-event-webhook-timestamp"), request.body))
                 throw bad_signature();
               auto result = hooks::parse_sendgrid(request.body);
               const auto& parsed = parsed_or_400(result);
               co_await apply(*state, "email", "sendgrid", parsed);
               co_return Response::text(200, "");
             });

  // Meta's subscription check and signed pushes, for WhatsApp and Messenger alike.
  auto meta = [&router, state, not_configured](const std::string& path, const std::string& channel,
                                               const std::string& provider, auto settings_of,
                                               auto parse) {
    router.add("GET", path, Access::kPublic,
               [state, settings_of, not_configured, provider](Request& request) -> asio::awaitable<Response> {
                 const auto* settings = settings_of(*state);
                 if (!settings) throw not_configured(provider.c_str());
                 auto challenge = hooks::hub_challenge(query_params(request), settings->verify_token);
                 if (!challenge) throw ApiError(403, "forbidden", "hub.verify_token does not match");
                 co_return Response::text(200, *challenge);
               });
    router.add("POST", path, Access::kPublic,
               [state, settings_of, parse, not_configured, channel, provider](Request& request) -> asio::awaitable<Response> {
                 const auto* settings = settings_of(*state);
                 if (!settings) throw not_configured(provider.c_str());
                 if (!hooks::hub_signature_valid(request.body, request.header("x-hub-signature-256"),
                                                 settings->app_secret))
                   throw bad_signature();
                 auto result = parse(request.body);
                 const auto& parsed = parsed_or_400(result);
                 co_await apply(*state, channel, provider, parsed);
                 co_return Response::text(200, "");
               });
  };
  meta("/hooks/whatsapp", "whatsapp", "whatsapp_cloud",
       [](const HookState& s) { return s.whatsapp ? &s.whatsapp->settings() : nullptr; },
       [](std::string_view body) { return hooks::parse_whatsapp(body); });
  meta("/hooks/messenger", "social", "messenger",
       [](const HookState& s) { return s.messenger ? &s.messenger->settings() : nullptr; },
       [](std::string_view body) { return hooks::parse_messenger(body); });

  auto wechat_check = [state, not_configured](const Request& request) {
    if (!state->wechat) throw not_configured("wechat_oa");
    auto q = query_params(request);
    if (!hooks::wechat_signature_valid(state->wechat->settings().token, param(q, "timestamp"),
                                       param(q, "nonce"), param(q, "signature")))
      throw bad_signature();
    return q;
  };
  router.add("GET", "/hooks/wechat", Access::kPublic,
             [wechat_check](Request& request) -> asio::awaitable<Response> {
               auto q = wechat_check(request);
               co_return Response::text(200, param(q, "echostr"));
             });
  router.add("POST", "/hooks/wechat", Access::kPublic,
             [state, wechat_check](Request& request) -> asio::awaitable<Response> {
               wechat_check(request);
               auto xml = hooks::parse_wechat_xml(request.body);
               if (const auto* error = std::get_if<std::string>(&xml))
                 throw ApiError(400, "invalid_payload", *error);
               auto parsed = hooks::parse_wechat(std::get<hooks::WechatInbound>(xml));
               co_await apply(*state, "wechat", "wechat_oa", parsed);
               co_return Response::text(200, "success");
             });

  // One-click unsubscribe (RFC 8058): a POST opts out at once (mailbox providers send
  // List-Unsubscribe=One-Click); a GET (a person following the link, or a link scanner)
  // shows a page whose button POSTs, so that scanners unsubscribe nobody.
  router.add("GET", "/u/{token}", Access::kPublic,
             [state](Request& request) -> asio::awaitable<Response> {
               auto target = verify_unsubscribe_token(state->unsubscribe_secret, request.params.at("token"));
               if (!target) throw ApiError(404, "not_found", "this unsubscribe link is not valid");
               auto page = html_page(
                   "Unsubscribe",
                   "<h1>Unsubscribe</h1><p>Stop receiving marketing messages on this channel (" +
                       target->channel + ")?</p><form method=\"post\"><button type=\"submit\">"
                       "Unsubscribe</button></form>");
               auto response = Response::text(200, page, "text/html; charset=utf-8");
               response.headers.emplace_back("Cache-Control", "no-store");
               co_return response;
             });
  router.add("POST", "/u/{token}", Access::kPublic,
             [state](Request& request) -> asio::awaitable<Response> {
               auto target = verify_unsubscribe_token(state->unsubscribe_secret, request.params.at("token"));
               if (!target) throw ApiError(404, "not_found", "this unsubscribe link is not valid");
               auto& redis = *current_worker().redis;
               // An erased customer has nothing left to unsubscribe (and is suppressed):
               // recording consent would bring a profile back.
               auto created = co_await redis.command("HGET", keys::customer(target->customer_id), "ca");
               if (created.is_error()) throw redis::CommandError(created.str);
               if (!created.is_nil() && !created.str.empty()) {
                 co_await record_consent(redis, target->customer_id, target->channel, "opted_out",
                                         "one_click_unsubscribe");
                 hook_counter("email", "unsubscribe").inc();
               }
               auto response = Response::text(
                   200, html_page("Unsubscribed", "<h1>You are unsubscribed</h1><p>You will not "
                                                  "receive marketing messages on this channel any more.</p>"),
                   "text/html; charset=utf-8");
               response.headers.emplace_back("Cache-Control", "no-store");
               co_return response;
             });
}

}  // namespace herald::gateway
