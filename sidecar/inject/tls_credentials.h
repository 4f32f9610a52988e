// The webhook's TLS server context (TLS 1.2 or newer), rebuilt when the certificate or key files
// change, as cert-manager and kubelet rotate mounted Secrets. Each connection takes the context
// current at accept time and keeps it alive; new connections get the new certificate, nothing
// restarts. A pair that does not load (for instance caught between the writes of the key and the
// certificate) is not installed; the old context stays and the next check tries again.
//
// Thread-safety: current() and reload_if_changed() may be called from any thread; `mutex_` guards
// `context_`. File contents (`cert_pem_`, `key_pem_`) are touched only by the caller of
// reload_if_changed(), which must be one thread at a time.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <mutex>
#include <string>

namespace mlsidecar::inject {

class TlsCredentials {
 public:
  enum class Reload { unchanged, reloaded, failed };

  // Loads the pair; throws std::runtime_error with a one-line message if it cannot.
  TlsCredentials(std::string cert_path, std::string key_path);

  std::shared_ptr<boost::asio::ssl::context> current() const;

  // Re-reads both files; if either changed and the pair loads, installs it. On `failed`, *error
  // says why.
  Reload reload_if_changed(std::string* error);

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> context_;  // guarded by mutex_
  const std::string cert_path_;
  const std::string key_path_;
  std::string cert_pem_;
  std::string key_pem_;
  std::string rejected_;  // cert + key text that failed to load, so it is reported once
};

}  // namespace mlsidecar::inject
