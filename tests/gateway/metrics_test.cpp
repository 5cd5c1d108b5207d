#include <thread>

#include <catch2/catch.hpp>

#include "gateway/metrics.hpp"

using namespace herald::metrics;

TEST_CASE("counters and histograms render in the Prometheus text format") {
  Registry r;
  auto& c = r.counter("herald_test_things_total", "Things", "kind=\"a\"");
  c.inc();
  c.inc(2);
  auto& h = r.histogram("herald_test_latency_seconds", "Latency", "route=\"/x\"");
  h.observe(0.0002);
  h.observe(0.02);
  h.observe(30);
  r.gauge_fn("herald_test_answer", "The answer", [] { return 42.0; });
  auto text = r.render();
  CHECK_THAT(text, Catch::Contains("# TYPE herald_test_things_total counter\n"));
  CHECK_THAT(text, Catch::Contains("herald_test_things_total{kind=\"a\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE herald_test_latency_seconds histogram\n"));
  CHECK_THAT(text, Catch::Contains("herald_test_latency_seconds_bucket{route=\"/x\",le=\"0.0001\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("herald_test_latency_seconds_bucket{route=\"/x\",le=\"0.00025\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("herald_test_latency_seconds_bucket{route=\"/x\",le=\"0.025\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("herald_test_latency_seconds_bucket{route=\"/x\",le=\"10\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("herald_test_latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("herald_test_latency_seconds_count{route=\"/x\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("herald_test_answer 42\n"));
}

TEST_CASE("counters are exact under concurrent updates") {
  Registry r;
  auto& c = r.counter("herald_test_concurrent_total", "Concurrent");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) c.inc();
    });
  for (auto& t : threads) t.join();
  CHECK(c.value() == 400000);
}

TEST_CASE("label values are escaped") {
  CHECK(label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
}
