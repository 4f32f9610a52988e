#include <catch2/catch.hpp>
#include <string>

#include "metrics/status/drift_view.h"
#include "metrics/status/escape.h"

using namespace mlsidecar::status;
using nlohmann::json;

namespace {

json feature(const std::string& name, double psi, double samples, double ks = 0.01) {
  return {{"name", name},
          {"direction", "input"},
          {"kind", "numeric"},
          {"window_samples", samples},
          {"statistics", {{"psi", psi}, {"js_distance", 0.1}, {"ks_statistic", ks}}},
          {"bins",
           {{{"bin", "0"}, {"reference_ratio", 0.5}, {"window_ratio", 0.25}},
            {{"bin", "1"}, {"reference_ratio", 0.5}, {"window_ratio", 0.75}}}}};
}

}  // namespace

TEST_CASE("the thresholds are the MlsidecarFeatureDrift alert's") {
  const DriftThresholds t;
  CHECK(t.psi == 0.2);
  CHECK(t.min_samples == 100);
  CHECK_FALSE(t.ks);
}

TEST_CASE("features are flagged above the threshold with enough samples, worst first") {
  json drift = {{"features", json::array({feature("a", 0.05, 400), feature("b", 0.5, 400),
                                          feature("c", 0.9, 50), feature("d", 0.21, 400)})}};
  drift["features"].push_back(
      {{"name", "color"},
       {"direction", "output"},
       {"kind", "categorical"},
       {"window_samples", 0},
       {"statistics", {{"psi", nullptr}, {"chi2_pvalue", nullptr}}},
       {"categories", {{{"category", "<red>"}, {"reference_ratio", 1}, {"window_ratio", 0}}}}});
  const json view = drift_view(drift, DriftThresholds{});
  const json& f = view["features"];
  REQUIRE(f.size() == 5);
  // c has the highest PSI but too few samples: first, not flagged.
  CHECK(f[0]["name"] == "c");
  CHECK(f[0]["flagged"] == false);
  CHECK(f[0]["severity"] == Approx(4.5));
  CHECK(f[1]["name"] == "b");
  CHECK(f[1]["flagged"] == true);
  CHECK(f[1]["worst"]["statistic"] == "psi");
  CHECK(f[1]["worst"]["threshold"] == 0.2);
  CHECK(f[2]["name"] == "d");
  CHECK(f[2]["flagged"] == true);
  CHECK(f[3]["name"] == "a");
  CHECK(f[3]["flagged"] == false);
  // Not computed yet: no worst statistic, last.
  CHECK(f[4]["name"] == "color");
  CHECK(f[4]["worst"].is_null());
  CHECK(f[4]["bins"][0]["label"] == "<red>");
  CHECK(view["drifted"] == 2);
  CHECK(f[1]["bins"][1]["reference"] == 0.5);
  CHECK(f[1]["bins"][1]["live"] == 0.75);
}

TEST_CASE("a KS threshold makes the KS statistic count when it is the worse") {
  json drift = {{"features", json::array({feature("a", 0.05, 400, 0.3)})}};
  DriftThresholds t;
  CHECK(drift_view(drift, t)["features"][0]["flagged"] == false);
  t.ks = 0.1;
  const json f = drift_view(drift, t)["features"][0];
  CHECK(f["flagged"] == true);
  CHECK(f["worst"]["statistic"] == "ks_statistic");
  CHECK(f["severity"] == Approx(3.0));
}

TEST_CASE("json_for_script leaves no markup in the text") {
  const std::string text = json_for_script({{"model", "</script><img src=x onerror=alert(1)>&"}});
  CHECK(text.find('<') == std::string::npos);
  CHECK(text.find('>') == std::string::npos);
  CHECK(text.find('&') == std::string::npos);
  CHECK(json::parse(text)["model"] == "</script><img src=x onerror=alert(1)>&");
  // Invalid UTF-8 from a client does not throw: it is replaced.
  CHECK_NOTHROW(json_for_script({{"model", std::string("a\xff")}}));
}

TEST_CASE("html_escape leaves no markup and no way out of a quoted attribute") {
  CHECK(html_escape("<img src=x onerror=alert(1)>\"'&") ==
        "&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;");
  CHECK(html_escape("plain") == "plain");
}

TEST_CASE("features with fewer values than min_samples have not enough data") {
  json drift = {{"features", json::array({feature("a", 0.05, 400), feature("b", 0.9, 99)})}};
  drift["features"][1]["missing"] = 7;
  drift["features"][1]["invalid"] = 3;
  json thin = feature("gone", 0, 0);
  thin["statistics"] = {{"psi", nullptr}};
  drift["features"].push_back(thin);
  const json f = drift_view(drift, DriftThresholds{})["features"];
  REQUIRE(f.size() == 3);
  CHECK(f[0]["name"] == "b");
  CHECK(f[0]["enough_data"] == false);
  CHECK(f[0]["flagged"] == false);
  CHECK(f[0]["missing"] == 7);
  CHECK(f[0]["invalid"] == 3);
  CHECK(f[1]["name"] == "a");
  CHECK(f[1]["enough_data"] == true);
  CHECK(f[1]["missing"].is_null());  // the document has no count: null, not 0
  CHECK(f[2]["name"] == "gone");
  CHECK(f[2]["enough_data"] == false);
  CHECK(f[2]["window_samples"] == 0);
}

TEST_CASE("status_drift tells a broken drift view from drift that is off") {
  const json off = status_drift(std::nullopt, DriftThresholds{});
  CHECK(off["drift"].is_null());
  CHECK_FALSE(off.contains("drift_error"));

  const json ok = status_drift(json({{"features", json::array({feature("a", 0.5, 400)})}}).dump(),
                               DriftThresholds{});
  CHECK(ok["drift"]["drifted"] == 1);
  CHECK_FALSE(ok.contains("drift_error"));

  for (const std::string bad : {"not json", R"({"features": [{"name": "a"}]})", "[]"}) {
    CAPTURE(bad);
    const json broken = status_drift(bad, DriftThresholds{});
    CHECK(broken["drift"].is_null());
    REQUIRE(broken.contains("drift_error"));
    CHECK(broken["drift_error"].get<std::string>().find("/drift") != std::string::npos);
  }
}

TEST_CASE("message_escape keeps a message on one line and its escapes readable") {
  CHECK(message_escape("f5 (0), size_in_cm") == "f5 (0), size_in_cm");
  CHECK(message_escape("f1\x1b[31m\nX\r\t") == "f1\\x1b[31m\\x0aX\\x0d\\x09");
  CHECK(message_escape(std::string("a\0b\x7f", 4)) == "a\\x00b\\x7f");
  CHECK(message_escape("a\\x41") == "a\\x5cx41");  // a literal backslash cannot fake an escape
  // UTF-8 letters stay; C1 controls, separators and bidi overrides are escaped; bad bytes too.
  CHECK(message_escape("größe 温度") == "größe 温度");
  CHECK(message_escape("\xc2\x9b"
                       "1m") == "\\u009b1m");
  CHECK(message_escape("a\xe2\x80\xa8"
                       "b\xe2\x80\xae"
                       "c") == "a\\u2028b\\u202ec");
  CHECK(message_escape("\xff\xc3") == "\\xff\\xc3");
  CHECK(message_escape("\xc0\xaf") == "\\xc0\\xaf");  // an overlong '/'
}
