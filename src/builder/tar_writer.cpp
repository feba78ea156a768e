#include "builder/tar_writer.hpp"

#include <array>
#include <cstring>

#include <fmt/format.h>

namespace berth::builder {
namespace {

constexpr std::size_t kBlock = 512;

// Octal, zero-padded to width-1 digits and a NUL, as ustar wants.
void putOctal(char* field, std::size_t width, std::uint64_t value) {
  const auto digits = fmt::format("{:0{}o}", value, width - 1);
  std::memcpy(field, digits.data(), std::min(digits.size(), width - 1));
}

// A pax record: "<length> <key>=<value>\n", where the length counts itself.
std::string paxRecord(const std::string& key, const std::string& value) {
  const std::size_t body = key.size() + value.size() + 3;  // ' ', '=', '\n'
  std::size_t length = body + 1;
  while (std::to_string(length).size() + body > length) ++length;
  return std::to_string(length) + " " + key + "=" + value + "\n";
}

bool cleanPath(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string::npos) return false;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const auto part = std::string_view(path).substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

std::array<char, kBlock> header(const std::string& name, char type, std::uint32_t mode, std::uint64_t size,
                                const std::string& link, std::int64_t mtime) {
  std::array<char, kBlock> h{};
  std::memcpy(h.data(), name.data(), std::min<std::size_t>(name.size(), 100));
  putOctal(h.data() + 100, 8, mode & 07777);
  putOctal(h.data() + 108, 8, 0);  // uid
  putOctal(h.data() + 116, 8, 0);  // gid
  putOctal(h.data() + 124, 12, size);
  putOctal(h.data() + 136, 12, static_cast<std::uint64_t>(std::max<std::int64_t>(0, mtime)));
  std::memset(h.data() + 148, ' ', 8);  // the checksum counts its own field as spaces
  h[156] = type;
  std::memcpy(h.data() + 157, link.data(), std::min<std::size_t>(link.size(), 100));
  std::memcpy(h.data() + 257, "ustar", 6);
  std::memcpy(h.data() + 263, "00", 2);
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  const auto checksum = fmt::format("{:06o}", sum);
  std::memcpy(h.data() + 148, checksum.data(), 6);
  h[154] = '\0';
  h[155] = ' ';
  return h;
}

}  // namespace

void TarWriter::emit(std::string_view bytes) {
  sink_(bytes);
  written_ += bytes.size();
}

Result<void> TarWriter::endEntry() {
  if (remaining_ != 0)
    return makeError("tar_short", fmt::format("a file in the build context was {} bytes short of its size", remaining_));
  static const std::array<char, kBlock> zeros{};
  if (padding_ != 0) emit(std::string_view(zeros.data(), padding_));
  padding_ = 0;
  return Ok{};
}

Result<void> TarWriter::begin(const TarEntry& entry) {
  if (auto r = endEntry(); !r) return r;
  if (!cleanPath(entry.path)) return invalidField("path", "must be relative with no empty, '.' or '..' part: " + entry.path);
  std::string name = entry.path;
  if (entry.type == TarEntryType::Directory) name += "/";
  const char type = entry.type == TarEntryType::File ? '0' : entry.type == TarEntryType::Directory ? '5' : '2';
  const std::uint64_t size = entry.type == TarEntryType::File ? entry.size : 0;
  if (entry.type == TarEntryType::Symlink && (entry.link_target.empty() || entry.link_target.find('\0') != std::string::npos))
    return invalidField("link_target", "a symlink needs a target without NUL");

  std::string pax;
  if (name.size() > 100) pax += paxRecord("path", name);
  if (entry.link_target.size() > 100) pax += paxRecord("linkpath", entry.link_target);
  if (!pax.empty()) {
    const auto h = header("PaxHeaders/" + name.substr(0, 80), 'x', 0644, pax.size(), "", entry.mtime);
    emit(std::string_view(h.data(), h.size()));
    emit(pax);
    static const std::array<char, kBlock> zeros{};
    if (pax.size() % kBlock) emit(std::string_view(zeros.data(), kBlock - pax.size() % kBlock));
  }
  const auto h = header(name, type, entry.mode, size, entry.link_target, entry.mtime);
  emit(std::string_view(h.data(), h.size()));
  remaining_ = size;
  padding_ = size % kBlock ? kBlock - size % kBlock : 0;
  return Ok{};
}

void TarWriter::content(std::string_view bytes) {
  // More than announced would shift every later header: the excess is a bug in the caller.
  const auto take = std::min<std::uint64_t>(bytes.size(), remaining_);
  emit(bytes.substr(0, take));
  remaining_ -= take;
}

Result<void> TarWriter::finish() {
  if (auto r = endEntry(); !r) return r;
  static const std::array<char, 2 * kBlock> zeros{};
  emit(std::string_view(zeros.data(), zeros.size()));
  return Ok{};
}

}  // namespace berth::builder
