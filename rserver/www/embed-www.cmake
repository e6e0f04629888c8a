# Writes the files named in FILES (paths separated by '|') as one C table,
# www_files[], to OUT: the pages and assets ship inside rserver, so a page
# can never be out of step with the server that serves it.
set(body "/* Generated from rserver/www by embed-www.cmake; do not edit. */\n#include <stddef.h>\n#include \"www.h\"\n")
string(REPLACE "|" ";" FILES "${FILES}")
set(table "")
set(i 0)
foreach(f ${FILES})
	get_filename_component(name ${f} NAME)
	file(READ ${f} hex HEX)
	string(LENGTH "${hex}" hexlen)
	math(EXPR len "${hexlen} / 2")
	string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
	string(APPEND body "static const char www_${i}[] = {${bytes} 0x00};\n")
	string(APPEND table "\t{\"${name}\", www_${i}, ${len}},\n")
	math(EXPR i "${i} + 1")
endforeach()
string(APPEND body "const struct www_file www_files[] = {\n${table}\t{NULL, NULL, 0},\n};\n")
file(WRITE ${OUT} "${body}")
