// The recording of a real program: every file-system request it made through
// the FUSE mount (host/fuse_fs.h), with its bytes and what the guest file
// system answered, and the markers that say where setup, each transaction and
// the server began and ended, and how each command exited. Exploration
// replays it (host/replay.h) deterministically, under any seed, writeback
// policy and file-system mode: one recording serves every configuration.
//
// The file (`snapsim run --save-trace FILE.trace`, `snapsim run FILE.trace`)
// is documented in docs/trace-format.md:
//
//   "SNAPTRC\n"  8 bytes of magic
//   u32 LE       format version (kTraceVersion)
//   u64 LE       size of the body before compression
//   ...          the body, one zstd frame
//
// The body is a sequence of fields, each an unsigned LEB128 varint, a
// zigzag varint (signed), or a string (varint length, then bytes). A reader
// refuses a newer version and any body that does not decode exactly.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cow/status.h"

namespace snapsim::host {

using cow::Result;
using cow::Status;

inline constexpr uint32_t kTraceVersion = 4;  // 2 added check_recover, 3 the hook, 4 hook-begin; 1-3 are still read

// What a request was. The numbers are the file format: never renumber.
enum class OpKind : uint8_t {
  // File-system requests, in the order the FUSE server received them.
  kLookup = 1,     // ino = parent, name; result = the found inode
  kGetattr = 2,    // ino
  kSetattr = 3,    // ino; flags = kSet* mask; mode, uid, gid, size (offset), atime, mtime
  kCreate = 4,     // ino = parent, name; flags = file type (sim::FileType) | kCreateOpen;
                   // mode, uid, gid; name2 = a symlink's target; result = the new inode
  kOpen = 5,       // ino; flags = open(2) flags
  kRelease = 6,    // ino (the last close of one open)
  kRead = 7,       // ino, offset, length (the bytes are not kept: replay needs none)
  kWrite = 8,      // ino, offset, data
  kFlush = 9,      // ino (close(2) of one descriptor)
  kFsync = 10,     // ino; flags = 1 for fdatasync; directories too (fsyncdir)
  kUnlink = 11,    // ino = parent, name
  kRmdir = 12,     // ino = parent, name
  kRename = 13,    // ino = old parent, name; ino2 = new parent, name2; flags = renameat2 flags
  kLink = 14,      // ino = the inode; ino2 = new parent, name2
  kReadlink = 15,  // ino
  kFallocate = 16, // ino; flags = fallocate(2) mode; offset, length
  kStatfs = 17,
  kReaddir = 18,   // ino (one opendir: the listing read)
  kSyncAll = 19,   // syncfs of the whole guest file system
  // Markers (never file-system requests).
  kSetupBegin = 64,  // name2 = the command
  kSetupEnd = 65,    // status = exit status; name2 = the output's last line
  kTxnBegin = 66,    // ino = client, offset = its transaction number, name = transaction name,
                     // name2 = the command as run
  kTxnEnd = 67,      // ino = client, status = exit status (0 = acknowledged), name2 = last line
  kServerStart = 68, // name2 = the command
  kServerStop = 69,  // status = the server's exit status
  kHookEnd = 70,     // ends a hook segment: status = the first failing command's exit status (0 = ran)
  kHookBegin = 71,   // a hook run in the live server begins (version 4): its requests follow in the
                     // main run, up to the next kHookEnd
};
const char* op_kind_name(OpKind k);
bool is_marker(OpKind k);

inline constexpr uint32_t kCreateOpen = 0x100;  // kCreate flags: the create also opened it
inline constexpr uint32_t kSetMode = 1, kSetUid = 2, kSetGid = 4, kSetSize = 8, kSetAtime = 16,
                          kSetMtime = 32;

struct Op {
  OpKind kind = OpKind::kGetattr;
  int32_t status = 0;   // requests: the errno the guest answered (0 = success); markers: exit status
  uint32_t ino = 0;     // see OpKind
  uint32_t ino2 = 0;
  uint32_t result = 0;  // kLookup, kCreate: the inode found or made (0 when it failed)
  uint32_t flags = 0;
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t offset = 0, length = 0;
  int64_t atime_ns = 0, mtime_ns = 0;
  std::string name, name2;
  std::string data;     // kWrite: the bytes written
  friend bool operator==(const Op&, const Op&) = default;
};

struct Recording {
  std::string workload;                       // the script's name
  std::map<std::string, std::string> params;  // the parameters it was recorded with
  // The guest file system it was recorded on (replay may use another mode).
  std::string fs_mode = "ext4";
  std::string fs_data = "ordered";
  uint32_t disk_mb = 1024;
  uint32_t inodes = 65536;
  uint32_t clients = 1;
  // The check, run in every restored image ([check] in the script).
  std::string check_run;
  std::string check_committed;
  std::string check_recover;  // run before the check ([check] recover; version 2)
  uint32_t check_timeout_ms = 10000;
  std::string user;  // the host user commands ran as ("" = snapsim's own)
  // The pre-freeze hook ([quiesce], version 3): its commands were run, after
  // setup and after each transaction, on a copy of the guest at that moment
  // (the main run never sees them); hook_segments[k] holds the requests of
  // the run after k transactions ended, closed by a kHookEnd marker. With a
  // server (version 4) the hook ran in the live server instead: its requests
  // are in `ops` between kHookBegin and kHookEnd markers and hook_segments
  // is empty.
  bool has_hook = false;
  uint64_t hook_timeout_ms = 10000;
  bool hook_crash_consistent = false;
  std::vector<std::string> pre_freeze;
  std::vector<std::vector<Op>> hook_segments;
  // The host files the script shipped ([process] files), as $SNAPSIM_FILES.
  std::vector<std::pair<std::string, std::string>> files;
  std::vector<Op> ops;
  friend bool operator==(const Recording&, const Recording&) = default;
};

// The file's bytes (header and compressed body).
std::string encode_trace(const Recording& r);
// Errors name what is wrong ("not a snapsim trace", "version 3 is newer
// than this snapsim's 1", "truncated body").
cow::Result<Recording> decode_trace(const std::string& bytes);
cow::Result<Recording> read_trace(const std::string& path);

// One line for people: "12 write ino 5 0+4096 ok".
std::string describe_op(const Op& op, size_t index);

// True if `path` names a trace file (ends in .trace).
bool is_trace_path(const std::string& path);

}  // namespace snapsim::host
