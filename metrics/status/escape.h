// Escaping of names that come from clients and profiles (model names, versions, feature names,
// file names) for the two places the status page and the drift report put them.
//
// Thread safety: stateless functions.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace mlsidecar::status {

// <, >, &, " and ' as character references: safe in HTML text and quoted attributes.
std::string html_escape(std::string_view text);

// JSON text that is safe inside an HTML <script> element: <, > and & as \u003c, \u003e, \u0026
// (they only occur inside JSON strings, where the escape means the same character). Invalid
// UTF-8 is replaced, never thrown on.
std::string json_for_script(const nlohmann::json& value);

}  // namespace mlsidecar::status
