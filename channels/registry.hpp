#pragma once
// Adapters by provider name. The registry is filled explicitly in one place
// (register_builtin_adapters), never by static initialisers, which the linker drops from
// static libraries. A duplicate name fails at start-up.
//
// Thread safety: fill it at start-up, then only read it (make is const and safe to call
// from several threads).

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <boost/asio/any_io_executor.hpp>

#include "channels/channel.hpp"
#include "config/config.hpp"

namespace herald::channels {

/// What adapters may need from the process, handed to every factory.
struct AdapterContext {
  /// The configured data_dir; relative file settings are resolved against it.
  std::filesystem::path data_dir = "./var";
  /// Where to run work that may block (a C library's synchronous call, file I/O): the
  /// executor of a thread pool kept apart from the io_contexts. May be empty for
  /// adapters that do not need it (outbox owns its writer thread).
  boost::asio::any_io_executor blocking;
  /// The configured public_url (no trailing slash): adapters give providers their
  /// status-callback URLs under it (PUBLIC_URL/hooks/twilio).
  std::string public_url;
};

/// Builds an adapter from its section (marks kept; null when the channel is not written
/// in the file). Throws config::ConfigError naming the line and column at fault.
using AdapterFactory = std::function<std::unique_ptr<Channel>(
    const AdapterContext& context, const YAML::Node& section, const std::string& config_file)>;

class Registry {
 public:
  /// Throws std::invalid_argument when `name` is already registered. `channels` lists
  /// the channels the provider can serve (empty: any).
  void add(std::string name, AdapterFactory factory, std::vector<std::string> channels = {});

  bool contains(std::string_view name) const;
  std::vector<std::string> names() const;  // sorted

  /// Builds the adapter for one channel. An unknown provider is a ConfigError at the
  /// `provider` value; the adapter's own ConfigErrors are prefixed with the channel.
  std::unique_ptr<Channel> make(const std::string& channel, const config::ChannelConfig& config,
                                const AdapterContext& context,
                                const std::string& config_file) const;

 private:
  struct Entry {
    AdapterFactory factory;
    std::vector<std::string> channels;
  };
  std::map<std::string, Entry, std::less<>> factories_;
};

/// The one place that lists Herald's adapters.
void register_builtin_adapters(Registry& registry);

/// A registry holding the built-in adapters, filled on first use.
const Registry& default_registry();

}  // namespace herald::channels
