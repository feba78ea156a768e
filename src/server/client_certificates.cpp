#include "server/client_certificates.hpp"

namespace berth::server {

void ClientCertificates::set(const std::string& node_id, NodeSerials serials) {
  std::lock_guard lock(mutex_);
  nodes_[node_id] = std::move(serials);
}

std::optional<NodeSerials> ClientCertificates::find(const std::string& node_id) const {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return std::nullopt;
  return it->second;
}

void ClientCertificates::revoke(const std::string& node_id) {
  std::lock_guard lock(mutex_);
  nodes_[node_id].revoked = true;
}

CertificateDecision ClientCertificates::check(const std::string& node_id, const std::string& serial_hex) {
  std::lock_guard lock(mutex_);
  auto it = nodes_.find(node_id);
  // Not tracked (no serial recorded): the CA issued it, so it passes as before
  // serials were kept; the gateway still decides what the node may do.
  if (it == nodes_.end()) return {true, "", false};
  NodeSerials& n = it->second;
  if (n.revoked) return {false, "node is revoked", false};
  // Nodes enrolled before serials were recorded have none: any CA-signed one passes.
  if (n.current.empty()) return {true, "", false};
  if (serial_hex == n.current) {
    const bool retired = !n.previous.empty();
    n.previous.clear();
    return {true, "", retired};
  }
  if (!n.previous.empty() && serial_hex == n.previous) return {true, "", false};
  return {false, "certificate serial " + serial_hex + " was replaced by a renewal", false};
}

}  // namespace berth::server
