// Status and Result<T>: expected failures as values (STYLE.md rule 3).
//
// A Status is either ok or an error code with a one-line message that names
// the problem. Result<T> carries a value or a non-ok Status. Both are
// [[nodiscard]]: ignoring an error is a compile error under -Werror.
#pragma once

#include <cassert>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

namespace snapsim::cow {

enum class Code {
  kOk = 0,
  kOutOfSpace,       // the block pool is full (raise the pool's capacity)
  kFsFull,           // the guest file system has no room: no free file, a file-size limit (ENOSPC, EFBIG)
  kOutOfRange,       // address beyond the end of the volume
  kMisaligned,       // a whole-block operation at a non-block-aligned address or size
  kNotFound,         // unknown or deleted volume / snapshot id
  kInvalidArgument,  // a parameter outside its documented domain
  kIoError,          // a simulated device error
  kBusy,             // a resource is locked by someone else
  // The guest file system's POSIX errors (sim::GuestFs; errno in comments):
  kExists,           // EEXIST: the name is taken
  kNotDir,           // ENOTDIR: a path component or operand is not a directory
  kIsDir,            // EISDIR: a directory where a non-directory is needed
  kNotEmpty,         // ENOTEMPTY: removing or replacing a directory that has entries
  kNameTooLong,      // ENAMETOOLONG: a name over 255 bytes or a path over 4096
  kLoop,             // ELOOP: too many symbolic links in a path
  kNotPermitted,     // EPERM: e.g. a hard link to a directory
  kFileTooBig,       // EFBIG: past the largest file the file system maps
  kMemoryLimit,      // the exploration would exceed its memory limit (--max-memory)
};

const char* code_name(Code code);
inline std::ostream& operator<<(std::ostream& os, Code c) { return os << code_name(c); }

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(Code code, std::string message) { return Status(code, std::move(message)); }
  static Status out_of_space(std::string m) { return Status(Code::kOutOfSpace, std::move(m)); }
  static Status fs_full(std::string m) { return Status(Code::kFsFull, std::move(m)); }
  static Status out_of_range(std::string m) { return Status(Code::kOutOfRange, std::move(m)); }
  static Status misaligned(std::string m) { return Status(Code::kMisaligned, std::move(m)); }
  static Status not_found(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status fs(Code code, std::string m) { return Status(code, std::move(m)); }
  static Status invalid_argument(std::string m) {
    return Status(Code::kInvalidArgument, std::move(m));
  }

  bool is_ok() const { return code_ == Code::kOk; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "out_of_space: pool of 16 blocks is full" - for logs and CLI errors.
  std::string to_string() const;

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.is_ok() && "a Result built from a Status must carry an error");
  }
  bool is_ok() const { return value_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const { return status_; }
  T& value() & {
    assert(is_ok());
    return *value_;
  }
  const T& value() const& {
    assert(is_ok());
    return *value_;
  }
  T&& value() && {
    assert(is_ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace snapsim::cow

// Propagate a non-ok Status from the current function.
#define SNAPSIM_RETURN_IF_ERROR(expr)          \
  do {                                         \
    ::snapsim::cow::Status _st = (expr);       \
    if (!_st.is_ok()) return _st;              \
  } while (0)
