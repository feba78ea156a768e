#include "pki/sealed_file.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/encoding.hpp"
#include "common/ids.hpp"

namespace berth::pki {

Result<void> writePrivateFile(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + randomHex(6);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return makeError("write_failed", "cannot create " + tmp + ": " + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return makeError("write_failed", "cannot " + what + " " + tmp + ": " + reason);
  };
  if (::fchmod(fd, 0600) != 0) return fail("make private");
  std::size_t off = 0;
  while (off < content.size()) {
    const ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("write");
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("sync");
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    return makeError("write_failed", "cannot rename " + tmp + " to " + path + ": " + reason);
  }
  // The rename is durable only once the directory entry is.
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dirFd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirFd >= 0) {
    ::fsync(dirFd);
    ::close(dirFd);
  }
  return Ok{};
}

Result<void> writePrivatePair(const std::string& key_path, const std::string& key_pem, const std::string& cert_path,
                              const std::string& cert_pem) {
  const std::string key_next = key_path + ".next", cert_next = cert_path + ".next";
  Result<void> written = writePrivateFile(key_next, key_pem);
  if (written) written = writePrivateFile(cert_next, cert_pem);
  if (written && ::rename(key_next.c_str(), key_path.c_str()) != 0)
    written = makeError("write_failed", "cannot rename " + key_next + " to " + key_path + ": " + std::strerror(errno));
  if (written && ::rename(cert_next.c_str(), cert_path.c_str()) != 0)
    written = makeError("write_failed", "cannot rename " + cert_next + " to " + cert_path + ": " + std::strerror(errno));
  if (!written) {
    ::unlink(key_next.c_str());
    ::unlink(cert_next.c_str());
  }
  return written;
}

std::size_t removeStaleTempFiles(const std::string& dir, int min_age_s) {
  std::error_code ec;
  std::size_t removed = 0;
  const auto now = std::filesystem::file_time_type::clock::now();
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const auto dot = name.rfind(".tmp.");
    if (dot == std::string::npos || name.size() - dot != 5 + 12) continue;
    if (name.find_first_not_of("0123456789abcdef", dot + 5) != std::string::npos) continue;
    if (!entry.is_regular_file(ec) || entry.is_symlink(ec)) continue;
    const auto written = entry.last_write_time(ec);
    if (ec || now - written < std::chrono::seconds(min_age_s)) continue;
    if (std::filesystem::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

Result<void> ensurePrivateDirectory(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return Ok{};
  if (errno != EEXIST) return makeError("unsafe_directory", "cannot create " + dir + ": " + std::strerror(errno));
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return makeError("unsafe_directory", "cannot inspect " + dir);
  if (!S_ISDIR(st.st_mode)) return makeError("unsafe_directory", dir + " is not a directory (a link or a file)");
  if (st.st_uid != ::geteuid())
    return makeError("unsafe_directory", dir + " belongs to uid " + std::to_string(st.st_uid) + ", not to this user");
  if (st.st_mode & 077)
    return makeError("unsafe_directory", dir + " is open to other users (mode " + [&] {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
      return std::string(mode);
    }() + "); run chmod 700 " + dir);
  return Ok{};
}

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError("read_failed", "cannot read " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

bool fileExists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::string seal(const std::string& plaintext, const std::string& key) {
  std::string out(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size(), '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        plaintext.size(), nonce, reinterpret_cast<const unsigned char*>(key.data()));
  return base64Encode(out);
}

Result<std::string> unseal(const std::string& sealed, const std::string& key) {
  auto raw = base64Decode(sealed);
  if (!raw || raw->size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return makeError("unseal_failed", "sealed data is truncated or not base64");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(raw->data());
  std::string plain(raw->size() - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()), nonce + crypto_secretbox_NONCEBYTES,
                                 raw->size() - crypto_secretbox_NONCEBYTES, nonce,
                                 reinterpret_cast<const unsigned char*>(key.data())) != 0) {
    return makeError("unseal_failed", "sealed data does not decrypt with this machine's key");
  }
  return plain;
}

Result<std::string> loadSealingKey(const std::string& key_path) {
  std::string material;
  if (fileExists(key_path)) {
    auto existing = readFile(key_path);
    if (!existing) return existing.error();
    material = *existing;
  } else {
    material.resize(32);
    randombytes_buf(material.data(), material.size());
    if (auto written = writePrivateFile(key_path, material); !written) return written.error();
  }
  auto machineId = readFile("/etc/machine-id");
  if (machineId) material += *machineId;
  std::string key(crypto_secretbox_KEYBYTES, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(key.data()), key.size(),
                     reinterpret_cast<const unsigned char*>(material.data()), material.size(), nullptr, 0);
  return key;
}

}  // namespace berth::pki
