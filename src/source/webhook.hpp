// Push-to-deploy webhooks (issue 11): the signature checks and the reading of
// GitHub's and GitLab's push events. Pure functions: the server's route looks
// the app's hook secret up, calls these, and queues a deploy of the commit.
// Every check compares in constant time; an unknown app and a bad signature get
// the same answer from the route, so nothing here says which one it was.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace berth::source {

enum class HookProvider { GitHub, GitLab };

// The request's headers, names lower-cased.
using HookHeaders = std::map<std::string, std::string>;

// Which provider's scheme the request claims (X-Hub-Signature-256 or
// X-Gitlab-Token); "unsigned" when neither is there.
Result<HookProvider> hookProvider(const HookHeaders& headers);

// GitHub: X-Hub-Signature-256 is "sha256=" and the hex HMAC-SHA256 of the raw body.
// GitLab: X-Gitlab-Token is the secret itself.
Result<void> verifyHook(HookProvider provider, const HookHeaders& headers, const std::string& body,
                        const std::string& secret);

struct PushEvent {
  HookProvider provider = HookProvider::GitHub;
  std::string delivery_id;  // the provider's delivery id, else "body:" + the body's SHA-256
  bool is_push = false;     // false: another event (ping, issues...), acknowledged and ignored
  std::string ref;          // "refs/heads/main"
  std::string branch;       // "main" ("" for a tag)
  std::string commit;       // the full sha the ref now points at
  bool deleted = false;     // the ref was deleted (commit all zeros)
};

// Reads a verified request. Refuses malformed JSON, a push without a ref or a
// 40-hex commit, and a delivery id that is not 1-128 of [A-Za-z0-9._-].
Result<PushEvent> parsePushEvent(HookProvider provider, const HookHeaders& headers, const std::string& body);

struct HookDecision {
  bool deploy = false;
  std::string commit;  // when deploy
  std::string reason;  // when not: what the answer tells the sender
};

// A push to the tracked branch deploys its commit; anything else is acknowledged
// and ignored, with the reason.
HookDecision decideOnPush(const PushEvent& event, const std::string& tracked_branch);

}  // namespace berth::source
