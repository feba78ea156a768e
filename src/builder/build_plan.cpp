#include "builder/build_plan.hpp"

#include "apps/validation.hpp"
#include "common/json.hpp"
#include "source/git_source.hpp"

namespace berth::builder {
namespace {

constexpr std::uint16_t kNodePort = 3000;
constexpr std::uint16_t kStaticPort = 8080;
constexpr std::size_t kMaxArgv = 64;
constexpr std::size_t kMaxArg = 4096;

bool hasScript(const nlohmann::json& package, const char* name) {
  auto scripts = package.find("scripts");
  return scripts != package.end() && scripts->is_object() && scripts->contains(name) && (*scripts)[name].is_string();
}

bool dependsOn(const nlohmann::json& package, const char* name) {
  for (const char* section : {"dependencies", "devDependencies"}) {
    auto deps = package.find(section);
    if (deps != package.end() && deps->is_object() && deps->contains(name)) return true;
  }
  return false;
}

Result<BuildPlan> nodePlan(const RepoFacts& facts, const PlanSettings& settings) {
  auto package = parseJson(*facts.package_json);
  if (!package) return invalidField("package.json", "must be JSON: " + package.error().message);
  if (!package->is_object()) return invalidField("package.json", "must be a JSON object");

  BuildPlan plan;
  plan.stack = "node";
  plan.base_image = settings.node_image;
  plan.port = kNodePort;
  plan.dependency_files = {"package.json"};
  std::string lockfile;
  for (const char* name : {"package-lock.json", "npm-shrinkwrap.json"})
    if (facts.files.count(name)) {
      plan.dependency_files.push_back(name);
      lockfile = name;
    }
  plan.install = lockfile.empty() ? std::vector<std::string>{"npm", "install"} : std::vector<std::string>{"npm", "ci"};
  if (hasScript(*package, "build")) plan.build = {"npm", "run", "build"};
  if (hasScript(*package, "start")) {
    plan.start = {"npm", "start"};
  } else {
    std::string main = "index.js";
    if (auto it = package->find("main"); it != package->end() && it->is_string()) main = it->get<std::string>();
    if (main.rfind("./", 0) == 0) main = main.substr(2);
    if (auto r = source::validateRepoPath("package.json.main", main); !r) return r.error();
    if (!facts.files.count(main))
      return invalidField("plan.start", "package.json has no start script and its main (" + main +
                                            ") is not in the repository: set plan.start");
    plan.start = {"node", main};
  }
  plan.env = {{"NODE_ENV", "production"}, {"PORT", std::to_string(kNodePort)}};
  plan.caches = {"/root/.npm", "/app/node_modules/.cache"};
  if (dependsOn(*package, "next")) plan.caches.push_back("/app/.next/cache");
  return plan;
}

Result<std::vector<std::string>> argvField(const std::string& field, const nlohmann::json& value) {
  if (!value.is_array()) return invalidField(field, "must be an array of strings (an argv, never a shell line)");
  if (value.size() > kMaxArgv) return invalidField(field, "must have at most 64 elements");
  std::vector<std::string> argv;
  for (const auto& element : value) {
    if (!element.is_string() || element.get<std::string>().empty() || element.get<std::string>().size() > kMaxArg)
      return invalidField(field, "each element must be a string of 1-4096 bytes");
    if (auto r = apps::refuseControlCharacters(field, element.get<std::string>()); !r) return r.error();
    argv.push_back(element.get<std::string>());
  }
  return argv;
}

// Inside ENV's double quotes a backslash escapes '"', '\' and '$' (which would
// otherwise expand a variable). Values hold no control characters.
std::string quoteEnvValue(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\' || c == '$') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::vector<std::string> staticServer(std::uint16_t port) {
  return {"busybox", "httpd", "-f", "-p", std::to_string(port), "-h", "/www"};
}

}  // namespace

Result<BuildPlan> detectPlan(const RepoFacts& facts, const PlanSettings& settings) {
  if (facts.package_json) return nodePlan(facts, settings);
  for (const char* dir : {"", "public", "dist"}) {
    const std::string index = std::string(dir) + (*dir ? "/" : "") + "index.html";
    if (!facts.files.count(index)) continue;
    BuildPlan plan;
    plan.stack = "static";
    plan.base_image = settings.static_image;
    plan.static_dir = dir;
    plan.port = kStaticPort;
    plan.start = staticServer(kStaticPort);
    return plan;
  }
  return makeError("no_build_plan",
                   "no Dockerfile, no package.json and no index.html (at the root, public/ or dist/): berth cannot tell "
                   "how to build this; add a Dockerfile, or give a plan (docs/builds.md)");
}

Result<BuildPlan> applyOverride(BuildPlan plan, const nlohmann::json& override) {
  if (override.is_null()) return plan;
  if (!override.is_object()) return invalidField("plan", "must be an object");
  for (const auto& [key, value] : override.items()) {
    const std::string field = "plan." + key;
    if (key == "base_image") {
      if (!value.is_string()) return invalidField(field, "must be an image reference");
      if (auto r = apps::parseImageReference(field, value.get<std::string>()); !r) return r.error();
      plan.base_image = value.get<std::string>();
    } else if (key == "install" || key == "build" || key == "start") {
      auto argv = argvField(field, value);
      if (!argv) return argv.error();
      if (key == "start" && argv->empty()) return invalidField(field, "must not be empty: the container needs a command");
      (key == "install" ? plan.install : key == "build" ? plan.build : plan.start) = std::move(*argv);
    } else if (key == "env") {
      if (!value.is_object()) return invalidField(field, "must be an object of names to strings (null removes one)");
      for (const auto& [name, v] : value.items()) {
        if (auto r = apps::validateEnvName(field + "." + name, name); !r) return r.error();
        if (v.is_null()) {
          plan.env.erase(name);
          continue;
        }
        if (!v.is_string()) return invalidField(field + "." + name, "must be a string or null");
        if (auto r = apps::refuseControlCharacters(field + "." + name, v.get<std::string>()); !r) return r.error();
        plan.env[name] = v.get<std::string>();
      }
    } else if (key == "port") {
      if (!value.is_number_integer()) return invalidField(field, "must be a number from 1 to 65535");
      auto port = apps::parsePort(field, value.get<std::int64_t>());
      if (!port) return port.error();
      plan.port = *port;
      if (plan.stack == "node") plan.env["PORT"] = std::to_string(*port);
    } else if (key == "static_dir") {
      if (!value.is_string()) return invalidField(field, "must be a path in the repository");
      if (auto r = source::validateRepoPath(field, value.get<std::string>()); !r) return r.error();
      plan.static_dir = value.get<std::string>();
    } else {
      return invalidField(field, "is not a plan field (base_image, install, build, start, env, port, static_dir)");
    }
  }
  // The static server listens where the plan says, unless the user chose its command.
  if (plan.stack == "static" && !override.contains("start")) plan.start = staticServer(plan.port);
  return plan;
}

nlohmann::json planToJson(const BuildPlan& plan) {
  nlohmann::json out = {{"stack", plan.stack},          {"base_image", plan.base_image},
                        {"install", plan.install},      {"build", plan.build},
                        {"start", plan.start},          {"env", plan.env},
                        {"port", plan.port},            {"caches", plan.caches},
                        {"dependency_files", plan.dependency_files}};
  if (plan.stack == "static") out["static_dir"] = plan.static_dir;
  return out;
}

std::string renderDockerfile(const BuildPlan& plan) {
  auto exec = [](const std::vector<std::string>& argv) { return nlohmann::json(argv).dump(); };
  std::string out = "# Generated by berth from the app's build plan (berth app plan NAME).\n";
  out += "FROM " + plan.base_image + "\n";
  if (plan.stack == "static") {
    out += "COPY " + exec({plan.static_dir.empty() ? "." : plan.static_dir, "/www/"}) + "\n";
  } else {
    out += "WORKDIR /app\n";
    if (!plan.dependency_files.empty()) {
      auto files = plan.dependency_files;
      files.push_back("./");
      out += "COPY " + exec(files) + "\n";
    }
    if (!plan.install.empty()) out += "RUN " + exec(plan.install) + "\n";
  }
  if (!plan.env.empty()) {
    out += "ENV";
    for (const auto& [name, value] : plan.env) out += " " + name + "=" + quoteEnvValue(value);
    out += "\n";
  }
  if (plan.stack != "static") {
    out += "COPY . .\n";
    if (!plan.build.empty()) out += "RUN " + exec(plan.build) + "\n";
  }
  out += "EXPOSE " + std::to_string(plan.port) + "\n";
  out += "CMD " + exec(plan.start) + "\n";
  return out;
}

}  // namespace berth::builder
