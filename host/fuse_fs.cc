#define FUSE_USE_VERSION 34
#include "host/fuse_fs.h"

#include <fuse_lowlevel.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace snapsim::host {

using sim::FileRef;
using sim::FileType;
using sim::GuestFs;

struct FuseMount::Impl {
  sim::Machine* machine = nullptr;
  std::vector<Op>* ops = nullptr;
  FuseMount* owner = nullptr;
  std::mutex mu;
  std::map<uint64_t, std::vector<sim::DirEntry>> listings;  // open directories
  uint64_t next_listing = 1;
  std::atomic<uint32_t> open_files{0};

  GuestFs& fs() { return machine->fs(0); }

  // A FUSE node id is the inode number with its generation above it, so a
  // number the guest reuses for a new file is a new node to the kernel even
  // before it forgets the old one. The root is FUSE_ROOT_ID.
  FileRef ref(fuse_ino_t ino) {
    if (ino == FUSE_ROOT_ID) return fs().root();
    return FileRef{static_cast<uint32_t>(ino & 0xffffffffu), static_cast<uint32_t>(ino >> 32)};
  }
  fuse_ino_t node(FileRef r) {
    if (r == fs().root()) return FUSE_ROOT_ID;
    return (static_cast<fuse_ino_t>(r.gen) << 32) | r.ino;
  }
  Op& record(OpKind kind, fuse_ino_t ino) {
    owner->requests_.fetch_add(1);
    Op op;
    op.kind = kind;
    op.ino = ref(ino).ino;
    ops->push_back(std::move(op));
    return ops->back();
  }

  struct stat to_stat(const sim::Stat& s) {
    struct stat st{};
    st.st_ino = s.ref == fs().root() ? FUSE_ROOT_ID : s.ref.ino;
    const mode_t type = s.type == FileType::kDirectory ? S_IFDIR : s.type == FileType::kSymlink ? S_IFLNK : S_IFREG;
    st.st_mode = type | (s.mode & 07777);
    st.st_nlink = s.nlink;
    st.st_uid = s.uid;
    st.st_gid = s.gid;
    st.st_size = static_cast<off_t>(s.size);
    st.st_blocks = static_cast<blkcnt_t>(s.blocks);
    st.st_blksize = 4096;
    auto ts = [](int64_t ns) { return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)}; };
    st.st_atim = ts(s.atime_ns);
    st.st_mtim = ts(s.mtime_ns);
    st.st_ctim = ts(s.ctime_ns);
    return st;
  }

  // Replies with the entry for `r`, or the error.
  void reply_entry(fuse_req_t req, cow::Result<FileRef> r, Op& op) {
    if (!r) {
      op.status = sim::errno_of(r.status());
      fuse_reply_err(req, op.status);
      return;
    }
    auto st = fs().stat(*r);
    if (!st) {
      op.status = sim::errno_of(st.status());
      fuse_reply_err(req, op.status);
      return;
    }
    op.result = r->ino;
    fuse_entry_param e{};
    e.ino = node(*r);
    e.generation = r->gen;
    e.attr = to_stat(*st);
    e.attr_timeout = 0;
    e.entry_timeout = 0;
    fuse_reply_entry(req, &e);
  }

  void reply_status(fuse_req_t req, const Status& st, Op& op) {
    op.status = sim::errno_of(st);
    fuse_reply_err(req, op.status);
  }
};

namespace {

FuseMount::Impl* self(fuse_req_t req) { return static_cast<FuseMount::Impl*>(fuse_req_userdata(req)); }

void op_init(void*, fuse_conn_info* conn) {
  conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_READDIRPLUS |
                  FUSE_CAP_READDIRPLUS_AUTO | FUSE_CAP_HANDLE_KILLPRIV | FUSE_CAP_SPLICE_READ |
                  FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kLookup, parent);
  op.name = name;
  s->reply_entry(req, s->fs().lookup_at(s->ref(parent), name), op);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kGetattr, ino);
  auto st = s->fs().stat(s->ref(ino));
  if (!st) return s->reply_status(req, st.status(), op);
  const struct stat out = s->to_stat(*st);
  fuse_reply_attr(req, &out, 0);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kSetattr, ino);
  const FileRef r = s->ref(ino);
  const int64_t now = static_cast<int64_t>(s->machine->clock().now_ns());
  sim::SetAttr a;
  if (to_set & FUSE_SET_ATTR_MODE) op.flags |= kSetMode, op.mode = attr->st_mode & 07777, a.mode = op.mode;
  if (to_set & FUSE_SET_ATTR_UID) op.flags |= kSetUid, op.uid = attr->st_uid, a.uid = op.uid;
  if (to_set & FUSE_SET_ATTR_GID) op.flags |= kSetGid, op.gid = attr->st_gid, a.gid = op.gid;
  if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
    op.flags |= kSetAtime;
    op.atime_ns = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? now
                                                      : attr->st_atim.tv_sec * 1000000000LL + attr->st_atim.tv_nsec;
    a.atime_ns = op.atime_ns;
  }
  if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
    op.flags |= kSetMtime;
    op.mtime_ns = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? now
                                                      : attr->st_mtim.tv_sec * 1000000000LL + attr->st_mtim.tv_nsec;
    a.mtime_ns = op.mtime_ns;
  }
  Status st;
  if (to_set & FUSE_SET_ATTR_SIZE) {
    op.flags |= kSetSize;
    op.offset = static_cast<uint64_t>(attr->st_size);
    st = s->fs().truncate(r, op.offset);
  }
  if (st.is_ok() && (op.flags & ~kSetSize)) st = s->fs().setattr(r, a);
  if (!st.is_ok()) return s->reply_status(req, st, op);
  auto now_st = s->fs().stat(r);
  if (!now_st) return s->reply_status(req, now_st.status(), op);
  const struct stat out = s->to_stat(*now_st);
  fuse_reply_attr(req, &out, 0);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kReadlink, ino);
  auto t = s->fs().readlink(s->ref(ino));
  if (!t) return s->reply_status(req, t.status(), op);
  fuse_reply_readlink(req, t->c_str());
}

void make_node(fuse_req_t req, fuse_ino_t parent, const char* name, FileType type, mode_t mode,
               const std::string& target, fuse_file_info* open_fi) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kCreate, parent);
  const fuse_ctx* ctx = fuse_req_ctx(req);
  op.name = name;
  op.name2 = target;
  op.flags = static_cast<uint32_t>(type) | (open_fi ? kCreateOpen : 0);
  op.mode = mode & 07777;
  op.uid = ctx->uid;
  op.gid = ctx->gid;
  // A directory with the set-group-ID bit passes its group on (POSIX, ext4).
  if (auto pst = s->fs().stat(s->ref(parent)); pst && (pst->mode & S_ISGID)) {
    op.gid = pst->gid;
    if (type == FileType::kDirectory) op.mode |= S_ISGID;
  }
  sim::NewNode n{type, op.mode, op.uid, op.gid, target};
  auto r = s->fs().create_at(s->ref(parent), name, n);
  if (r && open_fi) {
    if (Status st = s->fs().open_ref(*r); !st.is_ok()) return s->reply_status(req, st, op);
    s->open_files.fetch_add(1);
    auto st = s->fs().stat(*r);
    if (!st) return s->reply_status(req, st.status(), op);
    op.result = r->ino;
    fuse_entry_param e{};
    e.ino = s->node(*r);
    e.generation = r->gen;
    e.attr = s->to_stat(*st);
    open_fi->direct_io = 0;
    open_fi->keep_cache = 0;
    fuse_reply_create(req, &e, open_fi);
    return;
  }
  s->reply_entry(req, r, op);
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  if (!S_ISREG(mode)) {
    // Device nodes, FIFOs and sockets are not part of the guest file system.
    auto* s = self(req);
    std::lock_guard lock(s->mu);
    Op& op = s->record(OpKind::kCreate, parent);
    op.name = name;
    op.status = EPERM;
    fuse_reply_err(req, EPERM);
    return;
  }
  make_node(req, parent, name, FileType::kRegular, mode, {}, nullptr);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  make_node(req, parent, name, FileType::kDirectory, mode, {}, nullptr);
}

void op_symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  make_node(req, parent, name, FileType::kSymlink, 0777, link, nullptr);
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  make_node(req, parent, name, FileType::kRegular, mode, {}, fi);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kUnlink, parent);
  op.name = name;
  s->reply_status(req, s->fs().unlink_at(s->ref(parent), name), op);
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kRmdir, parent);
  op.name = name;
  s->reply_status(req, s->fs().rmdir_at(s->ref(parent), name), op);
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
               unsigned int flags) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kRename, parent);
  op.name = name;
  op.ino2 = s->ref(newparent).ino;
  op.name2 = newname;
  op.flags = flags;
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE)) {
    op.status = EINVAL;  // RENAME_EXCHANGE and RENAME_WHITEOUT are not supported
    fuse_reply_err(req, EINVAL);
    return;
  }
  s->reply_status(req,
                  s->fs().rename_at(s->ref(parent), name, s->ref(newparent), newname, flags & RENAME_NOREPLACE),
                  op);
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kLink, ino);
  op.ino2 = s->ref(newparent).ino;
  op.name2 = newname;
  const FileRef r = s->ref(ino);
  Status st = s->fs().link_at(r, s->ref(newparent), newname);
  if (!st.is_ok()) return s->reply_status(req, st, op);
  s->reply_entry(req, r, op);
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kOpen, ino);
  op.flags = static_cast<uint32_t>(fi->flags);
  Status st = s->fs().open_ref(s->ref(ino));
  if (!st.is_ok()) return s->reply_status(req, st, op);
  s->open_files.fetch_add(1);
  fi->direct_io = 0;
  fi->keep_cache = 0;
  fuse_reply_open(req, fi);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kRead, ino);
  op.offset = static_cast<uint64_t>(off);
  op.length = size;
  std::vector<std::byte> buf(size);
  auto n = s->fs().read(s->ref(ino), op.offset, buf);
  if (!n) return s->reply_status(req, n.status(), op);
  fuse_reply_buf(req, reinterpret_cast<const char*>(buf.data()), *n);
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info*) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kWrite, ino);
  op.offset = static_cast<uint64_t>(off);
  op.data.assign(buf, size);
  Status st = s->fs().write(s->ref(ino), op.offset, std::as_bytes(std::span(op.data)));
  if (!st.is_ok()) return s->reply_status(req, st, op);
  fuse_reply_write(req, size);
}

void op_flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  s->record(OpKind::kFlush, ino);
  fuse_reply_err(req, 0);
}

void op_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kRelease, ino);
  Status st = s->fs().close_ref(s->ref(ino));
  s->open_files.fetch_sub(1);
  s->reply_status(req, st, op);
}

void do_fsync(fuse_req_t req, fuse_ino_t ino, int datasync) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kFsync, ino);
  op.flags = datasync ? 1 : 0;
  const FileRef r = s->ref(ino);
  s->reply_status(req, datasync ? s->fs().fdatasync(r) : s->fs().fsync(r), op);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) { do_fsync(req, ino, datasync); }
void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) { do_fsync(req, ino, datasync); }

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kReaddir, ino);
  const FileRef dir = s->ref(ino);
  auto entries = s->fs().readdir(dir);
  if (!entries) return s->reply_status(req, entries.status(), op);
  std::vector<sim::DirEntry> list;
  list.push_back({".", dir, FileType::kDirectory});
  auto parent = s->fs().lookup_at(dir, "..");
  list.push_back({"..", parent ? *parent : dir, FileType::kDirectory});
  for (auto& e : *entries) list.push_back(std::move(e));
  fi->fh = s->next_listing++;
  s->listings[fi->fh] = std::move(list);
  fuse_reply_open(req, fi);
}

void op_readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  auto it = s->listings.find(fi->fh);
  if (it == s->listings.end()) {
    fuse_reply_err(req, EBADF);
    return;
  }
  std::string buf(size, '\0');
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < it->second.size(); ++i) {
    const auto& e = it->second[i];
    struct stat st{};
    st.st_ino = e.ref == s->fs().root() ? FUSE_ROOT_ID : e.ref.ino;
    st.st_mode = e.type == FileType::kDirectory ? S_IFDIR : e.type == FileType::kSymlink ? S_IFLNK : S_IFREG;
    const size_t n = fuse_add_direntry(req, buf.data() + used, size - used, e.name.c_str(), &st,
                                       static_cast<off_t>(i + 1));
    if (n > size - used) break;
    used += n;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  s->listings.erase(fi->fh);
  fuse_reply_err(req, 0);
}

void op_statfs(fuse_req_t req, fuse_ino_t) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  s->record(OpKind::kStatfs, FUSE_ROOT_ID);
  const sim::FsStat f = s->fs().statfs();
  struct statvfs v{};
  v.f_bsize = f.block_size;
  v.f_frsize = f.block_size;
  v.f_blocks = f.blocks;
  v.f_bfree = f.blocks_free;
  v.f_bavail = f.blocks_free;
  v.f_files = f.inodes;
  v.f_ffree = f.inodes_free;
  v.f_favail = f.inodes_free;
  v.f_namemax = f.name_max;
  fuse_reply_statfs(req, &v);
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, fuse_file_info*) {
  auto* s = self(req);
  std::lock_guard lock(s->mu);
  Op& op = s->record(OpKind::kFallocate, ino);
  op.flags = static_cast<uint32_t>(mode);
  op.offset = static_cast<uint64_t>(offset);
  op.length = static_cast<uint64_t>(length);
  sim::Falloc f;
  if (mode == 0) {
    f = sim::Falloc::kAllocate;
  } else if (mode == FALLOC_FL_KEEP_SIZE) {
    f = sim::Falloc::kKeepSize;
  } else if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
    f = sim::Falloc::kPunchHole;
  } else {
    op.status = EOPNOTSUPP;
    fuse_reply_err(req, EOPNOTSUPP);
    return;
  }
  s->reply_status(req, s->fs().fallocate(s->ref(ino), f, op.offset, op.length), op);
}

void op_setxattr(fuse_req_t req, fuse_ino_t, const char*, const char*, size_t, int) {
  fuse_reply_err(req, ENOTSUP);
}

fuse_lowlevel_ops make_ops() {
  fuse_lowlevel_ops o{};
  o.init = op_init;
  o.lookup = op_lookup;
  o.getattr = op_getattr;
  o.setattr = op_setattr;
  o.readlink = op_readlink;
  o.mknod = op_mknod;
  o.mkdir = op_mkdir;
  o.symlink = op_symlink;
  o.create = op_create;
  o.unlink = op_unlink;
  o.rmdir = op_rmdir;
  o.rename = op_rename;
  o.link = op_link;
  o.open = op_open;
  o.read = op_read;
  o.write = op_write;
  o.flush = op_flush;
  o.release = op_release;
  o.fsync = op_fsync;
  o.opendir = op_opendir;
  o.readdir = op_readdir;
  o.releasedir = op_releasedir;
  o.fsyncdir = op_fsyncdir;
  o.statfs = op_statfs;
  o.fallocate = op_fallocate;
  o.setxattr = op_setxattr;
  return o;
}

const fuse_lowlevel_ops kOps = make_ops();

}  // namespace

std::string fuse_version() { return fuse_pkgversion(); }

cow::Status fuse_available() {
  if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    return Status::invalid_argument(fmt::format(
        "cannot use FUSE: /dev/fuse: {} (load the fuse module, or give the container /dev/fuse)",
        std::strerror(errno)));
  }
  if (::geteuid() != 0) {
    bool found = false;
    for (const char* p : {"/usr/bin/fusermount3", "/bin/fusermount3", "/usr/local/bin/fusermount3"}) {
      found = found || ::access(p, X_OK) == 0;
    }
    if (!found) {
      return Status::invalid_argument(
          "cannot use FUSE: fusermount3 is not installed (Debian package fuse3), and snapsim is not root");
    }
  }
  return Status::ok();
}

cow::Result<std::unique_ptr<FuseMount>> FuseMount::mount(sim::Machine& machine, const std::string& dir,
                                                        std::vector<Op>* ops) {
  SNAPSIM_RETURN_IF_ERROR(fuse_available());
  std::unique_ptr<FuseMount> m(new FuseMount());
  m->dir_ = dir;
  m->impl_ = std::make_unique<Impl>();
  m->impl_->machine = &machine;
  m->impl_->ops = ops;
  m->impl_->owner = m.get();
  // allow_other needs root or user_allow_other in /etc/fuse.conf.
  std::vector<std::string> argv = {"snapsim", "-o", "default_permissions,fsname=snapsim,subtype=snapsim"};
  if (::geteuid() == 0) argv[2] += ",allow_other";
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  fuse_args fa = FUSE_ARGS_INIT(static_cast<int>(args.size()), args.data());
  m->session_ = fuse_session_new(&fa, &kOps, sizeof kOps, m->impl_.get());
  fuse_opt_free_args(&fa);  // the session copied what it needs
  if (!m->session_) return Status::invalid_argument("cannot start a FUSE session (libfuse3 refused the options)");
  if (fuse_session_mount(m->session_, dir.c_str()) != 0) {
    fuse_session_destroy(m->session_);
    m->session_ = nullptr;
    return Status::invalid_argument(fmt::format(
        "cannot mount FUSE on {}: the mount was refused (needs root, or fusermount3 and /etc/fuse.conf "
        "user_allow_other)",
        dir));
  }
  m->mounted_ = true;
  fuse_session* se = m->session_;
  m->loop_ = std::thread([se] { fuse_session_loop(se); });
  return m;
}

FuseMount::~FuseMount() {
  if (!session_) return;
  fuse_session_exit(session_);
  if (mounted_) fuse_session_unmount(session_);
  if (loop_.joinable()) loop_.join();
  fuse_session_destroy(session_);
}

void FuseMount::locked(const std::function<void()>& f) {
  std::lock_guard lock(impl_->mu);
  f();
}

uint32_t FuseMount::open_files() const { return impl_->open_files.load(); }

uint32_t FuseMount::wait_released(uint32_t max_ms, uint32_t baseline) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
  while (impl_->open_files.load() > baseline && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return impl_->open_files.load();
}

}  // namespace snapsim::host
