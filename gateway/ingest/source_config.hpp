#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "gateway/ingest/event.hpp"
#include "gateway/ingest/mapping_expr.hpp"
#include "gateway/ingest/signature.hpp"
#include "gateway/ingest/traits.hpp"

namespace herald::ingest {

/// A bad `sources` section; line and column count from 1.
class SourceConfigError : public std::runtime_error {
 public:
  SourceConfigError(const std::string& message, int line, int column)
      : std::runtime_error(message), line_(line), column_(column) {}
  int line() const { return line_; }
  int column() const { return column_; }

 private:
  int line_;
  int column_;
};

using NamedExprs = std::vector<std::pair<std::string, std::unique_ptr<const MappingExpr>>>;

/// One entry of `map:`. The first rule whose `when` holds maps the request.
struct MapRule {
  std::unique_ptr<const MappingExpr> when;  // null: always
  std::string event;                        // a literal name, or empty with event_from
  std::unique_ptr<const MappingExpr> event_from;
  std::unique_ptr<const MappingExpr> user_id;
  std::unique_ptr<const MappingExpr> properties;  // an expression, or
  NamedExprs properties_map;                      // a map of names to expressions; both empty: {}
  std::unique_ptr<const MappingExpr> traits;
  NamedExprs traits_map;
  std::unique_ptr<const MappingExpr> message_id;  // null: X-Shopify-Webhook-Id for shopify
};

/// A signed third-party webhook source (`sources.NAME`, POST /v1/sources/NAME). Immutable after
/// parse_source(); every method is safe to call from several threads at once.
class Source {
 public:
  Source(std::string name, SignatureConfig signature, std::vector<MapRule> rules)
      : name_(std::move(name)), signature_(std::move(signature)), rules_(std::move(rules)) {}

  const std::string& name() const { return name_; }
  const SignatureConfig& signature() const { return signature_; }
  const std::vector<MapRule>& rules() const { return rules_; }

  /// Throws ApiError 401 `bad_signature` or `stale_signature`.
  void verify(const nlohmann::ordered_json& headers, std::string_view body,
              std::chrono::system_clock::time_point now) const {
    verify_signature(signature_, headers, body, now);
  }

  /// Turns a verified request into one track event. Throws ApiError 422 `unmapped` (no rule
  /// holds, no customer id, no event name, properties or traits not objects) or 400
  /// `invalid_trait`. Null traits are left out.
  Event map(const nlohmann::ordered_json& headers, const nlohmann::ordered_json& body,
            Timestamp received_at, const TraitOptions& options) const;

  /// verify(), then the body parsed as JSON (400 `invalid_json`), then map().
  Event handle(const nlohmann::ordered_json& headers, std::string_view body, Timestamp received_at,
               const TraitOptions& options) const;

 private:
  std::string name_;
  SignatureConfig signature_;
  std::vector<MapRule> rules_;
};

using SourceRegistry = std::map<std::string, std::shared_ptr<const Source>, std::less<>>;

/// Parses one `sources.NAME` section (environment variables already substituted). Unknown keys,
/// a missing secret or mapping, an unknown scheme or a bad expression throw SourceConfigError
/// with the offending key's line and column.
std::shared_ptr<const Source> parse_source(std::string name, const YAML::Node& node,
                                           const MappingExprFactory& compile);

/// Parses the whole `sources` map (absent or null: none).
SourceRegistry parse_sources(const YAML::Node& sources, const MappingExprFactory& compile);

/// `300`, `45s`, `5m`, `1h30m`, `2d`, `500ms` → a duration; nullopt when malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// An object of lower-cased header names to values, as the mapping and verification read them.
/// A repeated header's values are joined with ", ".
nlohmann::ordered_json header_object(
    const std::vector<std::pair<std::string, std::string>>& headers);

}  // namespace herald::ingest
