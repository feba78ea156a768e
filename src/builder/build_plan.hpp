// Build plans (issue 11): how berth builds a repository that has no
// Dockerfile. A plan is detected from the repository's files, shown to the
// user (`berth app plan NAME`), overridable field by field, and rendered into
// a generated Dockerfile built like any other. Pure code; the format is
// docs/builds.md "Build plans", where adding a stack is described.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace berth::builder {

struct BuildPlan {
  std::string stack;       // "node" or "static"
  std::string base_image;  // what the generated Dockerfile starts FROM
  // Copied (and installed from) before the rest of the source, so that the
  // install layer is reused while they are unchanged.
  std::vector<std::string> dependency_files;
  std::vector<std::string> install;  // argv; empty: no install step
  std::vector<std::string> build;    // argv; empty: no build step
  std::vector<std::string> start;    // argv the container runs
  std::map<std::string, std::string> env;  // set after install, for build and run
  std::uint16_t port = 0;                  // the app listens here (PORT is set to it)
  // Directories a cache mount would keep between builds. Docker's classic
  // builder (the only one Debian's docker.io has) cannot mount them: listed so
  // the user sees what is rebuilt from scratch when the install layer changes.
  std::vector<std::string> caches;
  std::string static_dir;  // static: the directory served ("" = the context's root)
};

// What a plan is detected from: the context's file paths (relative,
// '/'-separated) and package.json's text when there is one.
struct RepoFacts {
  std::set<std::string> files;
  std::optional<std::string> package_json;
};

struct PlanSettings {
  std::string node_image = "node:20-bookworm-slim";
  std::string static_image = "busybox:stable";
};

// Node.js when package.json is at the root, else a static site when
// index.html is at the root or in public/ or dist/; otherwise an error saying
// what was looked for.
Result<BuildPlan> detectPlan(const RepoFacts& facts, const PlanSettings& settings);

// The user's override: any of base_image, install, build, start (argv arrays;
// [] removes a step), env (merged; null removes a variable), port,
// static_dir. Unknown fields and bad values are refused naming the field.
Result<BuildPlan> applyOverride(BuildPlan plan, const nlohmann::json& override);

nlohmann::json planToJson(const BuildPlan& plan);

// The Dockerfile built for the plan: exec-form RUN and CMD (no shell), the
// dependency files copied before the install so its layer caches.
std::string renderDockerfile(const BuildPlan& plan);

}  // namespace berth::builder
