// PCRE2 (Debian's libpcre2-dev), 8-bit code units. pcre2.h names its functions through macros that
// Swift cannot import (pcre2_compile -> pcre2_compile_8), so Swift calls the _8 names directly.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <stdint.h>
#include <stddef.h>
#include <pcre2.h>
