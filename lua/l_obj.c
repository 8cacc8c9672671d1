// alignlab shell: bindings of core module 'obj' (to be written).
#include "bind.h"

int al_open_obj(lua_State *L) {
  (void)L;
  return 0;
}
