"""Ctrl-C during a long eval on the main thread raises KeyboardInterrupt
promptly and leaves the context usable. Runs in a child process, which the
test interrupts like a terminal would."""

import signal
import subprocess
import sys
import textwrap
import time

# A child started with SIGINT ignored (a background job of a shell without
# job control, as some CI runners start steps) would inherit that and never
# see Ctrl-C: it puts Python's own handler back first.
RESTORE_CTRL_C = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"

CHILD = RESTORE_CTRL_C + textwrap.dedent(
    """
    import v8cage
    ctx = v8cage.Context()
    ready = done = False
    while True:
        # From "ready" on, SIGINTs keep coming and KeyboardInterrupt may be
        # raised anywhere in this loop; only one that stopped the running
        # JavaScript loop (it had entered, and never left) counts.
        try:
            if done:
                # More SIGINTs may come until the parent sees the exit, and
                # the interpreter's shutdown puts back the default action
                # (death by SIGINT): ignore them from here on.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                break
            if not ready:
                print("ready", flush=True)
                ready = True
            before = ctx.eval("globalThis.entered || 0")
            try:
                ctx.eval("globalThis.entered = (globalThis.entered || 0) + 1; for (;;) {}")
            except KeyboardInterrupt:
                if ctx.eval("globalThis.entered") == before + 1:
                    print("interrupted inside eval; usable:", ctx.eval("1 + 1"), flush=True)
                    done = True
        except KeyboardInterrupt:
            pass
    """
)


def test_ctrl_c_stops_a_long_eval_and_the_context_stays_usable() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while child.poll() is None and time.monotonic() < deadline:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
        assert child.poll() is not None, "the child never left its infinite loop"
        out, err = child.communicate()
        assert child.returncode == 0, err
        assert "interrupted inside eval; usable: 2" in out
    finally:
        if child.poll() is None:
            child.kill()


STALE_SIGNAL = RESTORE_CTRL_C + textwrap.dedent(
    """
    import os, signal, v8cage
    ctx = v8cage.Context()
    # The wakeup pipe's byte of a Ctrl-C whose KeyboardInterrupt Python
    # already raised (as in a host function), still unread when the next
    # evaluation starts: that evaluation must run to its end.
    fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    for _ in range(200):
        os.write(fd, bytes([signal.SIGINT]))
        assert ctx.eval("(() => { let n = 0; for (let i = 0; i < 1e5; i++) n++; return n })()") == 1e5
    print("none stopped", flush=True)
    """
)


def test_a_signal_handled_before_an_evaluation_does_not_stop_it() -> None:
    out = subprocess.run([sys.executable, "-c", STALE_SIGNAL], capture_output=True, text=True, timeout=120)
    assert out.stdout == "none stopped\n", out.stderr
