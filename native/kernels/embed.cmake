# Turns the fatbin into a C array header (no xxd needed).
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR bytes "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT} "// generated from the nvcc fatbin; do not edit\n#define CUIPC_HAVE_KERNELS 1\nalignas(8) static const unsigned char cuipc_kernels_fatbin[${bytes}] = {${body}};\nstatic const char* cuipc_kernels_archs = \"${ARCHS}\";\n")
