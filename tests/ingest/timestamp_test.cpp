#include "gateway/ingest/timestamp.hpp"

#include <catch2/catch.hpp>

using namespace herald::ingest;

namespace {
std::string utc(std::string_view text) {
  const auto time = parse_rfc3339(text);
  return time ? format_rfc3339(*time) : "invalid";
}
}  // namespace

TEST_CASE("RFC 3339 with any offset becomes UTC", "[ingest][time]") {
  CHECK(utc("2024-03-01T12:30:00Z") == "2024-03-01T12:30:00.000Z");
  CHECK(utc("2024-03-01T12:30:00.5+01:00") == "2024-03-01T11:30:00.500Z");
  CHECK(utc("2024-03-01t00:30:00.123456789-05:30") == "2024-03-01T06:00:00.123Z");
  CHECK(utc("2024-03-01 23:59:59.999z") == "2024-03-01T23:59:59.999Z");
  CHECK(utc("2024-02-29T23:00:00-01:00") == "2024-03-01T00:00:00.000Z");
  CHECK(utc("2023-12-31T23:59:60Z") == "2024-01-01T00:00:00.000Z");  // leap second rolls over
  CHECK(utc("1970-01-01T00:00:00+00:00") == "1970-01-01T00:00:00.000Z");
  CHECK(utc("0001-01-01T00:00:00Z") == "0001-01-01T00:00:00.000Z");
  CHECK(utc("9999-12-31T23:59:59+14:00") == "9999-12-31T09:59:59.000Z");
}

TEST_CASE("anything else is not a time", "[ingest][time]") {
  for (const char* bad : {"",
                          "2024-03-01",
                          "2024-03-01T12:30:00",
                          "2024-03-01T12:30Z",
                          "2024-02-30T00:00:00Z",
                          "2023-02-29T00:00:00Z",
                          "2024-13-01T00:00:00Z",
                          "2024-03-01T24:00:00Z",
                          "2024-03-01T12:60:00Z",
                          "2024-03-01T12:00:61Z",
                          "2024-03-01T12:00:00.Z",
                          "2024-03-01T12:00:00+0100",
                          "2024-03-01T12:00:00+01",
                          "2024-03-01T12:00:00+24:00",
                          "2024-03-01T12:00:00Zjunk",
                          "2024-3-01T12:00:00Z",
                          "24-03-01T12:00:00Z",
                          "2024-03-01X12:00:00Z",
                          "1709290000",
                          "+2024-03-01T12:00:00Z"}) {
    INFO(bad);
    CHECK_FALSE(parse_rfc3339(bad));
  }
}
