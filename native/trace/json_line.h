// A minimal JSON writer for one trace line: objects, arrays, strings, numbers, hex pointers.
// The injection library cannot depend on anything the traced program might not have, so it
// carries its own; it never allocates more than the line it builds.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace cuipc_trace {

class JsonLine {
 public:
  JsonLine() { out_.reserve(512); }

  JsonLine& Begin() { return Open('{'); }
  JsonLine& End() { return Close('}'); }
  JsonLine& BeginArray() { return Open('['); }
  JsonLine& EndArray() { return Close(']'); }

  // Member name inside an object; the next value call writes its value.
  JsonLine& Key(const char* name) {
    Comma();
    Quoted(name);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  JsonLine& Str(const char* s) {
    Value();
    if (s == nullptr) out_ += "null";
    else Quoted(s);
    return *this;
  }
  JsonLine& Str(const std::string& s) { return Str(s.c_str()); }
  JsonLine& Int(long long v) {
    Value();
    out_ += std::to_string(v);
    return *this;
  }
  JsonLine& Uint(unsigned long long v) {
    Value();
    out_ += std::to_string(v);
    return *this;
  }
  JsonLine& Double(double v, int decimals) {
    Value();
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    out_ += buf;
    return *this;
  }
  JsonLine& Bool(bool v) {
    Value();
    out_ += v ? "true" : "false";
    return *this;
  }
  JsonLine& Null() {
    Value();
    out_ += "null";
    return *this;
  }
  // Pointers, handles and masks as "0x..." strings: JSON numbers lose bits past 2^53.
  JsonLine& Hex(unsigned long long v) {
    Value();
    char buf[24];
    std::snprintf(buf, sizeof buf, "\"0x%llx\"", v);
    out_ += buf;
    return *this;
  }
  JsonLine& Bytes(const void* data, size_t n) {
    Value();
    static const char* kDigits = "0123456789abcdef";
    out_ += '"';
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
      out_ += kDigits[p[i] >> 4];
      out_ += kDigits[p[i] & 15];
    }
    out_ += '"';
    return *this;
  }

  // The finished line, newline included.
  const std::string& Line() {
    if (out_.empty() || out_.back() != '\n') out_ += '\n';
    return out_;
  }

 private:
  JsonLine& Open(char c) {
    Value();
    out_ += c;
    first_.push_back(true);
    return *this;
  }
  JsonLine& Close(char c) {
    out_ += c;
    if (!first_.empty()) first_.pop_back();
    return *this;
  }
  void Comma() {
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
    }
  }
  // A value either follows its key or is an element of an array.
  void Value() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    Comma();
  }
  void Quoted(const char* s) {
    out_ += '"';
    for (const unsigned char* p = reinterpret_cast<const unsigned char*>(s); *p; ++p) {
      switch (*p) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\n': out_ += "\\n"; break;
        case '\r': out_ += "\\r"; break;
        case '\t': out_ += "\\t"; break;
        default:
          if (*p < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", *p);
            out_ += buf;
          } else {
            out_ += static_cast<char>(*p);  // UTF-8 passes through; invalid bytes are the OS's
          }
      }
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

}  // namespace cuipc_trace
