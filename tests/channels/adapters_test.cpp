// The HTTP provider adapters through the registry: each serves only its channel, and the
// settings every provider shares reach it. The providers' own tests are in
// adapters_test_{twilio,whatsapp,messenger,sendgrid,wechat}.cpp.
#include "tests/channels/adapters_test.hpp"

#include "channels/messenger/messenger_channel.hpp"
#include "channels/sendgrid/sendgrid_channel.hpp"
#include "channels/twilio/twilio_channel.hpp"
#include "channels/wechat/wechat_channel.hpp"
#include "channels/whatsapp/whatsapp_channel.hpp"

using namespace adapters_test;

TEST_CASE("registry: a provider on a channel it does not serve is refused at its name",
          "[registry][config]") {
  auto [provider, channel, serves] = GENERATE(table<std::string, std::string, std::string>({
      {"twilio", "email", "sms"},
      {"sendgrid", "sms", "email"},
      {"whatsapp_cloud", "social", "whatsapp"},
      {"messenger", "whatsapp", "social"},
      {"wechat_oa", "sms", "wechat"},
      {"twilio", "whatsapp", "sms"},
  }));
  CAPTURE(provider, channel);
  auto e = config_error(channel, "    provider: " + provider + "\n    rate: 5\n");
  check_error_at(e, channel, 3, 15, "\"" + provider + "\" serves " + serves + ", not " + channel);
}

TEST_CASE("registry: each provider is built for its channel with the shared settings",
          "[registry][config]") {
  const std::string common = "    rate: 2.5\n    timeout: 750ms\n    retries: 2\n";
  auto check_common = [](const herald::channels::ProviderSettings& s) {
    REQUIRE(s.rate);
    CHECK(*s.rate == 2.5);
    CHECK(s.timeout == std::chrono::milliseconds(750));
    CHECK(s.retries == 2u);
  };
  {
    auto c = make_channel("sms", "    provider: twilio\n    account_sid: AC1\n    auth_token: t\n"
                                 "    from: \"+15005550006\"\n" + common);
    auto& t = dynamic_cast<herald::channels::twilio::TwilioChannel&>(*c);
    check_common(t.settings().common);
  }
  {
    auto c = make_channel("whatsapp", "    provider: whatsapp_cloud\n    phone_number_id: \"1\"\n"
                                      "    access_token: t\n    app_secret: s\n    verify_token: v\n" +
                                          common);
    check_common(dynamic_cast<herald::channels::whatsapp::WhatsappChannel&>(*c).settings().common);
  }
  {
    auto c = make_channel("social", "    provider: messenger\n    page_access_token: t\n"
                                    "    app_secret: s\n    verify_token: v\n" + common);
    check_common(dynamic_cast<herald::channels::messenger::MessengerChannel&>(*c).settings().common);
  }
  {
    auto c = make_channel("email", "    provider: sendgrid\n    api_key: k\n    from: a@b.example\n" +
                                       common);
    check_common(dynamic_cast<herald::channels::sendgrid::SendgridChannel&>(*c).settings().common);
  }
  {
    auto c = make_channel("wechat", "    provider: wechat_oa\n    app_id: wx1\n    app_secret: s\n"
                                    "    token: t\n" + common);
    check_common(dynamic_cast<herald::channels::wechat::WechatChannel&>(*c).settings().common);
  }
}

TEST_CASE("registry: a bad shared setting in a provider section is an error at its value",
          "[registry][config]") {
  auto e = config_error("sms", "    provider: twilio\n    account_sid: AC1\n    auth_token: t\n"
                               "    from: \"+15005550006\"\n    timeout: soon\n");
  check_error_at(e, "sms", 7, 14, "timeout");
}
