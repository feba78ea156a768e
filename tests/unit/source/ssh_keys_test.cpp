// Keys checked against OpenSSH's own ssh-keygen (a real reader of the formats).
#include "source/ssh_keys.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/subprocess.hpp"

namespace berth::source {
namespace {

namespace fs = std::filesystem;

struct KeyFile {
  fs::path path = fs::temp_directory_path() / ("berth-key-" + std::to_string(::getpid()));
  explicit KeyFile(const std::string& text) {
    std::ofstream(path) << text;
    ::chmod(path.c_str(), 0600);
  }
  ~KeyFile() { fs::remove(path); }
};

std::string run(const std::vector<std::string>& argv) {
  auto r = runProcess(argv, 10000);
  return r && r->exit_code == 0 ? r->output : "failed: " + (r ? r->output : r.error().message);
}

TEST(DeployKey, SshKeygenReadsTheKeyAndAgreesOnItsPublicHalfAndFingerprint) {
  auto key = deployKeyFromSeed(std::string(32, '\x07'), "berth:web");
  ASSERT_TRUE(key.ok()) << key.error().message;
  KeyFile file(key->private_openssh);
  EXPECT_EQ(run({"ssh-keygen", "-y", "-f", file.path.string()}), key->public_line + "\n") << "its comment included";
  const auto listed = run({"ssh-keygen", "-l", "-f", file.path.string()});
  EXPECT_NE(listed.find(key->fingerprint), std::string::npos) << listed << " vs " << key->fingerprint;
  EXPECT_EQ(key->public_line.rfind("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", 0), 0u);
  EXPECT_EQ(*publicKeyFingerprint(key->public_line), key->fingerprint);
  auto fresh = newDeployKey("berth:web");
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(fresh->fingerprint, key->fingerprint);
}

TEST(DeployKey, AnUploadedOpenSshKeyIsReadAndEncryptedOrOtherKeysAreRefused) {
  const auto dir = fs::temp_directory_path() / ("berth-keygen-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", (dir / "plain").string()}), "");
  ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "passphrase", "-f", (dir / "locked").string()}), "");
  ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", (dir / "ecdsa").string()}), "");
  auto slurp = [&](const char* name) {
    std::ifstream in(dir / name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto plain = readDeployKey(slurp("plain"), "berth:web");
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  const auto pub = slurp("plain.pub");
  EXPECT_EQ(plain->public_line.substr(0, 80), pub.substr(0, 80));
  EXPECT_EQ(plain->fingerprint, *publicKeyFingerprint(pub));
  EXPECT_NE(readDeployKey(slurp("locked"), "c").error().message.find("encrypted"), std::string::npos);
  EXPECT_NE(readDeployKey(slurp("ecdsa"), "c").error().message.find("Ed25519"), std::string::npos);
  fs::remove_all(dir);
}

TEST(DeployKey, DamagedKeysAreRefusedWithoutReadingPastTheirEnd) {
  auto key = *deployKeyFromSeed(std::string(32, '\x01'), "c");
  EXPECT_FALSE(readDeployKey("", "c").ok());
  EXPECT_FALSE(readDeployKey("-----BEGIN OPENSSH PRIVATE KEY-----\n!!!\n-----END OPENSSH PRIVATE KEY-----\n", "c").ok());
  // Every truncation of the body is refused, none crashes.
  const auto begin = key.private_openssh.find('\n') + 1;
  const auto end = key.private_openssh.find("-----END");
  std::string b64;
  for (char c : key.private_openssh.substr(begin, end - begin))
    if (c != '\n') b64.push_back(c);
  for (std::size_t cut = 4; cut < b64.size(); cut += 4) {
    const auto pem = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + b64.substr(0, cut) + "\n-----END OPENSSH PRIVATE KEY-----\n";
    EXPECT_FALSE(readDeployKey(pem, "c").ok()) << cut;
  }
  EXPECT_FALSE(deployKeyFromSeed("short", "c").ok());
  EXPECT_FALSE(deployKeyFromSeed(std::string(32, '\x01'), "two words").ok()) << "the comment ends the public line";
}

TEST(HostKeys, KeyscanOutputIsFingerprintedAndPinnedPerHostAndPort) {
  auto key = *deployKeyFromSeed(std::string(32, '\x03'), "");
  const auto b64 = key.public_line.substr(12);
  const auto keys = parseKeyscan("# 127.0.0.1:2222 SSH-2.0-OpenSSH_9.2\n[127.0.0.1]:2222 ssh-ed25519 " + b64 +
                                 "\ngarbage\n[127.0.0.1]:2222 ssh-rsa bm90LWEta2V5\n");
  ASSERT_EQ(keys.size(), 1u) << "a blob that does not match its type is skipped";
  EXPECT_EQ(keys[0].fingerprint, key.fingerprint);
  EXPECT_EQ(knownHostsLine("127.0.0.1", 2222, keys[0]), "[127.0.0.1]:2222 ssh-ed25519 " + b64 + "\n");
  EXPECT_EQ(knownHostsLine("git.example.com", 22, keys[0]), "git.example.com ssh-ed25519 " + b64 + "\n");
  EXPECT_EQ(knownHostsLine("[::1]", 2222, keys[0]), "[::1]:2222 ssh-ed25519 " + b64 + "\n");
}

}  // namespace
}  // namespace berth::source
