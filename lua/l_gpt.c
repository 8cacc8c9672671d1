// alignlab shell: bindings of core module 'gpt' (to be written).
#include "bind.h"

int al_open_gpt(lua_State *L) {
  (void)L;
  return 0;
}
