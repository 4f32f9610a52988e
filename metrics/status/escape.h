// Escaping of names that come from clients and profiles (model names, versions, feature names,
// file names) for the places the status page and the drift report put them: HTML, JSON in a
// <script>, and one-line messages on a terminal or in a CI log.
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

// Text for a one-line message on stderr: control characters cannot move the cursor, colour a CI
// log or start a new line. C0 controls, DEL, bytes that are not UTF-8 and the backslash itself
// become \xNN (\x5c for the backslash, so that every escape reads back unambiguously); the C1
// controls, the line and paragraph separators and the bidirectional formatting characters (which
// can reorder what a log shows) become \uNNNN. Example: f1, ESC, [31m and a newline give
// f1\x1b[31m\x0a.
std::string message_escape(std::string_view text);

}  // namespace mlsidecar::status
