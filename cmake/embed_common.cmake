# Helpers shared by the embedding scripts (embed_web.cmake,
# embed_files.cmake): a file as a C array, and a generated source written
# only when it changed, so unchanged inputs rebuild nothing.

set(np_embed_max_bytes 8388608) # per file: these are small; a mistake is loud

function(np_embed_array var file out_text)
  file(SIZE "${file}" size)
  if(size GREATER np_embed_max_bytes)
    message(FATAL_ERROR "embed: ${file} is ${size} bytes (cap ${np_embed_max_bytes})")
  endif()
  file(READ "${file}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  # Wrap at 32 bytes a line to keep the generated file readable.
  string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){32})" "\\1\n  " hex "${hex}")
  # A trailing 0 keeps empty files valid C (and makes each a C string); it
  # is not counted in the length.
  set(${out_text} "static const unsigned char ${var}[] = {\n  ${hex}0};\n" PARENT_SCOPE)
endfunction()

function(np_write_if_changed out text)
  set(old "")
  if(EXISTS "${out}")
    file(READ "${out}" old)
  endif()
  if(NOT old STREQUAL text)
    file(WRITE "${out}" "${text}")
  endif()
endfunction()
