#!/usr/bin/env python3
# Runs a command on a pseudo-terminal, as a person at a terminal would: waits for each expected text (a regular
# expression, matched after removing colour and cursor codes) and then types the given keys. Prints everything
# the command wrote and exits with the command's exit status.
# Usage: terminal.py '[["expected regex", "keys to type"], ...]' command args...
import json, os, pty, re, select, sys, time

STEP_TIMEOUT_S = float(os.environ.get('PTY_STEP_TIMEOUT_S', '120'))
ANSI = re.compile(rb'\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]')

steps = json.loads(sys.argv[1])
argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)

output = b''
seen_upto = 0

def read_some(timeout):
    global output
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return True
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        return False
    if not chunk:
        return False
    output += chunk
    return True

for expected, keys in steps:
    pattern = re.compile(expected.encode())
    deadline = time.time() + STEP_TIMEOUT_S
    while True:
        plain = ANSI.sub(b'', output[seen_upto:])
        match = pattern.search(plain)
        if match:
            seen_upto = len(output)
            break
        if time.time() > deadline or not read_some(1.0):
            sys.stdout.write(output.decode('utf-8', 'replace'))
            sys.stderr.write('terminal.py: gave up waiting for %r\n' % expected)
            os.kill(pid, 9)
            sys.exit(99)
    os.write(fd, keys.encode())

while read_some(STEP_TIMEOUT_S):
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(output.decode('utf-8', 'replace'))
sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, 'waitstatus_to_exitcode') else status >> 8)
