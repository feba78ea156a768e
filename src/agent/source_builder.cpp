// SourceBuilder: one source build from the private directory to the image
// (the steps are in source_fetch.cpp and build_context.cpp), and the pruning
// of an app's old source-built images.
#include "agent/source_builder.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <fstream>

#include "agent/source_build_steps.hpp"
#include "builder/dockerfile_images.hpp"
#include "common/logging.hpp"
#include "runtime/docker/json_messages.hpp"

namespace berth::agent {
namespace {

// <state>/builds/<random>/, 0700, removed with everything in it when the build ends.
class BuildDirectory {
 public:
  static Result<std::unique_ptr<BuildDirectory>> create(const std::string& state_dir) {
    const std::string parent = state_dir + "/builds";
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec || ::chmod(parent.c_str(), 0700) != 0)
      return makeError("io_error", "cannot create " + parent + ": " + (ec ? ec.message() : "chmod failed"));
    std::string pattern = parent + "/XXXXXXXX";  // mkdtemp: random name, 0700, never an existing path
    if (!::mkdtemp(pattern.data())) return makeError("io_error", "cannot create a build directory under " + parent);
    return std::unique_ptr<BuildDirectory>(new BuildDirectory(pattern));
  }
  ~BuildDirectory() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);  // does not follow symlinks: only what is in here goes
  }
  const std::string& path() const { return path_; }

 private:
  explicit BuildDirectory(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

Result<void> writePrivate(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  if (::chmod(path.c_str(), 0600) != 0) return makeError("io_error", "cannot create " + path);
  out << content;
  if (!out.flush()) return makeError("io_error", "cannot write " + path);
  return Ok{};
}

void tell(const BuildObserver& observer, const std::string& step) {
  if (observer.on_step) observer.on_step(step);
}

}  // namespace

SourceBuilder::SourceBuilder(runtime::ContainerRuntime& runtime, BuildSettings settings, std::string state_dir)
    : runtime_(runtime), settings_(std::move(settings)), state_dir_(std::move(state_dir)) {}

Result<BuiltImage> SourceBuilder::build(const SourceBuildRequest& request, const BuildObserver& observer,
                                        const std::atomic<bool>& cancel) {
  // Every value is checked before anything runs, whoever built the request.
  auto source = source_build::checkedSource(request);
  if (!source) return source.error();
  auto directory = BuildDirectory::create(state_dir_);
  if (!directory) return directory.error();
  const std::string& root = (*directory)->path();
  source::GitPaths paths;
  paths.checkout = root + "/checkout";
  paths.home = root + "/home";
  paths.ssh_config = root + "/ssh_config";
  paths.deploy_key = root + "/deploy_key";
  paths.known_hosts = root + "/known_hosts";
  paths.ca_file = settings_.git_ca_file;
  for (const auto& dir : {paths.checkout, paths.home}) {
    if (::mkdir(dir.c_str(), 0700) != 0) return makeError("io_error", "cannot create " + dir);
  }
  const int git_ms = settings_.git_timeout_s * 1000;

  tell(observer, "fetch");
  if (source->url.transport == source::GitTransport::Ssh) {
    if (auto pinned = source_build::pinHostKey(*source, paths, git_ms, cancel); !pinned) return pinned.error();
    std::string key = request.credentials.deploy_key;
    if (!key.empty() && key.back() != '\n') key += '\n';  // ssh refuses a key without its last newline
    if (auto r = writePrivate(paths.deploy_key, key); !r) return r.error();
    if (auto r = writePrivate(paths.ssh_config, source::sshConfig(paths)); !r) return r.error();
  }
  const std::string ref = request.commit.empty() ? source->ref : request.commit;
  const std::string inputs = buildInputsDigest(request, settings_.plan);
  // Asking which commit the ref names pays only when an image of this app is here to be reused.
  auto ours = request.rebuild ? Result<std::vector<runtime::ImageInfo>>(std::vector<runtime::ImageInfo>{})
                              : builtImages(request.app);
  if (!ours) return ours.error();
  // The fetch starts at once; meanwhile, when an image of this app is here, the server is asked
  // which commit the ref names (a short ls-remote): an unchanged commit's image then ends the
  // build and the fetch is stopped, a new commit costs no more time than the fetch alone.
  std::atomic<bool> stop_fetch{false};
  auto fetching = std::async(std::launch::async, [&] {
    return source_build::fetchCommit(*source, paths, request.credentials, ref, git_ms, observer, stop_fetch);
  });
  auto finish = [&]() -> Result<std::string> {  // the fetch's outcome, passing a cancel on while it runs
    while (fetching.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) stop_fetch = cancel.load();
    return fetching.get();
  };
  auto abandon = [&] {
    stop_fetch = true;
    fetching.wait();
  };
  if (!ours->empty()) {
    auto advertised = source_build::advertisedCommit(*source, paths, request.credentials, ref, git_ms, cancel);
    if (!advertised) {
      abandon();
      return advertised.error();
    }
    if (!advertised->empty()) {
      if (!request.commit.empty() && *advertised != request.commit) {
        abandon();
        return makeError("commit_mismatch", "the git server names " + *advertised + ", not the commit asked for, " +
                                                request.commit);
      }
      auto reused = reusableImage(request.app, *advertised, inputs);
      if (!reused || *reused) abandon();
      if (!reused) return reused.error();
      if (*reused) return **reused;
    }
  }
  auto commit = finish();
  if (!commit) return commit.error();
  if (!request.commit.empty() && *commit != request.commit)
    return makeError("commit_mismatch", "git fetched " + *commit + ", not the commit asked for, " + request.commit);
  if (!request.rebuild) {
    // The ref moved between the question and the fetch, or the server would not say: check again.
    auto reused = reusableImage(request.app, *commit, inputs);
    if (!reused) return reused.error();
    if (*reused) return **reused;
  }

  BuiltImage built;
  built.commit = *commit;
  built.image = sourceImageTag(request.app, *commit);

  tell(observer, "context");
  const std::string context_dir = request.dir.empty() ? paths.checkout : paths.checkout + "/" + request.dir;
  const std::string tar_path = root + "/context.tar";
  auto context = source_build::writeContext(paths.checkout, context_dir, tar_path, request, settings_,
                                            source_build::commitTime(*source, paths));
  if (!context) return makeError(context.error().code, "build context: " + context.error().message);
  built.plan = context->plan;
  const auto bases = builder::externalImages(context->dockerfile_text, request.build_args);
  if (check_bases_) {
    if (auto r = check_bases_(bases); !r) return r.error();
  }

  if (cancel) return makeError("cancelled", "the build was cancelled");

  tell(observer, "build");
  runtime::BuildRequest br;
  br.context_path = tar_path;
  br.dockerfile = context->dockerfile;
  br.tag = built.image;
  br.target = request.target;
  br.build_args = request.build_args;
  // One label: Docker 20.10's classic builder adds a build step per label.
  br.labels = {{kBuildLabel, buildLabelValue(request.app, *commit, inputs)}};
  br.memory_bytes = settings_.memory_bytes;
  br.cpu_millicores = settings_.cpu_millicores;
  br.timeout_s = settings_.timeout_s;
  br.pull_bases = pull_bases_;
  runtime::docker::BuildOutput output;
  auto id = runtime_.build(br, [&](const nlohmann::json& message) {
    for (const auto& line : output.apply(message)) {
      if (observer.on_line) observer.on_line(line);
    }
  }, &cancel);
  if (!id) return makeError(id.error().code, "image build: " + id.error().message);
  built.image_id = *id;
  if (check_bases_) {
    if (auto r = check_bases_(bases); !r) {
      auto removed = runtime_.removeImage(built.image);
      log::warn("built image removed: a base image was refused after the build",
                {{"image", built.image}, {"removed", removed.ok()}, {"reason", r.error().message}});
      return r.error();
    }
  }
  return built;
}

int SourceBuilder::removeLeftoverBuilds(const std::string& state_dir) {
  int removed = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(state_dir + "/builds", ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code gone;
    std::filesystem::remove_all(it->path(), gone);  // does not follow symlinks
    if (!gone) ++removed;
  }
  return removed;
}

Result<std::optional<BuiltImage>> SourceBuilder::reusableImage(const std::string& app, const std::string& commit,
                                                                const std::string& inputs) {
  BuiltImage built;
  built.commit = commit;
  built.image = sourceImageTag(app, commit);
  auto existing = runtime_.inspectImage(built.image);
  if (!existing) return existing.error();
  // Only what berth built for this app, commit and build settings (not a pulled image of the same name).
  if (!*existing) return std::optional<BuiltImage>();
  const auto label = (*existing)->labels.find(kBuildLabel);
  if (label == (*existing)->labels.end() || label->second != buildLabelValue(app, commit, inputs))
    return std::optional<BuiltImage>();
  built.image_id = (*existing)->id;
  built.reused = true;  // its plan is the deployment's that built it (the server keeps it)
  return std::optional<BuiltImage>(std::move(built));
}

std::optional<std::string> sourceBuildOf(const std::map<std::string, std::string>& labels) {
  const auto label = labels.find(kBuildLabel);
  if (label == labels.end()) return std::nullopt;
  const auto at = label->second.find('@');
  return at == std::string::npos ? std::string() : label->second.substr(0, at);
}

Result<std::vector<runtime::ImageInfo>> SourceBuilder::builtImages(const std::string& app) {
  auto images = runtime_.listImages({{kBuildLabel, ""}});
  if (!images) return images.error();
  std::vector<runtime::ImageInfo> out;
  for (auto& image : *images) {
    if (sourceBuildOf(image.labels) == app) out.push_back(std::move(image));
  }
  return out;
}

Result<std::vector<std::string>> SourceBuilder::prune(const std::string& app, const std::set<std::string>& keep) {
  auto images = builtImages(app);
  if (!images) return images.error();
  std::vector<std::string> removed;
  for (const auto& image : *images) {
    bool kept = keep.count(image.id) > 0;
    for (const auto& tag : image.repo_tags) kept = kept || keep.count(tag) > 0;
    if (kept) continue;
    // By name while it has names (removing by id refuses an image with several), else by id.
    bool gone = true;
    for (const auto& tag : image.repo_tags) gone = runtime_.removeImage(tag).ok() && gone;
    if (image.repo_tags.empty()) gone = runtime_.removeImage(image.id).ok();
    if (gone) removed.push_back(image.repo_tags.empty() ? image.id : image.repo_tags.front());
  }
  return removed;
}

}  // namespace berth::agent
