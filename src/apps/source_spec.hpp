// A deployment's "source" (issue 11, docs/builds.md): the git repository an app
// is built from instead of an image. Pure: JSON in, a checked SourceSpec out;
// every refusal names its field ("source.ref", "source.plan.start", ...). The
// credentials that reach the repository are not part of it: they are the
// app's, stored sealed by the server and attached to the agent's command.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/result.hpp"
#include "source/git_source.hpp"

namespace berth::apps {

struct SourceSpec {
  std::string git;                // the URL as given
  source::GitUrl url;             // parsed; url.canonical() is what git gets
  std::string ref = "main";       // branch, tag or full commit id
  std::string dir;                // build context inside the repository ("" = root)
  std::string dockerfile;         // relative to dir ("" = detect: Dockerfile, else a build plan)
  std::string target;             // Dockerfile stage ("" = the last)
  std::map<std::string, std::string> build_args;
  nlohmann::json plan = nullptr;  // the build-plan override (builder::applyOverride), or null
  bool rebuild = false;           // build even when the commit's image is on the node
};

// {"git": URL, "ref"?, "dir"?, "dockerfile"?, "target"?, "build_args"?, "plan"?, "rebuild"?}.
// Unknown fields are refused.
Result<SourceSpec> parseSourceSpec(const nlohmann::json& body);
nlohmann::json toJson(const SourceSpec& source);

// A build-plan override (builder::applyOverride's fields), refusals named under `field`
// ("source.plan" in a deployment, "plan" where it is set alone).
Result<void> validatePlanOverride(const std::string& field, const nlohmann::json& plan);

// The short form of a commit in image tags and listings (12 hex digits).
std::string shortCommit(const std::string& commit);

}  // namespace berth::apps
