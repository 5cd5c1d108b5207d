#pragma once
// Recording a customer's consent choice on a channel, with its consent-log entry: shared
// by the consent API, one-click unsubscribe, inbound STOP/START and provider opt-outs.

#include <string>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

namespace herald::redis {
class Client;
}

namespace herald::gateway {

struct ConsentChange {
  nlohmann::ordered_json consent;  // the consent object after the change
  std::string previous;            // the channel's recorded status before ("" when none)
};

/// record_consent, also telling what the channel's status was before (atomically: of two
/// concurrent identical changes, exactly one sees the old status).
boost::asio::awaitable<ConsentChange> change_consent(redis::Client& redis, std::string customer_id,
                                                     std::string channel, std::string status,
                                                     std::string source);

/// Sets consent[channel] = status ("opted_in" or "opted_out") and appends {channel,
/// status, source, at} to the consent log, atomically. Returns the consent object after
/// the change. Throws redis::CommandError when Redis refuses.
boost::asio::awaitable<nlohmann::ordered_json> record_consent(redis::Client& redis,
                                                              std::string customer_id,
                                                              std::string channel,
                                                              std::string status,
                                                              std::string source);

}  // namespace herald::gateway
