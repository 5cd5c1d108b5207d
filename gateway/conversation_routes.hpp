#pragma once
// The agents' API of api.md "Conversations" (the stream: conversation_stream.hpp; the
// console and its templates list: console/console_routes.hpp):
//   GET  /v1/conversations?status=&limit=&cursor=   agent or admin; newest activity first;
//                                                   status defaults to escalated (the queue)
//   GET  /v1/conversations/{id}                     agent or admin; the thread with the live
//                                                   status of each reply, the customer (profile,
//                                                   consent, stats), recent orders, and the run
//                                                   that led here when known
//   POST /v1/conversations/{id}/claim               agent; 409 already_claimed naming the holder
//   POST /v1/conversations/{id}/release             the holder, or an admin key
//   POST /v1/conversations/{id}/resolve             the holder, or any agent while unclaimed
//   POST /v1/conversations/{id}/reply               the holder; {"text"} or {"template", "data"},
//                                                   optional "idempotency_key"
// Replies go through queue_message (gateway/message_send.hpp), like POST /v1/messages, as
// transactional messages: a customer-service answer to someone who wrote to us is exempt
// from quiet hours, caps and the consent default, never from an opt-out or suppression.
// A text outside the channel's customer-care window (WhatsApp and Messenger 24 h, WeChat
// 48 h after the customer's last inbound message) is 422 window_closed.

#include <memory>

#include "config/config.hpp"

namespace herald::gateway {

class Router;
class ContentSource;

void add_conversation_routes(Router& router, const config::Config& config,
                             std::shared_ptr<ContentSource> content);

}  // namespace herald::gateway
