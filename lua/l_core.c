// alignlab shell: the C module "al.core", assembled from every binding file.
#include "bind.h"

int luaopen_al_core(lua_State *L);

int luaopen_al_core(lua_State *L) {
  lua_newtable(L);
  al_open_base(L);
  al_open_gpt(L);
  al_open_sample(L);
  al_open_tok(L);
  al_open_data(L);
  al_open_obj(L);
  al_open_weave(L);
  return 1;
}
