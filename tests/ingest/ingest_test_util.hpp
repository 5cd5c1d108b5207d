#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway/ingest/api_error.hpp"
#include "gateway/ingest/timestamp.hpp"

namespace herald::ingest::test {

/// 2024-03-01T12:00:00Z, the receipt time of every test request.
inline Timestamp received() {
  using namespace std::chrono;
  return sys_days{year{2024} / 3 / 1} + hours{12};
}

/// Runs `call`, which must throw ApiError; returns it.
inline ApiError expect_api_error(const std::function<void()>& call) {
  try {
    call();
  } catch (const ApiError& error) {
    return error;
  }
  FAIL("no ApiError thrown");
  return ApiError(0, "", "");
}

inline nlohmann::ordered_json json(std::string_view text) {
  return nlohmann::ordered_json::parse(text);
}

}  // namespace herald::ingest::test
