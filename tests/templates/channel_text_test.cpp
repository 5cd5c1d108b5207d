// SMS segment counting and the HTML-to-text conversion.

#include <catch2/catch.hpp>

#include "templates/html_to_text.hpp"
#include "templates/sms_segments.hpp"

using namespace herald::templates;

TEST_CASE("GSM-7 segments: 160 alone, 153 per part", "[templates][sms]") {
  CHECK(count_sms_segments("").segments == 0);
  CHECK(count_sms_segments("Hello").segments == 1);
  CHECK(count_sms_segments(std::string(160, 'x')).segments == 1);
  CHECK(count_sms_segments(std::string(161, 'x')).segments == 2);
  CHECK(count_sms_segments(std::string(306, 'x')).segments == 2);
  CHECK(count_sms_segments(std::string(307, 'x')).segments == 3);
  auto s =
      count_sms_segments("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà\n\r");
  CHECK(s.encoding == SmsSegments::Encoding::kGsm7);
}

TEST_CASE("GSM-7 extension characters take two septets", "[templates][sms]") {
  auto s = count_sms_segments("€{}[]~\\|^");
  CHECK(s.encoding == SmsSegments::Encoding::kGsm7);
  CHECK(s.units == 18);
  CHECK(count_sms_segments(std::string(80, '{')).units == 160);
  CHECK(count_sms_segments(std::string(80, '{')).segments == 1);
  CHECK(count_sms_segments(std::string(159, 'a') + "€").segments == 2);
  // 152 plain septets then an escape pair: the pair does not split, so it opens part 2.
  CHECK(count_sms_segments(std::string(152, 'a') + "€" + std::string(10, 'a')).segments == 2);
  CHECK(count_sms_segments(std::string(152, 'a') + "€" + std::string(152, 'a')).segments == 3);
}

TEST_CASE("UCS-2 segments: 70 alone, 67 per part, in UTF-16 units", "[templates][sms]") {
  auto one = count_sms_segments("ça va ?");
  CHECK(one.encoding == SmsSegments::Encoding::kUcs2);
  CHECK(one.units == 7);
  std::string seventy;
  for (int i = 0; i < 70; ++i) seventy += "é";
  seventy.replace(0, 2, "ç");  // ç is not GSM-7
  CHECK(count_sms_segments(seventy).segments == 1);
  CHECK(count_sms_segments(seventy + "a").segments == 2);
  // An emoji is two UTF-16 units.
  auto emoji = count_sms_segments("Hi 👋");
  CHECK(emoji.units == 5);
  std::string many;
  for (int i = 0; i < 34; ++i) many += "👋";
  CHECK(count_sms_segments(many).units == 68);
  CHECK(count_sms_segments(many).segments == 1);
  CHECK(count_sms_segments(many + "👋").segments == 1);
  CHECK(count_sms_segments(many + "👋👋").segments == 2);
  // 66 units then a surrogate pair: the pair moves to part 2 whole.
  std::string split(66, 'a');
  split += "👋";
  split += std::string(10, 'a');
  CHECK(count_sms_segments("ç" + split).segments == 2);
  CHECK(count_sms_segments("ç" + split).encoding_name() == "UCS-2");
}

TEST_CASE("html_to_text", "[templates][email]") {
  CHECK(html_to_text("<p>One</p><p>Two</p>") == "One\n\nTwo");
  CHECK(html_to_text("a<br>b<br/>c") == "a\nb\nc");
  CHECK(html_to_text("<p>Go <a href=\"https://x.test/?a=1&amp;b=2\">here</a>.</p>") ==
        "Go here (https://x.test/?a=1&b=2).");
  CHECK(html_to_text("<a href=\"https://x.test\">https://x.test</a>") == "https://x.test");
  CHECK(html_to_text("<a href=\"mailto:a@x.test\">write</a>") == "write (a@x.test)");
  CHECK(html_to_text("<ul><li>One</li><li>Two</li></ul>") == "- One\n- Two");
  CHECK(html_to_text("Tom &amp; Jerry &lt;3 &#233;&#x20AC;&nbsp;&hellip; &bogus;") ==
        "Tom & Jerry <3 é€ … &bogus;");
  CHECK(html_to_text(
            "<html><head><title>T</title><style>p{color:red}</style></head><body>"
            "<script>alert(1)</script><h1>Title</h1>\n   text   with\n spaces</body></html>") ==
        "Title\n\ntext with spaces");
  CHECK(html_to_text("<img src=x alt=\"Logo\"> <!-- hidden --> ok") == "Logo ok");
  CHECK(html_to_text("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>") ==
        "a b\nc");
  CHECK(html_to_text("<p>\n  Hi,\n</p>\n\n\n<p>Bye</p>") == "Hi,\n\nBye");
}
