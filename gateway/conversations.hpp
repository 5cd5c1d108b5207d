#pragma once
// The conversation store of api.md "Conversations": one conversation per customer and
// channel that is not resolved; an inbound message starts one (or continues it), a
// resolved one is never reopened (the next inbound message starts a new one).
//
// Keys (every per-customer key under the customer's hash tag):
//   herald:cv:{CUSTOMER}:open:CHANNEL  the id of the customer's unresolved conversation there
//   herald:cv:{CUSTOMER}:ID            hash: id, customer_id, channel, status, assignee,
//                                      escalation (JSON or ""), created_at, updated_at
//                                      (RFC 3339), updated_ms
//   herald:cv:{CUSTOMER}:ID:th         the thread, oldest first (bounded to kThreadLimit):
//                                      {"direction": "inbound", "text", "provider_message_id",
//                                      "at"} and {"direction": "outbound", "message_id",
//                                      "agent", "at"} (an outbound message's status is read
//                                      live from its message hash)
//   herald:cv:{CUSTOMER}:ID:om         set of the outbound message ids (recorded once)
//   herald:cv:{CUSTOMER}:all           set of every conversation id of the customer
//   herald:cvi:ID                      the customer of conversation ID
//   herald:cvs:STATUS                  global index per status: sorted set of ids scored by
//                                      last activity (unix ms), for listing newest first
//   herald:cv:ev                       stream of transitions for the agents' stream (bounded,
//                                      ~10,000): type (escalated, inbound, claimed, released,
//                                      resolved) and the conversation's hash fields after it
//   herald:cv:agents                   presence on the stream: sorted set of "AGENT\tCONN"
//                                      (CONN: a gateway worker) scored by expiry (unix ms)
//   herald:cva:AGENT                   hash keys of the conversations the agent holds (checked
//                                      as read: only assigned ones held by AGENT count)
//   herald:cv:rr                       the agent auto-assignment chose last (round robin)
//
// Statuses: open -> escalated -> assigned (claim) -> escalated/open (release) -> resolved.
// Every transition is one Lua script that also moves the conversation between the status
// indexes, so a conversation is in exactly one of them, and appends it to the stream
// herald:cv:ev, so that every gateway can push it to its agents (conversation_stream.hpp).
//
// Auto-assignment (conversations.auto_assign): when a conversation is escalated, the same
// script claims it for the next agent in name order after the one chosen last, among the
// agents present on the stream, skipping those holding max_per_agent assigned ones; it is
// published as `claimed`. With no agent free it waits in the queue (escalated). Like kRecordMessage, the scripts
// touch global keys with the customer's: fine on one Redis; Redis Cluster (not supported
// yet) would need the index written apart.
//
// All functions run on the calling worker's redis::Client and throw redis::CommandError
// on a Redis error.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "gateway/keys.hpp"

namespace herald::redis {
class Client;
struct Reply;
}

namespace herald::gateway::conversations {

using OJson = nlohmann::ordered_json;

inline constexpr long kThreadLimit = 1000;
inline constexpr const char* kEventsKey = "herald:cv:ev";
inline constexpr long kEventsLimit = 10000;
inline constexpr const char* kPresenceKey = "herald:cv:agents";
inline constexpr const char* kAgentLoadPrefix = "herald:cva:";
inline constexpr const char* kRoundRobinKey = "herald:cv:rr";
inline const std::vector<std::string> kStatuses{"open", "escalated", "assigned", "resolved"};

inline std::string prefix(std::string_view customer) {
  return "herald:cv:" + keys::tag(customer) + ":";
}
inline std::string key(std::string_view customer, std::string_view id) {
  return prefix(customer) + std::string(id);
}
inline std::string thread_key(std::string_view customer, std::string_view id) {
  return key(customer, id) + ":th";
}
inline std::string open_key(std::string_view customer, std::string_view channel) {
  return prefix(customer) + "open:" + std::string(channel);
}
/// Every conversation id the customer ever had (for erasure).
inline std::string all_key(std::string_view customer) { return prefix(customer) + "all"; }
inline std::string index_key(std::string_view id) {
  return "herald:cvi:" + std::string(id);
}
inline std::string status_key(std::string_view status) {
  return "herald:cvs:" + std::string(status);
}

struct Conversation {
  std::string id, customer_id, channel, status, assignee;
  OJson escalation;  // null, or {"reason", "keyword"?, "message_id"?, "note"?, "workflow"?,
                    //          "run"?, "step"?, "at"}
  std::string created_at, updated_at;

  OJson to_json() const;
};

/// A conversation from its hash fields (HGETALL, or a stream entry's fields).
std::optional<Conversation> from_hash(const redis::Reply& fields);

/// Auto-assignment settings, for every later escalation; call before serving.
void configure(const config::ConversationsConfig& config);

struct Recorded {
  std::string id;
  bool started = false;  // a new conversation
  std::string status;
};

/// An inbound message (unix ms `at`): continues the open conversation of the customer on
/// the channel, or starts one.
boost::asio::awaitable<Recorded> record_inbound(redis::Client& redis, const std::string& customer,
                                                const std::string& channel, const std::string& text,
                                                const std::string& provider_message_id,
                                                int64_t at_ms);

/// An outbound message (its id in the message store) sent in the conversation; once.
boost::asio::awaitable<void> record_outbound(redis::Client& redis, const std::string& customer,
                                             const std::string& id, const std::string& message_id,
                                             const std::string& agent);

/// An outbound message handed to the provider on `channel` (any source: workflows, the
/// messages API, agents): joins the customer's open conversation there, once. Nothing
/// when there is none. Never throws (a failure is logged).
boost::asio::awaitable<void> join_outbound(redis::Client& redis, const std::string& customer,
                                           const std::string& channel,
                                           const std::string& message_id);

/// The workflow step `escalate` as one command for a MULTI/EXEC: opens (or continues) the
/// customer's conversation on the run's latest message's channel among `channels`, else on
/// channels[0], and escalates it (auto-assignment included). No-op without a channel.
std::vector<std::string> open_and_escalate_command(const std::string& customer,
                                                   const std::vector<std::string>& channels,
                                                   const std::string& run_id, OJson escalation,
                                                   int64_t at_ms);

/// Escalates: open -> escalated. An escalated or assigned one keeps its status and its
/// first escalation. Returns the status after, or nullopt when there is no such
/// conversation (or it is resolved).
boost::asio::awaitable<std::optional<std::string>> escalate(redis::Client& redis,
                                                            const std::string& customer,
                                                            const std::string& id,
                                                            OJson escalation);

/// The outcome of claim, release and resolve.
struct Transition {
  enum class Kind { kDone, kMissing, kHeld, kNotHeld, kResolved } kind = Kind::kDone;
  std::string holder;  // kHeld: the holder; kDone: the assignee after
  std::string status;  // after
};

/// Atomic: exactly one claim wins an unassigned conversation (kDone); every other claim,
/// the holder's own repeated one included, gets kHeld with the holder's name. kResolved
/// when resolved.
boost::asio::awaitable<Transition> claim(redis::Client& redis, const std::string& customer,
                                         const std::string& id, const std::string& agent);
/// With auto_assign: the waiting escalations, oldest first, go to the agents present with
/// room, until none has room (after a release or a resolve, when an agent connects, and
/// every 10 s). `releaser` is not given back `released`, the conversation they just
/// released. Returns how many were assigned.
boost::asio::awaitable<std::size_t> assign_waiting(redis::Client& redis,
                                                   const std::string& released = {},
                                                   const std::string& releaser = {});
/// Only the holder (or `force`: an admin): assigned -> escalated (when it was) or open.
/// kHeld (someone else holds it), kNotHeld (nobody does).
boost::asio::awaitable<Transition> release(redis::Client& redis, const std::string& customer,
                                           const std::string& id, const std::string& agent,
                                           bool force);
/// The holder, or any agent while nobody holds it: -> resolved (kHeld otherwise).
boost::asio::awaitable<Transition> resolve(redis::Client& redis, const std::string& customer,
                                           const std::string& id, const std::string& agent);

/// The customer of a conversation id.
boost::asio::awaitable<std::optional<std::string>> customer_of(redis::Client& redis,
                                                               const std::string& id);
boost::asio::awaitable<std::optional<Conversation>> load(redis::Client& redis,
                                                         const std::string& customer,
                                                         const std::string& id);
/// The thread, oldest first; outbound items carry their message's live status, timeline,
/// channel and text.
boost::asio::awaitable<OJson> thread(redis::Client& redis, const std::string& customer,
                                     const std::string& id);

struct Page {
  std::vector<Conversation> items;
  std::optional<long> next;  // the offset of the next page
};
/// Conversations of a status, newest activity first, from offset `cursor`.
boost::asio::awaitable<Page> list(redis::Client& redis, const std::string& status, long limit,
                                  long cursor);

/// The keyword of `keywords` that `text` holds as a whole word (letters and digits,
/// case-insensitive): "I want a HUMAN!" holds `human`. Empty when none.
std::string escalation_keyword(std::string_view text, const std::vector<std::string>& keywords);

}  // namespace herald::gateway::conversations
