#include "sidecar/status/report_page.h"

#include <openssl/evp.h>

#include <array>

#include "metrics/status/escape.h"
#include "sidecar/status/status_assets.h"

namespace mlsidecar::status {
namespace {

// 'sha256-<base64>' of a script or style block, as CSP hash sources want it.
std::string csp_hash(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr);
  std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> b64{};
  const int n = EVP_EncodeBlock(b64.data(), digest.data(), static_cast<int>(size));
  return "'sha256-" + std::string(reinterpret_cast<const char*>(b64.data()), n) + "'";
}

}  // namespace

std::string report_html(std::string_view title, const nlohmann::json& data) {
  // The inline blocks start and end with a newline; their hashes cover exactly what is between
  // the tags. frame-ancestors is not allowed in a <meta> policy (browsers warn), so it is left out.
  std::string css(1, '\n');
  css.append(asset_status_css()).push_back('\n');
  std::string js(1, '\n');
  js.append(asset_status_js()).push_back('\n');
  const std::string policy = "default-src 'none'; script-src " + csp_hash(js) + "; style-src " +
                             csp_hash(css) +
                             "; img-src 'none'; connect-src 'none'; base-uri 'none'; "
                             "form-action 'none'";
  std::string out;
  out += "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta http-equiv=\"Content-Security-Policy\" content=\"" + html_escape(policy) + "\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>" + html_escape(title) + "</title>\n";
  out += "<style>" + css + "</style>\n</head>\n<body>\n<header>\n<h1>" + html_escape(title) +
         "</h1>\n</header>\n";
  out += "<main id=\"app\" data-mode=\"report\"></main>\n";
  out += "<script type=\"application/json\" id=\"report-data\">" + json_for_script(data) +
         "</script>\n";
  out += "<script>" + js + "</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace mlsidecar::status
