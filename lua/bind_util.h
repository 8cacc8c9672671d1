// alignlab shell: small helpers shared by the bindings of userdata classes (l_tok.c, l_data.c).
// Header-only (static inline) so every binding file can use them without a link dependency.
#ifndef AL_BIND_UTIL_H
#define AL_BIND_UTIL_H

#include "bind.h"

// Register the metatable `tname` of a userdata class and pop it: __index is the table of
// `methods` (NULL-terminated), or, when index is not NULL, a closure of index with that table
// as upvalue 1; __gc and __close call gc; __tostring and __len as given. Stack unchanged.
static inline void al_lua_defclass(lua_State *L, const char *tname, const luaL_Reg *methods,
                                   lua_CFunction index, lua_CFunction gc, lua_CFunction tostring,
                                   lua_CFunction len) {
  luaL_newmetatable(L, tname);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  if (index) lua_pushcclosure(L, index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, len);
  lua_setfield(L, -2, "__len");
  lua_pop(L, 1);
}

#endif
