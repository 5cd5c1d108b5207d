#include <catch2/catch.hpp>

#include "gateway/redis/redis_url.hpp"

using herald::redis::parse_url;

TEST_CASE("redis URLs in every form of the config") {
  auto plain = parse_url("redis://cache.internal:6380");
  CHECK_FALSE(plain.unix_socket);
  CHECK(plain.host == "cache.internal");
  CHECK(plain.port == 6380);
  CHECK(plain.db == 0);
  CHECK(plain.password.empty());

  auto defaults = parse_url("redis://localhost");
  CHECK(defaults.port == 6379);

  auto with_password = parse_url("redis://:s%40cret@10.0.0.5:6379/4");
  CHECK(with_password.password == "s@cret");
  CHECK(with_password.username.empty());
  CHECK(with_password.db == 4);
  CHECK(with_password.redacted() == "redis://:***@10.0.0.5:6379/4");

  auto acl = parse_url("redis://herald:pw@h:1/0");
  CHECK(acl.username == "herald");
  CHECK(acl.password == "pw");

  auto v6 = parse_url("redis://[::1]:7000");
  CHECK(v6.host == "::1");
  CHECK(v6.port == 7000);

  auto tls = parse_url("rediss://h:6380");
  CHECK(tls.tls);

  auto unix_socket = parse_url("unix:///run/redis/redis.sock?db=2&password=x");
  CHECK(unix_socket.unix_socket);
  CHECK(unix_socket.path == "/run/redis/redis.sock");
  CHECK(unix_socket.db == 2);
  CHECK(unix_socket.password == "x");
}

TEST_CASE("malformed redis URLs are rejected with a reason") {
  CHECK_THROWS_WITH(parse_url("http://x"), Catch::Contains("redis://"));
  CHECK_THROWS_WITH(parse_url("redis://h:port"), Catch::Contains("port"));
  CHECK_THROWS_WITH(parse_url("redis://h:70000"), Catch::Contains("port"));
  CHECK_THROWS_WITH(parse_url("redis://h:1/x"), Catch::Contains("db"));
  CHECK_THROWS_WITH(parse_url("redis://"), Catch::Contains("host"));
  CHECK_THROWS_WITH(parse_url("unix://relative.sock"), Catch::Contains("absolute"));
  CHECK_THROWS_WITH(parse_url("unix:///s.sock?color=blue"), Catch::Contains("color"));
}
