#include "store/store.hpp"

#include <array>

namespace berth::store {
namespace {
constexpr std::array<const char*, 3> kNodeStatus{"online", "unreachable", "revoked"};
constexpr std::array<const char*, 7> kCommandState{"queued", "dispatched", "running",  "succeeded",
                                                   "failed", "expired",    "cancelled"};

template <typename Enum, std::size_t N>
std::optional<Enum> parseName(const std::array<const char*, N>& names, const std::string& name) {
  for (std::size_t i = 0; i < N; ++i) {
    if (name == names[i]) return static_cast<Enum>(i);
  }
  return std::nullopt;
}
}  // namespace

std::string nodeStatusName(NodeStatus status) { return kNodeStatus[static_cast<std::size_t>(status)]; }
std::optional<NodeStatus> parseNodeStatus(const std::string& name) { return parseName<NodeStatus>(kNodeStatus, name); }
std::string commandStateName(CommandState state) { return kCommandState[static_cast<std::size_t>(state)]; }
std::optional<CommandState> parseCommandState(const std::string& name) {
  return parseName<CommandState>(kCommandState, name);
}
bool isTerminal(CommandState state) {
  return state != CommandState::Queued && state != CommandState::Dispatched && state != CommandState::Running;
}

}  // namespace berth::store
