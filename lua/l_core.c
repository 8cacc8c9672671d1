// alignlab shell: the C module "al.core", assembled from every binding file.
#include <unistd.h>

#include "bind.h"
#include "l_mpi.h"

int luaopen_al_core(lua_State *L);

// al.core.exe(): absolute path of the running alignlab executable (for child processes).
static int l_exe(lua_State *L) {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) {
    lua_pushliteral(L, "alignlab");
    return 1;
  }
  buf[n] = '\0';
  lua_pushstring(L, buf);
  return 1;
}

int luaopen_al_core(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, l_exe);
  lua_setfield(L, -2, "exe");
  al_open_base(L);
  al_open_gpt(L);
  al_open_sample(L);
  al_open_tok(L);
  al_open_data(L);
  al_open_obj(L);
  al_open_weave(L);
  al_open_train(L);
  al_open_mpi(L);
  return 1;
}
