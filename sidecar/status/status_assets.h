// The status page's static files (sidecar/status/index.html, status.js, status.css), compiled in
// by CMake so that the page needs nothing from elsewhere.
//
// Thread safety: immutable data.
#pragma once

#include <string_view>

namespace mlsidecar::status {

std::string_view asset_index_html();
std::string_view asset_status_js();
std::string_view asset_status_css();

}  // namespace mlsidecar::status
