#include <algorithm>

#include "memory_runtime.hpp"

#include <boost/asio/post.hpp>
#include <ctime>
#include <optional>

namespace berth::testing {
namespace {

constexpr int kStoppedExitCode = 137;  // SIGKILL after the stop timeout: our test programs ignore SIGTERM

Error unreachable() { return makeError("runtime_unavailable", "cannot reach dockerd at memory: refused"); }
Error noSuchContainer(const std::string& what, const std::string& id) {
  return makeError("not_found", what + ": dockerd answered 404: No such container: " + id);
}

std::string rfc3339(std::int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return out;
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

std::string unquote(std::string text) {
  if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') && text.back() == text.front())
    return text.substr(1, text.size() - 2);
  return text;
}

// The SCRIPT of `sh -c SCRIPT`, or nullopt for any other command.
std::optional<std::string> shellScript(const std::vector<std::string>& argv) {
  for (std::size_t i = 1; i + 1 < argv.size(); ++i) {
    const auto& shell = argv[i - 1];
    const bool isSh = shell == "sh" || (shell.size() > 3 && shell.compare(shell.size() - 3, 3, "/sh") == 0);
    if (isSh && argv[i] == "-c") return argv[i + 1];
  }
  return std::nullopt;
}

struct Statement {
  enum class Kind { Echo, Exit, Sleep, Other } kind = Kind::Other;
  std::string stream = "stdout";
  std::string text;
  int code = 0;
};

std::vector<Statement> parseScript(const std::string& script) {
  std::vector<Statement> out;
  std::string current;
  auto flush = [&] {
    const std::string s = trim(current);
    current.clear();
    if (s.empty()) return;
    Statement st;
    if (s == "echo" || s.rfind("echo ", 0) == 0) {
      st.kind = Statement::Kind::Echo;
      std::string text = s.size() > 4 ? trim(s.substr(5)) : "";
      if (text.size() >= 3 && text.compare(text.size() - 3, 3, ">&2") == 0) {
        st.stream = "stderr";
        text = trim(text.substr(0, text.size() - 3));
      }
      st.text = unquote(text);
    } else if (s.rfind("exit", 0) == 0) {
      st.kind = Statement::Kind::Exit;
      st.code = s.size() > 4 ? std::atoi(s.c_str() + 4) : 0;
    } else if (s.rfind("sleep", 0) == 0) {
      st.kind = Statement::Kind::Sleep;
    }
    out.push_back(st);
  };
  for (char c : script) {
    if (c == ';' || c == '\n') flush();
    else current.push_back(c);
  }
  flush();
  return out;
}

class MemorySubscription final : public runtime::LogSubscription {
 public:
  explicit MemorySubscription(std::shared_ptr<std::atomic<bool>> active) : active_(std::move(active)) {}
  ~MemorySubscription() override { stop(); }
  void stop() override { *active_ = false; }

 private:
  std::shared_ptr<std::atomic<bool>> active_;
};

}  // namespace

std::vector<runtime::ContainerInfo> MemoryRuntime::running() const {
  std::lock_guard lock(mutex_);
  std::vector<runtime::ContainerInfo> out;
  for (const auto& [id, c] : containers) {
    if (c.state == "running") out.push_back(c);
  }
  return out;
}

runtime::ContainerInfo* MemoryRuntime::findLocked(const std::string& id_or_name) {
  if (auto it = containers.find(id_or_name); it != containers.end()) return &it->second;
  for (auto& [id, c] : containers) {
    if (c.name == id_or_name) return &c;
  }
  return nullptr;
}

const MemoryRuntime::Image* MemoryRuntime::imageLocked(const std::string& reference) const {
  if (auto it = images.find(reference); it != images.end()) return &it->second;
  for (const auto& [ref, image] : images) {
    if (image.id == reference) return &image;
  }
  return nullptr;
}

std::int64_t MemoryRuntime::nowLocked() {
  last_ms_ = std::max(clock_(), last_ms_ + 1);
  return last_ms_;
}

void MemoryRuntime::writeLocked(const std::string& id, const std::string& stream, const std::string& text) {
  runtime::LogLine line{stream, nowLocked(), text};
  logs_[id].push_back(line);
  for (const auto& f : followers_[id]) {
    boost::asio::post(f.executor, [f, line] {
      if (*f.active) f.on_lines({line});
    });
  }
}

void MemoryRuntime::exitLocked(runtime::ContainerInfo& c, int code, const std::string& reason) {
  c.state = "exited";
  c.exit_code = code;
  c.pid = 0;
  auto followers = std::move(followers_[c.id]);
  followers_.erase(c.id);
  for (const auto& f : followers) {
    boost::asio::post(f.executor, [f, reason] {
      if (*f.active) {
        *f.active = false;
        f.on_end(reason);
      }
    });
  }
}

void MemoryRuntime::runLocked(runtime::ContainerInfo& c) {
  c.state = "running";
  c.exit_code = 0;
  c.started_at = rfc3339(nowLocked());
  const auto& command = specs[c.id].command;
  auto script = shellScript(command);
  if (!script) return;  // a server: runs until stopped
  for (const auto& st : parseScript(*script)) {
    switch (st.kind) {
      case Statement::Kind::Echo:
        writeLocked(c.id, st.stream, st.text);
        break;
      case Statement::Kind::Exit:
        return exitLocked(c, st.code, "log stream ended");
      case Statement::Kind::Sleep:
        return;
      case Statement::Kind::Other:
        break;
    }
  }
  exitLocked(c, 0, "log stream ended");
}

Result<std::string> MemoryRuntime::apiVersion() {
  std::lock_guard lock(mutex_);
  if (down) return unreachable();
  return std::string("1.41");
}

Result<std::optional<std::string>> MemoryRuntime::imageId(const std::string& reference) {
  auto image = inspectImage(reference);
  if (!image) return image.error();
  return *image ? std::optional<std::string>((*image)->id) : std::nullopt;
}

Result<std::string> MemoryRuntime::create(const runtime::ContainerSpec& spec) {
  std::lock_guard lock(mutex_);
  if (down) return unreachable();
  if (findLocked(spec.name)) return makeError("conflict", "container name " + spec.name + " is taken");
  const Image* image = imageLocked(spec.image);
  if (!image)
    return makeError("not_found", "create container: dockerd answered 404: No such image: " + spec.image);
  // Docker's built-in networks exist always; any other must have been ensured.
  if (!spec.network.empty() && spec.network != "bridge" && spec.network != "host" && spec.network != "none" &&
      !networks.count(spec.network))
    return makeError("not_found", "create container: dockerd answered 404: network " + spec.network + " not found");
  runtime::ContainerInfo c;
  c.id = "mem" + std::to_string(++next_id_) + std::string(58, '0');
  c.id = c.id.substr(0, 64);
  c.name = spec.name;
  c.image_id = image->id;
  c.state = "created";
  c.labels = spec.labels;
  c.no_new_privileges = true;
  c.dropped_capabilities = {"ALL"};
  c.pids_limit = spec.pids_limit;
  c.memory_bytes = spec.memory_bytes;
  c.nano_cpus = spec.cpu_millicores * 1'000'000;
  c.cpu_shares = spec.cpu_shares;
  c.read_only_root = spec.read_only_root;
  // An address per container, as a bridge network would give (never routed: nothing listens there).
  c.ip_address = "10.88." + std::to_string(next_id_ / 250) + "." + std::to_string(next_id_ % 250 + 2);
  if (spec.memory_bytes > 0 && spec.memory_swap_bytes >= 0) c.memory_swap_bytes = spec.memory_bytes + spec.memory_swap_bytes;
  c.user = spec.user;
  containers[c.id] = c;
  specs[c.id] = spec;
  return c.id;
}

Result<void> MemoryRuntime::start(const std::string& id) {
  std::lock_guard lock(mutex_);
  if (down) return unreachable();
  auto* c = findLocked(id);
  if (!c) return noSuchContainer("start container", id);
  if (c->state != "running") runLocked(*c);
  return Ok{};
}

Result<void> MemoryRuntime::stop(const std::string& id, int) {
  std::lock_guard lock(mutex_);
  if (down) return unreachable();
  auto* c = findLocked(id);
  if (!c) return noSuchContainer("stop container", id);
  if (c->state == "running") exitLocked(*c, kStoppedExitCode, "log stream ended");
  return Ok{};
}

Result<void> MemoryRuntime::remove(const std::string& id, bool force) {
  std::lock_guard lock(mutex_);
  if (down) return unreachable();
  auto* c = findLocked(id);
  if (!c) return Ok{};  // already gone
  if (c->state == "running") {
    if (!force)
      return makeError("conflict", "remove container: dockerd answered 409: container " + c->id +
                                       " is running: stop the container before removing or force remove");
    exitLocked(*c, kStoppedExitCode, "log stream ended");
  }
  const std::string key = c->id;
  logs_.erase(key);
  specs.erase(key);
  containers.erase(key);
  return Ok{};
}

Result<std::optional<runtime::ContainerInfo>> MemoryRuntime::inspect(const std::string& id) {
  std::lock_guard lock(mutex_);
  if (down) return unreachable();
  auto* c = findLocked(id);
  return c ? std::optional<runtime::ContainerInfo>(*c) : std::nullopt;
}

Result<std::vector<std::string>> MemoryRuntime::list(const std::map<std::string, std::string>& labels) {
  std::lock_guard lock(mutex_);
  if (down) return unreachable();
  std::vector<std::string> out;
  for (const auto& [id, c] : containers) {
    bool all = true;
    for (const auto& [k, v] : labels) all &= c.labels.count(k) && c.labels.at(k) == v;
    if (all) out.push_back(id);
  }
  return out;
}

Result<void> MemoryRuntime::checkRegistryAccess(const std::string& reference,
                                                const std::optional<runtime::RegistryCredentials>& auth) {
  std::lock_guard lock(mutex_);
  if (down) return makeError("pull_failed", "pull " + reference + ": " + unreachable().message);
  registry_checks.push_back(reference);
  for (const auto& [tag, entry] : registry) {
    const auto& digests = entry.image.digests;
    if (tag != reference && std::find(digests.begin(), digests.end(), reference) == digests.end()) continue;
    if (!entry.password.empty() && (!auth || auth->password != entry.password))
      return makeError("pull_failed", "pull " + reference + ": unauthorized: authentication required");
    return Ok{};
  }
  return makeError("pull_failed", "pull " + reference + ": manifest unknown");
}

Result<void> MemoryRuntime::pull(const std::string& reference, const std::optional<runtime::RegistryCredentials>& auth,
                                 const runtime::PullProgressHandler& on_progress) {
  std::lock_guard lock(mutex_);
  if (down) return makeError("pull_failed", "pull " + reference + ": " + unreachable().message);
  pulls.push_back(reference);
  auto it = registry.find(reference);
  if (it != registry.end() && !it->second.password.empty() && (!auth || auth->password != it->second.password))
    return makeError("pull_failed", "pull " + reference + ": unauthorized: authentication required");
  if (it == registry.end()) return makeError("pull_failed", "pull " + reference + ": manifest unknown");
  images[reference] = it->second.image;
  for (const auto& digest : it->second.image.digests) images[digest] = it->second.image;
  if (after_pull) after_pull();
  for (int i = 1; on_progress && i <= pull_progress_reports; ++i) {
    const bool done = i == pull_progress_reports;
    on_progress({{"layers", {{{"id", "layer"}, {"state", done ? "Pull complete" : "Downloading"}, {"current", i},
                              {"total", pull_progress_reports}}}},
                 {"layers_done", done ? 1 : 0}, {"bytes_current", i}, {"bytes_total", pull_progress_reports},
                 {"summary", std::string(done ? "1" : "0") + "/1 layers"}});
  }
  return Ok{};
}

Result<std::optional<runtime::ImageInfo>> MemoryRuntime::inspectImage(const std::string& reference) {
  std::lock_guard lock(mutex_);
  if (down) return unreachable();
  const Image* image = imageLocked(reference);
  if (!image) return std::optional<runtime::ImageInfo>();
  runtime::ImageInfo info{image->id, image->digests, {}, image->labels};
  for (const auto& [ref, other] : images)
    if (other.id == image->id && ref.rfind("sha256:", 0) != 0 && ref.find('@') == std::string::npos)
      info.repo_tags.push_back(ref);
  return std::optional<runtime::ImageInfo>(info);
}

Result<std::vector<runtime::ImageInfo>> MemoryRuntime::listImages(const std::map<std::string, std::string>& labels) {
  std::lock_guard lock(mutex_);
  if (down) return unreachable();
  std::map<std::string, runtime::ImageInfo> byId;
  for (const auto& [ref, image] : images) {
    bool matches = true;
    for (const auto& [k, v] : labels) {
      auto it = image.labels.find(k);
      matches = matches && it != image.labels.end() && (v.empty() || it->second == v);
    }
    if (!matches) continue;
    auto& info = byId[image.id];
    info.id = image.id;
    info.repo_digests = image.digests;
    info.labels = image.labels;
    if (ref.rfind("sha256:", 0) != 0 && ref.find('@') == std::string::npos) info.repo_tags.push_back(ref);
  }
  std::vector<runtime::ImageInfo> out;
  for (auto& [id, info] : byId) out.push_back(std::move(info));
  return out;
}

Result<void> MemoryRuntime::removeImage(const std::string& reference) {
  std::lock_guard lock(mutex_);
  if (down) return unreachable();
  const Image* image = imageLocked(reference);
  if (!image) return Ok{};  // a missing image succeeds
  const std::string imageId = image->id;
  // As dockerd: untagging the last tag of a repository also drops that repository's digest names.
  const auto repositoryOf = [](const std::string& name) {
    const auto at = name.find('@');
    if (at != std::string::npos) return name.substr(0, at);
    const auto colon = name.rfind(':');
    return colon != std::string::npos && colon > name.rfind('/') ? name.substr(0, colon) : name;
  };
  std::set<std::string> going;
  if (images.count(reference)) {
    going.insert(reference);
    const std::string repository = repositoryOf(reference);
    const bool isTag = reference.find('@') == std::string::npos;
    const bool otherTag = std::any_of(images.begin(), images.end(), [&](const auto& entry) {
      return entry.first != reference && entry.second.id == imageId && entry.first.find('@') == std::string::npos &&
             repositoryOf(entry.first) == repository;
    });
    for (const auto& [name, other] : images)
      if (isTag && !otherTag && other.id == imageId && name.find('@') != std::string::npos && repositoryOf(name) == repository)
        going.insert(name);
  } else {  // by id: every name of it
    for (const auto& [name, other] : images)
      if (other.id == imageId) going.insert(name);
  }
  const bool lastNames = std::none_of(images.begin(), images.end(), [&](const auto& entry) {
    return entry.second.id == imageId && !going.count(entry.first);
  });
  if (lastNames) {  // the bytes go, unless a container uses them
    for (const auto& [id, c] : containers) {
      if (c.image_id == imageId)
        return makeError("conflict", "image " + reference + " is in use");
    }
  }
  removed_images.push_back(reference);
  for (const auto& name : going) images.erase(name);
  return Ok{};
}

Result<void> MemoryRuntime::removeVolume(const std::string& name) {
  std::lock_guard lock(mutex_);
  if (down) return unreachable();
  removed_volumes.push_back(name);
  return Ok{};
}

Result<void> MemoryRuntime::ensureNetwork(const std::string& name) {
  std::lock_guard lock(mutex_);
  if (down) return unreachable();
  networks.insert(name);
  return Ok{};
}

Result<void> MemoryRuntime::update(const std::string& id, const runtime::Resources& resources) {
  std::lock_guard lock(mutex_);
  if (down) return unreachable();
  auto* c = findLocked(id);
  if (!c) return noSuchContainer("update container", id);
  c->memory_bytes = resources.memory_bytes;
  c->nano_cpus = resources.cpu_millicores * 1'000'000;
  if (resources.pids_limit > 0) c->pids_limit = resources.pids_limit;
  if (resources.cpu_shares > 0) c->cpu_shares = resources.cpu_shares;
  c->memory_swap_bytes = resources.memory_bytes > 0 && resources.memory_swap_bytes >= 0
                             ? resources.memory_bytes + resources.memory_swap_bytes
                             : -1;
  return Ok{};
}

Result<int> MemoryRuntime::exec(const std::string& id, const std::vector<std::string>& argv, int) {
  std::lock_guard lock(mutex_);
  if (down) return unreachable();
  auto* c = findLocked(id);
  if (!c) return noSuchContainer("exec create", id);
  if (c->state != "running")
    return makeError("conflict", "exec create: dockerd answered 409: container " + c->id + " is not running");
  auto script = shellScript(argv);
  if (!script) return exec_exit;
  for (const auto& st : parseScript(*script)) {
    if (st.kind == Statement::Kind::Exit) return st.code;  // an exec's output is not the container's log
  }
  return 0;
}

Result<runtime::ContainerStats> MemoryRuntime::stats(const std::string& id) {
  std::lock_guard lock(mutex_);
  if (down) return unreachable();
  if (!findLocked(id)) return noSuchContainer("container stats", id);
  return runtime::ContainerStats{};
}

Result<std::string> MemoryRuntime::build(const runtime::BuildRequest& request,
                                         const runtime::StreamMessageHandler& on_message,
                                         const std::atomic<bool>* cancel) {
  std::string id;
  {
    std::lock_guard lock(mutex_);
    if (down) return unreachable();
    builds.push_back(request);
    if (cancel && cancel->load()) return makeError("cancelled", "the build was cancelled");
    if (!build_error.empty()) return makeError("build_failed", build_error);
    id = "sha256:built-" + std::to_string(builds.size());
    images[request.tag] = Image{id, {}, request.labels};
    images[id] = Image{id, {}, request.labels};
  }
  if (on_message) on_message({{"stream", "Step 1/1 : FROM scratch\n"}});
  return id;
}

std::unique_ptr<runtime::LogSubscription> MemoryRuntime::followLogs(boost::asio::any_io_executor executor,
                                                                    const std::string& id, std::int64_t since_ms,
                                                                    runtime::LogLinesHandler on_lines,
                                                                    runtime::LogEndHandler on_end) {
  std::lock_guard lock(mutex_);
  Follower f{executor, std::move(on_lines), std::move(on_end), std::make_shared<std::atomic<bool>>(true)};
  auto subscription = std::make_unique<MemorySubscription>(f.active);
  auto end = [&](const std::string& reason) {
    boost::asio::post(executor, [f, reason] {
      if (*f.active) {
        *f.active = false;
        f.on_end(reason);
      }
    });
  };
  if (down) {
    end("cannot reach dockerd: connection refused");
    return subscription;
  }
  auto* c = findLocked(id);
  if (!c) {
    end("dockerd answered 404");
    return subscription;
  }
  std::vector<runtime::LogLine> written;
  for (const auto& line : logs_[c->id]) {
    if (line.at_ms >= since_ms) written.push_back(line);
  }
  if (!written.empty()) {
    boost::asio::post(executor, [f, written] {
      if (*f.active) f.on_lines(written);
    });
  }
  if (c->state == "running") followers_[c->id].push_back(f);
  else end("log stream ended");
  return subscription;
}

}  // namespace berth::testing
