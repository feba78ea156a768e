// Push-to-deploy webhooks (issue 11): the signature checks and the reading of
// GitHub's and GitLab's push events. Pure functions: the server's route looks
// the app's hook secret up, calls these, and queues a deploy of the commit.
// Every check compares in constant time; an unknown app and a bad signature get
// the same answer from the route, so nothing here says which one it was.
#pragma once

#include <cstdint>
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
  std::int64_t pushed_at = 0;  // GitHub's repository.pushed_at (Unix seconds); 0 when absent (GitLab)
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

// What the app already has for the tracked branch, to judge a push that may be
// an old delivery replayed after its id was forgotten (ids are kept 24 h).
struct PushHistory {
  std::string running_commit;          // the commit the app's current deployment runs ("" none)
  bool commit_deployed_by_push = false;  // the push's commit was deployed by an earlier push to the branch
  std::int64_t newest_pushed_at = 0;   // the newest push time (s) deployed for the branch; 0 none
};

// A push the decision above would deploy, checked against that history. Not
// deployed: the commit the app runs; a push older (pushed_at) than the newest
// one deployed; a commit an earlier push deployed, unless this push is newer
// (a branch moved back on purpose). A pushed_at more than a day past `now_s`
// is not trusted (the answer's floor would stop every later push) and counts
// as absent. Ancestry is not known to the server: a commit never pushed here
// and without a push time is deployed.
HookDecision decideOnHistory(const PushEvent& event, const PushHistory& history, std::int64_t now_s);

// The push time decideOnHistory trusts (0 when absent or too far ahead of `now_s`).
std::int64_t trustedPushTime(const PushEvent& event, std::int64_t now_s);

}  // namespace berth::source
