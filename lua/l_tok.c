// alignlab shell: bindings of core module 'tok' (to be written).
#include "bind.h"

int al_open_tok(lua_State *L) {
  (void)L;
  return 0;
}
