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
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return std::string(code_name(code_)) + ": " + message_;
}

}  // namespace snapsim::cow
