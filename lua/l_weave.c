// alignlab shell: bindings of core module 'weave' (to be written).
#include "bind.h"

int al_open_weave(lua_State *L) {
  (void)L;
  return 0;
}
