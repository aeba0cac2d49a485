// Force-included into every C++ file of the `msan` V8 build (xtask writes it
// into the cache). V8 10.2's inspector keeps UTF-16 text in
// std::basic_string<uint16_t>; libc++ 19, which that build must use, dropped
// the generic std::char_traits that made such strings work. This gives
// uint16_t the traits char16_t has. Only V8's build sees it: the shim and
// v8cage never use such strings.
#ifndef V8CAGE_CHAR_TRAITS_UINT16_H_
#define V8CAGE_CHAR_TRAITS_UINT16_H_

#include <cstddef>
#include <cstring>
#include <cwchar>
#include <ios>
#include <string>

namespace std {

template <>
struct char_traits<unsigned short> {
  using char_type = unsigned short;
  using int_type = unsigned int;
  using off_type = streamoff;
  using pos_type = u16streampos;
  using state_type = mbstate_t;

  static constexpr void assign(char_type& to, const char_type& from) noexcept { to = from; }
  static constexpr bool eq(char_type a, char_type b) noexcept { return a == b; }
  static constexpr bool lt(char_type a, char_type b) noexcept { return a < b; }

  static constexpr int compare(const char_type* a, const char_type* b, size_t n) noexcept {
    for (size_t i = 0; i < n; ++i) {
      if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    }
    return 0;
  }
  static constexpr size_t length(const char_type* s) noexcept {
    size_t n = 0;
    while (s[n] != 0) ++n;
    return n;
  }
  static constexpr const char_type* find(const char_type* s, size_t n, const char_type& c) noexcept {
    for (size_t i = 0; i < n; ++i) {
      if (s[i] == c) return s + i;
    }
    return nullptr;
  }
  static char_type* move(char_type* to, const char_type* from, size_t n) noexcept {
    return static_cast<char_type*>(memmove(to, from, n * sizeof(char_type)));
  }
  static char_type* copy(char_type* to, const char_type* from, size_t n) noexcept {
    return static_cast<char_type*>(memcpy(to, from, n * sizeof(char_type)));
  }
  static char_type* assign(char_type* s, size_t n, char_type c) noexcept {
    for (size_t i = 0; i < n; ++i) s[i] = c;
    return s;
  }

  static constexpr int_type not_eof(int_type c) noexcept { return c == eof() ? 0 : c; }
  static constexpr char_type to_char_type(int_type c) noexcept { return static_cast<char_type>(c); }
  static constexpr int_type to_int_type(char_type c) noexcept { return c; }
  static constexpr bool eq_int_type(int_type a, int_type b) noexcept { return a == b; }
  static constexpr int_type eof() noexcept { return 0xFFFFFFFFu; }
};

}  // namespace std

#endif  // V8CAGE_CHAR_TRAITS_UINT16_H_
