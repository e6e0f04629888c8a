# Writes the file IN as a NUL-terminated C array named rsession_r_code to OUT.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* Generated from session.R by embed.cmake; do not edit. */\n"
	"extern const char rsession_r_code[];\n"
	"const char rsession_r_code[] = {${bytes} 0x00};\n")
