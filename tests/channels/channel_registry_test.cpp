// The adapter registry and the settings every provider shares: duplicate names, unknown
// providers and keys, and bad rate/timeout/retries values, each reported at its line and
// column.
#include <catch2/catch.hpp>

#include "channels/registry.hpp"
#include "config/config.hpp"
#include "tests/support/temp_dir.hpp"

using herald::channels::AdapterContext;
using herald::channels::Channel;
using herald::channels::ProviderSettings;
using herald::channels::Registry;
using herald::config::ChannelConfig;
using herald::config::ConfigError;

namespace {

/// The `channels.email` section of a small config document, marks kept.
ChannelConfig email_section(const std::string& body) {
  auto doc = YAML::Load("channels:\n  email:\n" + body);
  ChannelConfig c;
  c.section = doc["channels"]["email"];
  if (c.section["provider"]) c.provider = c.section["provider"].Scalar();
  return c;
}

/// Builds channels.email from `body` with the built-in registry; returns the error.
ConfigError make_error(const std::string& body, const std::string& data_dir) {
  AdapterContext ctx;
  ctx.data_dir = data_dir;
  try {
    herald::channels::default_registry().make("email", email_section(body), ctx, "herald.yaml");
  } catch (const ConfigError& e) {
    return e;
  }
  FAIL("no ConfigError for:\n" << body);
  throw;  // unreachable
}

}  // namespace

TEST_CASE("registry: a duplicate name fails", "[registry]") {
  Registry r;
  herald::channels::register_builtin_adapters(r);
  CHECK(r.contains("outbox"));
  CHECK_THROWS_AS(herald::channels::register_builtin_adapters(r), std::invalid_argument);
  CHECK_THROWS_WITH(r.add("outbox", {}), Catch::Contains("outbox"));
  CHECK(r.names() == std::vector<std::string>{"messenger", "outbox", "sendgrid", "smtp", "twilio",
                                              "wechat_oa", "whatsapp_cloud"});
}

TEST_CASE("registry: an unknown provider is an error at the provider value", "[registry]") {
  herald::test::TempDir dir;
  auto e = make_error("    provider: carrier_pigeon\n", dir.path());
  CHECK(e.where().file == "herald.yaml");
  CHECK(e.where().line == 3);
  CHECK(e.where().column == 15);
  CHECK_THAT(e.reason(), Catch::Contains("channels.email.provider") &&
                             Catch::Contains("carrier_pigeon") && Catch::Contains("outbox"));
}

TEST_CASE("registry: an unknown key in an outbox section names the key", "[registry]") {
  herald::test::TempDir dir;
  auto e = make_error("    provider: outbox\n    rate: 5\n    pth: x.jsonl\n", dir.path());
  CHECK(e.where().line == 5);
  CHECK(e.where().column == 5);
  CHECK_THAT(e.reason(), Catch::Contains("channels.email") && Catch::Contains("\"pth\"") &&
                             Catch::Contains("path"));
}

TEST_CASE("registry: a section that is not a mapping is an error", "[registry]") {
  auto doc = YAML::Load("channels:\n  email: [1, 2]\n");
  ChannelConfig c;
  c.section = doc["channels"]["email"];
  AdapterContext ctx;
  try {
    herald::channels::default_registry().make("email", c, ctx, "f.yaml");
    FAIL("accepted a list");
  } catch (const ConfigError& e) {
    CHECK(e.where().line == 2);
    CHECK(e.where().column == 10);
  }
}

TEST_CASE("registry: bad rate, timeout and retries values are errors at the value", "[registry]") {
  herald::test::TempDir dir;
  auto [body, key] = GENERATE(table<std::string, std::string>({
      {"rate: fast", "rate"},
      {"rate: 0", "rate"},
      {"rate: -2", "rate"},
      {"rate: 1.5x", "rate"},
      {"rate: [1]", "rate"},
      {"timeout: ten", "timeout"},
      {"timeout: 0s", "timeout"},
      {"timeout: 10", "timeout"},
      {"timeout: 2h", "timeout"},
      {"retries: -1", "retries"},
      {"retries: lots", "retries"},
      {"retries: 1000", "retries"},
      {"retries: 2.5", "retries"},
  }));
  CAPTURE(body);
  auto e = make_error("    provider: outbox\n    " + body + "\n", dir.path());
  CHECK(e.where().line == 4);
  CHECK(e.where().column == static_cast<int>(key.size()) + 7);  // 4 spaces, "key: "
  CHECK_THAT(e.reason(), Catch::StartsWith("channels.email: " + key + ":"));
}

TEST_CASE("registry: provider settings are parsed once with their defaults", "[registry]") {
  auto none = herald::channels::parse_provider_settings(YAML::Node(), "f.yaml");
  CHECK_FALSE(none.rate);
  CHECK(none.timeout == std::chrono::seconds(10));
  CHECK(none.retries == 5u);

  auto c =
      email_section("    provider: outbox\n    rate: 12.5\n    timeout: 250ms\n    retries: 0\n");
  auto s = herald::channels::parse_provider_settings(c.section, "f.yaml");
  REQUIRE(s.rate);
  CHECK(*s.rate == 12.5);
  CHECK(s.timeout == std::chrono::milliseconds(250));
  CHECK(s.retries == 0u);
}

TEST_CASE("registry: a channel left out of the file gets an outbox", "[registry]") {
  herald::test::TempDir dir;
  AdapterContext ctx;
  ctx.data_dir = dir.path();
  auto channel = herald::channels::default_registry().make("sms", ChannelConfig{}, ctx, "");
  REQUIRE(channel);
  CHECK(channel->provider() == "outbox");
}
