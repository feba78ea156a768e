// Apps from source on the agent (issue 11, docs/builds.md): one commit of a
// git repository fetched and built into a local image. The agent's deploy
// verb calls build() and deploys the image it returns; nothing here knows the
// deployment spec.
//
// A build runs in a private directory <state_dir>/builds/<random>/ (0700,
// removed afterwards, failed or not): git fetches one commit there (argv
// vectors from source::planFetch, in their own process group, with a time
// limit and the cancel flag), ssh only against a pinned host key, the build
// context is written as a tar by berth (.dockerignore applied, symlinks stored
// as symlinks and never followed), a build plan's Dockerfile generated when
// the repository has none, and the image is built by the container runtime
// with memory, CPU and time limits, tagged <app>:<first 12 of the commit> and
// labelled with the app, the commit and a digest of the build's inputs. An
// unchanged commit's image (labelled so by berth) is reused unless `rebuild`,
// found by asking the server what the ref names (git ls-remote) while the
// fetch starts: an unchanged redeploy stops the fetch and waits for nothing
// but the ls-remote.
//
// Thread safety: build() may run for different apps at once; one app's
// builds are serialised by the caller (the agent's per-app worker).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "builder/build_plan.hpp"
#include "common/result.hpp"
#include "runtime/container_runtime.hpp"

namespace berth::agent {

// Agent settings (agent_config.cpp: build_memory, build_cpus, build_timeout_s, git_timeout_s, git_ca_file).
struct BuildSettings {
  std::int64_t memory_bytes = std::int64_t{2} << 30;  // each build step, swap included
  std::int64_t cpu_millicores = 2000;
  int timeout_s = 900;      // the image build
  int git_timeout_s = 300;  // keyscan and the whole fetch
  std::string git_ca_file;  // https: extra CAs for git (http.sslCAInfo); "" = the system's
  std::uint64_t max_context_bytes = std::uint64_t{1} << 30;  // the build context tar
  builder::PlanSettings plan;  // base images of generated Dockerfiles
};

struct SourceCredentials {
  std::string username;    // https: the token's user ("" = x-access-token)
  std::string token;       // https
  std::string deploy_key;  // ssh: OpenSSH private key text
  std::string host_key;    // ssh: the pinned "SHA256:..." fingerprint ("" = not pinned yet)
};

// What the server sends (wire names in parseSourceBuildRequest).
struct SourceBuildRequest {
  std::string app;  // the app key ("web", "web.acme")
  std::string url;
  std::string ref = "main";
  std::string dir;         // the build context inside the repository ("" = root)
  std::string dockerfile;  // relative to dir; "" = ./Dockerfile, else a build plan
  std::string target;
  std::map<std::string, std::string> build_args;
  nlohmann::json plan = nullptr;  // the user's plan override (object) or null
  bool rebuild = false;           // build again even when the commit's image exists
  std::string commit;             // "" = the ref's head; else exactly this full commit id
  SourceCredentials credentials;
};

// {"app": KEY, "source": {url, ref, dir, dockerfile, target, build_args,
// plan, rebuild}, "commit": SHA?, "credentials": {username, token,
// deploy_key, host_key}?}. Unknown fields and bad values are refused naming
// the field; every value is checked again by build() before git runs.
Result<SourceBuildRequest> parseSourceBuildRequest(const nlohmann::json& args);

struct BuiltImage {
  std::string commit;    // the full commit id built
  std::string image;     // the tag, <app>:<first 12 of commit>
  std::string image_id;  // sha256:...
  nlohmann::json plan = nullptr;  // the build plan used (no Dockerfile), else null
  bool reused = false;            // the commit's image was there already
  nlohmann::json toJson() const;  // {commit, image, image_id, plan, reused}
};

// Progress of one build. Either member may be empty. Called on the building thread.
struct BuildObserver {
  std::function<void(const std::string& step)> on_step;  // "fetch", "context", "build"
  std::function<void(const std::string& line)> on_line;  // git's and the image build's output, line by line
};

// The one image label of a source build: "<app key>@<commit>:<inputs digest>"
// (one label because Docker 20.10's classic builder adds a step per label).
inline constexpr const char* kBuildLabel = "berth.build";
std::string buildLabelValue(const std::string& app, const std::string& commit, const std::string& inputs_digest);
// The app key an image with these labels was built for from source ("" for a label that names
// none); nullopt when it is no source build.
std::optional<std::string> sourceBuildOf(const std::map<std::string, std::string>& labels);

// What besides the commit decides the image (dir, Dockerfile, target, build
// args, plan override, the plan's base images), as 16 hex: an image built
// with other settings is not reused for the same commit.
std::string buildInputsDigest(const SourceBuildRequest& request, const builder::PlanSettings& plan_settings);

// "<app key sanitised>:<first 12 of commit>": lower case, [a-z0-9._-], never starting with a separator.
std::string sourceImageTag(const std::string& app, const std::string& commit);

// The fingerprints a "host_key_unpinned" or "host_key_mismatch" error names as
// offered by the server (for the server to offer them to the user to trust).
std::vector<std::string> offeredHostKeys(const Error& error);

class SourceBuilder {
 public:
  // `runtime` outlives the builder. `state_dir` holds builds/ (created 0700).
  SourceBuilder(runtime::ContainerRuntime& runtime, BuildSettings settings, std::string state_dir);

  // Errors (code: message naming the step):
  //  invalid_argument  a source field breaks its rule (nothing ran)
  //  host_key_unpinned ssh with no pin: the message names every offered fingerprint
  //  host_key_mismatch the pin matches none offered: names the pin and the offered ones
  //  git_authentication_failed  the git server refused the deploy key or token
  //  git_failed        git or ssh-keyscan failed (missing ref, unreachable, TLS...)
  //  commit_mismatch   the fetched commit is not the one asked for
  //  invalid_source    the checkout has no usable context, Dockerfile or plan
  //  build_failed      the image build failed: the step and its last lines
  //  cancelled, timeout
  //  build_refused     the base image check refused an image the Dockerfile starts from
  Result<BuiltImage> build(const SourceBuildRequest& request, const BuildObserver& observer,
                           const std::atomic<bool>& cancel);

  // Checks the images a Dockerfile takes from outside itself (builder::externalImages) before
  // the build, and again after it (an image pulled meanwhile with another org's credentials may
  // have been taken): a refusal fails the build, and after it removes the image built.
  using BaseImageCheck = std::function<Result<void>(const std::vector<std::string>& images)>;
  void checkBaseImagesWith(BaseImageCheck check) { check_bases_ = std::move(check); }
  // Builds fetch every base image from its registry (BuildRequest::pull_bases).
  void pullBaseImages(bool pull) { pull_bases_ = pull; }

  // Removes what builds left under <state_dir>/builds/ (an agent killed mid-build leaves a
  // checkout, the deploy key and the context tar). Only at the agent's start, before any build:
  // a running build's directory would go too. Returns how many directories went.
  static int removeLeftoverBuilds(const std::string& state_dir);

  // Removes the source-built images of `app` that are not in `keep` (tags or
  // image ids, e.g. the images of the deployments kept). An image in use
  // stays. Returns the images removed.
  Result<std::vector<std::string>> prune(const std::string& app, const std::set<std::string>& keep);

 private:
  // The images built here for `app` (any commit, any inputs).
  Result<std::vector<runtime::ImageInfo>> builtImages(const std::string& app);
  // The commit's image when berth built it here for this app and these inputs.
  Result<std::optional<BuiltImage>> reusableImage(const std::string& app, const std::string& commit,
                                                  const std::string& inputs);

  runtime::ContainerRuntime& runtime_;
  BuildSettings settings_;
  std::string state_dir_;
  BaseImageCheck check_bases_;
  bool pull_bases_ = false;
};

}  // namespace berth::agent
