#pragma once
// Herald's configuration: every key of the contract with its default, read once
// at start-up into an immutable value. An empty file is a valid config.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace herald::config {

using Duration = std::chrono::milliseconds;

/// A position in a config or workflow file; line and column count from 1.
struct Location {
  std::string file;
  int line = 0;
  int column = 0;
};

/// A start-up error that names the file, line and column at fault.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(Location where, const std::string& message);
  const Location& where() const { return where_; }
  const std::string& reason() const { return reason_; }

 private:
  Location where_;
  std::string reason_;
};

struct ServerConfig {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8080;
  unsigned threads = 0;  // 0: one per core
  std::size_t max_body_bytes = 524288;
  Duration header_timeout = std::chrono::seconds(10);   // first byte to end of headers
  Duration request_timeout = std::chrono::seconds(30);  // first byte to end of body
  Duration idle_timeout = std::chrono::seconds(60);     // keep-alive wait for the next request
  Duration shutdown_timeout = std::chrono::seconds(30);  // drain limit on SIGTERM

  unsigned effective_threads() const;
};

struct RedisConfig {
  std::string url;  // empty: a managed local redis-server
  bool cluster = false;
  unsigned partitions = 16;
};

struct Agent {
  std::string name;
  std::string token;
};

struct AuthConfig {
  std::vector<std::string> write_keys;
  std::vector<std::string> admin_keys;
  std::vector<Agent> agents;
  std::string unsubscribe_secret;
};

struct IngestConfig {
  Duration dedupe_window = std::chrono::hours(24);
  uint64_t max_backlog = 1000000;
  // Event processors (consumers of the partitions' streams) a worker thread runs. One
  // leaves the serving threads to requests first; two overlap one's pass in Redis with
  // the other's computing: faster processing, slower ingest on a machine they share.
  unsigned processors_per_thread = 1;
};

struct QuietHours {
  int from_minutes = 21 * 60;  // minutes after local midnight
  int to_minutes = 8 * 60;
  std::vector<std::string> channels{"sms", "whatsapp", "wechat", "social"};
};

struct FrequencyCap {
  unsigned max = 0;
  Duration per{};
  std::vector<std::string> channels;
};

enum class ConsentDefault { kOptIn, kOptOut };

struct PoliciesConfig {
  std::string default_timezone = "UTC";
  std::string default_region = "US";
  QuietHours quiet_hours;
  std::vector<FrequencyCap> frequency_caps;
  std::map<std::string, ConsentDefault> consent{{"email", ConsentDefault::kOptOut},
                                                {"sms", ConsentDefault::kOptIn},
                                                {"whatsapp", ConsentDefault::kOptIn},
                                                {"wechat", ConsentDefault::kOptOut},
                                                {"social", ConsentDefault::kOptOut}};
};

struct StatsConfig {
  std::string order_event = "order.completed";
  Duration default_order_gap = std::chrono::hours(24 * 30);
};

struct ConversationsConfig {
  std::vector<std::string> escalate_keywords{"agent", "human", "complaint"};
  std::string help_text = "Reply STOP to opt out.";
  /// An addition: the confirmation of an inbound STOP (sent once per opt-out).
  std::string stop_text = "You are unsubscribed and will get no more messages here. Reply START to resubscribe.";
  bool auto_assign = false;
  unsigned max_per_agent = 10;
};

struct TemplatesConfig {
  unsigned max_iterations = 1000;
  std::size_t max_output_bytes = 262144;
};

/// One channel's section as written; its adapter parses and validates the rest.
struct ChannelConfig {
  std::string provider = "outbox";
  YAML::Node section;  // environment variables already expanded; marks kept
};

struct LogConfig {
  std::string level = "info";
  std::string format = "text";
};

struct Config {
  std::string file;  // where it was read from; empty for the built-in defaults
  ServerConfig server;
  RedisConfig redis;
  std::string data_dir = "./var";
  std::string workflows_dir = "./workflows";
  std::string templates_dir = "./templates";
  IngestConfig ingest;
  AuthConfig auth;
  std::string public_url = "http://127.0.0.1:8080";
  YAML::Node sources;  // parsed by the ingest module (signed sources)
  PoliciesConfig policies;
  StatsConfig stats;
  ConversationsConfig conversations;
  TemplatesConfig templates;
  std::map<std::string, ChannelConfig> channels;
  LogConfig log;
};

/// The channels Herald knows, in the contract's order.
extern const std::vector<std::string> kChannels;

/// Parses a config document. `file` names it in errors. Throws ConfigError.
Config parse(const std::string& text, const std::string& file);

/// Reads a config file; when `required` is false a missing file gives the defaults.
Config load(const std::string& path, bool required);

/// "30s", "15m", "1h", "2d", "1w", "250ms"; nullopt when malformed.
std::optional<Duration> parse_duration(std::string_view text);

/// Expands ${NAME} and ${NAME:-default}; throws std::invalid_argument naming an unset variable.
std::string expand_env(std::string_view text);

/// A node's position as a 1-based Location.
Location location_of(const YAML::Node& node, const std::string& file);

}  // namespace herald::config
