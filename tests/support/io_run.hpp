#pragma once
// Driving an io_context from a test's thread: run it in short slices until a condition
// holds, or until one coroutine finishes.

#include <utility>

#include <chrono>
#include <exception>
#include <optional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

namespace herald::test {

/// Runs `ioc` until `condition` holds (true) or `timeout` passes (false).
template <typename F>
bool run_until(boost::asio::io_context& ioc, F condition,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(10));
  }
  return true;
}

/// Runs one coroutine to completion on `ioc` and returns its result (rethrowing its
/// exception); the test fails if it does not finish within `timeout`.
template <typename T>
T run(boost::asio::io_context& ioc, boost::asio::awaitable<T> task,
      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  std::optional<T> result;
  std::exception_ptr error;
  bool done = false;
  boost::asio::co_spawn(ioc, std::move(task), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) result = std::move(value);
    done = true;
  });
  REQUIRE(run_until(ioc, [&] { return done; }, timeout));
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

}  // namespace herald::test
