#include "sim/guest_fs.h"

#include <cerrno>
#include <functional>

#include <fmt/format.h>

namespace snapsim::sim {

const char* file_type_name(FileType t) {
  switch (t) {
    case FileType::kNone: return "none";
    case FileType::kRegular: return "file";
    case FileType::kDirectory: return "directory";
    case FileType::kSymlink: return "symlink";
  }
  return "?";
}

int errno_of(const Status& st) {
  using cow::Code;
  switch (st.code()) {
    case Code::kOk: return 0;
    case Code::kNotFound: return ENOENT;
    case Code::kExists: return EEXIST;
    case Code::kNotDir: return ENOTDIR;
    case Code::kIsDir: return EISDIR;
    case Code::kNotEmpty: return ENOTEMPTY;
    case Code::kNameTooLong: return ENAMETOOLONG;
    case Code::kLoop: return ELOOP;
    case Code::kNotPermitted: return EPERM;
    case Code::kInvalidArgument: return EINVAL;
    case Code::kFsFull: return ENOSPC;
    case Code::kOutOfSpace: return ENOSPC;
    case Code::kFileTooBig: return EFBIG;
    case Code::kBusy: return EBUSY;
    case Code::kMemoryLimit: return ENOMEM;
    case Code::kOutOfRange:
    case Code::kMisaligned:
    case Code::kIoError: return EIO;
  }
  return EIO;
}

namespace {

constexpr int kMaxSymlinks = 40;  // Linux's MAXSYMLINKS

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = i;
    while (j < path.size() && path[j] != '/') ++j;
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

struct Walker {
  const GuestFs& fs;
  int links = 0;

  Result<FileRef> parent_of(FileRef dir) const { return fs.lookup_at(dir, ".."); }

  // Resolves `parts` from `at`; follows a final symlink when `follow_last`.
  Result<FileRef> walk(FileRef at, const std::vector<std::string_view>& parts, bool follow_last) {
    FileRef cur = at;
    for (size_t i = 0; i < parts.size(); ++i) {
      const std::string_view part = parts[i];
      if (part.size() > kNameMax) {
        return Status::fs(cow::Code::kNameTooLong, fmt::format("name '{}...' is longer than {} bytes",
                                                               part.substr(0, 32), kNameMax));
      }
      auto st = fs.stat(cur);
      if (!st) return st.status();
      if (st->type != FileType::kDirectory) {
        return Status::fs(cow::Code::kNotDir, fmt::format("'{}' is reached through a non-directory", part));
      }
      if (part == ".") continue;
      auto next = fs.lookup_at(cur, part);
      if (!next) return next.status();
      const bool last = i + 1 == parts.size();
      auto nst = fs.stat(*next);
      if (!nst) return nst.status();
      if (nst->type == FileType::kSymlink && (!last || follow_last)) {
        if (++links > kMaxSymlinks) {
          return Status::fs(cow::Code::kLoop, fmt::format("too many symbolic links at '{}'", part));
        }
        auto target = fs.readlink(*next);
        if (!target) return target.status();
        const FileRef base = (!target->empty() && (*target)[0] == '/') ? fs.root() : cur;
        auto t = walk(base, components(*target), true);
        if (!t) return t.status();
        cur = *t;
        continue;
      }
      cur = *next;
    }
    return cur;
  }
};

Status check_path(std::string_view path) {
  if (path.size() >= kPathMax) {
    return Status::fs(cow::Code::kNameTooLong,
                      fmt::format("path of {} bytes is longer than {}", path.size(), kPathMax - 1));
  }
  if (path.find('\0') != std::string_view::npos) return Status::invalid_argument("path contains NUL");
  return Status::ok();
}

}  // namespace

Result<FileRef> GuestFs::resolve(std::string_view path, bool follow_last) const {
  SNAPSIM_RETURN_IF_ERROR(check_path(path));
  Walker w{*this};
  return w.walk(root(), components(path), follow_last);
}

Result<std::pair<FileRef, std::string>> GuestFs::resolve_parent(std::string_view path) const {
  SNAPSIM_RETURN_IF_ERROR(check_path(path));
  auto parts = components(path);
  if (parts.empty()) return Status::invalid_argument("the root has no parent entry");
  const std::string last(parts.back());
  parts.pop_back();
  Walker w{*this};
  auto dir = w.walk(root(), parts, true);
  if (!dir) return dir.status();
  return std::pair<FileRef, std::string>{*dir, last};
}

Result<FileRef> GuestFs::open(std::string_view path, bool create) {
  auto f = resolve(path);
  if (f.is_ok()) {
    auto st = stat(*f);
    if (!st) return st.status();
    if (st->type == FileType::kDirectory) {
      return Status::fs(cow::Code::kIsDir, fmt::format("'{}' is a directory", path));
    }
    return f;
  }
  if (!create || f.status().code() != cow::Code::kNotFound) return f;
  auto p = resolve_parent(path);
  if (!p) return p.status();
  return create_at(p->first, p->second, NewNode{});
}

Result<FileRef> GuestFs::mkdir(std::string_view path, uint32_t mode) {
  auto p = resolve_parent(path);
  if (!p) return p.status();
  return create_at(p->first, p->second, NewNode{.type = FileType::kDirectory, .mode = mode, .uid = 0, .gid = 0, .target = {}});
}

Status GuestFs::mkdirs(std::string_view path, uint32_t mode) {
  FileRef cur = root();
  for (auto part : components(path)) {
    auto next = lookup_at(cur, part);
    if (!next && next.status().code() == cow::Code::kNotFound) {
      next = create_at(cur, part, NewNode{.type = FileType::kDirectory, .mode = mode, .uid = 0, .gid = 0, .target = {}});
    }
    if (!next) return next.status();
    cur = *next;
  }
  return Status::ok();
}

Status GuestFs::rmdir(std::string_view path) {
  auto p = resolve_parent(path);
  if (!p) return p.status();
  return rmdir_at(p->first, p->second);
}

Status GuestFs::unlink(std::string_view path) {
  auto p = resolve_parent(path);
  if (!p) return p.status();
  return unlink_at(p->first, p->second);
}

Status GuestFs::rename(std::string_view from, std::string_view to) {
  auto a = resolve_parent(from);
  if (!a) return a.status();
  auto b = resolve_parent(to);
  if (!b) return b.status();
  return rename_at(a->first, a->second, b->first, b->second, false);
}

Status GuestFs::link(std::string_view existing, std::string_view path) {
  auto t = resolve(existing, false);
  if (!t) return t.status();
  auto p = resolve_parent(path);
  if (!p) return p.status();
  return link_at(*t, p->first, p->second);
}

Result<FileRef> GuestFs::symlink(std::string_view target, std::string_view path) {
  auto p = resolve_parent(path);
  if (!p) return p.status();
  return create_at(p->first, p->second,
                   NewNode{.type = FileType::kSymlink, .mode = 0777, .uid = 0, .gid = 0, .target = std::string(target)});
}

Status GuestFs::fsync_parent(std::string_view path) {
  auto p = resolve_parent(path);
  if (!p) return p.status();
  return fsync(p->first);
}

Result<Stat> GuestFs::stat_path(std::string_view path) const {
  auto f = resolve(path, false);
  if (!f) return f.status();
  return stat(*f);
}

std::vector<WalkEntry> GuestFs::walk() const {
  std::vector<WalkEntry> out;
  std::function<void(FileRef, const std::string&)> visit = [&](FileRef dir, const std::string& prefix) {
    auto entries = readdir(dir);
    if (!entries) return;
    for (const auto& e : *entries) {
      auto st = stat(e.ref);
      if (!st) continue;
      const std::string path = prefix.empty() ? e.name : prefix + "/" + e.name;
      out.push_back(WalkEntry{path, *st});
      if (st->type == FileType::kDirectory) visit(e.ref, path);
    }
  };
  visit(root(), "");
  return out;
}

std::vector<std::string> GuestFs::list() const {
  std::vector<std::string> out;
  for (auto& e : walk()) {
    if (e.stat.type == FileType::kRegular) out.push_back(std::move(e.path));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace snapsim::sim
