// alignlab shell: the read-eval-print loop. A line is first tried as an expression ("return " ..
// line, so `1+1` and `=x` print), then as a statement; a chunk that ends early ("<eof>" in the
// syntax error) reads continuation lines. Results are pretty-printed (l_pretty.c); chunks run
// through shell.c (docall, Ctrl-C). Layering: repl.c -> shell.c, l_pretty.c; never main.c.
// On a terminal: readline with history (~/.alignlab_history or $ALIGNLAB_HISTORY) read through
// readline's callback interface, so Ctrl-C at the prompt drops the line instead of killing the
// shell.
// On a pipe: plain lines, no prompts, no history. Errors go to stderr; the loop goes on.
#include "repl.h"
#include "shell.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#ifdef AL_HAVE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

#define EOFMARK "<eof>"

static int tty;             // stdin is a terminal
static char *history_file;  // NULL: no history

// ---- reading a line ---------------------------------------------------------------------------------

#ifdef AL_HAVE_READLINE
static char *rl_result;
static int rl_finished;

static void on_line(char *line) {
  rl_result = line;
  rl_finished = 1;
  rl_callback_handler_remove();
}

// Read one line with readline; 1: *out is a malloc'd line, 0: EOF, -1: Ctrl-C at the prompt.
// SIGINT stays blocked except inside pselect, so a Ctrl-C typed while readline is busy with
// earlier keys is seen at the next wait, before the keys typed after it.
static int tty_read(const char *prompt, char **out) {
  sigset_t block, orig;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, &orig);
  sigset_t wait_mask = orig;
  sigdelset(&wait_mask, SIGINT);
  rl_finished = 0;
  rl_result = NULL;
  rl_callback_handler_install(prompt, on_line);
  int fd = fileno(rl_instream ? rl_instream : stdin), status = 1;
  while (!rl_finished) {
    if (al_lua_interrupted()) { // Ctrl-C: drop the line, new prompt
      rl_free_line_state();
      rl_callback_sigcleanup();
      rl_replace_line("", 0);
      rl_echo_signal_char(SIGINT);
      rl_crlf();
      rl_callback_handler_remove();
      status = -1;
      break;
    }
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(fd, &fds);
    int r = pselect(fd + 1, &fds, NULL, NULL, NULL, &wait_mask);
    if (r < 0) {
      if (errno == EINTR) continue;
      rl_callback_handler_remove();
      status = 0;
      break;
    }
    rl_callback_read_char();
  }
  sigprocmask(SIG_SETMASK, &orig, NULL);
  if (status <= 0) return status;
  if (!rl_result) {
    fputc('\n', stdout);
    fflush(stdout);
    return 0;
  }
  *out = rl_result;
  return 1;
}
#else
static int tty_read(const char *prompt, char **out) {
  fputs(prompt, stdout);
  fflush(stdout);
  size_t cap = 0;
  *out = NULL;
  errno = 0;
  if (getline(out, &cap, stdin) < 0) {
    free(*out);
    *out = NULL;
    if (errno == EINTR && al_lua_interrupted()) {
      clearerr(stdin);
      fputc('\n', stdout);
      return -1;
    }
    return 0;
  }
  return 1;
}
#endif

static int pipe_read(char **out) {
  size_t cap = 0;
  *out = NULL;
  if (getline(out, &cap, stdin) < 0) {
    free(*out);
    *out = NULL;
    return 0;
  }
  return 1;
}

// Push the next line (without its newline); returns 1, 0 at EOF, -1 on Ctrl-C at the prompt.
static int push_line(lua_State *L, int first) {
  char *line = NULL;
  int r;
  if (tty) {
    lua_getglobal(L, first ? "_PROMPT" : "_PROMPT2");
    const char *prompt = lua_tostring(L, -1);
    if (!prompt) prompt = first ? "> " : ">> ";
    char pbuf[128];
    snprintf(pbuf, sizeof pbuf, "%s", prompt);
    lua_pop(L, 1);
    r = tty_read(pbuf, &line);
  } else {
    r = pipe_read(&line);
  }
  if (r <= 0) return r;
  size_t n = strlen(line);
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
  lua_pushlstring(L, line, n);
  free(line);
  return 1;
}

// ---- history ------------------------------------------------------------------------------------------

static void history_open(void) {
#ifdef AL_HAVE_READLINE
  const char *env = getenv("ALIGNLAB_HISTORY");
  const char *home = getenv("HOME");
  size_t n;
  if (env && env[0]) {
    history_file = strdup(env);
  } else if (home && home[0]) {
    n = strlen(home) + 32;
    history_file = malloc(n);
    if (history_file) snprintf(history_file, n, "%s/.alignlab_history", home);
  }
  if (!history_file) return;
  stifle_history(1000);
  int fd = open(history_file, O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd >= 0) close(fd);
  read_history(history_file);
#endif
}

static void history_add(const char *chunk) {
#ifdef AL_HAVE_READLINE
  if (!chunk[0]) return;
  add_history(chunk);
  if (history_file) append_history(1, history_file);
#else
  (void)chunk;
#endif
}

static void history_close(void) {
#ifdef AL_HAVE_READLINE
  if (history_file) history_truncate_file(history_file, 1000);
  clear_history();
#endif
  free(history_file);
  history_file = NULL;
}

// ---- compiling a chunk -----------------------------------------------------------------------------

static int incomplete(lua_State *L, int status) {
  if (status != LUA_ERRSYNTAX) return 0;
  size_t n;
  const char *msg = lua_tolstring(L, -1, &n);
  size_t m = sizeof(EOFMARK) - 1;
  return n >= m && strcmp(msg + n - m, EOFMARK) == 0;
}

// Try "return <line>" (the line is on top); on success push the function above the line.
static int try_return(lua_State *L) {
  const char *line = lua_tostring(L, -1);
  const char *body = line[0] == '=' ? line + 1 : line; // "=expr" is the old-style shorthand
  const char *code = lua_pushfstring(L, "return %s;", body);
  int status = luaL_loadbuffer(L, code, strlen(code), "=stdin");
  if (status == LUA_OK) lua_remove(L, -2); // the "return" string
  else lua_pop(L, 2);
  return status;
}

// With the first line on top: read continuation lines until the chunk compiles or fails for
// another reason than its end. Leaves the function (or the error message) on top and the
// chunk's source below it. Returns the load status, or -1 on Ctrl-C in a continuation line
// (then only the source is left, which the caller drops).
static int read_more(lua_State *L) {
  for (;;) {
    size_t n;
    const char *src = lua_tolstring(L, -1, &n);
    int status = luaL_loadbuffer(L, src, n, "=stdin");
    if (!incomplete(L, status)) return status;
    lua_pop(L, 1); // the error message
    int r = push_line(L, 0);
    if (r == 0) { // EOF in the middle of a chunk: report the syntax error
      src = lua_tolstring(L, -1, &n);
      return luaL_loadbuffer(L, src, n, "=stdin");
    }
    if (r < 0) return -1;
    lua_pushliteral(L, "\n");
    lua_insert(L, -2);
    lua_concat(L, 3);
  }
}

// ---- printing ---------------------------------------------------------------------------------------

static int print_results(lua_State *L) {
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_checkstack(L, n + 8, "too many results to print");
  for (int i = 1; i <= n; i++) {
    if (lua_type(L, i) == LUA_TSTRING) lua_pushvalue(L, i); // printed as is, like print()
    else al_pretty_push(L, i, 4, 40, 80);
  }
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1) luaL_addchar(&b, '\t');
    lua_pushvalue(L, n + i);
    luaL_addvalue(&b);
  }
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  fwrite(s, 1, len, stdout);
  fflush(stdout);
  return 0;
}

static void report_error(lua_State *L, int sigints_before) {
  const char *msg = lua_tostring(L, -1);
  if (!msg) msg = "(error object is not a string)";
  if (al_shell_sigints != sigints_before) { // Ctrl-C: the message is enough, no traceback
    const char *nl = strchr(msg, '\n');
    fprintf(stderr, "%.*s\n", nl ? (int)(nl - msg) : (int)strlen(msg), msg);
  } else {
    fprintf(stderr, "%s\n", msg);
  }
  fflush(stderr);
  lua_pop(L, 1);
}

// ---- the loop ------------------------------------------------------------------------------------------

int al_repl(lua_State *L) {
  tty = isatty(STDIN_FILENO);
#ifdef AL_HAVE_READLINE
  if (tty) {
    rl_readline_name = "alignlab";
    rl_catch_signals = 0; // our SIGINT handler stays in charge
    rl_catch_sigwinch = 1;
    history_open();
  }
#endif
  if (tty) {
    printf("alignlab %s (%s). Lua with `al` loaded; `=expr` or an expression prints it; "
           "Ctrl-C interrupts, Ctrl-D quits.\n",
           AL_VERSION, LUA_RELEASE);
    fflush(stdout);
  }
  for (;;) {
    lua_settop(L, 0);
    al_shell_clear_sigint(L);
    int r = push_line(L, 1);
    if (r == 0) break;
    if (r < 0) continue;
    int status = try_return(L);
    if (status != LUA_OK) {
      status = read_more(L);
      if (status == -1) continue; // Ctrl-C in a continuation line: drop the chunk
    }
    const char *src = lua_tostring(L, 1);
    if (tty && src) history_add(src);
    lua_remove(L, 1); // the source; the function or the error message is left
    int before = al_shell_sigints;
    al_shell_clear_sigint(L);
    if (status == LUA_OK) status = al_shell_docall(L, 0, LUA_MULTRET, 1);
    if (status != LUA_OK) {
      report_error(L, before);
      continue;
    }
    int n = lua_gettop(L);
    if (n > 0) {
      lua_pushcfunction(L, print_results);
      lua_insert(L, 1);
      if (al_shell_docall(L, n, 0, 0) != LUA_OK) {
        lua_pushfstring(L, "error printing the result: %s", lua_tostring(L, -1));
        lua_remove(L, -2);
        report_error(L, before);
      }
    }
  }
  lua_settop(L, 0);
  history_close();
  return 0;
}
