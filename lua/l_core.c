// alignlab shell: the C module "al.core", assembled from every binding file (the top floor of
// the bindings: it calls every al_open_*, and none of them calls back). main.c preloads it.
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
  al_open_rng(L);
  al_open_pretty(L);
  al_open_json(L);
  al_open_gpt(L);
  al_open_optim(L);
  al_open_sample(L);
  al_open_tok(L);
  al_open_data(L);
  lua_createtable(L, 0, 22); // al.core.obj: the functions of l_obj_pref.c, l_obj_rl.c, l_obj_stats.c
  al_open_obj_pref(L);
  al_open_obj_rl(L);
  al_open_obj_stats(L);
  lua_setfield(L, -2, "obj");
  al_open_weave(L);
  al_open_train(L);
  al_open_mpi(L);
  return 1;
}
