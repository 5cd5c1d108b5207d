#pragma once
// A customer's state as stored in the profile hash, and its JSON forms.
//
// Hash fields: t (traits, JSON), s (order stats, JSON), cs (consent, JSON), ca and ua
// (created_at and updated_at, RFC 3339), r (active workflow runs, JSON object keyed by
// workflow id) and h (workflow entry history for `once` and `cooldown`, JSON object keyed
// by workflow id). r and h are written by the workflow engine (gateway/engine).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "gateway/ingest/order_stats.hpp"
#include "gateway/ingest/timestamp.hpp"

namespace herald::gateway {

using OJson = nlohmann::ordered_json;

struct CustomerState {
  OJson traits = OJson::object();
  ingest::OrderStats stats;
  OJson consent = OJson::object();
  std::string created_at;
  std::string updated_at;
  OJson runs = OJson::object();     ///< r: workflow id -> run (gateway/engine/run.hpp)
  OJson entries = OJson::object();  ///< h: workflow id -> {"last": ms, "count": n}
  /// Set by whatever merges into `traits` (an event's traits, a workflow's `update`), so
  /// that unchanged traits are not serialised again to be compared with what was read.
  bool traits_changed = false;
  /// Loaded without traits, consent, runs and entries (customer_from_fields with
  /// full = false): they read as empty until complete() loads them, and a state still
  /// partial when stored leaves them as they were.
  bool partial = false;
  /// Of a partial state: the values it was read from, which its reader keeps for as long
  /// as it uses the state; null when they were not read at all.
  const std::vector<std::optional<std::string>>* source = nullptr;
  /// Loads what a partial state left out; nothing otherwise. Throws std::runtime_error
  /// when they were not read (the reader then reads again, whole).
  void complete();
  bool exists() const { return !created_at.empty(); }
};

inline const std::vector<std::string> kProfileFields{"t", "s", "cs", "ca", "ua", "r", "h"};

/// From the values of kProfileFields (nullopt: absent). With `full` false, only the
/// stats and the times: a partial state (CustomerState::partial), for an event that needs
/// no more.
CustomerState customer_from_fields(const std::vector<std::optional<std::string>>& values,
                                   bool full = true);

std::string stats_to_stored(const ingest::OrderStats& stats);

/// GET /v1/customers/{id}
OJson customer_to_json(const std::string& id, const CustomerState& c, const config::Config& config);

/// An entry of a customer's event history (keys::customer_events) as stored: "\x01", the
/// event's time (milliseconds since the epoch), "\x1f", its name, "\x1f", its properties
/// (a JSON object's text, which holds no raw control character, so the last "\x1f" ends
/// the name). About half the bytes of the JSON object earlier versions stored.
std::string history_entry(std::string_view event, std::string_view properties,
                          ingest::Timestamp at);

/// A stored history entry as the JSON text {"event", "properties", "timestamp"} the API
/// shows; an entry stored by earlier versions (that JSON already) as it is.
std::string history_entry_json(std::string_view stored);

/// Merges normalised traits: a null value removes the trait.
void merge_traits(OJson& traits, const OJson& update);

/// SHA-256 hex of an identifier, for the suppression list of erased customers.
std::string hashed_identifier(std::string_view kind, std::string_view value);

/// Removes the address index entry of an address only while it names `customer_id`
/// (another customer may have claimed the address since). An EVAL, safe inside MULTI.
std::vector<std::string> release_address_command(std::string_view channel,
                                                 std::string_view address,
                                                 std::string_view customer_id);

}  // namespace herald::gateway
