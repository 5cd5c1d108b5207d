#pragma once
// Helpers for driving Herald's ingest and customers APIs over HTTP in end-to-end tests.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/herald_process.hpp"

namespace herald::test::ingest {

using Json = nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

std::string base64(std::string_view bytes);
/// Raw HMAC-SHA256 of `data` under `key` (OpenSSL).
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string hex(std::string_view bytes);

Headers bearer(const std::string& key);
/// Segment's convention: the write key as user name, an empty password.
Headers basic(const std::string& user, const std::string& password = {});

/// Parses the body as JSON; FAILs the test (with the body) when it is not.
Json json_of(const HttpResponse& response);
/// The contract's error shape: status, JSON content type, `error.code`, a non-empty
/// `error.message`, and `error.field` when `field` is given.
void check_error(const HttpResponse& response, int status, const std::string& code,
                 const std::string& field = {});
/// Any 4xx in the contract's error shape.
void check_client_error(const HttpResponse& response);
/// `200 {"success": true, "accepted": N, "duplicates": D}`.
void check_success(const HttpResponse& response, int accepted, int duplicates = 0);

/// POST /v1/{endpoint} (track, identify, batch) with the write key as a Bearer token by default.
HttpResponse post_ingest(const HeraldProcess& herald, const std::string& endpoint,
                         const std::string& body, const Headers& headers = bearer(kWriteKey));
HttpResponse post_ingest(const HeraldProcess& herald, const std::string& endpoint,
                         const char* body, const Headers& headers = bearer(kWriteKey));
HttpResponse post_ingest(const HeraldProcess& herald, const std::string& endpoint,
                         const Json& body, const Headers& headers = bearer(kWriteKey));

/// A track / identify call body.
Json track_body(const std::string& user_id, const std::string& event, Json properties = Json::object());
Json identify_body(const std::string& user_id, Json traits);
/// An `order.completed` track with properties.total.
Json order_body(const std::string& user_id, double total, const std::string& message_id = {},
                const std::string& timestamp = {});

/// GET /v1/customers/{id} with the admin key: the profile, or nullopt on 404 (anything else FAILs).
std::optional<Json> get_customer(const HeraldProcess& herald, const std::string& id);
/// Polls until the customer exists and `holds(profile)`; returns the last profile seen.
template <typename Pred>
std::optional<Json> wait_customer(const HeraldProcess& herald, const std::string& id, Pred holds,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(15));
std::optional<Json> wait_customer(const HeraldProcess& herald, const std::string& id,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(15));

/// Waits until every event acknowledged before the call has been processed: identifies 256
/// sentinel customers (so that every stream partition carries one) and waits for all of them.
void quiesce(const HeraldProcess& herald);

/// RFC 3339 in UTC ("...Z", optional fraction) as the API writes times.
bool is_rfc3339_utc(const std::string& text);
/// Milliseconds since the epoch of an RFC 3339 time in UTC ("Z").
std::int64_t epoch_ms(const std::string& rfc3339_utc);
/// An RFC 3339 UTC time with milliseconds.
std::string rfc3339(std::chrono::system_clock::time_point at);
std::string rfc3339_ms(std::int64_t epoch_ms);

/// Distinct ids within a test run: `prefix-N`.
std::string unique(const std::string& prefix);

}  // namespace herald::test::ingest

template <typename Pred>
std::optional<nlohmann::json> herald::test::ingest::wait_customer(
    const HeraldProcess& herald, const std::string& id, Pred holds, std::chrono::milliseconds timeout) {
  std::optional<Json> last;
  eventually(
      [&] {
        // A worker still reconnecting to Redis (after an outage) answers 503: not yet.
        if (http(herald.port(), "GET", "/v1/customers/" + id, {}, bearer(kAdminKey)).status == 503)
          return false;
        last = get_customer(herald, id);
        return last && holds(*last);
      },
      timeout);
  return last;
}
