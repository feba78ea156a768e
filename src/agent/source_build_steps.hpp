// Private to SourceBuilder (source_builder.cpp, source_request.cpp,
// source_fetch.cpp, build_context.cpp): the steps of one build.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/source_builder.hpp"
#include "source/git_fetch_plan.hpp"
#include "source/git_source.hpp"

namespace berth::agent::source_build {

// Every field of the request checked (the rules of src/source/git_source.hpp,
// plus the target stage and the plan override's shape), as git will get it.
Result<source::GitSource> checkedSource(const SourceBuildRequest& request);

// ssh: asks the server for its host keys (ssh-keyscan) and writes the
// known_hosts file holding only the pinned one. Fails host_key_unpinned /
// host_key_mismatch naming the fingerprints offered.
Result<void> pinHostKey(const source::GitSource& source, const source::GitPaths& paths, int timeout_ms,
                        const std::atomic<bool>& cancel);

// The commit `ref` names on the server (git ls-remote; `ref` itself when it is
// a full commit id), fetching nothing; "" when the server's answer names no
// such ref (the fetch then says why). Fails as the fetch would (credentials,
// host key, unreachable).
Result<std::string> advertisedCommit(const source::GitSource& source, const source::GitPaths& paths,
                                     const SourceCredentials& credentials, const std::string& ref, int timeout_ms,
                                     const std::atomic<bool>& cancel);

// Runs the fetch (init, fetch, checkout, rev-parse); the full commit id.
Result<std::string> fetchCommit(const source::GitSource& source, const source::GitPaths& paths,
                                const SourceCredentials& credentials, const std::string& ref, int timeout_ms,
                                const BuildObserver& observer, const std::atomic<bool>& cancel);

// The commit's time (seconds since the epoch), for the context's mtimes.
std::int64_t commitTime(const source::GitSource& source, const source::GitPaths& paths);

struct Context {
  std::string dockerfile;         // its path inside the context tar
  std::string dockerfile_text;    // and what it says
  nlohmann::json plan = nullptr;  // the plan built from, when berth generated the Dockerfile
  std::uint64_t bytes = 0;
};

// Writes the build context of `context_dir` (the checkout's `dir`, which must
// be a real directory inside `checkout`) as a tar at `tar_path`.
Result<Context> writeContext(const std::string& checkout, const std::string& context_dir, const std::string& tar_path,
                             const SourceBuildRequest& request, const BuildSettings& settings, std::int64_t mtime);

}  // namespace berth::agent::source_build
