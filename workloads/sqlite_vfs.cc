#include "workloads/sqlite_vfs.h"

#include <atomic>
#include <cassert>
#include <cstring>
#include <new>
#include <sstream>
#include <vector>

#include <fmt/format.h>

namespace snapsim::workloads {

namespace {

std::atomic<uint64_t> g_vfs_counter{0};

constexpr int kTempTypes =
    SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TEMP_JOURNAL | SQLITE_OPEN_SUBJOURNAL |
    SQLITE_OPEN_TRANSIENT_DB;

struct File {
  sqlite3_file base;  // first: SQLite sees a File* as an sqlite3_file*
  SqliteVfs* vfs;
  bool memory;
  std::vector<char> mem;
  uint32_t disk = 0;
  std::string name;  // path on the guest file system
  std::string key;   // "<disk>/<name>": lock and shm table key
  sim::FileRef ref;
  bool dirsync_pending = false;
  bool delete_on_close = false;
  int lock = SQLITE_LOCK_NONE;
  bool shm_mapped = false;
  uint16_t shm_shared = 0;
  uint16_t shm_exclusive = 0;
};

File* F(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
SqliteVfs* V(sqlite3_vfs* v) { return static_cast<SqliteVfs*>(v->pAppData); }

// SQLite reports SQLITE_FULL as "database or disk is full"; the VFS keeps
// the reason (a full pool, a full file system, a file-size limit) for the
// error message. (The unix VFS turns EFBIG into SQLITE_IOERR_WRITE; here it
// is SQLITE_FULL too, so the message can name the limit.)
int io_error(SqliteVfs* vfs, const cow::Status& st, int fallback) {
  if (st.code() != cow::Code::kOutOfSpace && st.code() != cow::Code::kFsFull &&
      st.code() != cow::Code::kFileTooBig) {
    return fallback;
  }
  vfs->set_full(st);
  return SQLITE_FULL;
}

// Every callback body runs inside this: nothing may throw into SQLite.
template <typename Fn>
int guarded(int on_error, Fn fn) noexcept {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return SQLITE_IOERR_NOMEM;
  } catch (...) {
    return on_error;
  }
}

sim::GuestFs& fs_of(File* f) { return f->vfs->machine().fs(f->disk); }

int x_close(sqlite3_file* pf) {
  File* f = F(pf);
  int rc = guarded(SQLITE_IOERR_CLOSE, [&] {
    if (f->lock != SQLITE_LOCK_NONE) {
      auto& l = f->vfs->lock(f->key);
      if (l.reserved == f) l.reserved = nullptr;
      if (l.pending == f) l.pending = nullptr;
      if (l.exclusive == f) l.exclusive = nullptr;
      l.shared--;
    }
    if (!f->memory && f->delete_on_close) {
      (void)fs_of(f).unlink(f->name);
      f->vfs->mutable_counters().deletes++;
    }
    if (!f->memory) (void)fs_of(f).close_ref(f->ref);
    return SQLITE_OK;
  });
  f->~File();
  return rc;
}

int x_read(sqlite3_file* pf, void* buf, int amt, sqlite3_int64 off) {
  File* f = F(pf);
  return guarded(SQLITE_IOERR_READ, [&] {
    size_t got = 0;
    if (f->memory) {
      if (static_cast<size_t>(off) < f->mem.size()) {
        got = std::min<size_t>(amt, f->mem.size() - off);
        std::memcpy(buf, f->mem.data() + off, got);
      }
    } else {
      auto r = fs_of(f).read(f->ref, off, {static_cast<std::byte*>(buf), static_cast<size_t>(amt)});
      if (!r) return SQLITE_IOERR_READ;
      got = *r;
    }
    if (got < static_cast<size_t>(amt)) {
      std::memset(static_cast<char*>(buf) + got, 0, amt - got);
      return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
  });
}

int x_write(sqlite3_file* pf, const void* buf, int amt, sqlite3_int64 off) {
  File* f = F(pf);
  return guarded(SQLITE_IOERR_WRITE, [&] {
    if (f->memory) {
      if (f->mem.size() < static_cast<size_t>(off + amt)) f->mem.resize(off + amt);
      std::memcpy(f->mem.data() + off, buf, amt);
      return SQLITE_OK;
    }
    auto st = fs_of(f).write(f->ref, off,
                             {static_cast<const std::byte*>(buf), static_cast<size_t>(amt)});
    if (!st.is_ok()) return io_error(f->vfs, st, SQLITE_IOERR_WRITE);
    f->vfs->mutable_counters().writes++;
    return SQLITE_OK;
  });
}

int x_truncate(sqlite3_file* pf, sqlite3_int64 size) {
  File* f = F(pf);
  return guarded(SQLITE_IOERR_TRUNCATE, [&] {
    if (f->memory) {
      f->mem.resize(size);
      return SQLITE_OK;
    }
    auto st = fs_of(f).truncate(f->ref, size);
    if (!st.is_ok()) return io_error(f->vfs, st, SQLITE_IOERR_TRUNCATE);
    f->vfs->mutable_counters().truncates++;
    return SQLITE_OK;
  });
}

int x_sync(sqlite3_file* pf, int flags) {
  File* f = F(pf);
  return guarded(SQLITE_IOERR_FSYNC, [&] {
    if (f->memory) return SQLITE_OK;
    auto& fs = fs_of(f);
    auto st = (flags & SQLITE_SYNC_DATAONLY) ? fs.fdatasync(f->ref) : fs.fsync(f->ref);
    if (!st.is_ok()) return io_error(f->vfs, st, SQLITE_IOERR_FSYNC);
    f->vfs->mutable_counters().syncs++;
    if (f->dirsync_pending) {
      auto d = fs.fsync_parent(f->name);
      if (!d.is_ok()) return io_error(f->vfs, d, SQLITE_IOERR_DIR_FSYNC);
      f->dirsync_pending = false;
    }
    return SQLITE_OK;
  });
}

int x_file_size(sqlite3_file* pf, sqlite3_int64* size) {
  File* f = F(pf);
  return guarded(SQLITE_IOERR_FSTAT, [&] {
    if (f->memory) {
      *size = static_cast<sqlite3_int64>(f->mem.size());
      return SQLITE_OK;
    }
    auto s = fs_of(f).size(f->ref);
    if (!s) return SQLITE_IOERR_FSTAT;
    *size = static_cast<sqlite3_int64>(*s);
    return SQLITE_OK;
  });
}

int x_lock(sqlite3_file* pf, int level) {
  File* f = F(pf);
  return guarded(SQLITE_IOERR_LOCK, [&] {
    if (f->lock >= level) return SQLITE_OK;
    auto& l = f->vfs->lock(f->key);
    auto other = [&](const void* holder) { return holder != nullptr && holder != f; };
    if (level == SQLITE_LOCK_SHARED) {
      if (other(l.pending) || other(l.exclusive)) return SQLITE_BUSY;
      l.shared++;
      f->lock = SQLITE_LOCK_SHARED;
      return SQLITE_OK;
    }
    if (level == SQLITE_LOCK_RESERVED) {
      if (f->lock != SQLITE_LOCK_SHARED) return SQLITE_MISUSE;
      if (other(l.reserved) || other(l.pending) || other(l.exclusive)) return SQLITE_BUSY;
      l.reserved = f;
      f->lock = SQLITE_LOCK_RESERVED;
      return SQLITE_OK;
    }
    // PENDING or EXCLUSIVE: take PENDING first (no new readers), then wait
    // for the other readers to leave.
    if (other(l.pending) || other(l.exclusive)) return SQLITE_BUSY;
    l.pending = f;
    if (level == SQLITE_LOCK_PENDING || l.shared > 1) {
      f->lock = SQLITE_LOCK_PENDING;
      return level == SQLITE_LOCK_PENDING ? SQLITE_OK : SQLITE_BUSY;
    }
    // The lock table's invariant: one writer at a time, and an exclusive
    // holder is the only reader left.
    assert(l.reserved == nullptr || l.reserved == f);
    assert(l.shared == 1);
    l.exclusive = f;
    f->lock = SQLITE_LOCK_EXCLUSIVE;
    return SQLITE_OK;
  });
}

int x_unlock(sqlite3_file* pf, int level) {
  File* f = F(pf);
  return guarded(SQLITE_IOERR_UNLOCK, [&] {
    if (f->lock <= level) return SQLITE_OK;
    auto& l = f->vfs->lock(f->key);
    if (level <= SQLITE_LOCK_SHARED) {
      if (l.reserved == f) l.reserved = nullptr;
      if (l.pending == f) l.pending = nullptr;
      if (l.exclusive == f) l.exclusive = nullptr;
    }
    if (level == SQLITE_LOCK_NONE && f->lock >= SQLITE_LOCK_SHARED) l.shared--;
    f->lock = level;
    return SQLITE_OK;
  });
}

int x_check_reserved(sqlite3_file* pf, int* out) {
  File* f = F(pf);
  return guarded(SQLITE_IOERR_CHECKRESERVEDLOCK, [&] {
    auto& l = f->vfs->lock(f->key);
    *out = (l.reserved || l.pending || l.exclusive) ? 1 : 0;
    return SQLITE_OK;
  });
}

int x_file_control(sqlite3_file* pf, int op, void* arg) {
  File* f = F(pf);
  return guarded(SQLITE_IOERR, [&] {
    if (op == SQLITE_FCNTL_VFSNAME) {
      *static_cast<char**>(arg) = sqlite3_mprintf("%s", f->vfs->name().c_str());
      return SQLITE_OK;
    }
    if (op == SQLITE_FCNTL_HAS_MOVED) {
      *static_cast<int*>(arg) = (!f->memory && !fs_of(f).exists(f->name)) ? 1 : 0;
      return SQLITE_OK;
    }
    return SQLITE_NOTFOUND;
  });
}

int x_sector_size(sqlite3_file* pf) { return F(pf)->vfs->options().sector_size; }
int x_device_characteristics(sqlite3_file* pf) {
  return F(pf)->vfs->options().device_characteristics;
}

int x_shm_map(sqlite3_file* pf, int region, int size, int extend, void volatile** pp) {
  File* f = F(pf);
  return guarded(SQLITE_IOERR_SHMMAP, [&] {
    auto& s = f->vfs->shm(f->key);
    if (!f->shm_mapped) {
      f->shm_mapped = true;
      s.users++;
    }
    s.region_size = size;
    if (static_cast<size_t>(region) >= s.regions.size()) {
      if (!extend) {
        *pp = nullptr;
        return SQLITE_OK;
      }
      while (s.regions.size() <= static_cast<size_t>(region)) {
        auto r = std::make_unique<char[]>(size);
        std::memset(r.get(), 0, size);
        s.regions.push_back(std::move(r));
      }
    }
    *pp = s.regions[region].get();
    return SQLITE_OK;
  });
}

int x_shm_lock(sqlite3_file* pf, int ofst, int n, int flags) {
  File* f = F(pf);
  return guarded(SQLITE_IOERR_SHMLOCK, [&] {
    auto& s = f->vfs->shm(f->key);
    const bool lock = flags & SQLITE_SHM_LOCK;
    const bool excl = flags & SQLITE_SHM_EXCLUSIVE;
    if (!lock) {
      for (int i = ofst; i < ofst + n; ++i) {
        const uint16_t bit = static_cast<uint16_t>(1u << i);
        if (f->shm_shared & bit) {
          s.shared[i]--;
          f->shm_shared &= static_cast<uint16_t>(~bit);
        }
        if (f->shm_exclusive & bit) {
          s.exclusive[i] = nullptr;
          f->shm_exclusive &= static_cast<uint16_t>(~bit);
        }
      }
      return SQLITE_OK;
    }
    for (int i = ofst; i < ofst + n; ++i) {
      const uint16_t bit = static_cast<uint16_t>(1u << i);
      if (s.exclusive[i] && s.exclusive[i] != f) return SQLITE_BUSY;
      const int others_shared = s.shared[i] - ((f->shm_shared & bit) ? 1 : 0);
      if (excl && others_shared > 0) return SQLITE_BUSY;
    }
    for (int i = ofst; i < ofst + n; ++i) {
      const uint16_t bit = static_cast<uint16_t>(1u << i);
      if (excl) {
        s.exclusive[i] = f;
        f->shm_exclusive |= bit;
      } else if (!(f->shm_shared & bit)) {
        s.shared[i]++;
        f->shm_shared |= bit;
      }
    }
    return SQLITE_OK;
  });
}

void x_shm_barrier(sqlite3_file*) {}

int x_shm_unmap(sqlite3_file* pf, int /*delete_flag*/) {
  File* f = F(pf);
  return guarded(SQLITE_IOERR_SHMMAP, [&] {
    if (!f->shm_mapped) return SQLITE_OK;
    (void)x_shm_lock(pf, 0, SQLITE_SHM_NLOCK, SQLITE_SHM_UNLOCK | SQLITE_SHM_SHARED);
    (void)x_shm_lock(pf, 0, SQLITE_SHM_NLOCK, SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE);
    f->shm_mapped = false;
    auto& s = f->vfs->shm(f->key);
    if (--s.users == 0) f->vfs->drop_shm(f->key);
    return SQLITE_OK;
  });
}

const sqlite3_io_methods kIoMethods = {
    2,  // iVersion: with shared memory, without xFetch/xUnfetch
    x_close, x_read, x_write, x_truncate, x_sync, x_file_size, x_lock, x_unlock,
    x_check_reserved, x_file_control, x_sector_size, x_device_characteristics,
    x_shm_map, x_shm_lock, x_shm_barrier, x_shm_unmap, nullptr, nullptr};

int x_open(sqlite3_vfs* pv, const char* zname, sqlite3_file* pf, int flags, int* out_flags) {
  SqliteVfs* vfs = V(pv);
  pf->pMethods = nullptr;
  return guarded(SQLITE_CANTOPEN, [&] {
    const bool memory = zname == nullptr || (flags & kTempTypes) != 0;
    File tmp{};
    tmp.vfs = vfs;
    tmp.memory = memory;
    tmp.delete_on_close = (flags & SQLITE_OPEN_DELETEONCLOSE) != 0;
    if (!memory) {
      auto [disk, name] = split_vfs_path(zname);
      if (disk >= vfs->machine().disk_count()) return SQLITE_CANTOPEN;
      auto& fs = vfs->machine().fs(disk);
      const bool create = (flags & SQLITE_OPEN_CREATE) != 0;
      if ((flags & SQLITE_OPEN_EXCLUSIVE) && fs.exists(name)) return SQLITE_CANTOPEN;
      auto ref = fs.open(name, create);
      if (!ref) return io_error(vfs, ref.status(), SQLITE_CANTOPEN);
      // An open file description: an unlinked file lives until its close.
      if (!fs.open_ref(*ref).is_ok()) return SQLITE_CANTOPEN;
      tmp.disk = disk;
      tmp.name = name;
      tmp.key = fmt::format("{}/{}", disk, name);
      tmp.ref = *ref;
      tmp.dirsync_pending =
          create && (flags & (SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_SUPER_JOURNAL |
                              SQLITE_OPEN_WAL)) != 0;
    } else {
      tmp.key = fmt::format("mem/{}", static_cast<const void*>(pf));
    }
    File* f = new (pf) File(std::move(tmp));
    f->base.pMethods = &kIoMethods;
    if (out_flags) *out_flags = flags;
    return SQLITE_OK;
  });
}

int x_delete(sqlite3_vfs* pv, const char* zname, int sync_dir) {
  SqliteVfs* vfs = V(pv);
  return guarded(SQLITE_IOERR_DELETE, [&] {
    auto [disk, name] = split_vfs_path(zname);
    if (disk >= vfs->machine().disk_count()) return SQLITE_IOERR_DELETE_NOENT;
    auto& fs = vfs->machine().fs(disk);
    auto st = fs.unlink(name);
    if (st.code() == cow::Code::kNotFound) return SQLITE_IOERR_DELETE_NOENT;
    if (!st.is_ok()) return io_error(vfs, st, SQLITE_IOERR_DELETE);
    vfs->mutable_counters().deletes++;
    if (sync_dir) {
      auto d = fs.fsync_parent(name);
      if (!d.is_ok()) return io_error(vfs, d, SQLITE_IOERR_DIR_FSYNC);
    }
    return SQLITE_OK;
  });
}

int x_access(sqlite3_vfs* pv, const char* zname, int /*flags*/, int* out) {
  SqliteVfs* vfs = V(pv);
  return guarded(SQLITE_IOERR_ACCESS, [&] {
    auto [disk, name] = split_vfs_path(zname);
    *out = 0;
    if (disk >= vfs->machine().disk_count()) return SQLITE_OK;
    auto& fs = vfs->machine().fs(disk);
    auto ref = fs.lookup(name);
    // As unixAccess: a zero-length regular file does not "exist".
    if (ref) *out = fs.size(*ref).value() > 0 ? 1 : 0;
    return SQLITE_OK;
  });
}

int x_full_pathname(sqlite3_vfs*, const char* zname, int n, char* out) {
  return guarded(SQLITE_CANTOPEN, [&] {
    auto [disk, name] = split_vfs_path(zname);
    const std::string full = fmt::format("/{}/{}", disk, name);
    if (static_cast<int>(full.size()) >= n) return SQLITE_CANTOPEN;
    std::memcpy(out, full.c_str(), full.size() + 1);
    return SQLITE_OK;
  });
}

void* x_dlopen(sqlite3_vfs*, const char*) { return nullptr; }
void x_dlerror(sqlite3_vfs*, int n, char* out) {
  if (n > 0) std::snprintf(out, n, "extensions are not available in the simulator");
}
void (*x_dlsym(sqlite3_vfs*, void*, const char*))(void) { return nullptr; }
void x_dlclose(sqlite3_vfs*, void*) {}

int x_randomness(sqlite3_vfs* pv, int n, char* out) {
  auto& p = V(pv)->prng();
  for (int i = 0; i < n; ++i) out[i] = static_cast<char>(p.next_u64());
  return n;
}

int x_sleep(sqlite3_vfs* pv, int us) {
  V(pv)->machine().clock().advance_ns(static_cast<uint64_t>(us) * 1000);
  return us;
}

// Simulated time starts at 2026-01-01 00:00:00 UTC.
constexpr sqlite3_int64 kEpochMs = 210'866'760'000'000LL + 1'767'225'600'000LL;

int x_current_time_int64(sqlite3_vfs* pv, sqlite3_int64* out) {
  *out = kEpochMs + static_cast<sqlite3_int64>(V(pv)->machine().clock().now_ns() / 1'000'000);
  return SQLITE_OK;
}

int x_current_time(sqlite3_vfs* pv, double* out) {
  sqlite3_int64 ms = 0;
  x_current_time_int64(pv, &ms);
  *out = static_cast<double>(ms) / 86'400'000.0;
  return SQLITE_OK;
}

int x_get_last_error(sqlite3_vfs*, int, char*) { return 0; }

}  // namespace

std::pair<uint32_t, std::string> split_vfs_path(const std::string& path) {
  std::string p = path;
  while (!p.empty() && p.front() == '/') p.erase(p.begin());
  const size_t slash = p.find('/');
  if (slash != std::string::npos && slash > 0 && slash <= 3) {
    bool digits = true;
    for (size_t i = 0; i < slash; ++i) digits = digits && std::isdigit(static_cast<unsigned char>(p[i]));
    if (digits) return {static_cast<uint32_t>(std::stoul(p.substr(0, slash))), p.substr(slash + 1)};
  }
  return {0, p};
}

Result<int> parse_device_flags(const std::string& text) {
  if (text.empty() || text == "none") return 0;
  static const std::map<std::string, int> kFlags = {
      {"atomic", SQLITE_IOCAP_ATOMIC},
      {"atomic512", SQLITE_IOCAP_ATOMIC512},
      {"atomic4k", SQLITE_IOCAP_ATOMIC4K},
      {"atomic64k", SQLITE_IOCAP_ATOMIC64K},
      {"safe_append", SQLITE_IOCAP_SAFE_APPEND},
      {"sequential", SQLITE_IOCAP_SEQUENTIAL},
      {"powersafe_overwrite", SQLITE_IOCAP_POWERSAFE_OVERWRITE},
      {"batch_atomic", SQLITE_IOCAP_BATCH_ATOMIC},
  };
  int flags = 0;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, '+')) {
    auto it = kFlags.find(item);
    if (it == kFlags.end()) {
      return Status::invalid_argument(fmt::format(
          "unknown device characteristic '{}' (expected none or a '+' list of atomic, atomic512, "
          "atomic4k, atomic64k, safe_append, sequential, powersafe_overwrite, batch_atomic)",
          item));
    }
    flags |= it->second;
  }
  return flags;
}

SqliteVfs::SqliteVfs(sim::Machine& machine, const VfsOptions& options)
    : machine_(machine),
      options_(options),
      name_(fmt::format("snapsim-{}", g_vfs_counter.fetch_add(1))),
      prng_(machine.prng().fork("sqlite-vfs")) {
  vfs_.iVersion = 2;
  vfs_.szOsFile = sizeof(File);
  vfs_.mxPathname = 512;
  vfs_.zName = name_.c_str();
  vfs_.pAppData = this;
  vfs_.xOpen = x_open;
  vfs_.xDelete = x_delete;
  vfs_.xAccess = x_access;
  vfs_.xFullPathname = x_full_pathname;
  vfs_.xDlOpen = x_dlopen;
  vfs_.xDlError = x_dlerror;
  vfs_.xDlSym = x_dlsym;
  vfs_.xDlClose = x_dlclose;
  vfs_.xRandomness = x_randomness;
  vfs_.xSleep = x_sleep;
  vfs_.xCurrentTime = x_current_time;
  vfs_.xGetLastError = x_get_last_error;
  vfs_.xCurrentTimeInt64 = x_current_time_int64;
  sqlite3_vfs_register(&vfs_, 0);
}

SqliteVfs::~SqliteVfs() { sqlite3_vfs_unregister(&vfs_); }

std::optional<uint64_t> SqliteVfs::wal_bytes_used(uint32_t disk, const std::string& file) const {
  auto it = shm_.find(fmt::format("{}/{}", disk, file));
  if (it == shm_.end() || it->second.regions.empty() || it->second.region_size < 48) return std::nullopt;
  // WalIndexHdr: u32 iVersion, u32 unused, u32 iChange, u8 isInit,
  // u8 bigEndCksum, u16 szPage, u32 mxFrame, ... (native byte order).
  const char* hdr = it->second.regions[0].get();
  uint8_t is_init = 0;
  uint16_t sz_page = 0;
  uint32_t mx_frame = 0;
  std::memcpy(&is_init, hdr + 12, sizeof is_init);
  std::memcpy(&sz_page, hdr + 14, sizeof sz_page);
  std::memcpy(&mx_frame, hdr + 16, sizeof mx_frame);
  if (!is_init) return std::nullopt;
  const uint64_t page = sz_page == 1 ? 65536 : sz_page;
  return 32 + static_cast<uint64_t>(mx_frame) * (24 + page);
}

}  // namespace snapsim::workloads
