// Quiet hours in the customer's own time zone (both sides of midnight, windows within a
// day, daylight-saving changes), unsubscribe tokens (genuine, forged, altered), and how
// frequency caps are named.
#include <catch2/catch.hpp>

#include <date/date.h>
#include <date/tz.h>

#include "gateway/policies.hpp"
#include "gateway/unsubscribe.hpp"

using herald::config::FrequencyCap;
using herald::config::QuietHours;
using herald::gateway::policies::Clock;
using herald::gateway::policies::quiet_until;

namespace {

/// A UTC instant from "YYYY-MM-DD HH:MM".
Clock::time_point utc(const std::string& text) {
  std::istringstream in(text);
  date::sys_time<std::chrono::minutes> tp;
  in >> date::parse("%Y-%m-%d %H:%M", tp);
  REQUIRE(!in.fail());
  return tp;
}

/// The local wall time of `tp` in `zone`, as "YYYY-MM-DD HH:MM".
std::string local(Clock::time_point tp, const std::string& zone) {
  auto z = date::make_zoned(zone, date::floor<std::chrono::minutes>(tp));
  return date::format("%Y-%m-%d %H:%M", z.get_local_time());
}

QuietHours night() {
  QuietHours q;  // 21:00 → 08:00 on sms, whatsapp, wechat, social
  return q;
}

}  // namespace

TEST_CASE("quiet hours: outside the window nothing is held", "[policies]") {
  CHECK_FALSE(quiet_until(night(), "sms", "UTC", utc("2026-03-10 12:00")));
  CHECK_FALSE(quiet_until(night(), "sms", "UTC", utc("2026-03-10 20:59")));
  CHECK_FALSE(quiet_until(night(), "sms", "UTC", utc("2026-03-10 08:00")));
  // Email is not a quiet-hours channel by default.
  CHECK_FALSE(quiet_until(night(), "email", "UTC", utc("2026-03-10 23:00")));
}

TEST_CASE("quiet hours: before midnight the message waits for tomorrow morning", "[policies]") {
  auto until = quiet_until(night(), "sms", "UTC", utc("2026-03-10 21:00"));
  REQUIRE(until);
  CHECK(*until == utc("2026-03-11 08:00"));
  until = quiet_until(night(), "sms", "UTC", utc("2026-03-10 23:59"));
  REQUIRE(until);
  CHECK(*until == utc("2026-03-11 08:00"));
}

TEST_CASE("quiet hours: after midnight the message waits for this morning", "[policies]") {
  auto until = quiet_until(night(), "sms", "UTC", utc("2026-03-11 00:00"));
  REQUIRE(until);
  CHECK(*until == utc("2026-03-11 08:00"));
  until = quiet_until(night(), "whatsapp", "UTC", utc("2026-03-11 07:59"));
  REQUIRE(until);
  CHECK(*until == utc("2026-03-11 08:00"));
}

TEST_CASE("quiet hours: the customer's own time zone decides", "[policies]") {
  // 12:00 UTC is 21:00 in Tokyo (quiet), 08:00 in New York (EDT since the 8th: the
  // window has just ended) and 13:00 in Paris.
  auto now = utc("2026-03-10 12:00");
  auto tokyo = quiet_until(night(), "sms", "Asia/Tokyo", now);
  REQUIRE(tokyo);
  CHECK(local(*tokyo, "Asia/Tokyo") == "2026-03-11 08:00");
  CHECK_FALSE(quiet_until(night(), "sms", "America/New_York", now));
  CHECK_FALSE(quiet_until(night(), "sms", "Europe/Paris", now));
  // An hour earlier it is 07:00 in New York: quiet until 08:00 there.
  auto new_york = quiet_until(night(), "sms", "America/New_York", utc("2026-03-10 11:00"));
  REQUIRE(new_york);
  CHECK(local(*new_york, "America/New_York") == "2026-03-10 08:00");
  // A zone west of UTC where it is already the next day in UTC: 02:00 UTC on the 11th is
  // 22:00 on the 10th in New York (EDT since the 8th): quiet until the 11th, 08:00 local.
  auto late = quiet_until(night(), "sms", "America/New_York", utc("2026-03-11 02:00"));
  REQUIRE(late);
  CHECK(local(*late, "America/New_York") == "2026-03-11 08:00");
  CHECK(*late == utc("2026-03-11 12:00"));
  // An unknown zone reads as UTC.
  CHECK(quiet_until(night(), "sms", "Mars/Olympus", utc("2026-03-10 22:00")) ==
        utc("2026-03-11 08:00"));
}

TEST_CASE("quiet hours: a window inside one day", "[policies]") {
  QuietHours lunch;
  lunch.from_minutes = 12 * 60;
  lunch.to_minutes = 14 * 60;
  lunch.channels = {"sms"};
  CHECK_FALSE(quiet_until(lunch, "sms", "UTC", utc("2026-03-10 11:59")));
  CHECK(quiet_until(lunch, "sms", "UTC", utc("2026-03-10 12:30")) == utc("2026-03-10 14:00"));
  CHECK_FALSE(quiet_until(lunch, "sms", "UTC", utc("2026-03-10 14:00")));
  QuietHours none;
  none.from_minutes = none.to_minutes = 600;
  CHECK_FALSE(quiet_until(none, "sms", "UTC", utc("2026-03-10 10:00")));
}

TEST_CASE("quiet hours: across daylight-saving changes the window ends at local time", "[policies]") {
  // Europe/Paris springs forward on 2026-03-29 at 02:00 (→ 03:00): a night of 23 hours.
  auto spring = quiet_until(night(), "sms", "Europe/Paris", utc("2026-03-28 21:30"));  // 22:30 CET
  REQUIRE(spring);
  CHECK(local(*spring, "Europe/Paris") == "2026-03-29 08:00");
  CHECK(*spring == utc("2026-03-29 06:00"));  // CEST, UTC+2
  // ... and falls back on 2026-10-25 at 03:00 (→ 02:00).
  auto autumn = quiet_until(night(), "sms", "Europe/Paris", utc("2026-10-24 20:00"));  // 22:00 CEST
  REQUIRE(autumn);
  CHECK(*autumn == utc("2026-10-25 07:00"));  // CET, UTC+1
  // A window ending inside the gap (02:30 does not exist that night) ends at the first
  // valid instant after it, 03:00 CEST.
  QuietHours gap;
  gap.from_minutes = 1 * 60;
  gap.to_minutes = 2 * 60 + 30;
  gap.channels = {"sms"};
  auto in_gap = quiet_until(gap, "sms", "Europe/Paris", utc("2026-03-29 00:30"));  // 01:30 CET
  REQUIRE(in_gap);
  CHECK(*in_gap == utc("2026-03-29 01:00"));
  // The deferred message comes back at that instant and is outside the window then.
  CHECK_FALSE(quiet_until(gap, "sms", "Europe/Paris", *in_gap));
  // A deferral that lands in a new quiet window: a window ending at 02:30 on an
  // ambiguous night (fall back: 02:30 happens twice) ends at the first 02:30; when the
  // message comes back then it is 02:30 CEST, outside 01:00–02:30, and goes.
  auto fall = quiet_until(gap, "sms", "Europe/Paris", utc("2026-10-24 23:30"));  // 01:30 CEST
  REQUIRE(fall);
  CHECK(*fall == utc("2026-10-25 00:30"));
  CHECK_FALSE(quiet_until(gap, "sms", "Europe/Paris", *fall));
  // At 01:00 UTC the clocks go back from 03:00 CEST to 02:00 CET: 02:10 CET is inside the
  // window again, until the second 02:30 (01:30 UTC) — not the first, which has passed.
  auto again = quiet_until(gap, "sms", "Europe/Paris", utc("2026-10-25 01:10"));
  REQUIRE(again);
  CHECK(*again == utc("2026-10-25 01:30"));
  CHECK_FALSE(quiet_until(gap, "sms", "Europe/Paris", *again));
}

TEST_CASE("frequency caps are named for the timeline", "[policies]") {
  FrequencyCap cap;
  cap.max = 3;
  cap.per = std::chrono::hours(24 * 7);
  cap.channels = {"sms", "whatsapp"};
  CHECK(herald::gateway::policies::describe(cap) == "3 per 7d on sms, whatsapp");
  cap.channels.clear();
  cap.per = std::chrono::minutes(90);
  CHECK(herald::gateway::policies::describe(cap) == "3 per 90m on every channel");
}

TEST_CASE("unsubscribe tokens: genuine, forged and altered", "[policies]") {
  using herald::gateway::unsubscribe_token;
  using herald::gateway::verify_unsubscribe_token;
  auto token = unsubscribe_token("s3cret-s3cret-s3cret-s3cret-s3cret", "cust-42", "email");
  auto target = verify_unsubscribe_token("s3cret-s3cret-s3cret-s3cret-s3cret", token);
  REQUIRE(target);
  CHECK(target->customer_id == "cust-42");
  CHECK(target->channel == "email");
  // The token says nothing readable about the customer.
  CHECK(token.find("cust-42") == std::string::npos);
  // Another secret, a changed character anywhere, a payload of another customer with
  // this signature, garbage: all refused.
  CHECK_FALSE(verify_unsubscribe_token("another-secret-another-secret-xx", token));
  for (std::size_t i = 0; i < token.size(); ++i) {
    auto altered = token;
    altered[i] = altered[i] == 'A' ? 'B' : 'A';
    CHECK_FALSE(verify_unsubscribe_token("s3cret-s3cret-s3cret-s3cret-s3cret", altered));
  }
  auto other = unsubscribe_token("s3cret-s3cret-s3cret-s3cret-s3cret", "cust-43", "email");
  auto forged = other.substr(0, other.find('.')) + token.substr(token.find('.'));
  CHECK_FALSE(verify_unsubscribe_token("s3cret-s3cret-s3cret-s3cret-s3cret", forged));
  CHECK_FALSE(verify_unsubscribe_token("s3cret-s3cret-s3cret-s3cret-s3cret", ""));
  CHECK_FALSE(verify_unsubscribe_token("s3cret-s3cret-s3cret-s3cret-s3cret", "...."));
  CHECK_FALSE(verify_unsubscribe_token("s3cret-s3cret-s3cret-s3cret-s3cret", std::string(5000, 'A')));
}
