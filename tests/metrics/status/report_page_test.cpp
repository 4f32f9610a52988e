#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <string>
#include <string_view>

#include "metrics/status/escape.h"
#include "sidecar/status/report_page.h"
#include "sidecar/status/status_assets.h"

using namespace mlsidecar::status;
using nlohmann::json;

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::size_t count(const std::string& text, std::string_view what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("the inlined assets cannot end their <script> or <style> early") {
  // HTML finds these case-insensitively, in comments and strings as well as in code.
  for (const std::string_view asset : {asset_status_js(), asset_status_css()}) {
    const std::string text = lower(asset);
    CHECK(text.find("<!--") == std::string::npos);
    CHECK(text.find("</script") == std::string::npos);
    CHECK(text.find("</style") == std::string::npos);
  }
}

TEST_CASE("the report has exactly its own script and style elements, whatever the names") {
  const std::string evil = "</script><!--<script></style><STYLE>";
  const json data = {{"report", {{"input", evil}}},
                     {"drift", {{"features", json::array({{{"name", evil}}})}}}};
  const std::string html = lower(report_html(evil, data));
  CHECK(count(html, "<script") == 2);  // the JSON data and the page's JS
  CHECK(count(html, "</script") == 2);
  CHECK(count(html, "<style") == 1);
  CHECK(count(html, "</style") == 1);
  CHECK(count(html, "<!--") == 0);
}
