#pragma once
// What the delivery end-to-end tests share: a herald config whose channels point at the
// provider sandbox, test templates, and small helpers around the messages API.

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/herald_process.hpp"
#include "tests/support/sandbox.hpp"
#include "tests/support/temp_dir.hpp"

namespace herald::test::delivery {

using Json = nlohmann::json;

/// The customer's sms sender, as configured for twilio.
constexpr const char* kSmsFrom = "+15005550006";
constexpr const char* kEmailFrom = "shop@example.com";

struct ChannelOptions {
  std::string twilio_extra;    // more keys of the twilio section, e.g. "rate: 20, "
  std::string sendgrid_extra;
  unsigned retries = 2;
  std::string timeout = "3s";
};

/// A `channels:` section: sms twilio, email sendgrid, whatsapp whatsapp_cloud, wechat
/// wechat_oa, social messenger, every one at the sandbox with its credentials.
std::string sandbox_channels(const ProviderSandbox& sandbox, const ChannelOptions& options = {});

/// Writes the test templates into `dir`: `notice` (every channel; sms body "Hi NAME, your
/// code is CODE"), `email_only` (email).
void write_templates(const TempDir& dir);

/// The test config: templates from `templates`, workflows from `workflows` (empty: an
/// empty folder inside `templates`), channels at the sandbox, public_url on herald's port,
/// plus `extra` top-level sections.
std::string delivery_config(const ProviderSandbox& sandbox, const TempDir& templates,
                            const ChannelOptions& options = {}, const std::string& extra = {},
                            const std::string& workflows_dir = {});

// ------------------------------------------------------------------------- HTTP helpers

HttpResponse admin(const HeraldProcess& herald, const std::string& method, const std::string& path,
                   const std::string& body = {});
Json admin_json(const HeraldProcess& herald, const std::string& path);

/// Identifies a customer (write key) and waits until GET /v1/customers/{id} shows them.
void identify(const HeraldProcess& herald, const std::string& id, const Json& traits);
/// PUT /v1/customers/{id}/consent/{channel}.
void set_consent(const HeraldProcess& herald, const std::string& id, const std::string& channel,
                 const std::string& status, const std::string& source = "test");

/// POST /v1/messages.
HttpResponse post_message(const HeraldProcess& herald, const Json& body);
/// POST /v1/messages of `notice` to `customer` with {"code": code}; requires 202 and
/// returns the id.
std::string send_notice(const HeraldProcess& herald, const std::string& customer,
                        const std::vector<std::string>& channels, const std::string& code,
                        bool transactional = false, const std::string& idempotency_key = {});

/// GET /v1/messages/{id} (null unless 200).
Json message(const HeraldProcess& herald, const std::string& id);
/// Waits until the message's status is one of `statuses`; returns it (null on timeout).
Json wait_status(const HeraldProcess& herald, const std::string& id,
                 const std::vector<std::string>& statuses,
                 std::chrono::milliseconds timeout = std::chrono::seconds(15));

/// The statuses of a timeline, in order.
std::vector<std::string> statuses_of(const Json& timeline);
/// An RFC 3339 time with milliseconds ("...T12:00:00.123Z") as ms since the epoch.
int64_t parse_time_ms(const std::string& text);

/// The sandbox's requests of `provider` that reached its send handler with a 2xx answer.
Json accepted_requests(const ProviderSandbox& sandbox, const std::string& provider);
/// A form field of a recorded Twilio request ("" when absent).
std::string form_field(const Json& request, const std::string& name);

}  // namespace herald::test::delivery
