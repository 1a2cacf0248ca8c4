// The FUSE mount of a live guest: POSIX calls on the host directory reach the
// guest file system with their bytes and answers, the kernel hides no write
// or sync, and replaying the recording on a fresh guest rebuilds the same
// tree. The property test runs random POSIX programs on the mount and on a
// host directory (the model: the host kernel's own file system) and compares
// the trees, then replays the recording and compares again.
#define BOOST_TEST_MODULE host_fuse
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <rapidcheck/boost_test.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "host/fuse_fs.h"
#include "host/replay.h"
#include "sim/machine.h"

namespace fs = std::filesystem;
using namespace snapsim;
using host::Op;
using host::OpKind;

namespace {

std::string make_temp(const std::string& what) {
  std::string t = "/tmp/snapsim-test-" + what + "-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(t.data()) != nullptr);
  return t;
}

struct Guest {
  std::unique_ptr<cow::Pool> pool;
  std::unique_ptr<sim::Machine> m;
  explicit Guest(sim::FsMode mode = sim::FsMode::kExt4) {
    auto p = cow::Pool::create(cow::PoolOptions{.block_size = 4096, .capacity_blocks = 1u << 16});
    BOOST_REQUIRE(p.is_ok());
    pool = std::make_unique<cow::Pool>(std::move(*p));
    sim::MachineConfig c;
    c.fs.mode = mode;
    c.fs.disk_bytes = 128u << 20;
    c.fs.inodes = 4096;
    c.writeback = sim::Writeback::kRandom;
    auto mm = sim::Machine::boot_fresh(pool.get(), c, sim::Prng(7));
    BOOST_REQUIRE(mm.is_ok());
    m = std::move(*mm);
  }
};

// A guest mounted on a fresh host directory; unmounted on destruction.
struct Mounted {
  Guest guest;
  std::vector<Op> ops;
  std::string dir = make_temp("mnt");
  std::unique_ptr<host::FuseMount> mount;
  explicit Mounted(sim::FsMode mode = sim::FsMode::kExt4) : guest(mode) {
    auto st = host::fuse_available();
    BOOST_REQUIRE_MESSAGE(st.is_ok(), "FUSE is required for these tests: " + st.message());
    auto r = host::FuseMount::mount(*guest.m, dir, &ops);
    BOOST_REQUIRE_MESSAGE(r.is_ok(), r.status().message());
    mount = std::move(*r);
  }
  void unmount() {
    if (mount) mount->wait_released(2000);
    mount.reset();
  }
  ~Mounted() {
    unmount();
    std::error_code ec;
    fs::remove(dir, ec);
  }
  std::string at(const std::string& p) const { return dir + "/" + p; }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string guest_content(sim::Machine& m, const std::string& path) {
  auto r = m.fs().lookup(path);
  if (!r) return "<missing>";
  auto size = m.fs().size(*r).value();
  std::string out(size, '\0');
  auto n = m.fs().read(*r, 0, std::as_writable_bytes(std::span(out)));
  BOOST_REQUIRE(n.is_ok());
  out.resize(*n);
  return out;
}

void write_file(const std::string& path, const std::string& data, bool sync) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  BOOST_REQUIRE_MESSAGE(fd >= 0, path + ": " + std::strerror(errno));
  BOOST_REQUIRE_EQUAL(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  if (sync) BOOST_REQUIRE_EQUAL(::fsync(fd), 0);
  BOOST_REQUIRE_EQUAL(::close(fd), 0);
}

// Every path, type, mode and content of a host tree.
std::map<std::string, std::string> host_tree(const std::string& root) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    const std::string rel = it->path().lexically_relative(root).string();
    struct stat st{};
    BOOST_REQUIRE_EQUAL(::lstat(it->path().c_str(), &st), 0);
    std::string desc = fmt::format("{:o}", st.st_mode);
    if (S_ISREG(st.st_mode)) desc += " " + slurp(it->path().string());
    if (S_ISLNK(st.st_mode)) desc += " -> " + fs::read_symlink(it->path()).string();
    out[rel] = desc;
  }
  return out;
}

// The same description of the guest's tree, read from the guest itself.
std::map<std::string, std::string> guest_tree(sim::Machine& m) {
  std::map<std::string, std::string> out;
  for (const auto& e : m.fs().walk()) {
    const uint32_t type = e.stat.type == sim::FileType::kDirectory ? S_IFDIR
                          : e.stat.type == sim::FileType::kSymlink ? S_IFLNK
                                                                   : S_IFREG;
    std::string desc = fmt::format("{:o}", type | e.stat.mode);
    if (e.stat.type == sim::FileType::kRegular) desc += " " + guest_content(m, e.path);
    if (e.stat.type == sim::FileType::kSymlink) desc += " -> " + m.fs().readlink(e.stat.ref).value();
    out[e.path] = desc;
  }
  return out;
}

// Replays `ops` on a fresh guest of the given mode.
std::unique_ptr<Guest> replay(const std::vector<Op>& ops, sim::FsMode mode) {
  auto g = std::make_unique<Guest>(mode);
  host::OpReplayer r(&g->m->fs(), 1);
  for (size_t i = 0; i < ops.size(); ++i) {
    auto st = r.apply(ops[i], i);
    BOOST_REQUIRE_MESSAGE(st.is_ok(), st.message());
  }
  return g;
}

size_t count(const std::vector<Op>& ops, OpKind k) {
  return static_cast<size_t>(std::count_if(ops.begin(), ops.end(), [&](const Op& o) { return o.kind == k; }));
}

}  // namespace

BOOST_AUTO_TEST_CASE(posix_calls_reach_the_guest) {
  Mounted mt;
  BOOST_REQUIRE_EQUAL(::mkdir(mt.at("a").c_str(), 0755), 0);
  BOOST_REQUIRE_EQUAL(::mkdir(mt.at("a/b").c_str(), 0700), 0);
  write_file(mt.at("a/b/doc.txt"), "hello", true);
  write_file(mt.at("a/old.txt"), "old", false);
  BOOST_REQUIRE_EQUAL(::rename(mt.at("a/b/doc.txt").c_str(), mt.at("a/old.txt").c_str()), 0);  // replaces
  BOOST_REQUIRE_EQUAL(::link(mt.at("a/old.txt").c_str(), mt.at("hard").c_str()), 0);
  BOOST_REQUIRE_EQUAL(::symlink("a/old.txt", mt.at("soft").c_str()), 0);
  BOOST_REQUIRE_EQUAL(::chmod(mt.at("hard").c_str(), 0600), 0);
  BOOST_CHECK_EQUAL(slurp(mt.at("soft")), "hello");
  // Errors come back as the guest's errno.
  BOOST_CHECK_EQUAL(::mkdir(mt.at("a").c_str(), 0755), -1);
  BOOST_CHECK_EQUAL(errno, EEXIST);
  BOOST_CHECK_EQUAL(::rmdir(mt.at("a").c_str()), -1);
  BOOST_CHECK_EQUAL(errno, ENOTEMPTY);
  BOOST_CHECK_EQUAL(::renameat2(AT_FDCWD, mt.at("hard").c_str(), AT_FDCWD, mt.at("soft").c_str(), RENAME_NOREPLACE),
                    -1);
  BOOST_CHECK_EQUAL(errno, EEXIST);
  // An unlinked open file stays readable and writable until its last close.
  const int fd = ::open(mt.at("a/tmp").c_str(), O_RDWR | O_CREAT, 0644);
  BOOST_REQUIRE(fd >= 0);
  BOOST_REQUIRE_EQUAL(::unlink(mt.at("a/tmp").c_str()), 0);
  BOOST_REQUIRE_EQUAL(::pwrite(fd, "xyz", 3, 0), 3);
  char buf[4] = {};
  BOOST_CHECK_EQUAL(::pread(fd, buf, 3, 0), 3);
  BOOST_CHECK_EQUAL(std::string(buf), "xyz");
  BOOST_REQUIRE_EQUAL(::close(fd), 0);
  // truncate, fallocate, a punched hole.
  write_file(mt.at("big"), std::string(3 * 4096, 'z'), false);
  const int bfd = ::open(mt.at("big").c_str(), O_RDWR);
  BOOST_REQUIRE_EQUAL(::fallocate(bfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096), 0);
  BOOST_REQUIRE_EQUAL(::fallocate(bfd, 0, 0, 5 * 4096), 0);
  BOOST_REQUIRE_EQUAL(::ftruncate(bfd, 4 * 4096), 0);
  BOOST_REQUIRE_EQUAL(::close(bfd), 0);
  struct statvfs sv{};
  BOOST_CHECK_EQUAL(::statvfs(mt.dir.c_str(), &sv), 0);
  BOOST_CHECK_EQUAL(sv.f_bsize, 4096u);
  const auto seen = host_tree(mt.dir);
  mt.unmount();
  sim::Machine& m = *mt.guest.m;
  BOOST_CHECK_EQUAL(guest_content(m, "a/old.txt"), "hello");
  BOOST_CHECK_EQUAL(guest_content(m, "hard"), "hello");
  BOOST_CHECK(!m.fs().exists("a/b/doc.txt"));
  BOOST_CHECK(!m.fs().exists("a/tmp"));
  BOOST_CHECK_EQUAL(m.fs().readlink(m.fs().resolve("soft", false).value()).value(), "a/old.txt");
  BOOST_CHECK_EQUAL(m.fs().stat_path("hard").value().mode, 0600u);
  BOOST_CHECK_EQUAL(m.fs().stat_path("hard").value().nlink, 2u);
  BOOST_CHECK_EQUAL(m.fs().stat_path("a/b").value().mode, 0700u);
  const std::string big = guest_content(m, "big");
  BOOST_CHECK_EQUAL(big.size(), 4u * 4096);
  BOOST_CHECK(big.substr(4096, 4096) == std::string(4096, '\0'));
  BOOST_CHECK(big.substr(0, 4096) == std::string(4096, 'z'));
  // What the host saw through the mount is what the guest holds.
  const auto held = guest_tree(m);
  BOOST_CHECK(seen == held);
  for (const auto& [k, v] : seen) {
    if (!held.count(k) || held.at(k) != v) BOOST_TEST_MESSAGE("host: " << k << " = " << v.substr(0, 40));
  }
  for (const auto& [k, v] : held) {
    if (!seen.count(k) || seen.at(k) != v) BOOST_TEST_MESSAGE("guest: " << k << " = " << v.substr(0, 40));
  }
}

BOOST_AUTO_TEST_CASE(every_fsync_reaches_the_guest) {
  Mounted mt;
  const int fd = ::open(mt.at("f").c_str(), O_WRONLY | O_CREAT, 0644);
  BOOST_REQUIRE(fd >= 0);
  for (int i = 0; i < 5; ++i) {
    BOOST_REQUIRE_EQUAL(::pwrite(fd, "abcd", 4, i * 4), 4);
    BOOST_REQUIRE_EQUAL(i % 2 ? ::fdatasync(fd) : ::fsync(fd), 0);
  }
  BOOST_REQUIRE_EQUAL(::close(fd), 0);
  const int dfd = ::open(mt.dir.c_str(), O_RDONLY | O_DIRECTORY);
  BOOST_REQUIRE(dfd >= 0);
  BOOST_REQUIRE_EQUAL(::fsync(dfd), 0);
  BOOST_REQUIRE_EQUAL(::fsync(dfd), 0);
  BOOST_REQUIRE_EQUAL(::close(dfd), 0);
  mt.unmount();
  // Five file syncs (two of them fdatasync) and two directory syncs, none skipped.
  BOOST_CHECK_EQUAL(count(mt.ops, OpKind::kFsync), 7u);
  size_t datasync = 0, dir = 0;
  for (const auto& o : mt.ops) {
    if (o.kind != OpKind::kFsync) continue;
    datasync += o.flags & 1;
    dir += o.ino == 1;
  }
  BOOST_CHECK_EQUAL(datasync, 2u);
  BOOST_CHECK_EQUAL(dir, 2u);
  // Each write(2) is one request with its own offset and bytes (no writeback cache merging them).
  BOOST_CHECK_EQUAL(count(mt.ops, OpKind::kWrite), 5u);
}

BOOST_AUTO_TEST_CASE(shared_mmap_writes_reach_the_guest) {
  Mounted mt;
  write_file(mt.at("shm"), std::string(8192, '\0'), false);
  const int fd = ::open(mt.at("shm").c_str(), O_RDWR);
  BOOST_REQUIRE(fd >= 0);
  void* p = ::mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  BOOST_REQUIRE_MESSAGE(p != MAP_FAILED, std::string("mmap: ") + std::strerror(errno));
  std::memcpy(static_cast<char*>(p) + 4096, "mapped", 6);
  BOOST_REQUIRE_EQUAL(::msync(p, 8192, MS_SYNC), 0);
  BOOST_REQUIRE_EQUAL(::munmap(p, 8192), 0);
  BOOST_REQUIRE_EQUAL(::close(fd), 0);
  mt.unmount();
  BOOST_CHECK_EQUAL(guest_content(*mt.guest.m, "shm").substr(4096, 6), "mapped");
}

BOOST_AUTO_TEST_CASE(owners_and_modes_are_the_guests) {
  if (::geteuid() != 0) return;  // chown needs root; CI runs as root
  Mounted mt;
  write_file(mt.at("owned"), "x", false);
  BOOST_REQUIRE_EQUAL(::chown(mt.at("owned").c_str(), 1234, 5678), 0);
  struct stat st{};
  BOOST_REQUIRE_EQUAL(::stat(mt.at("owned").c_str(), &st), 0);
  BOOST_CHECK_EQUAL(st.st_uid, 1234u);
  BOOST_CHECK_EQUAL(st.st_gid, 5678u);
  mt.unmount();
  BOOST_CHECK_EQUAL(mt.guest.m->fs().stat_path("owned").value().uid, 1234u);
}

BOOST_AUTO_TEST_CASE(replay_rebuilds_the_recorded_tree_on_either_mode) {
  Mounted mt;
  BOOST_REQUIRE_EQUAL(::mkdir(mt.at("d").c_str(), 0755), 0);
  for (int i = 0; i < 20; ++i) write_file(mt.at(fmt::format("d/f{}", i)), std::string(100 * i, 'a' + i % 26), i % 3 == 0);
  for (int i = 0; i < 20; i += 2) BOOST_REQUIRE_EQUAL(::unlink(mt.at(fmt::format("d/f{}", i)).c_str()), 0);
  BOOST_REQUIRE_EQUAL(::rename(mt.at("d/f1").c_str(), mt.at("moved").c_str()), 0);
  mt.unmount();
  const auto want = guest_tree(*mt.guest.m);
  for (auto mode : {sim::FsMode::kExt4, sim::FsMode::kNoJournal}) {
    auto g = replay(mt.ops, mode);
    BOOST_CHECK(guest_tree(*g->m) == want);
  }
}

// A random POSIX program, run on the mount and on a host directory.
struct Program {
  std::vector<std::tuple<int, int, int, std::string>> steps;  // kind, a, b, data
};

void run_program(const Program& p, const std::string& root) {
  auto path = [&](int i) { return root + (i % 4 == 0 ? "/d" : "") + fmt::format("/f{}", i % 7); };
  ::mkdir((root + "/d").c_str(), 0755);
  for (const auto& [kind, a, b, data] : p.steps) {
    switch (kind % 7) {
      case 0: {  // write at an offset (creating)
        const int fd = ::open(path(a).c_str(), O_WRONLY | O_CREAT, 0644);
        if (fd >= 0) {
          (void)!::pwrite(fd, data.data(), data.size(), b % 9000);
          if (b % 3 == 0) ::fsync(fd);
          ::close(fd);
        }
        break;
      }
      case 1: (void)::rename(path(a).c_str(), path(b).c_str()); break;
      case 2: (void)::unlink(path(a).c_str()); break;
      case 3: (void)::truncate(path(a).c_str(), b % 10000); break;
      case 4: (void)::link(path(a).c_str(), path(b).c_str()); break;
      case 5: (void)::chmod(path(a).c_str(), 0600 | (b & 077)); break;
      case 6: {  // append (O_APPEND: the kernel picks the offset)
        const int fd = ::open(path(a).c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
          (void)!::write(fd, data.data(), data.size());
          ::close(fd);
        }
        break;
      }
    }
  }
}

RC_BOOST_PROP(random_programs_see_what_a_host_directory_sees_and_replay_agrees, ()) {
  Program p;
  const int n = *rc::gen::inRange(1, 40);
  for (int i = 0; i < n; ++i) {
    const int kind = *rc::gen::inRange(0, 7);
    const int a = *rc::gen::inRange(0, 14);
    const int b = *rc::gen::inRange(0, 20000);
    const std::string data = *rc::gen::resize(100, rc::gen::container<std::string>(rc::gen::inRange('a', 'z')));
    p.steps.emplace_back(kind, a, b, data);
  }
  const std::string model = make_temp("model");
  run_program(p, model);
  const auto want = host_tree(model);
  fs::remove_all(model);
  Mounted mt;
  run_program(p, mt.dir);
  const auto seen = host_tree(mt.dir);
  mt.unmount();
  RC_ASSERT(seen == want);
  RC_ASSERT(guest_tree(*mt.guest.m) == want);
  const auto mode = *rc::gen::element(sim::FsMode::kExt4, sim::FsMode::kNoJournal);
  auto g = replay(mt.ops, mode);
  RC_ASSERT(guest_tree(*g->m) == want);
}
