"""`make run`'s launcher (emulator/demo.py): started in the background, SIGTERM stops all three."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from config import APP_ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of(pid: int) -> set[int]:
    kids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.add(int(entry.name))
    return kids


def alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def sigint_ignored(pid: int) -> bool:
    status = (Path("/proc") / str(pid) / "status").read_text()
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
    return bool(mask & (1 << (signal.SIGINT - 1)))


def test_a_background_make_run_stops_all_three_on_sigterm(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUANJIE_")}
    env.update(TUANJIE_DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}", PORT=str(port), EMU_PORT=str(free_port()),
               TUANJIE_CONFIG="", PYTHONUNBUFFERED="1", TUANJIE_RUN_FILE=str(tmp_path / "make-run.json"))
    py = sys.executable
    for command in ("init-db", "demo"):  # as `make run` does
        subprocess.run([py, "-m", "flask", "--app", "server", command], cwd=APP_ROOT, env=env, check=True,
                       capture_output=True, timeout=120)
    # As `make run &` from a script: SIGINT ignored, which children would inherit.
    demo = subprocess.Popen([py, "-m", "emulator.demo"], cwd=APP_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    kids: set[int] = set()
    try:
        deadline, seen = time.monotonic() + 90, []
        for line in demo.stdout:  # ends when the launcher exits
            seen.append(line)
            if "is running" in line or time.monotonic() > deadline:
                break
        assert any("is running" in line for line in seen), "".join(seen[-20:])
        kids = children_of(demo.pid)
        assert len(kids) == 3, kids
        # The children take SIGINT (the launcher's way to stop them) although the launcher ignores it.
        assert not [pid for pid in kids if sigint_ignored(pid)]
        commands_in_another_shell_reach_this_emulator(env, py)
        demo.send_signal(signal.SIGTERM)
        demo.send_signal(signal.SIGTERM)  # impatient: a second signal must not cut the clean-up short
        assert demo.wait(timeout=30) == 0
        assert not [pid for pid in kids if alive(pid)]  # no orphan
        assert not (tmp_path / "make-run.json").exists()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(timeout=10)
        for pid in kids:  # whatever the outcome, leave nothing running
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def commands_in_another_shell_reach_this_emulator(env: dict, py: str) -> None:
    """On other ports than 8000/8001, with nothing exported but what any shell has."""
    shell = {k: v for k, v in env.items() if k not in ("PORT", "EMU_PORT")}
    said = subprocess.run([py, "-m", "emulator.say", "demo-13800000002", "打卡 1"], cwd=APP_ROOT, env=shell,
                          capture_output=True, text=True, timeout=60)
    assert "已完成 1/5" in said.stdout, said.stdout + said.stderr
    pushed = subprocess.run([py, "-m", "flask", "--app", "server", "push", "--reminder", "monthly_talk", "--now",
                             "2026-12-02T10:00"], cwd=APP_ROOT, env=shell, capture_output=True, text=True, timeout=120)
    assert pushed.returncode == 0 and "sent " in pushed.stdout and "failed" not in pushed.stdout, \
        pushed.stdout + pushed.stderr


def test_a_second_make_run_on_busy_ports_says_so_instead_of_starting(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TUANJIE_")}
        env.update(TUANJIE_DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}", PORT=str(port), EMU_PORT=str(free_port()))
        proc = subprocess.run([sys.executable, "-m", "emulator.demo"], cwd=APP_ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
    assert proc.returncode == 1 and f"port {port} on 127.0.0.1 is in use" in proc.stderr, proc.stderr
    assert "is running" not in proc.stdout


def test_ctrl_c_on_make_run_in_a_terminal_stops_it_cleanly_without_make_complaining(tmp_path):
    """Ctrl-C in the terminal reaches the launcher's own process group, not make: make reports
    no '*** Interrupt' for a clean stop, and exits 0."""
    import pty
    import shutil

    if not shutil.which("make"):
        import pytest

        pytest.skip("no make here")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUANJIE_")}
    env.update(TUANJIE_DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}", PORT=str(free_port()),
               TUANJIE_RUN_FILE=str(tmp_path / "make-run.json"), PYTHONUNBUFFERED="1")
    env["EMU_PORT"] = str(free_port())
    pid, fd = pty.fork()
    if pid == 0:  # the child: make run, in a terminal of its own
        os.chdir(APP_ROOT)
        os.execvpe("make", ["make", "run", f"PORT={env['PORT']}"], env)
    output, deadline, interrupted = b"", time.monotonic() + 120, False
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the terminal closed: everything exited
                break
            if not chunk:
                break
            output += chunk
            if not interrupted and b"is running" in output:
                os.write(fd, b"\x03")  # Ctrl-C, as typed
                interrupted = True
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    text = output.decode("utf-8", "replace")
    assert interrupted, text[-2000:]
    assert os.waitstatus_to_exitcode(status) == 0, text[-2000:]
    assert "*** " not in text and "Interrupt" not in text.split("Ctrl-C stops everything.")[-1], text[-2000:]
