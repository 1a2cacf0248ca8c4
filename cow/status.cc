#include "cow/status.h"

namespace snapsim::cow {

const char* code_name(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kOutOfSpace: return "out_of_space";
    case Code::kFsFull: return "fs_full";
    case Code::kOutOfRange: return "out_of_range";
    case Code::kMisaligned: return "misaligned";
    case Code::kNotFound: return "not_found";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kIoError: return "io_error";
    case Code::kBusy: return "busy";
    case Code::kExists: return "exists";
    case Code::kNotDir: return "not_a_directory";
    case Code::kIsDir: return "is_a_directory";
    case Code::kNotEmpty: return "not_empty";
    case Code::kNameTooLong: return "name_too_long";
    case Code::kLoop: return "too_many_links";
    case Code::kNotPermitted: return "not_permitted";
    case Code::kFileTooBig: return "file_too_big";
    case Code::kMemoryLimit: return "memory_limit";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return std::string(code_name(code_)) + ": " + message_;
}

}  // namespace snapsim::cow
