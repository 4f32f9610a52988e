// Repointing Services at the sidecar. When `mlsidecar inject` sees a Service in the same input
// whose selector matches an injected pod template and whose targetPort is the model's HTTP or gRPC
// port (by number or by name), it sets that targetPort to the sidecar's data port name, so that
// traffic goes through the sidecar (the data port serves HTTP/1.1 and gRPC alike). The change is
// recorded in the Service's `mlsidecar.io/status` annotation and undone by restore_service().
//
// Thread-safety: free functions without shared state.
#pragma once

#include "sidecar/inject/model_target.h"
#include "sidecar/inject/yaml_bridge.h"

#include <string>
#include <vector>

namespace mlsidecar::inject {

// What a Service needs to know about an injected workload.
struct InjectedPods {
  std::string ns;  // metadata.namespace of the workload ("" when unset)
  Json labels;     // the pod template's labels
  int model_port = 0;
  std::string model_port_name;
  int grpc_port = 0;  // 0: none
  std::string grpc_port_name;
};

// The port that the Services among `objects` send to for pods with `labels` in namespace `ns`: the
// numeric targetPort (or port, when there is no targetPort) of the Services that select them,
// leaving out their gRPC ports (below); 0 when none does, or when they name several or only by
// port name. A last hint for a model container that declares no port.
int service_target_port(const std::vector<const Json*>& objects, const std::string& ns,
                        const Json& labels);

// The targetPort (or port), a number or a name, of the ports of those Services whose appProtocol
// is kubernetes.io/h2c, h2c or grpc; null when none, or when they disagree. A hint for the
// model's gRPC port.
Json service_grpc_target(const std::vector<const Json*>& objects, const std::string& ns,
                         const Json& labels);

// Both hints for find_model_target().
ServiceHints service_hints(const std::vector<const Json*>& objects, const std::string& ns,
                           const Json& labels);

// Repoints matching ports of `service`; returns how many were changed (0: service untouched).
int repoint_service(Json& service, const std::vector<InjectedPods>& injected);

// Undoes repoint_service; false if the Service carries no record of it.
bool restore_service(Json& service);

}  // namespace mlsidecar::inject
