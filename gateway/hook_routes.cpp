#include <utility>

#include "gateway/hook_routes.hpp"

#include <algorithm>
#include <chrono>

#include "channels/messenger/messenger_channel.hpp"
#include "channels/twilio/twilio_channel.hpp"
#include "channels/webhooks.hpp"
#include "channels/wechat/wechat_channel.hpp"
#include "channels/whatsapp/whatsapp_channel.hpp"
#include "gateway/consent.hpp"
#include "gateway/ingest/event.hpp"
#include "gateway/ingest_routes.hpp"
#include "gateway/keys.hpp"
#include "gateway/log.hpp"
#include "gateway/messages.hpp"
#include "gateway/metrics.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/redis/script.hpp"
#include "gateway/router.hpp"
#include "gateway/unsubscribe.hpp"
#include "gateway/worker.hpp"

namespace herald::gateway {
namespace asio = boost::asio;
namespace hooks = channels::webhooks;

namespace {

const redis::Script kAdvanceScript(messages::kAdvance);

struct HookState {
  config::Config config;
  std::string public_url;
  std::string unsubscribe_secret;
  const channels::twilio::TwilioChannel* twilio = nullptr;
  const channels::whatsapp::WhatsappChannel* whatsapp = nullptr;
  const channels::messenger::MessengerChannel* messenger = nullptr;
  const channels::wechat::WechatChannel* wechat = nullptr;
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

/// Moves the messages of the status updates forward.
asio::awaitable<void> apply_statuses(const std::string& provider,
                                     const std::vector<hooks::StatusUpdate>& statuses) {
  auto& redis = *current_worker().redis;
  for (const auto& s : statuses) {
    if (s.provider_message_id.empty() || s.opt_out) continue;  // watermarks: not tracked
    auto owner = co_await redis.command("GET", messages::provider_key(provider, s.provider_message_id));
    if (owner.is_error()) throw redis::CommandError(owner.str);
    if (owner.is_nil()) {
      hook_counter(provider, "status_unknown").inc();
      continue;
    }
    auto tab = owner.str.find('\t');
    if (tab == std::string::npos) continue;
    std::string detail = s.error_code.empty() ? provider
                                              : s.error_code + (s.error_message.empty() ? "" : ": " + s.error_message);
    std::vector<std::string> ks{messages::key(owner.str.substr(0, tab), owner.str.substr(tab + 1))};
    std::vector<std::string> as{s.status, messages::timeline_entry(s.status, detail),
                                s.status == "failed" ? detail : std::string()};
    auto moved = co_await kAdvanceScript.run(redis, ks, as);
    if (moved.is_error()) throw redis::CommandError(moved.str);
    hook_counter(provider, moved.as_integer().value_or(0) ? "status" : "status_stale").inc();
  }
}

/// One inbound message: deduplicated, window opened, recorded as an event.
asio::awaitable<void> apply_inbound(const HookState& state, const std::string& channel,
                                    const std::string& provider,
                                    const std::vector<hooks::InboundMessage>& inbound) {
  auto& redis = *current_worker().redis;
  std::vector<ingest::Event> events;
  for (const auto& m : inbound) {
    if (m.from.empty()) continue;
    auto owner = co_await redis.command("GET", keys::address(channel, m.from));
    if (owner.is_error()) throw redis::CommandError(owner.str);
    std::string customer = owner.is_nil() ? channel + ":" + m.from : owner.str;
    // The window opens with the customer's message (kept as unix ms).
    std::vector<std::string> window{"HSET", keys::customer(customer), "in:" + channel,
                                    std::to_string(m.at_unix_ms.value_or(now_ms()))};
    co_await redis.command(window);

    auto keyword = upper_trimmed(m.text);
    static const std::vector<std::string> kStop{"STOP", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"};
    if (std::find(kStop.begin(), kStop.end(), keyword) != kStop.end())
      co_await record_consent(redis, customer, channel, "opted_out", "inbound:" + keyword);
    else if (keyword == "START")
      co_await record_consent(redis, customer, channel, "opted_in", "inbound:START");

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
    if (owner.is_nil()) traits[address_trait(channel)] = m.from;
    e.traits = traits.dump();
    e.context = "{}";
    e.integrations = "{}";
    // The provider's id deduplicates: a webhook sent again is acknowledged, not
    // processed twice (within ingest.dedupe_window).
    e.message_id = provider + ":" + (m.provider_message_id.empty() ? std::to_string(now_ms()) : m.provider_message_id);
    auto at = m.at_unix_ms.value_or(now_ms());
    e.timestamp = ingest::Timestamp(std::chrono::milliseconds(at));
    e.received_at = ingest::Timestamp(std::chrono::milliseconds(now_ms()));
    events.push_back(std::move(e));
    hook_counter(provider, "inbound").inc();
  }
  if (!events.empty()) co_await append_events(state.config, events);
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

asio::awaitable<void> apply(const HookState& state, const std::string& channel,
                            const std::string& provider, const hooks::ParsedHook& parsed) {
  co_await apply_statuses(provider, parsed.statuses);
  co_await apply_opt_outs(channel, provider, parsed.statuses);
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
                     std::string unsubscribe_secret) {
  auto state = std::make_shared<HookState>();
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
               co_await record_consent(*current_worker().redis, target->customer_id, target->channel,
                                       "opted_out", "one_click_unsubscribe");
               hook_counter("email", "unsubscribe").inc();
               auto response = Response::text(
                   200, html_page("Unsubscribed", "<h1>You are unsubscribed</h1><p>You will not "
                                                  "receive marketing messages on this channel any more.</p>"),
                   "text/html; charset=utf-8");
               response.headers.emplace_back("Cache-Control", "no-store");
               co_return response;
             });
}

}  // namespace herald::gateway
