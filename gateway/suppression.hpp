#pragma once
// The global suppression list, checked for every message at hand-off (kClaim in
// gateway/messages.hpp): SHA-256 hashes of identifiers (hashed_identifier: a customer id,
// or a channel and address) that Herald must never message again, whoever owns them
// later. Each entry keeps why it is there.
//
// Keys:
//   herald:suppressed      set of hashed identifiers
//   herald:suppressed:why  hash: hashed identifier -> {"reason", "source", "at"}
// Reasons: erased (DELETE /v1/customers/{id}; lifted when the identifier comes back with an
// opt-in on its channel), hard_bounce (an SMTP server refusing the recipient, a SendGrid
// bounce), spam_complaint (a SendGrid spamreport).

#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

namespace herald::redis {
class Client;
}

namespace herald::gateway::suppression {

inline const std::string kReasons = "herald:suppressed:why";

/// SADD and HSET commands adding `hashes` with their reason, for the caller's MULTI or
/// pipeline. A hash already listed keeps its first reason.
std::vector<std::vector<std::string>> add_commands(const std::vector<std::string>& hashes,
                                                   std::string_view reason,
                                                   std::string_view source);

/// Adds the address of a channel (a hard bounce, a spam complaint). Throws
/// redis::CommandError when Redis refuses.
boost::asio::awaitable<void> add_address(redis::Client& redis, std::string channel,
                                         std::string address, std::string reason,
                                         std::string source);

/// Lifts the entries among `hashes` that are listed because their customer was erased:
/// an identifier that identifies again with an opt-in may be messaged again (api.md,
/// DELETE /v1/customers/{id}). A hard bounce or a spam complaint stays. Throws
/// redis::CommandError when Redis refuses.
boost::asio::awaitable<void> lift_erased(redis::Client& redis, std::vector<std::string> hashes);

}  // namespace herald::gateway::suppression
