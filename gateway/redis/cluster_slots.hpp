#pragma once
// Redis Cluster's key space: the hash slot of a key (CRC16 of its hash tag, modulo 16384)
// and the key a command is routed by.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::redis {

inline constexpr unsigned kSlots = 16384;

/// The slot of a key: CRC16 (XMODEM) of the text between the first `{` and the next `}`
/// when that text is not empty, of the whole key otherwise.
unsigned hash_slot(std::string_view key);

/// The key that decides where a command runs, or nothing for a command without keys
/// (PING, MULTI, EXEC, SCRIPT LOAD, an EVALSHA with no keys…).
std::optional<std::string_view> routing_key(const std::vector<std::string>& command);

/// The slot and the "host:port" of a MOVED or ASK error, e.g. "MOVED 3999 127.0.0.1:6381".
struct Redirect {
  bool ask = false;
  unsigned slot = 0;
  std::string address;
};
std::optional<Redirect> parse_redirect(std::string_view error);

}  // namespace herald::redis
