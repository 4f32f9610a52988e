// The standalone HTML of `mlsidecar drift-report`: the status page's CSS and JS inlined, the data
// embedded as JSON in <script type="application/json" id="report-data"> (with <, >, & escaped),
// and a CSP in a <meta> that allows only those two inline blocks (by their SHA-256) and nothing
// from elsewhere. Opened from disk, it draws the same drift view as the status page.
//
// Thread safety: stateless function.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mlsidecar::status {

// `data` is {"report": {...}, "drift": drift_view(...)}; `title` is escaped.
std::string report_html(std::string_view title, const nlohmann::json& data);

// The Content-Security-Policy of every status page response on the admin port.
inline constexpr std::string_view kStatusPagePolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace mlsidecar::status
