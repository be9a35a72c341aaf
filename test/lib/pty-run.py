"""Runs a command on a pseudo-terminal, answering prompts: pty-run.py JSON.
JSON: {"argv": [...], "env": {...}, "answers": [[prompt, reply], ...]}.
Prints what the terminal showed, then exits with the command's exit code."""
import json, os, pty, sys, time

spec = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(spec['argv'][0], spec['argv'], spec['env'])
out = b''

def read_until(s, timeout=20):
    global out
    end = time.time() + timeout
    while s not in out and time.time() < end:
        try:
            d = os.read(fd, 1024)
        except OSError:
            return
        if not d:
            return
        out += d

for prompt, reply in spec['answers']:
    read_until(prompt.encode())
    os.write(fd, reply.encode() + b'\r')
while True:
    try:
        d = os.read(fd, 1024)
    except OSError:
        break
    if not d:
        break
    out += d
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors='replace'))
sys.exit(os.WEXITSTATUS(status))
