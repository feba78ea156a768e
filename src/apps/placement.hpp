// Placement: which nodes an app's instances go to. A pure function of the
// candidate nodes (state, labels, capacity and what is already placed there)
// and the app's needs, so every rule is unit-tested on literal inputs; the
// server only gathers the candidates from its store.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "apps/spec.hpp"
#include "common/result.hpp"

namespace berth::apps {

struct NodeCandidate {
  std::string id;
  bool online = false;
  bool revoked = false;
  std::map<std::string, std::string> labels;
  std::optional<Allocatable> allocatable;  // nullopt: the node does not report it (no capacity check)
  std::vector<Claim> claims;               // what the apps placed there claim now
};

struct PlacementRequest {
  Claim claim;                                  // what one instance needs
  std::map<std::string, std::string> selector;  // labels a node must carry, all of them
  // The app already lives on this node: only it is considered, online or not
  // (its commands wait for it), and only a revocation or capacity refuses it.
  std::string pinned_node;
  int instances = 1;  // distinct nodes wanted
};

// The chosen node ids, best first: the nodes with the most memory left after
// the claim (then CPU, then id, so the choice is deterministic). Errors:
// "no_node" naming why each node was passed over, "over_capacity" for a
// pinned node that cannot take the claim, "conflict" for a revoked one.
Result<std::vector<std::string>> place(const std::vector<NodeCandidate>& nodes, const PlacementRequest& request);

}  // namespace berth::apps
