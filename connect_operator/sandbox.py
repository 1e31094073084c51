"""Run untrusted jq programs in a child process, under CPU-time and memory bounds.

A ConfigMap's jq program is code written by whoever may label a ConfigMap. jq runs in C, so no
Python timer can stop `def f: f; f`, and `[range(1e9)]` would take the hook's memory with it. So
programs run in a forked child, never in the hook itself:

- the child gets only the template environment (jq's own `env` and `$ENV` read the real process
  environment), `/dev/null` as stdin, stdout and stderr, no core files, an address-space limit
  (`RLIMIT_AS`: its size at start plus `memory_mb`) and, before each program, a CPU-time limit
  (an `ITIMER_PROF` timer of `cpu_seconds`, whose SIGPROF ends the child; `RLIMIT_CPU` a second
  later as a backstop);
- programs are compiled together in chunks (jq compiles its whole builtin library with every
  program, about a millisecond each) and each one's result is streamed back on a pipe as soon as
  it is known, so a child that dies takes only the program it was running;
- when a child dies, the parent starts a new one for the programs still to do. If the child died
  while running a compiled chunk, the program in flight is the culprit; if it died while
  compiling, the first program left is first run alone, and blamed only if it fails alone too;
- `halt` and `halt_error` end jq's output early: the program whose result is missing halted;
- the parent waits no longer than the time left in the run (`DeadlineExceeded`).

Results are raw: the program's outputs, or the message jq stopped with (compile errors come from
compiling the program alone, so their line and column are the user's own). Turning outputs into
connectors, and scrubbing secrets from messages, is `templating`'s job.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import math
import os
import resource
import select
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connect_operator.errors import DeadlineExceeded

# jq refuses a function over 64 KiB of bytecode; a few hundred typical connectors stay below.
CHUNK = 128
_CPU_SIGNALS = (signal.SIGPROF, signal.SIGXCPU)
# A connector is a few kB; a result bigger than this is a runaway, not a connector.
MAX_RESULT_BYTES = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Bounds for one program: CPU seconds, and address space beyond the renderer's own."""

    cpu_seconds: int = 2
    memory_mb: int = 96


@dataclass(frozen=True)
class Outputs:
    """What a program yielded."""

    values: list[Any]


@dataclass(frozen=True)
class Failure:
    """Why a program yielded nothing usable: jq's message, or a bound it went past."""

    message: str
    # True when the program went past a bound or halted (not a jq error of its own).
    stopped: bool = False


Result = Outputs | Failure


def run_programs(
    programs: Sequence[str],
    variables: Mapping[str, str],
    environ: Mapping[str, str],
    limits: Limits,
    remaining: Any = None,
    unsafe: Mapping[int, str] | None = None,
) -> list[Result]:
    """Run each program with `null` input; one result per program, in order.

    `remaining` is a callable giving the seconds left in the run (None: no deadline). Programs
    in `unsafe` (index -> why) are only compiled, alone, for jq's own syntax error; they fail
    with theirs, or with the reason given when jq finds none.
    """
    problems = dict(unsafe or {})
    results: dict[int, Result] = {}
    verify_first = False
    while len(results) < len(programs):
        todo = [index for index in range(len(programs)) if index not in results]
        child = _Child.start(
            programs, todo, variables, environ, limits, verify_first, set(problems)
        )
        compiled_ranges = child.collect(results, remaining)
        if len(results) == len(programs):
            break
        first = next(index for index in todo if index not in results)
        in_flight = verify_first or any(low <= first <= high for low, high in compiled_ranges)
        if in_flight or first in problems:
            results[first] = Failure(child.why_it_stopped(limits), stopped=True)
            verify_first = False
        else:
            verify_first = True
    for index, problem in problems.items():
        result = results[index]
        if isinstance(result, Failure) and not result.message:
            results[index] = Failure(problem)
    return [results[index] for index in range(len(programs))]


class _Child:
    """One forked renderer and the parent's end of its pipe."""

    def __init__(self, pid: int, read_fd: int) -> None:
        self.pid = pid
        self.read_fd = read_fd
        self.status = 0

    @classmethod
    def start(
        cls,
        programs: Sequence[str],
        todo: list[int],
        variables: Mapping[str, str],
        environ: Mapping[str, str],
        limits: Limits,
        verify_first: bool,
        compile_only: set[int],
    ) -> _Child:
        read_fd, write_fd = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            status = 0
            try:
                os.close(read_fd)
                _child_main(
                    programs, todo, variables, environ, limits, verify_first, compile_only, write_fd
                )
            except BaseException:  # the parent blames the program in flight
                status = 70
            finally:
                os._exit(status)
        os.close(write_fd)
        return cls(pid, read_fd)

    def collect(self, results: dict[int, Result], remaining: Any) -> list[tuple[int, int]]:
        """Read results until the child exits; return the index ranges it compiled."""
        compiled: list[tuple[int, int]] = []
        buffer = b""
        try:
            while True:
                timeout = None if remaining is None else remaining()
                if timeout is not None and timeout <= 0:
                    raise DeadlineExceeded("rendering the templates took the whole run deadline")
                ready, _, _ = select.select([self.read_fd], [], [], timeout)
                if not ready:
                    continue
                chunk = os.read(self.read_fd, 1 << 16)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    _record(json.loads(line), results, compiled)
        except BaseException:
            self.kill()
            raise
        finally:
            os.close(self.read_fd)
        _, self.status = os.waitpid(self.pid, 0)
        return compiled

    def kill(self) -> None:
        """Stop the child now and reap it."""
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    def why_it_stopped(self, limits: Limits) -> str:
        """A sentence for the program the child was running when it stopped."""
        if os.WIFSIGNALED(self.status) and os.WTERMSIG(self.status) in _CPU_SIGNALS:
            return f"the program used more than {limits.cpu_seconds} s of CPU time and was stopped"
        if os.WIFSIGNALED(self.status):
            return (
                f"the program used more than {limits.memory_mb} MB of memory and was stopped "
                f"(signal {signal.Signals(os.WTERMSIG(self.status)).name})"
            )
        return "the renderer stopped while running the program"


def _record(
    message: list[Any], results: dict[int, Result], compiled: list[tuple[int, int]]
) -> None:
    kind = message[0]
    if kind == "compiled":
        compiled.append((message[1], message[2]))
    elif kind == "ok":
        results[message[1]] = Outputs(message[2])
    elif kind == "error":
        results[message[1]] = Failure(message[2])
    elif kind == "stopped":
        results[message[1]] = Failure(message[2], stopped=True)


# --- the child ---------------------------------------------------------------------------------

_OK_KEY = "ok"


def _child_main(
    programs: Sequence[str],
    todo: list[int],
    variables: Mapping[str, str],
    environ: Mapping[str, str],
    limits: Limits,
    verify_first: bool,
    compile_only: set[int],
    write_fd: int,
) -> None:
    faulthandler.disable()  # a test runner's, which would report our own limits as crashes
    signal.signal(signal.SIGPROF, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    # C code may have set variables os.environ does not know of: empty the C environment itself.
    import ctypes

    # (a libc without clearenv leaves only os.environ's names to clear)
    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None).clearenv()
    os.environ.clear()
    os.environ.update(environ)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _limit(resource.RLIMIT_AS, _address_space() + limits.memory_mb * 1024 * 1024)
    import jq  # only the renderer needs jq, and only here

    out = os.fdopen(write_fd, "w", encoding="utf-8")
    runner = _ChunkRunner(jq, programs, dict(variables), limits, out)
    for index in todo:
        if index in compile_only:
            runner.allow_cpu()
            runner.emit("error", index, runner.compile_error(index, ""))
    todo = [index for index in todo if index not in compile_only]
    position = 0
    if verify_first:
        position += runner.run(todo[:1])
    while position < len(todo):
        position += runner.run(todo[position : position + CHUNK])
    out.flush()


def _limit(which: int, soft: int) -> None:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))


def _address_space() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 256 * 1024 * 1024


class _ChunkRunner:
    def __init__(
        self, jq: Any, programs: Sequence[str], variables: dict[str, str], limits: Limits, out: Any
    ) -> None:
        self.jq = jq
        self.programs = programs
        self.variables = variables
        self.limits = limits
        self.out = out
        self.nonce = os.urandom(8).hex()

    def emit(self, *message: Any) -> None:
        line = json.dumps(list(message), separators=(",", ":"))
        if len(line) > MAX_RESULT_BYTES:
            line = json.dumps(
                ["stopped", message[1], f"the output is larger than {MAX_RESULT_BYTES} bytes"]
            )
        self.out.write(line + "\n")
        self.out.flush()

    def allow_cpu(self) -> None:
        # ITIMER_PROF counts this process's CPU time finely; its SIGPROF, unhandled, ends the
        # process. RLIMIT_CPU (whole seconds, SIGXCPU) stays as a second, coarser bound.
        signal.setitimer(signal.ITIMER_PROF, self.limits.cpu_seconds)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        used = math.ceil(usage.ru_utime + usage.ru_stime)
        _limit(resource.RLIMIT_CPU, used + self.limits.cpu_seconds + 1)

    def wrapped(self, index: int) -> str:
        # The program sits on lines of its own inside parentheses that templating has checked
        # it cannot close; the nonce tags its output so no program can pass for another.
        return (
            f'["{self.nonce}",{index},[try (\n{self.programs[index]}\n)'
            f' catch {{"{self.nonce}": tostring}}]]'
        )

    def run(self, indices: list[int]) -> int:
        """Run a chunk; return how many of its programs got a result (all, unless one halted)."""
        self.allow_cpu()
        try:
            compiled = self.jq.compile(
                "\n,\n".join(self.wrapped(index) for index in indices), args=self.variables
            )
        except ValueError as exc:
            if len(indices) > 1:
                return self.run(indices[: len(indices) // 2])
            self.emit("error", indices[0], self.compile_error(indices[0], str(exc)))
            return 1
        self.emit("compiled", indices[0], indices[-1])
        outputs: Iterator[Any] = iter(compiled.input_value(None))
        for done, index in enumerate(indices):
            self.allow_cpu()
            try:
                item = next(outputs)
            except StopIteration:
                self.emit("stopped", index, "the program called halt or halt_error")
                return done + 1
            except MemoryError:
                self.emit(
                    "stopped",
                    index,
                    f"the program used more than {self.limits.memory_mb} MB of memory",
                )
                return done + 1
            except ValueError as exc:  # an error `try` cannot catch, such as `input`'s break
                self.emit("error", index, str(exc))
                return done + 1
            if not (isinstance(item, list) and item[:2] == [self.nonce, index]):
                self.emit("error", index, "the program's output could not be told apart")
                return done + 1
            values = item[2]
            errors = [v for v in values if isinstance(v, dict) and set(v) == {self.nonce}]
            if errors:
                self.emit("error", index, str(errors[0][self.nonce]))
            else:
                self.emit("ok", index, values)
        return len(indices)

    def compile_error(self, index: int, wrapped_message: str) -> str:
        """jq's compile error for the program on its own, so lines and columns are the user's."""
        try:
            self.jq.compile(self.programs[index], args=self.variables)
        except ValueError as exc:
            return _compile_message(str(exc))
        return _compile_message(wrapped_message) if wrapped_message else ""


def _compile_message(text: str) -> str:
    """`jq: error: X at <top-level>, line 3, column 8:` ... -> `X (line 3, column 8)`."""
    messages = []
    for line in text.splitlines():
        if not line.startswith("jq: error: "):
            continue
        body = line[len("jq: error: ") :].rstrip(":")
        location = body.rfind(" at <top-level>, ")
        if location >= 0:
            body = f"{body[:location]} ({body[location + len(' at <top-level>, ') :]})"
        messages.append(body.strip())
    return "; ".join(messages) or text.strip()
