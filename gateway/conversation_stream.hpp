#pragma once
// GET /v1/conversations/stream (api.md "Conversations"): a WebSocket that pushes every
// conversation transition to every connected agent, whichever gateway made it:
//   {"type": "escalated"|"inbound"|"claimed"|"released"|"resolved", "conversation": {...}}
//
// Credentials: an agent token (or an admin key, which watches without being present for
// auto-assignment) in `Authorization: Bearer` or, from browsers, the `access_token` query
// parameter; without one the upgrade is refused with 401 `unauthorized`.
//
// Across gateways: the transition scripts append each transition to the Redis stream
// herald:cv:ev in the same script that makes it (conversations.hpp); every worker of every
// gateway reads that stream (XREAD BLOCK on a connection of its own, from the last entry it
// saw) and pushes each entry to the sockets it serves. A stream rather than pub/sub: it is
// written atomically with the transition (pub/sub from a script would do too, but a reader
// that reconnects after a Redis blip would lose what was published meanwhile, and the
// Redis client here speaks no pub/sub), and it works as a plain command inside the
// workflow engine's MULTI/EXEC.
//
// Each socket has a bounded send queue (kMaxQueuedFrames frames or kMaxQueuedBytes): an
// agent that does not read fast enough is disconnected rather than buffered without end.
// Keep-alive: a ping after 15 s without traffic from the client, disconnected after 30 s
// without any. On shutdown each socket is closed with 1001 going away.
//
// Presence (for auto-assignment): while an agent has a socket on a worker, the member
// "AGENT\tINSTANCE:WORKER" of herald:cv:agents is refreshed every 10 s with an expiry 30 s
// ahead; it is removed when the agent's last socket there closes, and expires if the
// gateway dies.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "gateway/redis/redis_url.hpp"

namespace boost::asio {
class io_context;
}

namespace herald::gateway {

class Authenticator;
class HttpServer;

inline constexpr std::size_t kMaxQueuedFrames = 1024;
inline constexpr std::size_t kMaxQueuedBytes = 4u << 20;

class ConversationStream {
 public:
  /// `instance` names this gateway in presence entries (host:pid).
  ConversationStream(redis::RedisUrl url, bool cluster, const Authenticator& auth,
                     std::string instance);
  ~ConversationStream();

  /// Registers the upgrade path on the server.
  void install(HttpServer& server);
  /// Starts a stream reader on each worker context (index i: worker i). Call once.
  void start(const std::vector<boost::asio::io_context*>& contexts);
  /// Stops the readers (posted to each context; before the contexts stop).
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace herald::gateway
