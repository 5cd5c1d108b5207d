#pragma once
// The `outbox` provider: appends each message as one JSON line to a file, so that Herald
// runs with no credentials and tests can read what would have been sent.
//
// Line: {"id", "channel", "to", "content", "transactional", "customer_id", "template",
// "workflow", "run", "at"} with `at` the RFC 3339 UTC time of the send (milliseconds).
//
// Config: `path` (default data_dir/outbox.jsonl). A relative path is resolved against
// data_dir, like the other files Herald keeps. Missing parent folders are created and
// the file opened (O_APPEND) when the adapter is built, so a bad path fails at start-up.
//
// Threading: the file is written by one writer thread per file, fed by a queue; channels
// naming the same file (after resolution) share that writer, so lines never interleave.
// A send completes, on the awaiting coroutine's executor, once its line has been handed
// to the kernel with write(2) (no fsync: the outbox is a development sink).

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "channels/channel.hpp"
#include "channels/registry.hpp"

namespace herald::channels::outbox {

struct OutboxSettings {
  ProviderSettings common;
  std::filesystem::path path;  // absolute, normalised
};

/// Parses and validates an outbox section. Throws config::ConfigError.
OutboxSettings parse_settings(const YAML::Node& section, const AdapterContext& context,
                              const std::string& config_file);

class Writer;

class OutboxChannel final : public Channel {
 public:
  static constexpr std::string_view kProvider = "outbox";

  /// Opens (creating) the file; throws std::system_error when it cannot.
  explicit OutboxChannel(OutboxSettings settings);

  /// For tests: a private writer (not shared by path) that calls `before_write` on the
  /// writer thread before each batch is written, to hold a write in progress.
  OutboxChannel(OutboxSettings settings, std::function<void()> before_write);

  ~OutboxChannel() override;

  std::string_view provider() const override { return kProvider; }
  boost::asio::awaitable<SendResult> send(const OutboundMessage& message,
                                          SendContext& context) override;

  const OutboxSettings& settings() const { return settings_; }

 private:
  OutboxSettings settings_;
  std::shared_ptr<Writer> writer_;
};

/// The registry's factory for `provider: outbox`.
std::unique_ptr<Channel> make_outbox(const AdapterContext& context, const YAML::Node& section,
                                     const std::string& config_file);

/// The JSON line for a message (with its trailing newline); `at` is RFC 3339 UTC.
std::string format_line(const OutboundMessage& message, std::chrono::system_clock::time_point at);

}  // namespace herald::channels::outbox
