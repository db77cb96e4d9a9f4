# cmake -DSPV=in.spv -DOUT=out.h -DNAME=symbol -P embed_spv.cmake
# Writes `static const uint32_t NAME[] = {...}; static const size_t NAME_words`.
file(READ "${SPV}" hex HEX)
string(LENGTH "${hex}" len)
math(EXPR rem "${len} % 8")
if(NOT rem EQUAL 0 OR len EQUAL 0)
  message(FATAL_ERROR "${SPV}: not a whole number of 32-bit words")
endif()
# SPIR-V words are little-endian: bytes b0 b1 b2 b3 -> 0xb3b2b1b0.
string(REGEX REPLACE "([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])"
       "0x\\4\\3\\2\\1u," words "${hex}")
math(EXPR nwords "${len} / 8")
file(WRITE "${OUT}" "/* generated from ${SPV} */\n#include <stddef.h>\n#include <stdint.h>\n"
     "static const uint32_t ${NAME}[] = {${words}};\n"
     "static const size_t ${NAME}_words = ${nwords};\n")
