// Loading and reloading the webhook's certificate. See tls_credentials.h.
#include "sidecar/inject/tls_credentials.h"

#include <openssl/ssl.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mlsidecar::inject {
namespace ssl = boost::asio::ssl;
namespace {

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  out = buffer.str();
  return true;
}

// Builds a server context from PEM text; throws with a one-line message on failure.
std::shared_ptr<ssl::context> make_context(const std::string& cert_pem,
                                           const std::string& key_pem) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  ctx->use_certificate_chain(boost::asio::buffer(cert_pem), ec);
  if (ec) throw std::runtime_error("TLS certificate: " + ec.message());
  ctx->use_private_key(boost::asio::buffer(key_pem), ssl::context::pem, ec);
  if (ec) throw std::runtime_error("TLS key: " + ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    throw std::runtime_error("TLS key does not match the certificate");
  }
  return ctx;
}

}  // namespace

TlsCredentials::TlsCredentials(std::string cert_path, std::string key_path)
    : cert_path_(std::move(cert_path)), key_path_(std::move(key_path)) {
  if (!read_file(cert_path_, cert_pem_)) throw std::runtime_error("cannot read " + cert_path_);
  if (!read_file(key_path_, key_pem_)) throw std::runtime_error("cannot read " + key_path_);
  context_ = make_context(cert_pem_, key_pem_);
}

std::shared_ptr<ssl::context> TlsCredentials::current() const {
  std::lock_guard lock(mutex_);
  return context_;
}

TlsCredentials::Reload TlsCredentials::reload_if_changed(std::string* error) {
  std::string cert, key;
  if (!read_file(cert_path_, cert) || !read_file(key_path_, key)) {
    if (error) *error = "cannot read " + cert_path_ + " or " + key_path_;
    return Reload::failed;
  }
  if (cert == cert_pem_ && key == key_pem_) return Reload::unchanged;
  if (rejected_ == cert + key) return Reload::unchanged;
  std::shared_ptr<ssl::context> next;
  try {
    next = make_context(cert, key);
  } catch (const std::exception& e) {
    rejected_ = cert + key;
    if (error) *error = e.what();
    return Reload::failed;
  }
  rejected_.clear();
  cert_pem_ = std::move(cert);
  key_pem_ = std::move(key);
  std::lock_guard lock(mutex_);
  context_ = std::move(next);
  return Reload::reloaded;
}

}  // namespace mlsidecar::inject
