// alignlab shell: the byte buffer and file helpers the binding files share (l_util.c). Layering:
// binding files -> l_util.c -> the core's al_base.h; l_util.c calls no other binding file.
// lua/'s only copies of "read a whole file" and "write a file atomically" live here: when the
// core grows its own (core/io.c), these two functions are the one place to switch.
#ifndef AL_L_UTIL_H
#define AL_L_UTIL_H

#include "bind.h"

// A growable byte buffer owned by the garbage collector (a userdata on the stack), so a Lua
// error raised while it is being filled leaks nothing. p is NUL-terminated once anything was
// added (p is NULL while empty).
typedef struct {
  char *p;
  size_t n, cap;
} al_lbuf;

// Push a new empty buffer.
al_lbuf *al_lbuf_new(lua_State *L);
// Make room for `extra` more bytes (raises "not enough memory").
void al_lbuf_reserve(lua_State *L, al_lbuf *b, size_t extra);
// Append n bytes of s / the string s / the byte c.
void al_lbuf_add(lua_State *L, al_lbuf *b, const char *s, size_t n);
void al_lbuf_adds(lua_State *L, al_lbuf *b, const char *s);
void al_lbuf_addc(lua_State *L, al_lbuf *b, char c);

// How al_lbuf_addescaped writes a byte that cannot stand as itself inside "...": both styles
// write \" \\ \n \r \t; AL_ESC_LUA writes other control bytes (and 127) as \ddd in decimal
// (Lua literal), AL_ESC_JSON writes \b and \f, and other control bytes as \u00XX.
typedef enum { AL_ESC_LUA, AL_ESC_JSON } al_esc_style;

// Append the n bytes of s escaped in `style`, without the quotes around them.
void al_lbuf_addescaped(lua_State *L, al_lbuf *b, const char *s, size_t n, al_esc_style style);

// Read the whole file at path into a new buffer pushed on the stack; raises
// "fname: cannot open PATH: reason" or "fname: cannot read PATH: reason".
al_lbuf *al_lua_read_file(lua_State *L, const char *fname, const char *path);

// Write n bytes to path atomically (a temporary file in the same directory, fsync, rename);
// raises "fname: cannot create|write PATH: reason". Stack unchanged.
void al_lua_write_atomic(lua_State *L, const char *fname, const char *path, const char *data,
                         size_t n);

#endif
