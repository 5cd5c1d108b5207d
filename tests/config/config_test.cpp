#include <cstdlib>

#include <catch2/catch.hpp>

#include "config/config.hpp"

using herald::config::Config;
using herald::config::ConfigError;
using herald::config::parse;

namespace {

/// The ConfigError a document raises (fails the test when it raises none).
ConfigError error_of(const std::string& yaml) {
  try {
    parse(yaml, "test.yaml");
  } catch (const ConfigError& e) {
    return e;
  }
  FAIL("expected a ConfigError for:\n" << yaml);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("an empty file is a valid config with every default") {
  auto c = parse("", "empty.yaml");
  CHECK(c.server.listen_host == "127.0.0.1");
  CHECK(c.server.listen_port == 8080);
  CHECK(c.server.threads == 0);
  CHECK(c.server.effective_threads() >= 1);
  CHECK(c.server.max_body_bytes == 524288);
  CHECK(c.redis.url.empty());
  CHECK_FALSE(c.redis.cluster);
  CHECK(c.redis.partitions == 16);
  CHECK(c.data_dir == "./var");
  CHECK(c.workflows_dir == "./workflows");
  CHECK(c.templates_dir == "./templates");
  CHECK(c.ingest.dedupe_window == std::chrono::hours(24));
  CHECK(c.ingest.max_backlog == 1000000);
  CHECK(c.ingest.processors_per_thread == 1);
  CHECK(c.auth.write_keys.empty());
  CHECK(c.auth.admin_keys.empty());
  CHECK(c.auth.agents.empty());
  CHECK(c.public_url == "http://127.0.0.1:8080");
  CHECK(c.policies.default_timezone == "UTC");
  CHECK(c.policies.default_region == "US");
  CHECK(c.policies.quiet_hours.from_minutes == 21 * 60);
  CHECK(c.policies.quiet_hours.to_minutes == 8 * 60);
  CHECK(c.policies.quiet_hours.channels ==
        std::vector<std::string>{"sms", "whatsapp", "wechat", "social"});
  CHECK(c.policies.frequency_caps.empty());
  CHECK(c.policies.consent.at("email") == herald::config::ConsentDefault::kOptOut);
  CHECK(c.policies.consent.at("sms") == herald::config::ConsentDefault::kOptIn);
  CHECK(c.policies.consent.at("whatsapp") == herald::config::ConsentDefault::kOptIn);
  CHECK(c.policies.consent.at("wechat") == herald::config::ConsentDefault::kOptOut);
  CHECK(c.policies.consent.at("social") == herald::config::ConsentDefault::kOptOut);
  CHECK(c.stats.order_event == "order.completed");
  CHECK(c.stats.default_order_gap == std::chrono::hours(24 * 30));
  CHECK(c.conversations.escalate_keywords ==
        std::vector<std::string>{"agent", "human", "complaint"});
  CHECK(c.conversations.help_text == "Reply STOP to opt out.");
  CHECK(c.conversations.stop_text.find("START") != std::string::npos);
  CHECK_FALSE(c.conversations.auto_assign);
  CHECK(c.conversations.max_per_agent == 10);
  CHECK(c.templates.max_iterations == 1000);
  CHECK(c.templates.max_output_bytes == 262144);
  CHECK(c.channels.size() == 5);
  for (const auto& [name, channel] : c.channels) CHECK(channel.provider == "outbox");
  CHECK(c.log.level == "info");
  CHECK(c.log.format == "text");
}

TEST_CASE("a comment-only file and empty sections keep the defaults") {
  auto c = parse("# nothing here\nserver:\ningest:\n", "c.yaml");
  CHECK(c.server.listen_port == 8080);
  CHECK(c.ingest.max_backlog == 1000000);
}

TEST_CASE("every section is read") {
  auto c = parse(R"(
server: { listen: "0.0.0.0:9090", threads: 3, max_body_bytes: 2048, header_timeout: 2s, idle_timeout: 1m }
redis: { url: "redis://:pw@localhost:6380/2", cluster: true, partitions: 32 }
data_dir: /var/lib/herald
workflows_dir: /etc/herald/workflows
templates_dir: /etc/herald/templates
ingest: { dedupe_window: 12h, max_backlog: 5000, processors_per_thread: 2 }
auth:
  write_keys: [w1, w2]
  admin_keys: [a1]
  agents: [{ name: alice, token: t1 }]
  unsubscribe_secret: s3cret
public_url: https://herald.example.com/
sources:
  shop: { signature: { scheme: shopify, secret: x } }
policies:
  default_timezone: Europe/Paris
  default_region: FR
  quiet_hours: { from: "22:30", to: "07:15", channels: [sms] }
  frequency_caps: [{ max: 3, per: 7d, channels: [sms, whatsapp] }, { max: 10, per: 1w }]
  consent: { email: opt_in, sms: opt_out }
stats: { order_event: purchase, default_order_gap: 45d }
conversations: { escalate_keywords: [help], help_text: "Hi", stop_text: "Bye", auto_assign: true, max_per_agent: 4 }
templates: { max_iterations: 50, max_output_bytes: 4096 }
channels:
  email: { provider: smtp, url: "smtp://mail:587" }
  sms: { provider: twilio, account_sid: AC1 }
log: { level: debug, format: json }
)",
                 "full.yaml");
  CHECK(c.server.listen_host == "0.0.0.0");
  CHECK(c.server.listen_port == 9090);
  CHECK(c.server.threads == 3);
  CHECK(c.server.max_body_bytes == 2048);
  CHECK(c.server.header_timeout == std::chrono::seconds(2));
  CHECK(c.server.idle_timeout == std::chrono::minutes(1));
  CHECK(c.redis.url == "redis://:pw@localhost:6380/2");
  CHECK(c.redis.cluster);
  CHECK(c.redis.partitions == 32);
  CHECK(c.data_dir == "/var/lib/herald");
  CHECK(c.ingest.dedupe_window == std::chrono::hours(12));
  CHECK(c.ingest.processors_per_thread == 2);
  CHECK(c.ingest.max_backlog == 5000);
  CHECK(c.auth.write_keys == std::vector<std::string>{"w1", "w2"});
  CHECK(c.auth.agents.at(0).name == "alice");
  CHECK(c.auth.unsubscribe_secret == "s3cret");
  CHECK(c.public_url == "https://herald.example.com");
  CHECK(c.sources["shop"]["signature"]["scheme"].as<std::string>() == "shopify");
  CHECK(c.policies.default_timezone == "Europe/Paris");
  CHECK(c.policies.quiet_hours.from_minutes == 22 * 60 + 30);
  CHECK(c.policies.quiet_hours.to_minutes == 7 * 60 + 15);
  CHECK(c.policies.frequency_caps.size() == 2);
  CHECK(c.policies.frequency_caps[0].per == std::chrono::hours(24 * 7));
  CHECK(c.policies.frequency_caps[1].channels.size() == 5);
  CHECK(c.policies.consent.at("email") == herald::config::ConsentDefault::kOptIn);
  CHECK(c.policies.consent.at("whatsapp") == herald::config::ConsentDefault::kOptIn);
  CHECK(c.stats.order_event == "purchase");
  CHECK(c.conversations.auto_assign);
  CHECK(c.conversations.help_text == "Hi");
  CHECK(c.conversations.stop_text == "Bye");
  CHECK(c.templates.max_output_bytes == 4096);
  CHECK(c.channels.at("email").provider == "smtp");
  CHECK(c.channels.at("email").section["url"].as<std::string>() == "smtp://mail:587");
  CHECK(c.channels.at("whatsapp").provider == "outbox");
  CHECK(c.log.format == "json");
}

TEST_CASE("unknown keys are errors with line, column and a suggestion") {
  auto e = error_of("server:\n  listen: 127.0.0.1:1\n  thread: 4\n");
  CHECK(e.where().file == "test.yaml");
  CHECK(e.where().line == 3);
  CHECK(e.where().column == 3);
  CHECK_THAT(e.what(), Catch::Contains("unknown key \"server.thread\"") &&
                           Catch::Contains("did you mean \"threads\""));
  CHECK(std::string(e.what()).rfind("test.yaml:3:3: ", 0) == 0);

  auto top = error_of("log: {level: info}\nworkflow_dir: x\n");
  CHECK(top.where().line == 2);
  CHECK(top.where().column == 1);
  CHECK_THAT(top.what(), Catch::Contains("did you mean \"workflows_dir\""));

  auto far = error_of("zzzzzz: 1\n");
  CHECK_THAT(far.what(), !Catch::Contains("did you mean"));
}

TEST_CASE("bad values are errors at the value's position") {
  struct Case {
    std::string yaml;
    int line, column;
    std::string message;
  };
  std::vector<Case> cases{
      {"server:\n  threads: many\n", 2, 12, "server.threads"},
      {"server:\n  listen: localhost\n", 2, 11, "HOST:PORT"},
      {"server:\n  listen: 127.0.0.1:70000\n", 2, 11, "HOST:PORT"},
      {"ingest:\n  dedupe_window: 24 hours\n", 2, 18, "duration"},
      {"redis:\n  url: http://x\n", 2, 8, "redis.url"},
      {"redis:\n  cluster: yes please\n", 2, 12, "true or false"},
      {"log:\n  level: loud\n", 2, 10, "log.level"},
      {"log:\n  format: xml\n", 2, 11, "text or json"},
      {"policies:\n  default_timezone: Mars/Olympus\n", 2, 21, "time zone"},
      {"policies:\n  default_region: usa\n", 2, 19, "region"},
      {"policies:\n  quiet_hours: { from: \"25:00\" }\n", 2, 24, "HH:MM"},
      {"policies:\n  consent: { email: maybe }\n", 2, 21, "opt_in or opt_out"},
      {"policies:\n  consent: { fax: opt_in }\n", 2, 14, "unknown channel"},
      {"channels:\n  pager: { provider: outbox }\n", 2, 3, "unknown channel"},
      {"channels:\n  sms: { provider: smtp }\n", 2, 20, "cannot send on the sms channel"},
      {"channels:\n  sms: { provider: twilo }\n", 2, 20, "did you mean \"twilio\""},
      {"public_url: ftp://x\n", 1, 13, "http"},
      {"auth:\n  agents: [{ name: a, token: t }, { name: a, token: u }]\n", 2, 43, "duplicate"},
  };
  for (const auto& c : cases) {
    INFO(c.yaml);
    auto e = error_of(c.yaml);
    CHECK(e.where().line == c.line);
    CHECK(e.where().column == c.column);
    CHECK_THAT(e.what(), Catch::Contains(c.message));
  }
}

TEST_CASE("YAML syntax errors name the line and column") {
  auto e = error_of("server:\n  listen: [unclosed\n");
  CHECK(e.where().line >= 2);
  CHECK(e.where().column >= 1);
}

TEST_CASE("environment variables are expanded, with defaults") {
  ::setenv("HERALD_TEST_KEY", "from-env", 1);
  ::unsetenv("HERALD_TEST_UNSET");
  auto c = parse(
      "auth:\n  write_keys: [\"${HERALD_TEST_KEY}\", \"k-${HERALD_TEST_UNSET:-fallback}\"]\n"
      "channels:\n  email: { provider: smtp, password: \"${HERALD_TEST_KEY}\" }\n",
      "env.yaml");
  CHECK(c.auth.write_keys == std::vector<std::string>{"from-env", "k-fallback"});
  CHECK(c.channels.at("email").section["password"].as<std::string>() == "from-env");
  // The expanded node keeps its position for the adapter's own errors.
  CHECK(c.channels.at("email").section["password"].Mark().line == 3);
}

TEST_CASE("an unset variable is a start-up error naming it and its position") {
  ::unsetenv("HERALD_TEST_MISSING");
  auto e = error_of("auth:\n  admin_keys:\n    - \"${HERALD_TEST_MISSING}\"\n");
  CHECK(e.where().line == 3);
  CHECK(e.where().column == 7);
  CHECK_THAT(e.what(), Catch::Contains("HERALD_TEST_MISSING is not set"));

  auto in_section = error_of("sources:\n  crm:\n    secret: ${HERALD_TEST_MISSING}\n");
  CHECK(in_section.where().line == 3);
  CHECK(in_section.where().column == 13);
}

TEST_CASE("durations") {
  using herald::config::parse_duration;
  using namespace std::chrono;
  CHECK(parse_duration("30s") == seconds(30));
  CHECK(parse_duration("15m") == minutes(15));
  CHECK(parse_duration("1h") == hours(1));
  CHECK(parse_duration("2d") == hours(48));
  CHECK(parse_duration("1w") == hours(168));
  CHECK(parse_duration("250ms") == milliseconds(250));
  CHECK(parse_duration("1h30m") == minutes(90));
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("h"));
  CHECK_FALSE(parse_duration("10"));
  CHECK_FALSE(parse_duration("-1h"));
  CHECK_FALSE(parse_duration("1y"));
  CHECK_FALSE(parse_duration("1.5h"));
}

TEST_CASE("the shipped config files are valid") {
  ::setenv("HERALD_TEST_UNUSED", "x", 1);
  auto embedded = herald::config::load(HERALD_SOURCE_DIR "/config/herald.yaml", true);
  CHECK(embedded.redis.url.empty());
  CHECK_FALSE(embedded.auth.write_keys.empty());
  // The example documents every key; its ${VAR:-default} forms need no environment.
  auto example = herald::config::load(HERALD_SOURCE_DIR "/config/herald.example.yaml", true);
  CHECK(example.server.listen_port == 8080);
}

TEST_CASE("a missing file gives the defaults only when no file was named") {
  auto c = herald::config::load("/nonexistent/herald.yaml", false);
  CHECK(c.server.listen_port == 8080);
  CHECK_THROWS_AS(herald::config::load("/nonexistent/herald.yaml", true), ConfigError);
}
