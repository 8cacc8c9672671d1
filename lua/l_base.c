// alignlab shell: bindings of core module 'base' (to be written).
#include "bind.h"

int al_open_base(lua_State *L) {
  (void)L;
  return 0;
}
