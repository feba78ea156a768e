// The build context of a source build, written by berth as a tar: the
// checkout's `dir` walked without following any symlink (a link is stored as a
// link, and the daemon resolves links inside the context only), .dockerignore
// applied, and the Dockerfile the build uses: the repository's, or the one
// generated from the build plan.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <memory>
#include <vector>

#include "agent/source_build_steps.hpp"
#include "builder/dockerignore.hpp"
#include "builder/tar_writer.hpp"

namespace berth::agent::source_build {
namespace {

constexpr const char* kGeneratedDockerfile = ".berth.Dockerfile";
constexpr std::size_t kMaxSmallFile = 1 << 20;  // .dockerignore, package.json, the Dockerfile

Error invalidSource(const std::string& why) { return makeError("invalid_source", why); }

struct FdCloser {
  void operator()(const int* fd) const {
    if (*fd >= 0) ::close(*fd);
    delete fd;
  }
};

// `rel` ('/'-separated, checked) below `root`: every part a real directory but
// the last, which must be `want` (S_IFREG or S_IFDIR). No symlink anywhere.
Result<void> realPath(const std::string& root, const std::string& rel, mode_t want, const std::string& field) {
  std::string path = root;
  std::size_t start = 0;
  while (start <= rel.size() && !rel.empty()) {
    const auto slash = rel.find('/', start);
    const bool last = slash == std::string::npos;
    path += "/" + rel.substr(start, last ? std::string::npos : slash - start);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return invalidSource(field + " '" + rel + "' is not in the repository");
    if (S_ISLNK(st.st_mode)) return invalidSource(field + " '" + rel + "' goes through a symlink, which berth does not follow");
    const mode_t type = st.st_mode & S_IFMT;
    if (last ? type != want : type != S_IFDIR)
      return invalidSource(field + " '" + rel + "' is not a " + (want == S_IFDIR ? "directory" : "regular file"));
    if (last) break;
    start = slash + 1;
  }
  return Ok{};
}

std::optional<std::string> readSmallFile(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::size_t>(st.st_size) > kMaxSmallFile)
    return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class ContextWalker {
 public:
  ContextWalker(std::string root, const builder::DockerIgnore& ignore, std::string dockerfile, std::int64_t mtime,
                std::uint64_t max_bytes, std::ofstream& out)
      : root_(std::move(root)), ignore_(ignore), dockerfile_(std::move(dockerfile)), mtime_(mtime),
        max_bytes_(max_bytes), out_(out),
        tar_([this](std::string_view bytes) { out_.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); }) {}

  Result<void> walk(const std::string& rel) {
    const std::string dir = rel.empty() ? root_ : root_ + "/" + rel;
    std::vector<std::string> names;
    {
      std::unique_ptr<DIR, int (*)(DIR*)> handle(::opendir(dir.c_str()), ::closedir);
      if (!handle) return invalidSource("cannot read the checkout's directory '" + rel + "'");
      while (auto* entry = ::readdir(handle.get())) {
        const std::string name = entry->d_name;
        if (name == "." || name == "..") continue;
        if (rel.empty() && (name == ".git" || name == kGeneratedDockerfile)) continue;
        names.push_back(name);
      }
    }
    std::sort(names.begin(), names.end());  // one commit, one tar
    for (const auto& name : names) {
      const std::string child = rel.empty() ? name : rel + "/" + name;
      if (auto r = add(child); !r) return r;
    }
    return Ok{};
  }

  // Adds a file berth made (the generated Dockerfile).
  Result<void> addGenerated(const std::string& path, const std::string& content) {
    if (auto r = tar_.begin({path, builder::TarEntryType::File, 0644, content.size(), "", mtime_}); !r) return r;
    tar_.content(content);
    return Ok{};
  }

  Result<std::uint64_t> finish() {
    if (auto r = tar_.finish(); !r) return r.error();
    out_.flush();
    if (!out_) return makeError("io_error", "cannot write the build context (disk full?)");
    return tar_.bytesWritten();
  }

  const std::set<std::string>& files() const { return files_; }

 private:
  Result<void> add(const std::string& rel) {
    const std::string path = root_ + "/" + rel;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return Ok{};  // gone meanwhile: nothing to send
    // Docker always sends the Dockerfile and .dockerignore, whatever .dockerignore says.
    const bool excluded = rel != dockerfile_ && rel != ".dockerignore" && ignore_.excluded(rel);
    if (S_ISDIR(st.st_mode)) {
      if (!excluded) {
        if (auto r = tar_.begin({rel, builder::TarEntryType::Directory, 0755, 0, "", mtime_}); !r) return r;
      }
      if (!excluded || ignore_.mayReinclude()) return walk(rel);
      return Ok{};
    }
    if (excluded) return Ok{};
    if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
      const auto n = ::readlink(path.c_str(), target.data(), target.size());
      if (n < 0 || static_cast<std::size_t>(n) >= target.size()) return invalidSource("cannot read the symlink '" + rel + "'");
      target.resize(static_cast<std::size_t>(n));
      return tar_.begin({rel, builder::TarEntryType::Symlink, 0777, 0, target, mtime_});
    }
    if (!S_ISREG(st.st_mode)) return Ok{};  // fifos, sockets, devices: git makes none; never sent
    files_.insert(rel);
    return addFile(rel, path);
  }

  Result<void> addFile(const std::string& rel, const std::string& path) {
    // O_NOFOLLOW: the name is opened only if it is still the regular file lstat saw.
    std::unique_ptr<int, FdCloser> fd(new int(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)));
    struct stat st {};
    if (*fd < 0 || ::fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode))
      return invalidSource("cannot read '" + rel + "' from the checkout");
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (tar_.bytesWritten() + size > max_bytes_)
      return invalidSource("the build context is larger than " + std::to_string(max_bytes_ >> 20) +
                           " MiB (a .dockerignore can leave files out)");
    const std::uint32_t mode = (st.st_mode & 0111) ? 0755 : 0644;
    if (auto r = tar_.begin({rel, builder::TarEntryType::File, mode, size, "", mtime_}); !r) return r;
    std::string buffer(64 * 1024, '\0');
    std::uint64_t left = size;
    while (left > 0) {
      const auto n = ::read(*fd, buffer.data(), std::min<std::uint64_t>(buffer.size(), left));
      if (n <= 0) return invalidSource("'" + rel + "' changed while the context was written");
      tar_.content(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
      left -= static_cast<std::uint64_t>(n);
    }
    return Ok{};
  }

  std::string root_;
  const builder::DockerIgnore& ignore_;
  std::string dockerfile_;
  std::int64_t mtime_;
  std::uint64_t max_bytes_;
  std::ofstream& out_;
  builder::TarWriter tar_;
  std::set<std::string> files_;
};

}  // namespace

Result<Context> writeContext(const std::string& checkout, const std::string& context_dir, const std::string& tar_path,
                             const SourceBuildRequest& request, const BuildSettings& settings, std::int64_t mtime) {
  if (!request.dir.empty()) {
    if (auto r = realPath(checkout, request.dir, S_IFDIR, "source.dir"); !r) return r.error();
  }
  Context context;
  bool generate = false;
  if (!request.dockerfile.empty()) {
    if (auto r = realPath(context_dir, request.dockerfile, S_IFREG, "source.dockerfile"); !r) return r.error();
    context.dockerfile = request.dockerfile;
  } else if (request.plan.is_null() && realPath(context_dir, "Dockerfile", S_IFREG, "Dockerfile")) {
    context.dockerfile = "Dockerfile";
  } else {
    generate = true;
    context.dockerfile = kGeneratedDockerfile;
  }
  const auto ignoreText = readSmallFile(context_dir + "/.dockerignore");
  const auto ignore = builder::DockerIgnore::parse(ignoreText.value_or(""));

  std::ofstream out(tar_path, std::ios::binary | std::ios::trunc);
  if (!out) return makeError("io_error", "cannot create the build context file");
  ContextWalker walker(context_dir, ignore, context.dockerfile, mtime, settings.max_context_bytes, out);
  if (auto r = walker.walk(""); !r) return r.error();
  if (generate) {
    builder::RepoFacts facts;
    facts.files = walker.files();
    facts.package_json = readSmallFile(context_dir + "/package.json");
    auto plan = builder::detectPlan(facts, settings.plan);
    if (!plan) return invalidSource("no Dockerfile, and no build plan: " + plan.error().message);
    if (!request.plan.is_null()) {
      plan = builder::applyOverride(*plan, request.plan);
      if (!plan) return makeError("invalid_argument", "source.plan: " + plan.error().message);
    }
    context.plan = builder::planToJson(*plan);
    context.dockerfile_text = builder::renderDockerfile(*plan);
    if (auto r = walker.addGenerated(kGeneratedDockerfile, context.dockerfile_text); !r) return r.error();
  } else {
    auto text = readSmallFile(context_dir + "/" + context.dockerfile);
    if (!text) return invalidSource(context.dockerfile + " must be a regular file of at most 1 MiB");
    context.dockerfile_text = *text;
  }
  auto bytes = walker.finish();
  if (!bytes) return bytes.error();
  context.bytes = *bytes;
  return context;
}

}  // namespace berth::agent::source_build
