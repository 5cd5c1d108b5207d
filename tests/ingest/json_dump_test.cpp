#include "gateway/ingest/json_dom.hpp"

#include <functional>
#include <random>
#include <string>

#include <catch2/catch.hpp>

using herald::ingest::dump_json;
using herald::ingest::parse_stored_json;
using OJson = nlohmann::ordered_json;

namespace {

void same_as_nlohmann(const OJson& value) {
  INFO(value.dump());
  CHECK(dump_json(value) == value.dump());
}

}  // namespace

TEST_CASE("dump_json writes what nlohmann's dump() writes", "[ingest][json]") {
  same_as_nlohmann(OJson());
  same_as_nlohmann(OJson::object());
  same_as_nlohmann(OJson::array());
  same_as_nlohmann(true);
  same_as_nlohmann(false);
  same_as_nlohmann(0);
  same_as_nlohmann(-9223372036854775807LL - 1);
  same_as_nlohmann(18446744073709551615ULL);
  for (double d : {0.0, -0.0, 1.0, 1.5, -2.25, 1e300, 5e-324, 0.1, 100.0, 1e21, 123456789.125})
    same_as_nlohmann(d);
  same_as_nlohmann("");
  same_as_nlohmann("plain");
  same_as_nlohmann("quote \" backslash \\ slash / tab \t newline \n cr \r bs \b ff \f");
  same_as_nlohmann(std::string("nul \0 unit \x1f del \x7f", 21));
  same_as_nlohmann("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  // Order kept, keys escaped, nesting.
  OJson nested = OJson::object();
  nested["z\"key"] = {{"b", 1}, {"a", OJson::array({1, 2.5, "x", nullptr, false})}};
  nested["a"] = OJson::object();
  nested["\xC3\xA9\n"] = OJson::array({OJson::object(), OJson::array()});
  same_as_nlohmann(nested);
  same_as_nlohmann(OJson::value_t::discarded);
  // A run as the engine keeps it, through the parser that reads it back.
  same_as_nlohmann(parse_stored_json(
      R"({"wf":{"id":"6983460ebe6cd97c","path":[2],"state":"waiting","event":{"name":"ev.95",)"
      R"("properties":{"total":128,"price":19.99,"tags":["a","b"],"x":null},"timestamp":"2026-11-23T11:17:59.463Z"}}})"));
}

TEST_CASE("dump_json on random documents", "[ingest][json]") {
  std::mt19937 rng(7);
  const std::string alphabet = std::string("ab\"\\/\n\t\x01\x1f ", 11) + "\xC3\xA9";
  auto text = [&] {
    std::string s;
    for (int n = rng() % 6; n > 0; --n) {
      auto i = rng() % (alphabet.size() - 1);
      s += i == alphabet.size() - 2 ? alphabet.substr(i, 2) : alphabet.substr(i, 1);
    }
    return s;
  };
  std::function<OJson(int)> make = [&](int depth) -> OJson {
    switch (depth > 3 ? rng() % 5 : rng() % 7) {
      case 0:
        return nullptr;
      case 1:
        return static_cast<int64_t>(rng()) - (1LL << 31);
      case 2:
        return static_cast<double>(rng()) / 7.0;
      case 3:
        return text();
      case 4:
        return rng() % 2 == 0;
      case 5: {
        OJson a = OJson::array();
        for (int n = rng() % 4; n > 0; --n) a.push_back(make(depth + 1));
        return a;
      }
      default: {
        OJson o = OJson::object();
        for (int n = rng() % 4; n > 0; --n) o[text()] = make(depth + 1);
        return o;
      }
    }
  };
  for (int i = 0; i < 2000; ++i) {
    auto value = make(0);
    REQUIRE(dump_json(value) == value.dump());
  }
}

TEST_CASE("dump_json throws as dump() does on a string that is not UTF-8", "[ingest][json]") {
  OJson bad = {{"k", std::string("\xC3(", 2)}};
  CHECK_THROWS_AS(bad.dump(), nlohmann::ordered_json::type_error);
  CHECK_THROWS_AS(dump_json(bad), nlohmann::ordered_json::type_error);
  OJson bad_key = OJson::object();
  bad_key[std::string("\xFF", 1)] = 1;
  CHECK_THROWS_AS(dump_json(bad_key), nlohmann::ordered_json::type_error);
}
