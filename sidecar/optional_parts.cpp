#include "sidecar/optional_parts.h"

namespace mlsidecar {

struct OptionalParts::Impl {};

OptionalParts::OptionalParts(const Config&, SidecarState&,
                             std::vector<std::shared_ptr<prometheus::Collectable>>&)
    : impl_(std::make_unique<Impl>()) {}
OptionalParts::~OptionalParts() = default;
void OptionalParts::start() {}
void OptionalParts::stop() {}
std::function<std::string()> OptionalParts::drift_json() const { return {}; }

}  // namespace mlsidecar
