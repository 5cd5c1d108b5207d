#pragma once
// The send-time policies that may hold a message back, in one place (principle 5):
// quiet hours (deferred to the end of the window in the customer's time zone, never
// dropped) and frequency caps (suppressed, naming the cap). Consent and the suppression
// list are checked at record time (gateway/engine, gateway/message_routes) and again at
// hand-off (gateway/delivery: the suppression list, in the claim).
//
// Transactional messages are exempt from both: they neither count towards caps nor
// wait for the morning.
//
// Frequency caps are sliding windows per customer, kept in Redis (one sorted set per
// cap, herald:c:{CUSTOMER}:fc:N, members the message ids scored by admission time), so
// every gateway instance sees the same counts. A message admitted once (a retry, a
// deferral that comes back) is not counted again.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "config/config.hpp"

namespace herald::redis {
class Client;
}

namespace herald::gateway::policies {

using Clock = std::chrono::system_clock;

/// When `now` falls inside the quiet hours of `channel` in time zone `timezone` (an IANA
/// name; unknown names read as UTC): the end of that quiet window. None otherwise.
/// A window may span midnight (21:00 → 08:00); an end that falls in a daylight-saving
/// gap moves to the first valid instant after it.
std::optional<Clock::time_point> quiet_until(const config::QuietHours& quiet,
                                             std::string_view channel,
                                             std::string_view timezone, Clock::time_point now);

/// The customer's time zone: their `timezone` trait, else policies.default_timezone.
std::string timezone_of(const nlohmann::ordered_json& traits, const config::PoliciesConfig& p);

/// "3 per 7d on sms, whatsapp"
std::string describe(const config::FrequencyCap& cap);

struct Decision {
  enum class Kind { kSend, kDefer, kSuppress } kind = Kind::kSend;
  std::string reason;                  // quiet_hours, frequency_cap: ...
  Clock::time_point until{};           // kDefer: when it goes
};

/// Applies quiet hours and the frequency caps to one message about to be handed over,
/// and when it is held back, records that on the message (status deferred with the
/// time it will go and a retry at that time, or suppressed with the cap) — atomically,
/// only while the message is still queued or deferred. Throws redis::CommandError.
boost::asio::awaitable<Decision> apply(redis::Client& redis, const config::PoliciesConfig& p,
                                       const std::string& customer_id,
                                       const std::string& message_id, const std::string& channel,
                                       bool transactional, const nlohmann::ordered_json& traits);

}  // namespace herald::gateway::policies
