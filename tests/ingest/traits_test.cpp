#include "gateway/ingest/traits.hpp"

#include <catch2/catch.hpp>

#include "ingest_test_util.hpp"

using namespace herald::ingest;
using herald::ingest::test::expect_api_error;
using herald::ingest::test::json;

TEST_CASE("email: syntax checked, domain lower-cased", "[ingest][traits]") {
  CHECK(normalize_email("Jane.Doe@Example.COM") == "Jane.Doe@example.com");
  CHECK(normalize_email("  a+tag@sub.mail.example.org\t") == "a+tag@sub.mail.example.org");
  CHECK(normalize_email("o'hara!#$%&*/=?^_`{|}~-@x-y.io") == "o'hara!#$%&*/=?^_`{|}~-@x-y.io");
  CHECK(normalize_email("jos\xC3\xA9@b\xC3\xBC"
                        "cher.DE") ==
        "jos\xC3\xA9@b\xC3\xBC"
        "cher.de");
  CHECK(normalize_email(std::string(64, 'a') + "@example.com"));
  for (const std::string& bad : std::vector<std::string>{"",
                                                         "plain",
                                                         "@example.com",
                                                         "a@",
                                                         "a@b",
                                                         "a@@b.com",
                                                         "a@b@c.com",
                                                         "a..b@c.com",
                                                         ".a@c.com",
                                                         "a.@c.com",
                                                         "a b@c.com",
                                                         "a@-c.com",
                                                         "a@c-.com",
                                                         "a@c..com",
                                                         "a@c.com.",
                                                         "a@[192.0.2.1]",
                                                         "\"quoted\"@c.com",
                                                         "a@c.123",
                                                         "a@c_d.com",
                                                         "a(comment)@c.com",
                                                         std::string(65, 'a') + "@example.com",
                                                         "a@" + std::string(64, 'b') + ".com",
                                                         "a@" + std::string(250, 'b') + ".com"}) {
    INFO(bad);
    CHECK_FALSE(normalize_email(bad));
  }
}

TEST_CASE("phone: E.164 with the default region for national numbers", "[ingest][traits]") {
  CHECK(normalize_phone("+1 415-555-2671", "US") == "+14155552671");
  CHECK(normalize_phone("(415) 555-2671", "US") == "+14155552671");
  CHECK(normalize_phone("415.555.2671", "US") == "+14155552671");
  CHECK(normalize_phone("06 12 34 56 78", "FR") == "+33612345678");
  CHECK(normalize_phone("+33 6 12 34 56 78", "US") == "+33612345678");
  CHECK(normalize_phone("00 33 6 12 34 56 78", "DE") == "+33612345678");
  CHECK(normalize_phone("020 7946 0958", "GB") == "+442079460958");
  CHECK(normalize_phone("tel:+1-415-555-2671", "US") == "+14155552671");
  CHECK_FALSE(normalize_phone("06 12 34 56 78", "US"));  // not a US number
  CHECK_FALSE(normalize_phone("12", "US"));
  CHECK_FALSE(normalize_phone("+1 415 555 26711", "US"));  // too long
  CHECK_FALSE(normalize_phone("not a number", "US"));
  CHECK_FALSE(normalize_phone("", "US"));
  CHECK_FALSE(normalize_phone("415 555 2671", "ZZ"));  // no region to read it with
  CHECK_FALSE(normalize_phone(std::string(1000, '1'), "US"));
  CHECK(is_known_phone_region("US"));
  CHECK(is_known_phone_region("FR"));
  CHECK_FALSE(is_known_phone_region("ZZ"));
  CHECK_FALSE(is_known_phone_region("usa"));
}

TEST_CASE("timezone: IANA names in their canonical spelling", "[ingest][traits]") {
  CHECK(normalize_timezone("Europe/Paris") == "Europe/Paris");
  CHECK(normalize_timezone("america/new_york") == "America/New_York");
  CHECK(normalize_timezone("UTC") == "UTC");
  CHECK(normalize_timezone("Asia/Kolkata") == "Asia/Kolkata");
  CHECK(normalize_timezone("America/Argentina/Buenos_Aires") == "America/Argentina/Buenos_Aires");
  for (const char* bad : {"", "Mars/Olympus_Mons", "+02:00", "CEST ", "Europe/", "../../etc/passwd",
                          "Europe/Paris/x"}) {
    INFO(bad);
    CHECK_FALSE(normalize_timezone(bad));
  }
}

TEST_CASE("locale: BCP 47 syntax with conventional case", "[ingest][traits]") {
  const std::pair<const char*, const char*> good[] = {
      {"fr-ca", "fr-CA"},
      {"FR-CA", "fr-CA"},
      {"en", "en"},
      {"en_us", "en-US"},
      {"zh-hant-tw", "zh-Hant-TW"},
      {"sr-latn", "sr-Latn"},
      {"es-419", "es-419"},
      {"de-CH-1996", "de-CH-1996"},
      {"sl-rozaj-biske", "sl-rozaj-biske"},
      {"zh-yue-HK", "zh-yue-HK"},
      {"en-US-u-ca-gregory", "en-US-u-ca-gregory"},
      {"de-DE-x-Private", "de-DE-x-private"},
      {"x-whatever", "x-whatever"},
      {"haw", "haw"},
  };
  for (const auto& [input, expected] : good) {
    INFO(input);
    CHECK(normalize_locale(input) == expected);
  }
  for (const char* bad :
       {"", "e", "english!", "en--US", "en-", "-en", "en-US-", "123", "en-u", "en-a-b-cd",
        "de-1996-1996", "en-u-ca-u-nu", "toolonglanguage", "en-x", "i-klingon", "en US"}) {
    INFO(bad);
    CHECK_FALSE(normalize_locale(bad));
  }
}

TEST_CASE("birthday: a real date, with or without a year", "[ingest][traits]") {
  CHECK(normalize_birthday("1990-05-17") == "1990-05-17");
  CHECK(normalize_birthday("2000-02-29") == "2000-02-29");
  CHECK(normalize_birthday("--02-29") == "--02-29");
  CHECK(normalize_birthday("--12-31") == "--12-31");
  for (const char* bad : {"1990-02-29", "1900-02-29", "1990-13-01", "1990-00-10", "1990-04-31",
                          "--02-30", "--13-01", "--00-01", "0000-01-01", "90-05-17", "1990/05/17",
                          "1990-5-17", "17-05-1990", "1990-05-17T00:00:00Z", "--0229", ""}) {
    INFO(bad);
    CHECK_FALSE(normalize_birthday(bad));
  }
}

TEST_CASE("normalize_traits over a JSON object", "[ingest][traits]") {
  const TraitOptions options{"GB"};
  const auto out = normalize_traits(
      json(R"({"email":"A@B.CO","phone":"020 7946 0958","whatsapp":447946095800,"x":{"y":1},
               "timezone":null,"locale":""})"),
      options);
  CHECK(out == json(R"({"email":"A@b.co","phone":"+442079460958","whatsapp":"+447946095800",
                        "x":{"y":1},"timezone":null,"locale":null})"));

  const ApiError error = expect_api_error([&] {
    normalize_traits(json(R"({"email":"x","birthday":"--02-30","ok":1,"phone":true})"), options,
                     "batch[2].traits");
  });
  CHECK(error.status == 400);
  CHECK(error.code == "invalid_trait");
  CHECK(error.field == "batch[2].traits.email");
  REQUIRE(error.details.size() == 3);
  CHECK(error.details[1].field == "batch[2].traits.birthday");
  CHECK(error.details[2].field == "batch[2].traits.phone");
  CHECK(expect_api_error([&] { normalize_traits(json("[]"), options); }).code == "invalid_event");
}

TEST_CASE("channel addresses come from traits", "[ingest][traits]") {
  using A = ChannelAddress;
  CHECK(channel_addresses(json(R"({"email":"a@b.co","phone":"+14155552671",
    "wechat_openid":"oW1","messenger_psid":"123","name":"x"})")) ==
        std::vector<A>{{"email", "a@b.co"},
                       {"sms", "+14155552671"},
                       {"whatsapp", "+14155552671"},
                       {"wechat", "oW1"},
                       {"social", "123"}});
  CHECK(channel_addresses(json(R"({"phone":"+14155552671","whatsapp":"+447946095800"})")) ==
        std::vector<A>{{"sms", "+14155552671"}, {"whatsapp", "+447946095800"}});
  CHECK(channel_addresses(json(R"({"whatsapp":"+447946095800","email":null,"phone":""})")) ==
        std::vector<A>{{"whatsapp", "+447946095800"}});
  CHECK(channel_addresses(json(R"({"email":5})")).empty());
  CHECK(channel_addresses(json("[]")).empty());
}
