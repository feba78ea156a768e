#include "apps/placement.hpp"

#include <algorithm>
#include <tuple>

namespace berth::apps {
namespace {

struct Free {
  std::int64_t cpu_millicores = 0;
  std::int64_t memory_bytes = 0;
};

// What the node has left once `wanted` joins the claims already there (the
// app's own earlier claim is replaced, not added). Unbounded when unreported.
Free freeAfter(const NodeCandidate& node, const Claim& wanted) {
  if (!node.allocatable) return {INT64_MAX / 2, INT64_MAX / 2};
  Free f{node.allocatable->cpu_millicores - wanted.cpu_millicores,
         node.allocatable->memory_bytes - wanted.memory_bytes};
  for (const auto& c : node.claims) {
    if (c.app == wanted.app) continue;
    f.cpu_millicores -= c.cpu_millicores;
    f.memory_bytes -= c.memory_bytes;
  }
  return f;
}

std::optional<std::string> labelMismatch(const NodeCandidate& node, const std::map<std::string, std::string>& selector) {
  for (const auto& [key, value] : selector) {
    auto it = node.labels.find(key);
    if (it == node.labels.end() || it->second != value) return "lacks label " + key + "=" + value;
  }
  return std::nullopt;
}

}  // namespace

Result<std::vector<std::string>> place(const std::vector<NodeCandidate>& nodes, const PlacementRequest& request) {
  if (!request.pinned_node.empty()) {
    auto it = std::find_if(nodes.begin(), nodes.end(), [&](const auto& n) { return n.id == request.pinned_node; });
    if (it == nodes.end()) return makeError("not_found", "the app's node " + request.pinned_node + " no longer exists");
    if (it->revoked) return makeError("conflict", "the app's node " + it->id + " is revoked");
    if (it->allocatable) {
      if (auto fits = checkCapacity(*it->allocatable, it->claims, request.claim); !fits) return fits.error();
    }
    return std::vector<std::string>{it->id};
  }

  struct Ranked {
    Free free;
    std::string id;
  };
  std::vector<Ranked> fitting;
  std::vector<std::string> passed_over;
  for (const auto& node : nodes) {
    std::optional<std::string> why;
    if (node.revoked) why = "revoked";
    else if (!node.online) why = "offline";
    else if (auto mismatch = labelMismatch(node, request.selector)) why = mismatch;
    else if (node.allocatable) {
      if (auto fits = checkCapacity(*node.allocatable, node.claims, request.claim); !fits) why = fits.error().message;
    }
    if (why) passed_over.push_back(node.id + ": " + *why);
    else fitting.push_back({freeAfter(node, request.claim), node.id});
  }
  const auto wanted = static_cast<std::size_t>(std::max(1, request.instances));
  if (fitting.size() < wanted) {
    std::string reasons;
    const std::size_t shown = std::min<std::size_t>(passed_over.size(), 5);
    for (std::size_t i = 0; i < shown; ++i) reasons += (i ? "; " : "") + passed_over[i];
    if (passed_over.size() > shown) reasons += "; and " + std::to_string(passed_over.size() - shown) + " more";
    return makeError("no_node", "wanted " + std::to_string(wanted) + " node(s), " + std::to_string(fitting.size()) +
                                    " fit" + (nodes.empty() ? " (no node is enrolled)" : reasons.empty() ? "" : " (" + reasons + ")"));
  }
  std::sort(fitting.begin(), fitting.end(), [](const Ranked& a, const Ranked& b) {
    return std::tie(b.free.memory_bytes, b.free.cpu_millicores, a.id) <
           std::tie(a.free.memory_bytes, a.free.cpu_millicores, b.id);
  });
  std::vector<std::string> chosen;
  for (std::size_t i = 0; i < wanted; ++i) chosen.push_back(fitting[i].id);
  return chosen;
}

}  // namespace berth::apps
