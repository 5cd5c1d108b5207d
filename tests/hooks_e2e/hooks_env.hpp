#pragma once
// The provider webhooks end to end (api.md "Provider webhooks", providers.md): a real
// redis-server, the provider sandbox (which both imitates the providers' send APIs and
// signs webhooks itself, exactly as each provider would) and the herald binary with every
// channel pointed at the sandbox.

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/herald_process.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/sandbox.hpp"
#include "tests/support/temp_dir.hpp"

namespace hooks_e2e {

using Json = nlohmann::json;
using herald::test::HttpResponse;

// Addresses of the test customers and of Herald's own sender.
constexpr const char* kHeraldNumber = "+15550001111";
constexpr const char* kWechatAccount = "gh_sandbox0001";

class HookEnv {
 public:
  /// `public_url` may hold {port} (Herald's port), as the config does.
  explicit HookEnv(const std::string& public_url = "http://127.0.0.1:{port}");

  herald::test::RedisServer redis;
  herald::test::ProviderSandbox sandbox;
  herald::test::TempDir content;  // templates/ and workflows/
  std::unique_ptr<herald::test::HeraldProcess> herald;

  int port() const { return herald->port(); }
  /// http://127.0.0.1:PORT + path: where the sandbox posts its webhooks.
  std::string url(const std::string& path) const;

  /// An admin call.
  HttpResponse admin(const std::string& method, const std::string& path,
                     const std::string& body = {}) const;
  /// GET /v1/customers/{id}: the JSON, or null when 404.
  Json customer(const std::string& id) const;
  /// GET /v1/customers/{id}/export (null when 404).
  Json export_of(const std::string& id) const;
  /// The customer's consent on a channel ("" when none is recorded).
  std::string consent(const std::string& id, const std::string& channel) const;
  /// POST /v1/identify, then waits until the customer exists.
  void identify(const std::string& id, const Json& traits) const;

  /// POST /v1/messages of the test template; returns the message id.
  std::string send(const std::string& customer, const std::string& channel,
                   bool transactional = false) const;
  /// GET /v1/messages/{id}.
  Json message(const std::string& id) const;
  /// Waits until the message is `sent` (REQUIREs it) and returns it (with provider_id).
  Json wait_sent(const std::string& id) const;
  /// Sends and waits: the provider's id of a message Herald handed over.
  std::string sent_provider_id(const std::string& customer, const std::string& channel,
                               Json* message_out = nullptr, std::string* id_out = nullptr) const;

  /// The sandbox signs and posts a webhook; its spec gets provider and url filled in.
  Json webhook(Json spec, const std::string& provider, const std::string& path) const;
  /// The signature header the sandbox would send for a Meta body (signed for the sandbox's
  /// own echo endpoint, so nothing reaches Herald).
  std::string meta_signature(const std::string& provider, const std::string& body) const;

  /// The customer's `message.received` events (from the export), oldest first.
  std::vector<Json> received(const std::string& customer) const;
  /// How many of them carry this provider message id.
  int received_count(const std::string& customer, const std::string& provider_message_id) const;
  /// Waits until an event with that provider message id is there.
  bool wait_received(const std::string& customer, const std::string& provider_message_id) const;

  /// Herald still answers /healthz (and its process runs).
  bool healthy() const;
  std::string diagnostics() const;
};

/// {"error": {"code": CODE, "message": "..."}} with a JSON content type.
bool is_api_error(const HttpResponse& response, int status, const std::string& code);
/// The same for the sandbox's record of Herald's answer ({"status","headers","body"}).
bool is_api_error(const Json& answer, int status, const std::string& code);

/// Unix seconds / ms now.
long long now_s();
long long now_ms();

}  // namespace hooks_e2e
