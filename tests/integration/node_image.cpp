#include "node_image.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/subprocess.hpp"

namespace berth::itest {

std::string importNodeImage(DockerDaemon& daemon, const std::string& reference) {
  const std::string rootfs = daemon.root + "/node-rootfs";
  std::error_code ec;
  std::filesystem::create_directories(rootfs + "/usr/local/bin", ec);
  std::filesystem::create_directories(rootfs + "/tmp", ec);
  std::filesystem::copy_file("/usr/bin/node", rootfs + "/usr/local/bin/node",
                             std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) return "copy node: " + ec.message();
  auto ldd = runProcess({"ldd", "/usr/bin/node"}, 10000);
  if (!ldd) return "ldd: " + ldd.error().message;
  std::istringstream in(ldd->output);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string word;
    while (words >> word) {
      if (word.front() != '/') continue;
      std::filesystem::create_directories(rootfs + std::filesystem::path(word).parent_path().string(), ec);
      std::filesystem::copy_file(word, rootfs + word, std::filesystem::copy_options::overwrite_existing, ec);
      if (ec) return "copy " + word + ": " + ec.message();
    }
  }
  const std::string tar = daemon.root + "/node-rootfs.tar";
  auto packed = runProcess({"tar", "-C", rootfs, "-cf", tar, "."}, 60000);
  if (!packed || packed->exit_code != 0) return "tar failed";
  std::ifstream file(tar, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const auto colon = reference.rfind(':');
  auto reply = daemon.docker->request("POST", "/images/create?fromSrc=-&repo=" + reference.substr(0, colon) +
                                                  "&tag=" + reference.substr(colon + 1),
                                      bytes, "application/x-tar", {}, 300);
  if (!reply) return reply.error().message;
  if (reply->status != 200) return reply->body;
  return "";
}

}  // namespace berth::itest
