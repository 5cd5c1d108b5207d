#pragma once
// Recording and queuing one message outside any workflow, shared by POST /v1/messages and
// the agents' replies (POST /v1/conversations/{id}/reply), so that both go through the same
// checks: the customer must exist, the channel must have an address and consent (a
// transactional message passes the consent default, never an explicit opt-out), and the
// message is recorded with kRecordMessage and queued for the delivery worker (which
// applies the suppression list, a later opt-out and the provider's rules at send time).

#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "config/config.hpp"
#include "gateway/http_types.hpp"

namespace herald::redis {
class Client;
}

namespace herald::gateway {

struct Content;

struct SendRequest {
  std::string customer_id;
  std::string template_name;  // empty with `content`
  std::vector<std::string> channels;
  Json data = Json::object();
  std::string idempotency_key;
  bool transactional = false;
  /// Already rendered for channels[0] (an agent's free text): no template is rendered.
  std::optional<Json> content;
};

struct QueuedMessage {
  std::string id;
  std::string status;   // queued, suppressed, or the current status of a repeated request
  std::string channel;  // empty when suppressed before any channel was chosen
};

/// The message id: derived from the customer and the idempotency key, so that a retried
/// request finds the first one's message; random without a key.
std::string message_id_for(const std::string& customer_id, const std::string& idempotency_key);

/// Records and queues the message. Throws ApiError 404 `not_found` (no such customer) and
/// 422 `template_error`.
boost::asio::awaitable<QueuedMessage> queue_message(redis::Client& redis,
                                                    const config::Config& config,
                                                    const Content& content,
                                                    const SendRequest& request);

/// An agent's free text (or a notice) as the channel's rendered section
/// (channels/channel.hpp): sms {body}, email {subject, html, text}, others {text}.
Json text_content(const std::string& channel, const std::string& text);

/// A consent notice: the confirmation of an inbound STOP, the answer to HELP.
struct Notice {
  std::string customer_id;
  std::string channel;
  std::string address;          // the address that wrote: the notice answers it
  std::string text;
  std::string idempotency_key;  // a repeated key records nothing new
};

/// Records and queues a notice as a tracked message (no template): transactional, and
/// marked so that the opt-out it confirms does not stop it at hand-off; the suppression
/// list still does.
boost::asio::awaitable<QueuedMessage> queue_notice(redis::Client& redis,
                                                   const config::Config& config,
                                                   const Notice& notice);

}  // namespace herald::gateway
