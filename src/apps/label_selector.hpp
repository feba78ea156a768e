// Node label selectors in the `k=v[,k=v]` grammar nodes are labelled with
// (`berth agent --labels`): every pair must match a label of the node exactly.
// Pure: fleet-wide commands select nodes with it; placement takes the same map.
#pragma once

#include <map>
#include <string>

#include "common/result.hpp"

namespace berth::apps {

using LabelSelector = std::map<std::string, std::string>;

// At most this many pairs in one selector (a node holds at most 64 labels).
inline constexpr std::size_t kMaxSelectorPairs = 64;

// Parses "k=v,k=v": each pair splits at its first '=' (as the agent's --labels
// does); keys are 1-63 characters, values at most 128, none with a control
// character or ','; no key twice; spaces are part of the text (labels are
// compared exactly). Errors: "invalid_argument" naming `field` and the rule.
Result<LabelSelector> parseLabelSelector(const std::string& field, const std::string& text);
// The selector as "k=v,k=v" with keys in order (the form stored and shown).
std::string selectorText(const LabelSelector& selector);
// Whether `labels` carries every pair of `selector` (an empty selector matches all).
bool selectorMatches(const LabelSelector& selector, const std::map<std::string, std::string>& labels);

}  // namespace berth::apps
