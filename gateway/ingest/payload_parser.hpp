#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/ingest/api_error.hpp"
#include "gateway/ingest/event.hpp"
#include "gateway/ingest/traits.hpp"

namespace herald::ingest {

/// The ingest endpoints: POST /v1/track, /v1/identify, /v1/batch.
enum class Endpoint { kTrack, kIdentify, kBatch };

struct IngestOptions {
  TraitOptions traits;                      // policies.default_region
  std::size_t max_event_bytes = 32 * 1024;  // minified size of one event, alone or in a batch
  std::size_t max_batch_items = 2500;
};

/// A valid ingest request.
struct IngestRequest {
  std::vector<Event> events;  // in request order
  std::string write_key;      // `writeKey` from the body; empty when absent
  std::size_t ignored = 0;    // batch items of Segment types Herald does not use (page, screen,
                              // group, alias): accepted and not stored
};

/// Parses and validates Segment Tracking API bodies (api.md, "Ingest") into normalised events.
///
/// Every failure is an ApiError (400 `invalid_json`, `invalid_event`, `missing_user_id`,
/// `invalid_trait`, `event_too_large`, `batch_too_large`); a batch is validated whole and the
/// error's `details` lists every problem (at most a few per item). The body size limit (413) is
/// the HTTP layer's.
///
/// Not thread-safe: keep one per thread (it reuses simdjson's buffers).
class PayloadParser {
 public:
  explicit PayloadParser(IngestOptions options = {});
  ~PayloadParser();
  PayloadParser(PayloadParser&&) noexcept;
  PayloadParser& operator=(PayloadParser&&) noexcept;

  IngestRequest parse(Endpoint endpoint, std::string_view body, Timestamp received_at);

  /// `writeKey` at the top of a body, for authenticating a request that carries no
  /// Authorization header before validating it. Nullopt when absent or the body is not JSON.
  std::optional<std::string> find_write_key(std::string_view body);

  const IngestOptions& options() const;

 private:
  class Impl;  // keeps simdjson out of this header
  std::unique_ptr<Impl> impl_;
};

}  // namespace herald::ingest
