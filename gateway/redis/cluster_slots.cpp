#include "gateway/redis/cluster_slots.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace herald::redis {
namespace {

constexpr std::array<uint16_t, 256> make_table() {
  std::array<uint16_t, 256> table{};
  for (unsigned i = 0; i < 256; ++i) {
    uint16_t crc = static_cast<uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit)
      crc = static_cast<uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    table[i] = crc;
  }
  return table;
}
constexpr auto kCrcTable = make_table();

uint16_t crc16(std::string_view data) {
  uint16_t crc = 0;
  for (unsigned char c : data)
    crc = static_cast<uint16_t>((crc << 8) ^ kCrcTable[((crc >> 8) ^ c) & 0xff]);
  return crc;
}

bool named(const std::string& word, std::string_view name) {
  return word.size() == name.size() &&
         std::equal(word.begin(), word.end(), name.begin(), [](char a, char b) {
           return std::toupper(static_cast<unsigned char>(a)) == b;
         });
}

}  // namespace

unsigned hash_slot(std::string_view key) {
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1)
      key = key.substr(open + 1, close - open - 1);
  }
  return crc16(key) & (kSlots - 1);
}

std::optional<std::string_view> routing_key(const std::vector<std::string>& c) {
  if (c.empty()) return std::nullopt;
  const auto& name = c[0];
  for (auto keyless : {"PING", "MULTI", "EXEC", "DISCARD", "UNWATCH", "SCRIPT", "INFO", "CLUSTER",
                       "ASKING", "AUTH", "SELECT", "TIME", "DBSIZE", "FLUSHALL", "FLUSHDB",
                       "CLIENT", "CONFIG", "COMMAND", "WAIT", "HELLO", "ECHO", "SCAN", "KEYS"})
    if (named(name, keyless)) return std::nullopt;
  if (named(name, "EVAL") || named(name, "EVALSHA") || named(name, "EVAL_RO") ||
      named(name, "EVALSHA_RO") || named(name, "FCALL") || named(name, "FCALL_RO")) {
    if (c.size() < 4 || c[2] == "0") return std::nullopt;
    return std::string_view(c[3]);
  }
  if (named(name, "XREAD") || named(name, "XREADGROUP")) {
    for (std::size_t i = 1; i + 1 < c.size(); ++i)
      if (named(c[i], "STREAMS")) return std::string_view(c[i + 1]);
    return std::nullopt;
  }
  if (named(name, "XGROUP") || named(name, "XINFO") || named(name, "MEMORY") ||
      named(name, "OBJECT")) {
    if (c.size() < 3) return std::nullopt;
    return std::string_view(c[2]);
  }
  if (c.size() < 2) return std::nullopt;
  return std::string_view(c[1]);
}

std::optional<Redirect> parse_redirect(std::string_view error) {
  Redirect out;
  if (error.rfind("MOVED ", 0) == 0) error.remove_prefix(6);
  else if (error.rfind("ASK ", 0) == 0) error.remove_prefix(4), out.ask = true;
  else return std::nullopt;
  auto space = error.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto slot_text = error.substr(0, space);
  auto [end, ec] = std::from_chars(slot_text.data(), slot_text.data() + slot_text.size(), out.slot);
  if (ec != std::errc() || end != slot_text.data() + slot_text.size() || out.slot >= kSlots)
    return std::nullopt;
  out.address = std::string(error.substr(space + 1));
  if (out.address.empty() || out.address.find(':') == std::string::npos) return std::nullopt;
  return out;
}

}  // namespace herald::redis
