#pragma once
// The provider webhooks of api.md: /hooks/twilio, /hooks/whatsapp, /hooks/wechat and
// /hooks/messenger, each checked with its provider's signature (a bad one is 401 and
// changes nothing), and /u/{token}, the one-click unsubscribe of RFC 8058.
//
// Status callbacks move the message (found through the provider's id) forward only.
// Watermark statuses (Messenger's read, and a delivery without mids) move every recent
// message of the recipient on that channel that was sent up to the watermark.
// Inbound messages are deduplicated by the provider's id (herald:hookseen:PROVIDER:ID,
// 7 days) before anything else, so a provider's retry changes nothing; they open the
// channel's customer-care window (customer field in:CHANNEL, unix ms; it only moves
// forward, and never past the time of receipt), find the customer by the address index
// (or create one, keyed CHANNEL:ADDRESS, with the address as its trait), and are
// appended as `message.received` events (properties: channel, provider, text,
// provider_message_id, media_urls), durably before the webhook is answered.
// STOP, UNSUBSCRIBE, CANCEL, END, QUIT (the whole message, any case) record an opt-out
// of the channel; START an opt-in.
// Each inbound message also starts or continues the customer's conversation on the channel
// (gateway/conversations.hpp), escalated by a keyword of conversations.escalate_keywords held
// as a whole word, or as a reply to a message of a workflow of `content` (the content in
// effect, reloads included) that sets escalate_replies.
// STOP is confirmed once (conversations.stop_text) and HELP answered
// (conversations.help_text), both as tracked messages through the channel's adapter.
// POST /hooks/sendgrid (an addition): SendGrid's signed event webhook; hard bounces and
// spam complaints put the address on the suppression list (gateway/suppression.hpp).
// One-click unsubscribe records nothing for a customer who no longer exists (erased).

#include <map>
#include <memory>
#include <set>
#include <string>

#include "channels/channel.hpp"
#include "config/config.hpp"

namespace herald::gateway {

class Router;
class ContentSource;

void add_hook_routes(Router& router, const config::Config& config,
                     std::map<std::string, channels::Channel*> adapters,
                     std::string unsubscribe_secret,
                     std::shared_ptr<const ContentSource> content = nullptr);

}  // namespace herald::gateway
