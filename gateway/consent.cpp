#include <utility>

#include "gateway/consent.hpp"

#include <chrono>

#include "gateway/customer_state.hpp"
#include "gateway/ingest/timestamp.hpp"
#include "gateway/ingest/traits.hpp"
#include "gateway/keys.hpp"
#include "gateway/redis/redis_client.hpp"
#include "gateway/redis/script.hpp"
#include "gateway/suppression.hpp"

namespace herald::gateway {
namespace asio = boost::asio;

namespace {

// KEYS: profile, consent log. ARGV: channel, status, log entry (JSON), time.
const redis::Script kConsent(R"lua(
local cs = redis.call('HGET', KEYS[1], 'cs')
local consent = {}
if cs then consent = cjson.decode(cs) end
local previous = consent[ARGV[1]]
if type(previous) == 'table' then previous = previous['status'] end
if type(previous) ~= 'string' then previous = '' end
consent[ARGV[1]] = ARGV[2]
local encoded = cjson.encode(consent)
redis.call('HSET', KEYS[1], 'cs', encoded, 'ua', ARGV[4])
redis.call('HSETNX', KEYS[1], 'ca', ARGV[4])
redis.call('RPUSH', KEYS[2], ARGV[3])
return {encoded, previous}
)lua");

std::vector<std::string> consent_args(const std::string& channel, const std::string& status,
                                      const std::string& source, const std::string& at) {
  nlohmann::ordered_json entry = nlohmann::ordered_json::object();
  entry["channel"] = channel;
  entry["status"] = status;
  entry["source"] = source;
  entry["at"] = at;
  return {channel, status, entry.dump(), at};
}

}  // namespace

asio::awaitable<ConsentChange> change_consent(redis::Client& redis, std::string customer_id,
                                              std::string channel, std::string status,
                                              std::string source) {
  auto at = ingest::format_rfc3339(
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()));
  std::vector<std::string> script_keys{keys::customer(customer_id), keys::consent_log(customer_id)};
  auto args = consent_args(channel, status, source, at);
  auto reply = co_await kConsent.run(redis, script_keys, args);
  if (reply.is_error()) throw redis::CommandError(reply.str);
  ConsentChange change;
  if (reply.elements.size() == 2) {
    change.consent = nlohmann::ordered_json::parse(reply.elements[0].str, nullptr, false);
    change.previous = reply.elements[1].str;
  }
  if (status == "opted_in") {
    // A customer identified again who opts in: their id and their address on this
    // channel leave the suppression list if an erasure put them there.
    auto traits_text = co_await redis.command("HGET", keys::customer(customer_id), "t");
    auto traits = nlohmann::ordered_json::parse(traits_text.is_nil() ? "{}" : traits_text.str,
                                                nullptr, false);
    std::vector<std::string> hashes{hashed_identifier("id", customer_id)};
    for (const auto& a : ingest::channel_addresses(traits))
      if (a.channel == channel) hashes.push_back(hashed_identifier(a.channel, a.address));
    co_await suppression::lift_erased(redis, std::move(hashes));
  }
  co_return change;
}

asio::awaitable<nlohmann::ordered_json> record_consent(redis::Client& redis,
                                                       std::string customer_id,
                                                       std::string channel, std::string status,
                                                       std::string source) {
  auto change = co_await change_consent(redis, std::move(customer_id), std::move(channel),
                                        std::move(status), std::move(source));
  co_return std::move(change.consent);
}

}  // namespace herald::gateway
